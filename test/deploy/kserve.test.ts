import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseServingRef } from '../../src/deploy/image-ref.js';
import { type DeployOptions, deployManifests } from '../../src/deploy/kserve.js';
import type { K8sObject } from '../../src/deploy/manifest.js';
import { readModelConfig, readModelDir } from '../../src/deploy/model-dir.js';
import type { ModelFacts } from '../../src/deploy/model-facts.js';
import { ModelcarError } from '../../src/errors.js';
import { validateManifest } from '../support/crd-schema.js';
import {
  AWQ_QUANT,
  COMPRESSED_TENSORS_QUANT,
  GB,
  LLAMA_8B_CONFIG,
  LLAMA_70B_CONFIG,
  MISTRAL_PARAMS,
  scratchDir,
  writeModel,
} from '../support/model-fixtures.js';
import { latestTags, PINNED_STORAGE_URI, servingPolicyViolations, storageUris } from '../support/policy.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const IMAGE = parseServingRef(`quay.io/acme/granite@${DIGEST}`);

function options(facts: ModelFacts, over: Partial<DeployOptions> = {}): DeployOptions {
  return {
    image: IMAGE,
    facts,
    name: 'granite',
    namespace: 'models',
    gpus: 1,
    gpuMemoryGiB: 80,
    runtimeImage: 'quay.io/vllm/vllm-openai:v0.11.0',
    mode: 'modelcar',
    deploymentMode: 'RawDeployment',
    cpu: '4',
    memory: '32Gi',
    ...over,
  };
}

const docsOf = (r: ReturnType<typeof deployManifests>): K8sObject[] => r.manifests.map((m) => m.doc);
const runtimeArgs = (docs: K8sObject[]): string[] => {
  const sr = docs.find((d) => d.kind === 'ServingRuntime') as unknown as {
    spec: { containers: Array<{ args: string[] }> };
  };
  return sr.spec.containers[0]?.args ?? [];
};

function assertValid(docs: K8sObject[]): void {
  for (const d of docs) assert.deepEqual(validateManifest(d), [], `${d.kind} must match its upstream schema`);
  assert.deepEqual(servingPolicyViolations(docs), []);
  assert.deepEqual(latestTags(docs), []);
  for (const uri of storageUris(docs)) assert.match(uri, PINNED_STORAGE_URI);
}

describe('deploy manifests from a model directory', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let llama8b: ModelFacts;
  before(async () => {
    scratch = await scratchDir();
    llama8b = await readModelDir(
      await writeModel(join(scratch.dir, 'llama-8b'), {
        json: { 'config.json': LLAMA_8B_CONFIG, 'generation_config.json': {} },
        sized: { 'model-00001-of-00002.safetensors': 10 * GB, 'model-00002-of-00002.safetensors': 6 * GB },
      }),
    );
  });
  after(() => scratch.cleanup());

  it('derives vLLM arguments from config.json and the weight sizes from the files', () => {
    assert.equal(llama8b.weightBytes, 16 * GB);
    assert.equal(llama8b.weightBytesSource, 'files');
    const r = deployManifests(options(llama8b));
    assert.deepEqual(r.args, [
      '--model=/mnt/models',
      '--served-model-name=granite',
      '--port=8080',
      '--dtype=bfloat16',
      '--max-model-len=32768',
      '--tensor-parallel-size=1',
    ]);
    assert.deepEqual(runtimeArgs(docsOf(r)), r.args, 'the ServingRuntime carries exactly these arguments');
    assert.equal(r.estimate.fits, true);
    assert.match(r.warnings.join('\n'), /--max-model-len capped at 32768 \(the model allows 131072\)/);
    assertValid(docsOf(r));
  });

  it('points the InferenceService at the image by digest, in modelcar and image-volume mode', () => {
    const modelcar = docsOf(deployManifests(options(llama8b)));
    assert.deepEqual(storageUris(modelcar), [`oci://quay.io/acme/granite@${DIGEST}`]);
    const native = docsOf(deployManifests(options(llama8b, { mode: 'image-volume' })));
    assert.deepEqual(storageUris(native), [`oci+native://quay.io/acme/granite@${DIGEST}`]);
    assertValid(native);
  });

  it('drops the tag of a tag+digest reference: the digest alone names the bytes', () => {
    const image = parseServingRef(`quay.io/acme/granite:v1@${DIGEST}`);
    assert.deepEqual(storageUris(docsOf(deployManifests(options(llama8b, { image })))), [
      `oci://quay.io/acme/granite@${DIGEST}`,
    ]);
  });

  it('adds imagePullSecrets for a private registry and generates the Secret only from a file', () => {
    const auth = JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('u:p').toString('base64') } } });
    const r = deployManifests(options(llama8b, { pullSecret: 'quay-pull', pullSecretJson: auth }));
    const docs = docsOf(r);
    const isvc = docs.find((d) => d.kind === 'InferenceService') as unknown as {
      spec: { predictor: Record<string, unknown> };
    };
    assert.deepEqual(isvc.spec.predictor.imagePullSecrets, [{ name: 'quay-pull' }]);
    const secret = r.manifests.find((m) => m.doc.kind === 'Secret');
    assert.equal(secret?.sensitive, true);
    assert.equal(secret?.doc.type, 'kubernetes.io/dockerconfigjson');
    assert.deepEqual(
      r.warnings.filter((w) => /credentials/.test(w)),
      [],
    );
    assertValid(docs);
  });

  it('writes an OpenShift AI OCI connection Secret and the connections annotation', () => {
    const auth = JSON.stringify({ auths: { 'registry.example.com': { auth: 'eDp5' } } });
    const r = deployManifests(options(llama8b, { ociConnection: 'acme-oci', pullSecretJson: auth }));
    const docs = docsOf(r);
    const secret = docs.find((d) => d.kind === 'Secret') as K8sObject & { data: Record<string, string> };
    assert.equal(Buffer.from(secret.data.OCI_HOST ?? '', 'base64').toString(), 'https://quay.io/acme');
    assert.equal(
      (secret.metadata.annotations as Record<string, string>)['opendatahub.io/connection-type-protocol'],
      'oci',
    );
    const isvc = docs.find((d) => d.kind === 'InferenceService') as K8sObject;
    assert.equal((isvc.metadata.annotations as Record<string, string>)['opendatahub.io/connections'], 'acme-oci');
    assert.match(r.warnings.join('\n'), /no credentials for quay\.io/);
    assertValid(docs);
  });

  it('labels the InferenceService with the Model Registry ids when given', () => {
    const docs = docsOf(
      deployManifests(options(llama8b, { registeredModelId: '1', modelVersionId: '2', modelRegistryName: 'models' })),
    );
    const labels = (docs.find((d) => d.kind === 'InferenceService') as K8sObject).metadata.labels;
    assert.deepEqual(
      {
        rm: (labels as Record<string, string>)['modelregistry.opendatahub.io/registered-model-id'],
        mv: (labels as Record<string, string>)['modelregistry.opendatahub.io/model-version-id'],
        name: (labels as Record<string, string>)['modelregistry.opendatahub.io/name'],
      },
      { rm: '1', mv: '2', name: 'models' },
    );
    assertValid(docs);
  });

  it('never passes --quantization=awq (or anything) to a compressed-tensors checkpoint', async () => {
    const facts = await readModelDir(
      await writeModel(join(scratch.dir, 'w4a16'), {
        json: { 'config.json': { ...LLAMA_8B_CONFIG, quantization_config: COMPRESSED_TENSORS_QUANT } },
        sized: { 'model.safetensors': 5 * GB },
      }),
    );
    assert.equal(facts.quantization?.method, 'compressed-tensors');
    assert.equal(facts.quantization?.bits, 4);
    const args = deployManifests(options(facts)).args;
    assert.equal(args.filter((a) => a.startsWith('--quantization')).length, 0);
    assert.equal(args.filter((a) => a.startsWith('--dtype')).length, 0, 'the kernels choose the dtype');
    assert.throws(
      () => deployManifests(options(facts, { quantization: 'awq' })),
      (e: unknown) => e instanceof ModelcarError && /does not match the model's quantization_config/.test(e.message),
    );
  });

  it('leaves AWQ detection to vLLM (so it can pick awq_marlin) but accepts a matching explicit method', async () => {
    const facts = await readModelDir(
      await writeModel(join(scratch.dir, 'awq'), {
        json: { 'config.json': { ...LLAMA_8B_CONFIG, torch_dtype: 'float16', quantization_config: AWQ_QUANT } },
        sized: { 'model.safetensors': 5 * GB },
      }),
    );
    assert.equal(deployManifests(options(facts)).args.filter((a) => a.startsWith('--quantization')).length, 0);
    assert.ok(
      deployManifests(options(facts, { quantization: 'awq_marlin' })).args.includes('--quantization=awq_marlin'),
    );
  });

  it("uses Mistral's tokenizer and formats only for a repo in Mistral's own layout", async () => {
    const native = await readModelDir(
      await writeModel(join(scratch.dir, 'mistral-native'), {
        json: { 'params.json': MISTRAL_PARAMS, 'tekken.json': {} },
        sized: { 'consolidated.safetensors': 47 * GB },
      }),
    );
    assert.equal(native.mistralNative, true);
    assert.equal(native.weightBytes, 47 * GB);
    const args = deployManifests(options(native)).args;
    assert.ok(args.includes('--tokenizer-mode=mistral'));
    assert.ok(args.includes('--config-format=mistral'));

    const hfLayout = await readModelDir(
      await writeModel(join(scratch.dir, 'mistral-hf'), {
        json: { 'config.json': { ...LLAMA_8B_CONFIG, architectures: ['MistralForCausalLM'], model_type: 'mistral' } },
        sized: { 'model.safetensors': 14 * GB },
      }),
    );
    assert.equal(hfLayout.mistralNative, false);
    assert.equal(deployManifests(options(hfLayout)).args.filter((a) => a.includes('mistral')).length, 0);
  });

  it('warns when the model cannot fit the GPUs asked for, and suggests what would', async () => {
    const facts = await readModelDir(
      await writeModel(join(scratch.dir, 'llama-70b'), {
        json: { 'config.json': LLAMA_70B_CONFIG },
        sized: { 'model-00001-of-00002.safetensors': 70 * GB, 'model-00002-of-00002.safetensors': 71 * GB },
      }),
    );
    const r = deployManifests(options(facts, { gpus: 1, gpuMemoryGiB: 80 }));
    assert.equal(r.estimate.fits, false);
    const warning = r.warnings.find((w) => /may not fit/.test(w)) ?? '';
    assert.match(warning, /weights 131\.3 GiB/);
    // two GPUs leave ~144 GiB usable, one GiB short of weights + KV cache + two overheads
    assert.match(warning, /try --gpus 4/);
    const fits = deployManifests(options(facts, { gpus: 4, gpuMemoryGiB: 80 }));
    assert.equal(fits.estimate.fits, true);
    assert.ok(fits.args.includes('--tensor-parallel-size=4'));
    assertValid(docsOf(fits));
  });

  it('estimates from config.json alone when no weights are at hand', async () => {
    const dir = await writeModel(join(scratch.dir, 'config-only'), { json: { 'config.json': LLAMA_8B_CONFIG } });
    const facts = await readModelConfig(join(dir, 'config.json'));
    assert.equal(facts.weightBytesSource, 'estimate');
    // Llama 3.1 8B has 8.03 B parameters: 16.06 GB in bf16
    assert.ok(Math.abs((facts.weightBytes ?? 0) - 16.06 * GB) < 0.1 * GB, String(facts.weightBytes));
  });

  it('appends extra vLLM arguments, but not ones that would override what the model says', () => {
    const args = deployManifests(options(llama8b, { extraArgs: ['--enable-prefix-caching'] })).args;
    assert.equal(args.at(-1), '--enable-prefix-caching');
    assert.throws(
      () => deployManifests(options(llama8b, { extraArgs: ['--max-model-len=4096'] })),
      /repeats --max-model-len, which deploy sets from the model/,
    );
  });

  it('refuses a GPU count that does not divide the attention heads', () => {
    assert.throws(
      () => deployManifests(options(llama8b, { gpus: 3 })),
      /does not divide the model's 32 attention heads/,
    );
  });

  it('refuses a tag-only image, latest, and a latest runtime image', () => {
    assert.throws(() => parseServingRef('quay.io/acme/granite:v1'), /not pinned by digest/);
    assert.throws(() => parseServingRef(`quay.io/acme/granite:latest@${DIGEST}`), /latest is not allowed/);
    assert.throws(
      () => deployManifests(options(llama8b, { runtimeImage: 'quay.io/vllm/vllm-openai:latest' })),
      /latest/,
    );
    assert.throws(
      () => deployManifests(options(llama8b, { runtimeImage: 'quay.io/vllm/vllm-openai' })),
      /neither tag nor digest/,
    );
  });

  it('has a validator that rejects a field the CRD does not have', () => {
    const [isvc] = docsOf(deployManifests(options(llama8b))).filter((d) => d.kind === 'InferenceService');
    const broken = structuredClone(isvc) as K8sObject & { spec: { predictor: Record<string, unknown> } };
    broken.spec.predictor.storageUri = 'oci://x/y@sha256:0';
    (broken.spec.predictor as Record<string, unknown>).modelcar = true;
    assert.match(validateManifest(broken).join('\n'), /additional properties \(modelcar\)/);
  });
});
