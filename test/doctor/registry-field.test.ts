/**
 * What doctor knows about the registries and runtimes of the field, from their documented behaviour: each known
 * quirk is a result with cause and fix, raised for the pushes it concerns; CRI-O's pull progress timeout against one
 * big layer is checked against the nodes of a Kubernetes API double.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DoctorContext } from '../../src/doctor/check.js';
import { quirkResults } from '../../src/doctor/registry-check.js';
import { limitsFor } from '../../src/oci/registry/profiles.js';
import { modelcar } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { KubeApiDouble } from '../support/kube-api-double.js';
import { writeModel } from '../support/model-fixtures.js';
import { type DoctorJson, result } from './doctor-json.js';

function ctx(modelpack: boolean): DoctorContext {
  return {
    options: { modelpack },
    env: {},
    facts: {},
    signal: new AbortController().signal,
    readStdin: async () => '',
  };
}

describe('registries of the field', () => {
  it('knows GAR, ECR, Quay, GHCR and GitLab by host', () => {
    const ids = (host: string) => (limitsFor(host).quirks ?? []).map((q) => q.id);
    assert.deepEqual(ids('europe-west4-docker.pkg.dev'), ['gar-no-chunks']);
    assert.deepEqual(ids('gcr.io'), ['gar-no-chunks']);
    assert.deepEqual(ids('123456789012.dkr.ecr.us-east-1.amazonaws.com'), ['ecr-one-patch']);
    assert.deepEqual(ids('public.ecr.aws'), ['ecr-one-patch']);
    assert.deepEqual(ids('quay.io'), ['quay-oci-artifacts']);
    assert.deepEqual(ids('quay.apps.example.com'), ['quay-oci-artifacts']);
    assert.deepEqual(ids('ghcr.io'), ['ghcr-referrers']);
    assert.deepEqual(ids('registry.gitlab.com'), ['gitlab-media-types']);
    assert.deepEqual(ids('localhost:5000'), []);
    // GAR and ECR take one request per layer: the upload engine is told so.
    assert.equal(limitsFor('us-docker.pkg.dev').monolithicOnly, true);
    assert.equal(limitsFor('123456789012.dkr.ecr.eu-west-1.amazonaws.com').monolithicOnly, true);
  });

  it('warns about artifact refusals only when the build adds a ModelPack manifest', () => {
    const quay = quirkResults(ctx(true), 'quay.io')[0];
    assert.equal(quay?.status, 'warn');
    assert.match(String(quay?.fix), /FEATURE_GENERAL_OCI_SUPPORT: true/);
    assert.match(String(quay?.fix), /application\/vnd\.cncf\.model\.config\.v1\+json/);
    assert.match(String(quay?.symptom), /MANIFEST_INVALID/);
    const plain = quirkResults(ctx(false), 'quay.io')[0];
    assert.equal(plain?.status, 'ok');
    assert.match(String(plain?.summary), /matters only with --modelpack/);
    assert.equal(quirkResults(ctx(true), 'registry.gitlab.com')[0]?.status, 'warn');
    // What modelcar already handles is reported, not warned about.
    assert.equal(quirkResults(ctx(true), 'us-docker.pkg.dev')[0]?.status, 'ok');
    assert.equal(quirkResults(ctx(true), 'ghcr.io')[0]?.status, 'ok');
  });
});

describe('CRI-O pull progress timeout against one big layer', () => {
  let work: string;
  let api: KubeApiDouble;
  before(async () => {
    work = await tempDir();
    api = await new KubeApiDouble({
      token: 't',
      username: 'alice',
      allow: [],
      namespaces: { ml: {} },
      nodes: [
        { name: 'gpu-old', ephemeralStorage: '2000Gi', gpus: 1, runtime: 'cri-o://1.31.4' },
        { name: 'gpu-new', ephemeralStorage: '2000Gi', gpus: 1, runtime: 'cri-o://1.33.2' },
      ],
    }).start();
  });
  after(async () => {
    assert.deepEqual(api.violations, []);
    await api.close();
    await removeTemp(work);
  });

  async function serving(size: number): Promise<DoctorJson> {
    const model = await writeModel(join(work, `m-${size}`), {
      json: { 'config.json': { model_type: 'llama' } },
      sized: { 'model.safetensors': size },
    });
    const kubeconfig = join(work, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfig('ml'));
    const r = await modelcar([
      'doctor',
      model,
      '--to',
      `oci:${join(work, 'out')}`,
      '--only',
      'source',
      'cluster',
      'serving',
      '--kubeconfig',
      kubeconfig,
      '--json',
    ]);
    assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
    return JSON.parse(r.stdout) as DoctorJson;
  }

  it('warns for nodes on CRI-O 1.30-1.32 when a layer is over 1 GiB, and not otherwise', async () => {
    const big = await serving(3 * 1024 ** 3);
    const timeout = result(big, 'serving.crio-pull-timeout');
    assert.equal(timeout.status, 'warn');
    assert.match(timeout.summary, /gpu-old \(CRI-O 1\.31\.4\)/);
    assert.doesNotMatch(timeout.summary, /gpu-new/);
    assert.match(String(timeout.fix), /pull_progress_timeout = "0s"/);
    const small = await serving(64 * 1024 ** 2);
    assert.equal(
      small.checks.find((c) => c.id === 'serving.crio-pull-timeout'),
      undefined,
    );
  });
});
