/**
 * `deploy --image REF` alone: the model config is read from the image by ranged blob reads. The layers are written by
 * GNU tar (as a Containerfile COPY or another tool would write them, not by us), pushed to the real registry, and
 * the bytes the CLI pulls are counted by a relay in front of it: kilobytes out of megabytes.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { safetensors } from '../../src/example/tiny-model.js';
import { openRepository } from '../../src/oci/open.js';
import { pushAndTag } from '../../src/oci/repository.js';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { blobOf } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 1024,
  intermediate_size: 2048,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 8,
  vocab_size: 4096,
  max_position_embeddings: 8192,
  // No torch_dtype: deploy must take the dtype from the safetensors header.
};

type Obj = Record<string, unknown>;

describe('deploy --image reads the model from the image', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  const digests: Record<string, string> = {};
  let modelLayerSize = 0;

  async function tarOf(dir: string, paths: string[]): Promise<Buffer> {
    const file = join(work, `layer-${Object.keys(digests).length}-${paths.join('-')}.tar`);
    await tool('tar', ['--format=gnu', '--sort=name', '--owner=0', '--group=0', '-cf', file, '-C', dir, ...paths]);
    return readFile(file);
  }

  async function push(name: string, layers: { bytes: Buffer; mediaType: string }[]): Promise<void> {
    const repo = await openRepository(
      { transport: 'registry', ref: { registry: registry.host, repository: name } },
      {},
    );
    const pushed = [];
    for (const l of layers) pushed.push({ ...(await repo.pushBlob(blobOf(l.bytes))), mediaType: l.mediaType });
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const cfg = await repo.pushBlob(blobOf(config));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
        layers: pushed.map((p) => ({ mediaType: p.mediaType, digest: p.digest, size: p.size })),
      }),
    );
    digests[name] = (await pushAndTag(repo, manifest, 'application/vnd.oci.image.manifest.v1+json', 'v1')).digest;
    await repo.close?.();
  }

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
    const root = join(work, 'rootfs');
    await writeFiles(root, {
      'bin/sh': 'not really a shell\n',
      'etc/os-release': 'ID=test\n',
      'models/config.json': `${JSON.stringify(CONFIG)}\n`,
      // 8 MiB of bf16 weights, then the tokenizer: config.json and the header are all deploy may read.
      'models/model.safetensors': safetensors({ 'model.embed_tokens.weight': { shape: [4096, 1024], seed: 'w' } }),
      'models/tokenizer.json': '{"version":"1.0"}\n',
    });
    const base = await tarOf(root, ['bin', 'etc']);
    const model = await tarOf(root, ['models']);
    modelLayerSize = model.length;
    await push('catalog/plain', [
      { bytes: base, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
      { bytes: model, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
    ]);
    await push('catalog/gzip', [
      { bytes: gzipSync(base), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
      { bytes: gzipSync(model), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
    ]);
    await push('catalog/empty', [{ bytes: base, mediaType: 'application/vnd.oci.image.layer.v1.tar' }]);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
    await removeTemp(work);
  });

  const received = (from: number) => proxy.requests.slice(from).reduce((n, r) => n + r.received, 0);

  it('reads config.json and the safetensors header of an uncompressed layer by ranges: kilobytes', async () => {
    const from = proxy.requests.length;
    const r = await modelcarOk(['deploy', '--image', `${proxy.host}/catalog/plain@${digests['catalog/plain']}`]);
    const moved = received(from);
    assert.ok(modelLayerSize > 8 * MiB);
    assert.ok(moved < 64 * 1024, `deploy pulled ${moved} bytes of a ${modelLayerSize}-byte layer`);
    assert.ok(
      proxy.requests.slice(from).some((q) => typeof q.headers.range === 'string' && q.status === 206),
      'blob reads were ranged and answered 206',
    );
    assert.match(r.stderr, /read the model config from .* \(3 files under \/models; /);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    for (const d of docs) assert.deepEqual(validateManifest(d), []);
    const runtime = docs.find((d) => d.kind === 'ServingRuntime') as Obj;
    const args = (((runtime.spec as Obj).containers as Obj[])[0] as Obj).args as string[];
    assert.ok(args.includes('--dtype=bfloat16'), `dtype from the safetensors header: ${args.join(' ')}`);
    assert.ok(args.includes('--max-model-len=8192'), args.join(' '));
  });

  it('streams a gzip layer only until config.json', async () => {
    const from = proxy.requests.length;
    const r = await modelcarOk(['deploy', '--image', `${proxy.host}/catalog/gzip@${digests['catalog/gzip']}`]);
    assert.match(r.stdout, /--max-model-len=8192/);
    assert.ok(received(from) < modelLayerSize, 'the compressed layer was not read to its end');
  });

  it('says so when the image holds no model', async () => {
    const r = await modelcar(['deploy', '--image', `${proxy.host}/catalog/empty@${digests['catalog/empty']}`]);
    assertCleanFailure(r, /the image has no files under \/models/);
  });
});
