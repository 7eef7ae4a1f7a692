/**
 * A synthetic model on disk: weight shards of random bytes (bf16 weights do not compress either) plus the small json
 * and tokenizer files a Hugging Face repo carries. Shard bytes are the AES-CTR keystream the Hub double's
 * `pseudoRandomBytes(path, size)` makes, so the same model can be served by the double and read from disk. Kept
 * between runs: a second bench skips the minutes of writing when the files are already there.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSpec } from '../test/support/hub-double.js';

export interface ModelShape {
  /** Total bytes of the weight shards. */
  readonly weightBytes: number;
  readonly shards: number;
}

export interface ModelFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** A weight shard (served from the Hub double's LFS "CDN"), not a small json/tokenizer file. */
  readonly weight: boolean;
}

export interface SyntheticModel {
  readonly dir: string;
  readonly shape: ModelShape;
  readonly files: readonly ModelFile[];
  readonly totalBytes: number;
}

const CHUNK = 8 * 1024 * 1024;
const GENERATOR = 'aes-ctr-v2';

function shardName(i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

function shardSizes(shape: ModelShape): number[] {
  const each = Math.floor(shape.weightBytes / shape.shards);
  return Array.from({ length: shape.shards }, (_, i) =>
    i === shape.shards - 1 ? shape.weightBytes - each * (shape.shards - 1) : each,
  );
}

/** A tokenizer.json of realistic size (~2 MiB): a BPE vocabulary of made-up tokens. */
function tokenizerJson(): string {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 64_000; i++) vocab[`tok${i.toString(36)}${'abcdefghij'.slice(0, i % 10)}`] = i;
  return JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab, merges: [] }, added_tokens: [] }, null, 1);
}

function smallFiles(shape: ModelShape, shards: readonly string[]): Record<string, string> {
  const weightMap: Record<string, string> = {};
  shards.forEach((name, i) => {
    weightMap[`model.layers.${i}.weight`] = name;
  });
  return {
    'config.json': JSON.stringify(
      { architectures: ['LlamaForCausalLM'], model_type: 'llama', torch_dtype: 'bfloat16', hidden_size: 4096 },
      null,
      2,
    ),
    'generation_config.json': JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2),
    'model.safetensors.index.json': JSON.stringify(
      { metadata: { total_size: shape.weightBytes }, weight_map: weightMap },
      null,
      2,
    ),
    'special_tokens_map.json': JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }, null, 2),
    'tokenizer.json': tokenizerJson(),
    'tokenizer_config.json': JSON.stringify({ model_max_length: 4096, tokenizer_class: 'LlamaTokenizer' }, null, 2),
  };
}

async function writeShard(path: string, seed: string, size: number): Promise<string> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(CHUNK);
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(CHUNK, size - done);
      const bytes = cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n));
      hash.update(bytes);
      await fh.write(bytes);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function cached(metaPath: string, shape: ModelShape, dir: string): Promise<SyntheticModel | undefined> {
  try {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as SyntheticModel & { generator: string };
    if (meta.generator !== GENERATOR || meta.shape.weightBytes !== shape.weightBytes) return undefined;
    if (meta.shape.shards !== shape.shards) return undefined;
    for (const f of meta.files) if ((await stat(join(dir, f.path))).size !== f.size) return undefined;
    return { dir, shape, files: meta.files, totalBytes: meta.totalBytes };
  } catch {
    return undefined;
  }
}

export async function syntheticModel(workDir: string, shape: ModelShape): Promise<SyntheticModel> {
  const dir = join(workDir, `model-${shape.weightBytes}-${shape.shards}`);
  const metaPath = `${dir}.json`;
  const reused = await cached(metaPath, shape, dir);
  if (reused) return reused;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const names = shardSizes(shape).map((_, i) => shardName(i, shape.shards));
  const files: ModelFile[] = [];
  for (const [i, size] of shardSizes(shape).entries()) {
    const path = names[i] as string;
    files.push({ path, size, sha256: await writeShard(join(dir, path), path, size), weight: true });
  }
  for (const [path, text] of Object.entries(smallFiles(shape, names))) {
    await writeFile(join(dir, path), text);
    const size = Buffer.byteLength(text);
    files.push({ path, size, sha256: createHash('sha256').update(text).digest('hex'), weight: false });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const model = { dir, shape, files, totalBytes: files.reduce((s, f) => s + f.size, 0) };
  await writeFile(metaPath, JSON.stringify({ generator: GENERATOR, ...model }));
  return model;
}

/** The same model as Hub double files: shards by seed (generated there, same bytes as on disk), small files by text. */
export function hubFiles(shape: ModelShape): FileSpec[] {
  const names = shardSizes(shape).map((_, i) => shardName(i, shape.shards));
  return [
    ...shardSizes(shape).map((size, i) => ({ path: names[i] as string, size })),
    ...Object.entries(smallFiles(shape, names)).map(([path, content]) => ({ path, content })),
  ];
}
