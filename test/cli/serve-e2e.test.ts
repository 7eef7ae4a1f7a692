/**
 * From a model directory to a served model, end to end with real parts: `modelcar build --register` pushes into the
 * real distribution registry (docker-registry on loopback) and registers in the Model Registry double, then
 * `modelcar register` finds it already there and `modelcar deploy` renders the InferenceService. The digest must be
 * one and the same in the registry (read by skopeo), in the Model Registry and in storageUri.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from '../../src/deploy/manifest.js';
import { type BuildJson, buildJson, modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';
import { type ModelFixture, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { type BusyboxBase, busyboxBase } from '../support/images.js';
import { ModelRegistryDouble } from '../support/model-registry-double.js';
import { PINNED_STORAGE_URI, storageUris } from '../support/policy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const TOKEN = 'sha256~e2e-token';

/** A tiny Llama-shaped model: a real config.json, a tokenizer, and a few KiB of "weights". */
function tinyLlama(): Record<string, string | Buffer> {
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 256,
    intermediate_size: 688,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 1024,
    max_position_embeddings: 2048,
    torch_dtype: 'bfloat16',
  };
  return {
    'config.json': `${JSON.stringify(config)}\n`,
    'tokenizer.json': '{"version":"1.0","model":{"type":"BPE"}}\n',
    'model.safetensors': Buffer.alloc(64 * 1024, 7),
  };
}

describe('build, register, deploy: one digest everywhere', () => {
  let work: string;
  let registry: TestRegistry;
  let mr: ModelRegistryDouble;
  let base: BusyboxBase;
  let model: ModelFixture;
  let tokenFile: string;
  let built: BuildJson & { registered?: { modelVersionId: string; registeredModelId: string; unchanged: boolean } };
  let ref: string;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    mr = await ModelRegistryDouble.start({ token: TOKEN });
    base = await busyboxBase(work, registry);
    model = await writeFiles(join(work, 'tiny-llama'), tinyLlama());
    tokenFile = join(work, 'mr-token');
    await writeFile(tokenFile, TOKEN);
    ref = `${registry.host}/models/tiny-llama:r1`;
    built = await buildJson([
      model.dir,
      '--to',
      ref,
      '--base',
      base.registry as string,
      '--register',
      '--model-registry',
      mr.url,
      '--model-registry-token-file',
      tokenFile,
      '--result-dir',
      join(work, 'results'),
    ]);
  });
  after(async () => {
    await registry?.stop();
    await mr?.close();
    await removeTemp(work);
  });

  it('pushes an image whose digest the registry serves under the tag', async () => {
    assert.match(built.digest, /^sha256:[a-f0-9]{64}$/);
    const inspected = JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as {
      Digest: string;
    };
    assert.equal(inspected.Digest, built.digest);
  });

  it('registers that digest in the Model Registry, with provenance, through schema-valid requests', () => {
    assert.deepEqual(mr.violations, []);
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });
    const { registeredModels, modelVersions, artifacts } = mr.snapshot();
    assert.equal(registeredModels[0]?.name, 'tiny-llama');
    assert.equal(modelVersions[0]?.name, 'r1');
    assert.equal(artifacts[0]?.uri, `oci://${registry.host}/models/tiny-llama@${built.digest}`);
    assert.equal(artifacts[0]?.modelFormatName, 'safetensors');
    const props = modelVersions[0]?.customProperties as Record<string, Record<string, string>>;
    assert.equal(props.image_digest?.string_value, built.digest);
    assert.equal(props.file_count?.int_value, '3');
    assert.match(props.files_sha256?.string_value ?? '', /^sha256:[a-f0-9]{64}$/);
    assert.equal(built.registered?.modelVersionId, modelVersions[0]?.id);
  });

  it('writes the Tekton results the pipeline passes on', async () => {
    const result = (name: string) => readFile(join(work, 'results', name), 'utf8');
    assert.equal(await result('IMAGE_DIGEST'), built.digest);
    assert.equal(await result('IMAGE_URL'), ref);
    assert.equal(await result('MODEL_VERSION_ID'), built.registered?.modelVersionId);
  });

  it('finds it already registered when `modelcar register` runs on the same image', async () => {
    const writes = mr.writes().length;
    const r = await modelcarOk([
      'register',
      '--image',
      built.reference,
      '--model-registry',
      mr.url,
      '--model-name',
      'tiny-llama',
      '--model-version',
      'r1',
      '--token-file',
      tokenFile,
      '--json',
    ]);
    const out = JSON.parse(r.stdout) as { unchanged: boolean; modelVersionId: string; uri: string };
    assert.equal(out.unchanged, true);
    assert.equal(out.uri, `oci://${registry.host}/models/tiny-llama@${built.digest}`);
    assert.equal(mr.writes().length, writes);
  });

  it('renders an InferenceService whose storageUri carries the same digest and the registry labels', async () => {
    const r = await modelcarOk([
      'deploy',
      '--image',
      built.reference,
      '--model-dir',
      model.dir,
      '--registered-model-id',
      built.registered?.registeredModelId as string,
      '--model-version-id',
      built.registered?.modelVersionId as string,
    ]);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
    for (const d of docs) assert.deepEqual(validateManifest(d), []);
    const [uri] = storageUris(docs);
    assert.match(uri ?? '', PINNED_STORAGE_URI);
    assert.equal(uri, mr.snapshot().artifacts[0]?.uri);
    assert.equal(uri?.split('@')[1], built.digest);
    const isvc = docs.find((d) => d.kind === 'InferenceService') as K8sObject;
    assert.equal(
      (isvc.metadata.labels as Record<string, string>)['modelregistry.opendatahub.io/model-version-id'],
      built.registered?.modelVersionId,
    );
    assert.match(r.stdout, /--max-model-len=2048/);
  });
});
