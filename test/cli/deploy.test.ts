/** `modelcar deploy` and `modelcar pipeline` end to end: the real CLI process, its YAML read back and validated. */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from '../../src/deploy/manifest.js';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import {
  COMPRESSED_TENSORS_QUANT,
  GB,
  LLAMA_8B_CONFIG,
  LLAMA_70B_CONFIG,
  writeModel,
} from '../support/model-fixtures.js';
import {
  latestTags,
  PINNED_STORAGE_URI,
  pipelinePolicyViolations,
  servingPolicyViolations,
  storageUris,
} from '../support/policy.js';

const DIGEST = `sha256:${'7f'.repeat(32)}`;
const IMAGE = `quay.io/acme/llama@${DIGEST}`;

function docs(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject);
}

function assertValid(list: K8sObject[]): void {
  assert.ok(list.length > 0);
  for (const d of list) assert.deepEqual(validateManifest(d), [], `${d.kind} must match its upstream schema`);
  assert.deepEqual(latestTags(list), []);
  assert.deepEqual(servingPolicyViolations(list), []);
  assert.deepEqual(pipelinePolicyViolations(list), []);
}

describe('modelcar deploy', () => {
  let work: string;
  let llama8b: string;
  let llama70b: string;
  let w4a16: string;
  before(async () => {
    work = await tempDir();
    llama8b = await writeModel(join(work, 'llama-8b'), {
      json: { 'config.json': LLAMA_8B_CONFIG },
      sized: { 'model.safetensors': 16 * GB },
    });
    llama70b = await writeModel(join(work, 'llama-70b'), {
      json: { 'config.json': LLAMA_70B_CONFIG },
      sized: { 'model.safetensors': 141 * GB },
    });
    w4a16 = await writeModel(join(work, 'w4a16'), {
      json: { 'config.json': { ...LLAMA_8B_CONFIG, quantization_config: COMPRESSED_TENSORS_QUANT } },
      sized: { 'model.safetensors': 5 * GB },
    });
  });
  after(() => removeTemp(work));

  it('prints a valid ServingRuntime and InferenceService pinned by digest', async () => {
    const r = await modelcarOk([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      llama8b,
      '-n',
      'models',
      '--vllm-arg=--enable-prefix-caching',
    ]);
    const list = docs(r.stdout);
    assert.deepEqual(
      list.map((d) => d.kind),
      ['ServingRuntime', 'InferenceService'],
    );
    assertValid(list);
    assert.deepEqual(storageUris(list), [`oci://${IMAGE}`]);
    assert.match(r.stdout, /--max-model-len=32768/);
    assert.match(r.stdout, /- --enable-prefix-caching/);
    assert.match(r.stderr, /warning: --max-model-len capped at 32768/);
  });

  it('writes image-volume mode with registry labels into --output', async () => {
    const out = join(work, 'out-native');
    const r = await modelcarOk([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      llama8b,
      '--mode',
      'image-volume',
      '--registered-model-id',
      '3',
      '--model-version-id',
      '4',
      '--output',
      out,
    ]);
    assert.equal(r.stdout, '');
    assert.deepEqual((await readdir(out)).sort(), ['inferenceservice.yaml', 'servingruntime.yaml']);
    const isvc = docs(await readFile(join(out, 'inferenceservice.yaml'), 'utf8'));
    assertValid(isvc);
    assert.match(storageUris(isvc)[0] ?? '', /^oci\+native:\/\//);
    assert.match(storageUris(isvc)[0] ?? '', PINNED_STORAGE_URI);
    assert.equal(
      ((isvc[0] as K8sObject).metadata.labels as Record<string, string>)[
        'modelregistry.opendatahub.io/model-version-id'
      ],
      '4',
    );
  });

  it('writes the pull Secret only into --output, mode 0600, and never to stdout', async () => {
    const auth = join(work, 'auth.json');
    await writeFile(
      auth,
      JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('robot:pw').toString('base64') } } }),
    );
    const refused = await modelcar([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      llama8b,
      '--pull-secret',
      'quay-pull',
      '--pull-secret-file',
      auth,
    ]);
    assertCleanFailure(refused, /refusing to print a Secret to stdout/);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');

    const out = join(work, 'out-secret');
    await modelcarOk([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      llama8b,
      '--pull-secret',
      'quay-pull',
      '--pull-secret-file',
      auth,
      '-o',
      out,
    ]);
    assert.equal((await stat(join(out, 'secret.yaml'))).mode & 0o777, 0o600);
    const all = [
      ...docs(await readFile(join(out, 'secret.yaml'), 'utf8')),
      ...docs(await readFile(join(out, 'inferenceservice.yaml'), 'utf8')),
    ];
    assertValid(all);
    const isvc = all.find((d) => d.kind === 'InferenceService') as unknown as {
      spec: { predictor: { imagePullSecrets: unknown } };
    };
    assert.deepEqual(isvc.spec.predictor.imagePullSecrets, [{ name: 'quay-pull' }]);
  });

  it('warns when the model cannot fit the GPUs, and still writes the manifests', async () => {
    const r = await modelcarOk([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      llama70b,
      '--gpus',
      '2',
      '--gpu-memory',
      '48',
    ]);
    assert.match(r.stderr, /^modelcar: warning: the model may not fit: .* 2 x 48 GiB GPU\(s\) give ~86\.4 GiB/m);
    assert.match(r.stderr, /try --gpus 4|try --gpus 8/);
    assertValid(docs(r.stdout));
  });

  it('gives one clear error for bad input', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--image', 'quay.io/acme/llama:v1', '--model-dir', llama8b], /not pinned by digest/],
      [['--image', IMAGE, '--model-dir', 'a', '--model-config', 'b'], /pass --model-dir or --model-config, not both/],
      [
        ['--image', IMAGE, '--model-dir', w4a16, '--quantization', 'awq'],
        /does not match the model's quantization_config \(compressed-tensors\)/,
      ],
      [['--image', IMAGE, '--model-dir', join(work, 'nope')], /cannot list model directory/],
      [['--image', IMAGE, '--model-dir', llama8b, '--gpus', '3'], /does not divide the model's 32 attention heads/],
      [
        ['--image', IMAGE, '--model-dir', llama8b, '--runtime-image', 'docker.io/vllm/vllm-openai:latest'],
        /latest is not allowed/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await modelcar(['deploy', ...args]);
      assertCleanFailure(r, message);
      assert.equal(r.stdout, '', 'nothing half-written on stdout');
    }
  });

  it('derives no --quantization for a compressed-tensors checkpoint', async () => {
    const r = await modelcarOk(['deploy', '--image', IMAGE, '--model-dir', w4a16]);
    assert.doesNotMatch(r.stdout, /--quantization/);
  });
});

describe('modelcar pipeline', () => {
  let work: string;
  before(async () => {
    work = await tempDir();
  });
  after(() => removeTemp(work));

  const base = [
    'pipeline',
    '--source',
    'hf://ibm-granite/granite-3.1-8b-instruct',
    '--to',
    'image-registry.openshift-image-registry.svc:5000/ml/granite:r1',
    '-n',
    'ml',
    '--model-size',
    '16',
    '--modelcar-image',
    'quay.io/modelcar/modelcar:0.1.0',
  ];

  it('prints valid Tekton v1 documents that pass the restricted-v2 policy', async () => {
    const r = await modelcarOk(base);
    const list = docs(r.stdout);
    assert.deepEqual(
      list.map((d) => d.kind),
      ['ServiceAccount', 'RoleBinding', 'Task', 'Pipeline', 'PipelineRun'],
    );
    assertValid(list);
    assert.doesNotMatch(r.stdout, /persistentVolumeClaim|volumeClaimTemplate/);
  });

  it('writes an inline run with cache and registration, and a kustomize tree', async () => {
    const inline = await modelcarOk([
      ...base,
      '--inline',
      '--cache',
      '40Gi',
      '--model-registry',
      'https://models-rest.apps.example.com',
    ]);
    assertValid(docs(inline.stdout));
    assert.match(inline.stdout, /sizeLimit: 40Gi/);
    const k = join(work, 'gitops');
    const r = await modelcarOk([...base, '--kustomize', k, '--overlay', 'prod']);
    assert.equal(r.stdout, '');
    const files = (await readdir(k, { recursive: true })).map(String).sort();
    assert.ok(files.includes('base/kustomization.yaml'));
    assert.ok(files.includes('overlays/prod/kustomization.yaml'));
    const baseDocs = (
      await Promise.all(
        files
          .filter((f) => f.startsWith('base/') && f.endsWith('.yaml') && !f.endsWith('kustomization.yaml'))
          .map((f) => readFile(join(k, f), 'utf8')),
      )
    ).flatMap(docs);
    assertValid(baseDocs);
  });

  it('gives one clear error for bad input', async () => {
    const swap = (flag: string, value: string) => base.map((a, i) => (base[i - 1] === flag ? value : a));
    const cases: Array<[string[], RegExp]> = [
      [swap('--to', 'quay.io/acme/granite:latest'), /latest is not allowed/],
      [swap('--to', 'quay.io/acme/granite:r1'), /needs credentials but no --registry-auth-secret/],
      [swap('--source', 'models/granite'), /no --source-pvc holds it/],
      [swap('--modelcar-image', 'quay.io/modelcar/modelcar'), /neither tag nor digest/],
      [[...base, '--cache', 'lots'], /--cache "lots" is not a valid Kubernetes quantity/],
      [[...base, '--inline', '--kustomize', join(work, 'x')], /--inline and --kustomize are exclusive/],
    ];
    for (const [args, message] of cases) {
      const r = await modelcar(args);
      assertCleanFailure(r, message);
    }
  });
});
