/**
 * `modelcar deploy` for the cluster it targets: the three storage modes, LLMInferenceService, the pre-pull DaemonSet
 * and the OpenShift AI connection Secret. The real CLI writes them; each document is validated against its upstream
 * schema (vendored CRDs, the core/v1 PodSpec), our restricted-v2 policy, and `modelcar doctor --manifests`.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from '../../src/deploy/manifest.js';
import type { DoctorJson } from '../doctor/doctor-json.js';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { GB, LLAMA_8B_CONFIG, writeModel } from '../support/model-fixtures.js';
import { latestTags, PINNED_STORAGE_URI, servingPolicyViolations } from '../support/policy.js';

const DIGEST = `sha256:${'5e'.repeat(32)}`;
const IMAGE = `quay.io/acme/models/llama@${DIGEST}`;
type Obj = Record<string, unknown>;

function docs(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject);
}

async function readDir(dir: string): Promise<Map<string, K8sObject>> {
  const out = new Map<string, K8sObject>();
  for (const f of (await readdir(dir)).sort()) out.set(f, docs(await readFile(join(dir, f), 'utf8'))[0] as K8sObject);
  return out;
}

function assertValid(list: K8sObject[]): void {
  for (const d of list) assert.deepEqual(validateManifest(d), [], `${d.kind} must match its upstream schema`);
  assert.deepEqual(latestTags(list), []);
  assert.deepEqual(servingPolicyViolations(list), []);
}

async function doctorClean(paths: string[]): Promise<void> {
  const r = await modelcar(['doctor', '--offline', '--json', '--only', 'manifests', '--manifests', ...paths]);
  const report = JSON.parse(r.stdout) as DoctorJson;
  const flagged = report.checks.filter((c) => c.status === 'fail' || c.status === 'warn');
  assert.deepEqual(flagged, [], 'doctor --manifests must pass what deploy writes');
  assert.equal(r.code, 0);
}

describe('modelcar deploy for the cluster', () => {
  let work: string;
  let model: string;
  before(async () => {
    work = await tempDir();
    model = await writeModel(join(work, 'llama-8b'), {
      json: { 'config.json': LLAMA_8B_CONFIG },
      sized: { 'model.safetensors': 16 * GB },
    });
  });
  after(() => removeTemp(work));

  it('writes oci://, oci+native:// or oci+fetch:// as --mode says', async () => {
    const want = { modelcar: 'oci://', 'image-volume': 'oci+native://', fetch: 'oci+fetch://' };
    for (const [mode, scheme] of Object.entries(want)) {
      const r = await modelcarOk(['deploy', '--image', IMAGE, '--model-dir', model, '--mode', mode]);
      const list = docs(r.stdout);
      assertValid(list);
      const isvc = list.find((d) => d.kind === 'InferenceService') as Obj;
      const uri = String((((isvc.spec as Obj).predictor as Obj).model as Obj).storageUri);
      assert.equal(uri, `${scheme}${IMAGE}`);
      assert.match(uri, PINNED_STORAGE_URI);
      const file = join(work, `isvc-${mode}.yaml`);
      await writeFile(file, r.stdout);
      await doctorClean([file]);
    }
  });

  it('writes an LLMInferenceService, a pre-pull DaemonSet and an OpenShift AI connection for GPU nodes', async () => {
    const out = join(work, 'llm');
    await modelcarOk([
      'deploy',
      '--image',
      IMAGE,
      '--model-dir',
      model,
      '--kind',
      'llm',
      '--mode',
      'image-volume',
      '--gpus',
      '2',
      '--prepull',
      '--connection',
      'acme-models',
      '--node-selector',
      'nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3',
      '--toleration',
      'nvidia.com/gpu:NoSchedule',
      '--toleration',
      'dedicated=llm:NoExecute',
      '-n',
      'models',
      '-o',
      out,
    ]);
    const files = await readDir(out);
    assert.deepEqual([...files.keys()], ['llminferenceservice.yaml', 'prepull-daemonset.yaml', 'secret.yaml']);
    assertValid([...files.values()]);
    await doctorClean([out]);

    const llm = files.get('llminferenceservice.yaml') as Obj;
    assert.equal(llm.apiVersion, 'serving.kserve.io/v1alpha2');
    const spec = llm.spec as Obj;
    assert.deepEqual(spec.model, { uri: `oci+native://${IMAGE}`, name: 'llama' });
    assert.deepEqual(spec.parallelism, { tensor: 2 });
    const template = spec.template as Obj;
    const main = (template.containers as Obj[])[0] as Obj;
    const args = main.args as string[];
    // The preset sets the model path, name, port and tensor parallelism itself; vLLM would refuse them twice.
    assert.ok(!args.some((a) => /^--(model|served-model-name|port|tensor-parallel-size)=/.test(a)), args.join(' '));
    assert.ok(args.includes('--dtype=bfloat16') && args.includes('--max-model-len=32768'), args.join(' '));
    assert.deepEqual(template.nodeSelector, { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    assert.deepEqual(template.tolerations, [
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoExecute' },
    ]);
    assert.deepEqual(template.imagePullSecrets, [{ name: 'acme-models' }]);

    const ds = files.get('prepull-daemonset.yaml') as Obj;
    const pod = ((ds.spec as Obj).template as Obj).spec as Obj;
    assert.deepEqual(pod.nodeSelector, template.nodeSelector, 'the DaemonSet runs where the serving pods run');
    assert.deepEqual(pod.tolerations, template.tolerations);
    // image-volume: the model image is mounted as the serving pod will mount it, held by the runtime container.
    assert.deepEqual(pod.volumes, [{ name: 'model', image: { reference: IMAGE, pullPolicy: 'IfNotPresent' } }]);
    assert.deepEqual(
      (pod.containers as Obj[]).map((c) => c.name),
      ['runtime'],
    );
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'acme-models' }]);

    const secret = files.get('secret.yaml') as Obj;
    const data = secret.data as Record<string, string>;
    const decoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    assert.deepEqual(decoded, {
      '.dockerconfigjson': '{"auths":{}}',
      OCI_HOST: 'https://quay.io/acme/models',
      ACCESS_TYPE: '["Pull"]',
    });
    const meta = secret.metadata as { labels: Obj; annotations: Obj };
    assert.equal(meta.labels['opendatahub.io/dashboard'], 'true');
    assert.equal(meta.annotations['opendatahub.io/connection-type-ref'], 'oci-v1');
    // No credentials in it: an anonymous connection may be printed and is written world-readable like the rest.
    assert.equal((await stat(join(out, 'secret.yaml'))).mode & 0o777, 0o644);
  });

  it('pre-pulls on GPU nodes by default, with the model image itself sleeping in modelcar mode', async () => {
    const r = await modelcarOk(['deploy', '--image', IMAGE, '--model-dir', model, '--prepull']);
    const list = docs(r.stdout);
    assertValid(list);
    await doctorClean([await writeTo(join(work, 'prepull.yaml'), r.stdout)]);
    const ds = list.find((d) => d.kind === 'DaemonSet') as Obj;
    const pod = ((ds.spec as Obj).template as Obj).spec as Obj;
    assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
    const containers = pod.containers as Obj[];
    assert.deepEqual(
      containers.map((c) => [c.name, c.image, c.command]),
      [
        ['model', IMAGE, ['sleep', 'infinity']],
        ['runtime', 'docker.io/vllm/vllm-openai:v0.11.0', ['sleep', 'infinity']],
      ],
    );
  });

  it('keeps a connection with credentials out of stdout and writes it mode 0600', async () => {
    const auth = join(work, 'auth.json');
    await writeFile(auth, JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('u:p').toString('base64') } } }));
    const args = ['deploy', '--image', IMAGE, '--model-dir', model, '--connection', 'acme', '--pull-secret-file', auth];
    const refused = await modelcar(args);
    assertCleanFailure(refused, /refusing to print a Secret to stdout/);
    const out = join(work, 'with-creds');
    await modelcarOk([...args, '-o', out]);
    assert.equal((await stat(join(out, 'secret.yaml'))).mode & 0o777, 0o600);
    const isvc = (await readDir(out)).get('inferenceservice.yaml') as Obj;
    assert.equal(((isvc.metadata as Obj).annotations as Obj)['opendatahub.io/connections'], 'acme');
  });

  it('refuses combinations KServe cannot serve, with one error and a hint', async () => {
    const cases: [string[], RegExp][] = [
      [['--kind', 'llm', '--mode', 'fetch'], /--kind llm cannot use --mode fetch/],
      [['--mode', 'fetch', '--prepull'], /--prepull does nothing for --mode fetch/],
      [['--toleration', 'nvidia.com/gpu'], /invalid --toleration "nvidia\.com\/gpu"/],
      [['--toleration', 'a=b:Sometimes'], /invalid --toleration/],
      [['--node-selector', 'gpu'], /invalid --node-selector "gpu"/],
      [['--connection', 'Acme_Models'], /--connection "Acme_Models" is not a valid Kubernetes RFC 1123 subdomain/],
      [['--connection', 'a', '--pull-secret', 'b'], /are exclusive/],
    ];
    for (const [args, message] of cases) {
      const r = await modelcar(['deploy', '--image', IMAGE, '--model-dir', model, ...args]);
      assertCleanFailure(r, message);
      assert.equal(r.stdout, '', `nothing on stdout for ${args.join(' ')}`);
    }
  });
});

async function writeTo(file: string, text: string): Promise<string> {
  await writeFile(file, text);
  return file;
}
