/**
 * Model directories for build tests, written into temporary directories: the example model plus the awkward parts
 * of real ones (sub-directories, UTF-8 and long names, empty and block-boundary sizes, MiBs of incompressible bytes).
 * Every fixture returns what was written, so tests compare the image with the source, not with our own code.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { safetensors, tinyModelFiles } from '../../src/example/tiny-model.js';
import { pseudoRandomBytes } from './hub-double.js';

export const MiB = 1024 * 1024;

export interface FixtureFile {
  readonly size: number;
  readonly sha256: string;
}

export interface ModelFixture {
  readonly dir: string;
  /** Relative POSIX path -> size and sha256 of what was written. */
  readonly files: ReadonlyMap<string, FixtureFile>;
}

/** A fresh temporary directory; remove it with `removeTemp` (tests call it in `after`). */
export async function tempDir(prefix = 'modelcar-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeTemp(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Writes `files` (path -> content) under `dir` and returns the fixture description. */
export async function writeFiles(dir: string, files: Readonly<Record<string, string | Buffer>>): Promise<ModelFixture> {
  const written = new Map<string, FixtureFile>();
  for (const [path, content] of Object.entries(files)) {
    const bytes = Buffer.from(content);
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
    written.set(path, { size: bytes.length, sha256: sha256Hex(bytes) });
  }
  return { dir, files: written };
}

/** A long directory and a long file name: the path under /models is well over ustar's 100-byte name field. */
export const LONG_PATH = `long/${'d'.repeat(70)}/${'weights-shard-'.padEnd(120, 'x')}.json`;
/** Non-ASCII in directory and file name (NFC). */
export const UTF8_PATH = 'données/modèle-ü-日本.json';

/** The example model plus sub-directories, odd names, boundary sizes and a few MiB of sharded weights. */
export function multiFileModel(): Record<string, string | Buffer> {
  const shard1 = pseudoRandomBytes('shard-1', 3 * MiB + 17);
  const shard2 = pseudoRandomBytes('shard-2', 2 * MiB);
  const index = {
    metadata: { total_size: shard1.length + shard2.length },
    weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' },
  };
  return {
    ...tinyModelFiles(),
    'tokenizer/merges.txt': 'a b\nc d\n',
    'tokenizer/vocab.json': JSON.stringify({ a: 0, b: 1 }),
    'sub/dir/deep/notes.txt': 'deep\n',
    'sub/empty.txt': '',
    'sizes/511.bin.txt': pseudoRandomBytes('511', 511),
    'sizes/512.bin.txt': pseudoRandomBytes('512', 512),
    'sizes/513.bin.txt': pseudoRandomBytes('513', 513),
    [UTF8_PATH]: '{"langue":"français"}\n',
    [LONG_PATH]: '{"long":true}\n',
    'weights/model-00001-of-00002.safetensors': shard1,
    'weights/model-00002-of-00002.safetensors': shard2,
    'weights/model.safetensors.index.json': `${JSON.stringify(index)}\n`,
    'adapter/adapter_model.safetensors': safetensors({ 'lora.A': { shape: [8, 8], seed: 'lora' } }),
  };
}

/** `multiFileModel()` written into a new temporary directory. */
export async function writeMultiFileModel(parent: string, name = 'model'): Promise<ModelFixture> {
  return writeFiles(join(parent, name), multiFileModel());
}

/** `count` files of `size` pseudo-random bytes each (`shard-00.bin.safetensors` ...) plus a config.json. */
export async function writeShardedModel(dir: string, count: number, size: number): Promise<ModelFixture> {
  const files: Record<string, string | Buffer> = { 'config.json': '{"model_type":"test"}\n' };
  for (let i = 0; i < count; i++) {
    files[`shard-${String(i).padStart(2, '0')}.safetensors`] = pseudoRandomBytes(`shard-${i}`, size);
  }
  return writeFiles(dir, files);
}
