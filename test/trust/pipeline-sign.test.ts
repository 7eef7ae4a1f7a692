/**
 * `pipeline --sign-key-secret`: the signing key reaches the build step as a read-only Secret volume (never an env
 * var), the same step signs, and everything validates against the upstream Tekton CRDs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by the field names each assertion names
type Doc = Record<string, any>;

describe('pipeline --sign-key-secret', () => {
  it('mounts the Secret read-only (0440) and passes files, not values, to the one build step', async () => {
    const r = await modelcarOk([
      'pipeline',
      '--source',
      'hf://ibm-granite/granite-3.1-8b-instruct@main',
      '--to',
      'quay.io/acme/granite:r2',
      '-n',
      'models',
      '--registry-auth-secret',
      'quay-push',
      '--sign-key-secret',
      'cosign-key',
      '--modelcar-image',
      `quay.io/acme/modelcar@sha256:${'ab'.repeat(32)}`,
      '--model-size',
      '16',
    ]);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc);
    for (const d of docs) assert.deepEqual(validateManifest(d), [], d.kind);
    const task = docs.find((d) => d.kind === 'Task') as Doc;
    const volume = task.spec.volumes.find((v: { name: string }) => v.name === 'signing-key');
    assert.deepEqual(volume, { name: 'signing-key', secret: { secretName: 'cosign-key', defaultMode: 0o440 } });
    const [step] = task.spec.steps;
    assert.equal(task.spec.steps.length, 1);
    assert.deepEqual(
      step.volumeMounts.find((m: { name: string }) => m.name === 'signing-key'),
      { name: 'signing-key', mountPath: '/var/run/secrets/modelcar/signing', readOnly: true },
    );
    assert.ok(step.args.includes('--sign-key=/var/run/secrets/modelcar/signing/cosign.key'));
    assert.ok(step.args.includes('--sign-password-file=/var/run/secrets/modelcar/signing/cosign.password'));
    assert.doesNotMatch(JSON.stringify(task.spec.stepTemplate.env), /cosign|COSIGN_PASSWORD/);
  });
});
