/**
 * `modelcar doctor --manifests`: one fixture per known trap must raise exactly that rule, and what `modelcar
 * pipeline` and `modelcar deploy` write must pass clean (the tool must not trip its own linter).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import type { DoctorJson } from './doctor-json.js';

const TRAPS = fileURLToPath(new URL('../../../test/doctor/fixtures/traps/', import.meta.url));
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** fixture file -> the rule it must raise, and the status. */
const EXPECTED: Record<string, [string, 'warn' | 'fail']> = {
  'tekton-v1-serviceaccountname.yaml': ['tekton-v1beta1-field', 'fail'],
  'scc-setfcap.yaml': ['scc-capabilities', 'fail'],
  'exec-own-file.yaml': ['exec-own-file', 'fail'],
  'buildah-no-credentials.yaml': ['buildah-credentials', 'fail'],
  'default-timeout.yaml': ['tekton-timeout', 'warn'],
  'affinity-assistant-disabled.yaml': ['tekton-shared-rwo-pvc', 'warn'],
  'dockerconfigjson-no-auths.yaml': ['dockerconfigjson-auths', 'fail'],
  'latest-image.yaml': ['image-latest', 'warn'],
  'storage-uri-no-scheme.yaml': ['storage-uri-scheme', 'fail'],
  'Containerfile.scratch': ['modelcar-no-shell', 'fail'],
};

async function lint(paths: string[]): Promise<DoctorJson & { code: number }> {
  const r = await modelcar(['doctor', '--offline', '--json', '--only', 'manifests', '--manifests', ...paths]);
  assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
  return { ...(JSON.parse(r.stdout) as DoctorJson), code: r.code };
}

describe('doctor --manifests', () => {
  let work: string;
  before(async () => {
    work = await tempDir();
  });
  after(async () => {
    await removeTemp(work);
  });

  for (const [file, [rule, status]] of Object.entries(EXPECTED)) {
    it(`${file} raises ${rule} (${status}) and nothing else`, async () => {
      const report = await lint([join(TRAPS, file)]);
      assert.deepEqual(
        report.checks.map((c) => [c.id, c.status]),
        [[`manifests.${rule}`, status]],
        JSON.stringify(report.checks, null, 2),
      );
      const finding = report.checks[0];
      assert.ok(finding?.symptom && finding.cause && finding.fix, 'each finding names symptom, cause and fix');
      assert.equal(report.code, status === 'fail' ? 1 : 0);
    });
  }

  it('passes what `modelcar pipeline` writes, streamed and inline, and with a cache', async () => {
    const variants = [
      [
        '--source',
        'hf://ibm-granite/granite-3.1-8b-instruct',
        '--to',
        'image-registry.openshift-image-registry.svc:5000/ml/granite:v1',
        '-n',
        'ml',
      ],
      [
        '--source',
        'hf://ibm-granite/granite-3.1-8b-instruct',
        '--to',
        'image-registry.openshift-image-registry.svc:5000/ml/granite:v1',
        '-n',
        'ml',
        '--inline',
      ],
      [
        '--source',
        'hf://ibm-granite/granite-3.1-8b-instruct',
        '--to',
        'quay.io/acme/granite:v1',
        '-n',
        'ml',
        '--cache',
        '100Gi',
        '--registry-auth-secret',
        'quay-push',
      ],
    ];
    for (const [i, args] of variants.entries()) {
      const file = join(work, `pipeline-${i}.yaml`);
      await writeFile(file, (await modelcarOk(['pipeline', ...args])).stdout);
      const report = await lint([file]);
      assert.equal(report.code, 0, JSON.stringify(report.checks, null, 2));
      assert.deepEqual(
        report.checks.map((c) => c.id),
        ['manifests'],
        JSON.stringify(report.checks, null, 2),
      );
    }
  });

  it('passes what `modelcar deploy` writes', async () => {
    const config = join(work, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        model_type: 'llama',
        hidden_size: 4096,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        vocab_size: 128256,
        max_position_embeddings: 8192,
        torch_dtype: 'bfloat16',
      }),
    );
    const file = join(work, 'deploy.yaml');
    await writeFile(
      file,
      (await modelcarOk(['deploy', '--image', `quay.io/acme/granite@${DIGEST}`, '--model-config', config, '-n', 'ml']))
        .stdout,
    );
    const report = await lint([file]);
    assert.equal(report.code, 0, JSON.stringify(report.checks, null, 2));
    assert.deepEqual(
      report.checks.map((c) => c.id),
      ['manifests'],
      JSON.stringify(report.checks, null, 2),
    );
  });

  it('lints a whole directory at once and fails when any file has a failing trap', async () => {
    const report = await lint([TRAPS]);
    assert.equal(report.code, 1);
    const rules = new Set(report.checks.map((c) => c.id.replace(/^manifests\./, '')));
    for (const [rule] of Object.values(EXPECTED)) assert.ok(rules.has(rule), `${rule} missing from the directory run`);
  });
});
