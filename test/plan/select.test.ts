import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { compileGlob, readIndexFiles, selectFiles } from '../../src/plan/select.js';
import type { SourceEntry } from '../../src/source/source.js';

const GiB = 1024 ** 3;
const f = (path: string, size = 100): SourceEntry => ({ path, size });
const paths = (xs: readonly { path: string }[]) => xs.map((x) => x.path).sort();
const reasonOf = (sel: ReturnType<typeof selectFiles>, path: string) =>
  sel.skipped.find((s) => s.path === path)?.reason;

describe('compileGlob', () => {
  it('matches * within a segment and the file name at any depth when the pattern has no slash', () => {
    const g = compileGlob('*.bin');
    assert.ok(g.test('pytorch_model.bin'));
    assert.ok(g.test('sub/dir/x.bin'));
    assert.ok(!g.test('x.bin.index.json'));
  });
  it('anchors patterns with a slash to the whole path', () => {
    assert.ok(compileGlob('original/*.pth').test('original/consolidated.00.pth'));
    assert.ok(!compileGlob('original/*.pth').test('a/original/consolidated.00.pth'));
    assert.ok(!compileGlob('original/*').test('original/sub/x'));
  });
  it('supports **, ?, braces, classes and trailing-slash folders', () => {
    assert.ok(compileGlob('**/*.json').test('config.json'));
    assert.ok(compileGlob('**/*.json').test('a/b/config.json'));
    assert.ok(compileGlob('a/**/z.txt').test('a/z.txt'));
    assert.ok(compileGlob('a/**/z.txt').test('a/b/c/z.txt'));
    assert.ok(compileGlob('original/').test('original/sub/x.pth'));
    assert.ok(compileGlob('model-0000?-of-00002.safetensors').test('model-00001-of-00002.safetensors'));
    assert.ok(compileGlob('*.{json,txt}').test('vocab.txt'));
    assert.ok(compileGlob('*.{json,t{xt,oml}}').test('x.toml'));
    assert.ok(!compileGlob('*.{json,txt}').test('x.bin'));
    assert.ok(compileGlob('*Q[45]_K_M.gguf').test('m-Q4_K_M.gguf'));
    assert.ok(!compileGlob('*Q[!45]_K_M.gguf').test('m-Q4_K_M.gguf'));
    assert.ok(compileGlob('a.b').test('a.b') && !compileGlob('a.b').test('axb'));
  });
});

describe('selectFiles defaults', () => {
  it('keeps safetensors, configs, tokenizers, templates, code, docs; drops other formats and git metadata', () => {
    const entries = [
      f('.gitattributes'),
      f('README.md'),
      f('LICENSE'),
      f('config.json'),
      f('generation_config.json'),
      f('model.safetensors', GiB),
      f('pytorch_model.bin', GiB),
      f('pytorch_model.bin.index.json'),
      f('tf_model.h5', GiB),
      f('flax_model.msgpack', GiB),
      f('model.gguf', GiB),
      f('onnx/model.onnx', GiB),
      f('original/consolidated.00.pth', GiB),
      f('original/params.json'),
      f('original/tokenizer.model'),
      f('tokenizer.json'),
      f('tokenizer_config.json'),
      f('tokenizer.model'),
      f('special_tokens_map.json'),
      f('merges.txt'),
      f('vocab.txt'),
      f('qwen.tiktoken'),
      f('tekken.json'),
      f('spiece.model'),
      f('chat_template.jinja'),
      f('modeling_custom.py'),
      f('training_args.bin'),
    ];
    const sel = selectFiles(entries);
    assert.deepEqual(paths(sel.selected), [
      'LICENSE',
      'README.md',
      'chat_template.jinja',
      'config.json',
      'generation_config.json',
      'merges.txt',
      'model.safetensors',
      'modeling_custom.py',
      'qwen.tiktoken',
      'special_tokens_map.json',
      'spiece.model',
      'tekken.json',
      'tokenizer.json',
      'tokenizer.model',
      'tokenizer_config.json',
      'vocab.txt',
    ]);
    assert.match(reasonOf(sel, '.gitattributes') ?? '', /git metadata/);
    assert.match(reasonOf(sel, 'pytorch_model.bin') ?? '', /alternative weight format \(\.bin\); the safetensors/);
    assert.match(reasonOf(sel, 'original/consolidated.00.pth') ?? '', /original\/ holds another export/);
    assert.match(reasonOf(sel, 'training_args.bin') ?? '', /training state/);
    assert.match(reasonOf(sel, 'pytorch_model.bin.index.json') ?? '', /alternative-format/);
    assert.equal(sel.skipped.length + sel.selected.length, entries.length);
  });

  it('keeps .bin weights of a .bin-only model and drops formats below it', () => {
    const sel = selectFiles([
      f('config.json'),
      f('pytorch_model-00001-of-00002.bin', GiB),
      f('pytorch_model-00002-of-00002.bin', GiB),
      f('pytorch_model.bin.index.json'),
      f('tf_model.h5', GiB),
      f('.git/HEAD'),
    ]);
    assert.deepEqual(paths(sel.selected), [
      'config.json',
      'pytorch_model-00001-of-00002.bin',
      'pytorch_model-00002-of-00002.bin',
      'pytorch_model.bin.index.json',
    ]);
    assert.match(reasonOf(sel, 'tf_model.h5') ?? '', /the pytorch weights are kept/);
  });

  it('keeps everything of a GGUF-only repo (nothing proves a duplicate)', () => {
    const sel = selectFiles([f('a-Q4_K_M.gguf', GiB), f('a-Q8_0.gguf', GiB), f('README.md')]);
    assert.equal(sel.selected.length, 3);
  });
});

describe('selectFiles duplicate weights', () => {
  const index = {
    metadata: { total_size: 3 * GiB },
    weight_map: {
      'a.weight': 'model-00001-of-00002.safetensors',
      'b.weight': 'model-00002-of-00002.safetensors',
      'c.weight': 'model-00002-of-00002.safetensors',
    },
  };
  const mistral = [
    f('config.json'),
    f('params.json'),
    f('tokenizer.json'),
    f('consolidated.safetensors', 3 * GiB),
    f('model-00001-of-00002.safetensors', 2 * GiB),
    f('model-00002-of-00002.safetensors', GiB),
    f('model.safetensors.index.json'),
    f('mm_projector.safetensors', 10 * 1024 * 1024),
  ];
  const indexFiles = new Map<string, unknown>([['model.safetensors.index.json', index]]);

  it('drops consolidated.safetensors next to the indexed HF shards (Mistral), keeps small extras', () => {
    const sel = selectFiles(mistral, { indexFiles });
    assert.match(
      reasonOf(sel, 'consolidated.safetensors') ?? '',
      /^duplicate weights: not in model\.safetensors\.index\.json/,
    );
    assert.ok(paths(sel.selected).includes('model-00001-of-00002.safetensors'));
    assert.ok(paths(sel.selected).includes('mm_projector.safetensors'));
    assert.ok(paths(sel.selected).includes('params.json'));
  });

  it('accepts the index as raw JSON text', () => {
    const sel = selectFiles(mistral, {
      indexFiles: new Map([['model.safetensors.index.json', JSON.stringify(index)]]),
    });
    assert.ok(reasonOf(sel, 'consolidated.safetensors'));
  });

  it('keeps both copies with keepDuplicateWeights or without the index contents', () => {
    assert.equal(selectFiles(mistral, { indexFiles, keepDuplicateWeights: true }).skipped.length, 0);
    assert.equal(selectFiles(mistral).skipped.length, 0);
  });

  it('serves a Mistral-native repo (params.json, no config.json) from consolidated and drops the HF shards', () => {
    const native = mistral.filter((e) => e.path !== 'config.json');
    const sel = selectFiles(native, { indexFiles });
    assert.ok(paths(sel.selected).includes('consolidated.safetensors'));
    assert.match(reasonOf(sel, 'model-00001-of-00002.safetensors') ?? '', /Mistral-native/);
    assert.match(reasonOf(sel, 'model.safetensors.index.json') ?? '', /Mistral-native/);
  });

  it('reads shard paths relative to the index folder', () => {
    const sub = [
      f('transformer/diffusion_pytorch_model-00001-of-00001.safetensors', GiB),
      f('transformer/diffusion_pytorch_model.safetensors.index.json'),
      f('transformer/copy.safetensors', GiB),
      f('vae/diffusion_pytorch_model.safetensors', GiB),
    ];
    const sel = selectFiles(sub, {
      indexFiles: new Map([
        [
          'transformer/diffusion_pytorch_model.safetensors.index.json',
          { weight_map: { x: 'diffusion_pytorch_model-00001-of-00001.safetensors' } },
        ],
      ]),
    });
    assert.deepEqual(paths(sel.skipped), ['transformer/copy.safetensors']);
  });

  it('rejects an index without weight_map with a clear error', () => {
    assert.throws(
      () => selectFiles(mistral, { indexFiles: new Map([['model.safetensors.index.json', '{}']]) }),
      /model\.safetensors\.index\.json: has no weight_map/,
    );
  });
});

describe('selectFiles include/exclude', () => {
  const entries = [f('config.json'), f('model.safetensors', GiB), f('pytorch_model.bin', GiB), f('README.md')];
  it('re-adds a default-skipped file with --include', () => {
    const sel = selectFiles(entries, { include: ['*.bin'] });
    assert.ok(paths(sel.selected).includes('pytorch_model.bin'));
  });
  it('lets --exclude win over --include and defaults', () => {
    const sel = selectFiles(entries, { include: ['*.bin', 'README.md'], exclude: ['*.{bin,md}'] });
    assert.deepEqual(paths(sel.selected), ['config.json', 'model.safetensors']);
    assert.equal(reasonOf(sel, 'README.md'), 'excluded by --exclude *.{bin,md}');
  });
});

describe('readIndexFiles', () => {
  it('reads and parses safetensors index files through the source', async () => {
    const body = JSON.stringify({ weight_map: { a: 'model-00001-of-00001.safetensors' } });
    const opened: string[] = [];
    const source = {
      open: async (e: SourceEntry) => {
        opened.push(e.path);
        return Readable.from([Buffer.from(body)]);
      },
    };
    const m = await readIndexFiles(source, [
      f('model.safetensors.index.json', body.length),
      f('pytorch_model.bin.index.json'),
      f('original/model.safetensors.index.json'),
    ]);
    assert.deepEqual(opened, ['model.safetensors.index.json']);
    assert.deepEqual(m.get('model.safetensors.index.json'), JSON.parse(body));
  });
});
