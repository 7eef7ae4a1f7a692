/**
 * The ModelPack parts that need no registry: safetensors headers, the config derived from a model, the manifest that
 * re-types the ModelCar layers. Everything is checked against the vendored model-spec and image-spec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { safetensors, tinyModelFiles } from '../../src/example/tiny-model.js';
import type { ModelLayer } from '../../src/image/image.js';
import { modelPackConfig } from '../../src/modelpack/config.js';
import { layerRole } from '../../src/modelpack/layer-role.js';
import { buildModelPackManifest } from '../../src/modelpack/manifest.js';
import { ModelPack, ModelPackAnnotation } from '../../src/modelpack/media-types.js';
import { formatParamSize, readHeader, summarize } from '../../src/modelpack/safetensors.js';
import { modelPackConfigErrors, modelPackManifestErrors } from '../support/oci-schema.js';

async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const sha = (c: string) => `sha256:${c.repeat(64)}`;

describe('safetensors headers', () => {
  it('reads only the header, even one split across many chunks, and counts parameters and bytes per dtype', async () => {
    const bytes = safetensors({ a: { shape: [64, 32], seed: 'a' }, b: { shape: [32], seed: 'b' } });
    let pulled = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const c of chunks(bytes, 7)) {
        pulled += c.length;
        yield c;
      }
    }
    const header = await readHeader(counted(), 'model.safetensors', bytes.length);
    assert.deepEqual([...header.tensors.keys()].sort(), ['a', 'b']);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    assert.ok(pulled < headerEnd + 7, `read ${pulled} bytes for a header ending at ${headerEnd}`);
    const summary = summarize([header]);
    assert.equal(summary.parameters, 64 * 32 + 32);
    assert.deepEqual(summary.dtypes, [{ dtype: 'BF16', bytes: (64 * 32 + 32) * 2 }]);
  });

  it('refuses what is not a safetensors file with a source error naming the file', async () => {
    const random = Buffer.from('this is not a header at all, just text of some length');
    await assert.rejects(readHeader(chunks(random, 16), 'x.safetensors', random.length), (e: unknown) => {
      assert.ok(e instanceof ModelcarError && e.kind === 'source' && /x\.safetensors/.test(e.message) && e.hint);
      return true;
    });
    const short = Buffer.alloc(12);
    short.writeBigUInt64LE(100n);
    await assert.rejects(readHeader(chunks(short, 4), 's.safetensors'), /ends inside its header/);
  });

  it('writes paramSize as model-spec counts it: one decimal at most, a scale letter', () => {
    assert.equal(formatParamSize(8_030_261_248), '8b');
    assert.equal(formatParamSize(6_738_415_616), '6.7b');
    assert.equal(formatParamSize(494_032_768), '494m');
    assert.equal(formatParamSize(999_960_000), '1b');
    assert.equal(formatParamSize(70_553_706_496), '70.6b');
    assert.equal(formatParamSize(1_200_000_000_000), '1.2t');
    assert.equal(formatParamSize(4_160), '4.2k');
    assert.equal(formatParamSize(0), undefined);
  });
});

describe('ModelPack config', () => {
  it('is derived from the model and validates against model-spec config-schema.json', async () => {
    const tiny = tinyModelFiles();
    const header = await readHeader(chunks(tiny['model.safetensors'] as Buffer, 1024), 'model.safetensors');
    const config = modelPackConfig({
      name: 'acme/tiny-llama',
      sourceUri: 'hf://acme/tiny-llama@0123456789abcdef0123456789abcdef01234567',
      revision: '0123456789abcdef0123456789abcdef01234567',
      license: 'apache-2.0',
      created: new Date('2025-01-02T03:04:05Z'),
      config: JSON.parse(String(tiny['config.json'])) as Record<string, unknown>,
      files: Object.keys(tiny),
      weights: summarize([header]),
      diffIds: [sha('1'), sha('2')],
    });
    assert.deepEqual(modelPackConfigErrors(config), []);
    assert.deepEqual(config, {
      descriptor: {
        createdAt: '2025-01-02T03:04:05Z',
        name: 'acme/tiny-llama',
        family: 'llama',
        docURL: 'https://huggingface.co/acme/tiny-llama',
        sourceURL: 'https://huggingface.co/acme/tiny-llama',
        revision: '0123456789abcdef0123456789abcdef01234567',
        licenses: ['apache-2.0'],
      },
      config: { architecture: 'transformer', format: 'safetensors', paramSize: '5.2k', precision: 'bfloat16' },
      modelfs: { type: 'layers', diffIds: [sha('1'), sha('2')] },
    });
  });

  it('names quantization and every stored precision of a quantized checkpoint', () => {
    const config = modelPackConfig({
      name: 'local',
      sourceUri: 'file:w4a16',
      created: new Date(0),
      config: {
        model_type: 'llama',
        quantization_config: { quant_method: 'compressed-tensors' },
        torch_dtype: 'bfloat16',
      },
      files: ['model.safetensors'],
      weights: {
        parameters: 2e9,
        dtypes: [
          { dtype: 'I32', bytes: 9 },
          { dtype: 'BF16', bytes: 3 },
        ],
      },
      diffIds: [sha('3')],
    });
    assert.deepEqual(modelPackConfigErrors(config), []);
    assert.deepEqual(config.config, {
      format: 'safetensors',
      paramSize: '2b',
      precision: 'int32,bfloat16',
      quantization: 'compressed-tensors',
    });
    // No Hub URL for a local directory.
    assert.equal((config.descriptor as Record<string, unknown>).sourceURL, undefined);
  });

  it('fails the upstream schema when a field is wrong (the validator is not vacuous)', () => {
    assert.notDeepEqual(
      modelPackConfigErrors({ descriptor: {}, config: { paramSize: 8 }, modelfs: { type: 'layers', diffIds: [] } }),
      [],
    );
  });
});

describe('ModelPack manifest', () => {
  const layers: ModelLayer[] = [
    {
      digest: sha('a'),
      size: 3072,
      files: [{ path: 'model-00001-of-00002.safetensors', size: 5, sha256: 'b'.repeat(64) }],
    },
    {
      digest: sha('c'),
      size: 4096,
      files: [
        { path: 'config.json', size: 10, sha256: 'd'.repeat(64) },
        { path: 'tokenizer.json', size: 20, sha256: 'e'.repeat(64) },
      ],
    },
    {
      digest: sha('f'),
      size: 2048,
      files: [
        { path: 'docs/README.md', size: 7, sha256: '0'.repeat(64) },
        { path: 'docs/x.py', size: 3, sha256: '1'.repeat(64) },
      ],
    },
  ];

  it('re-uses the ModelCar layer blobs with model-spec types and file paths, and validates', () => {
    const bytes = buildModelPackManifest({ digest: sha('9'), size: 300 }, layers, 1735787045, {
      'org.opencontainers.image.title': 'tiny',
    });
    const m = JSON.parse(bytes.toString()) as {
      layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
    };
    assert.deepEqual(modelPackManifestErrors(m), []);
    assert.deepEqual(
      m.layers.map((l) => [l.digest, l.size]),
      layers.map((l) => [l.digest, l.size]),
    );
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      [ModelPack.weight, ModelPack.weightConfig, ModelPack.code],
    );
    assert.deepEqual(
      m.layers.map((l) => l.annotations[ModelPackAnnotation.filepath]),
      ['models/model-00001-of-00002.safetensors', 'models', 'models/docs'],
    );
    assert.deepEqual(JSON.parse(m.layers[0]?.annotations[ModelPackAnnotation.fileMetadata] ?? '{}'), {
      name: 'model-00001-of-00002.safetensors',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 5,
      mtime: '2025-01-02T03:04:05Z',
      typeflag: 48,
    });
    // A layer that mixes docs and code says its type is a guess; one of config files only does not.
    assert.equal(m.layers[2]?.annotations[ModelPackAnnotation.mediaTypeUntested], 'true');
    assert.equal(m.layers[1]?.annotations[ModelPackAnnotation.mediaTypeUntested], undefined);
  });

  it('classifies files as modctl does', () => {
    assert.equal(layerRole(['model.safetensors']).mediaType, ModelPack.weight);
    assert.equal(layerRole(['model.safetensors.index.json']).mediaType, ModelPack.weightConfig);
    assert.equal(layerRole(['tokenizer.model']).mediaType, ModelPack.weightConfig);
    assert.equal(layerRole(['LICENSE']).mediaType, ModelPack.doc);
    assert.equal(layerRole(['modeling_x.py']).mediaType, ModelPack.code);
    assert.deepEqual(layerRole(['odd.blob']), { mediaType: ModelPack.weightConfig, untested: true });
  });
});
