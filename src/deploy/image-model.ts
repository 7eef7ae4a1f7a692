/**
 * `deploy --image REF` with no `--model-dir`/`--model-config`: the model facts read from the image itself, for any
 * ModelCar (ours, olot's, a Containerfile's COPY, the prebuilt catalog images). The layers whose tar starts with
 * `models/` are walked header by header with ranged blob reads, then config.json / params.json and the first bytes
 * of each safetensors file are read the same way: kilobytes, whatever the size of the weights. A gzip layer cannot be
 * read by range; it is streamed only until config.json appears, and at most MAX_GZIP_READ of it.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ModelcarError } from '../errors.js';
import { isGzipLayer, isReadableLayer } from '../image/read-image.js';
import { type RangedEntry, tarEntriesByRange } from '../image/tar-ranges.js';
import { readTar } from '../image/tar-read.js';
import { headerLength, parseHeader, summarize } from '../modelpack/safetensors.js';
import type { Repository } from '../oci/repository.js';
import { resolveImage } from '../oci/resolve.js';
import type { Descriptor } from '../oci/spec.js';
import { type ModelFacts, type ModelFile, modelFacts } from './model-facts.js';

/** A config.json bigger than this is not a config. */
const MAX_JSON = 16 * 1024 * 1024;
/** How much of a gzip layer is read (compressed) looking for config.json before giving up. */
export const MAX_GZIP_READ = 64 * 1024 * 1024;
const ROOT = 'models';

interface Located {
  readonly layer: Descriptor;
  readonly entry: RangedEntry;
  /** Path below /models. */
  readonly path: string;
}

export interface ImageModel {
  readonly facts: ModelFacts;
  /** Model files found, relative to /models. */
  readonly files: readonly ModelFile[];
  /** Bytes of blobs read (ranges and configs), for the user and the tests. */
  readonly bytesRead: number;
}

function underRoot(path: string): string | undefined {
  const p = path.replace(/^\/+/, '');
  return p.startsWith(`${ROOT}/`) ? p.slice(ROOT.length + 1) : undefined;
}

function parseJsonFile(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new ModelcarError('source', `${what} in the image is not a JSON object`, 'pass --model-config FILE instead');
}

export async function readImageModel(repo: Repository, reference: string): Promise<ImageModel> {
  const image = await resolveImage(repo, reference, { what: 'image' });
  let bytesRead = 0;
  const range = async (layer: Descriptor, offset: number, length: number): Promise<Buffer> => {
    const got = await repo.fetchBlobRange(layer, offset, length);
    if (!got)
      throw new ModelcarError('not-found', `${repo.label} is missing layer ${layer.digest}`, 'push the image again');
    bytesRead += got.length;
    return got;
  };
  const found: Located[] = [];
  const json = new Map<string, Buffer>();
  for (const layer of image.manifest.layers) {
    if (!isReadableLayer(layer.mediaType)) continue;
    if (isGzipLayer(layer.mediaType)) {
      bytesRead += await scanGzipLayer(repo, layer, found, json);
      continue;
    }
    let first = true;
    for await (const entry of tarEntriesByRange((o, n) => range(layer, o, n), layer.size, `layer ${layer.digest}`)) {
      // A base layer starts with bin/, etc/, usr/...: one read tells, and its thousands of entries are never walked.
      if (first && entry.path !== ROOT && underRoot(entry.path) === undefined) break;
      first = false;
      const path = underRoot(entry.path);
      if (path !== undefined && entry.type === 'file') found.push({ layer, entry, path });
    }
  }
  if (found.length === 0) {
    throw new ModelcarError(
      'source',
      `${repo.label}: the image has no files under /models`,
      'is it a ModelCar? pass --model-dir DIR or --model-config FILE to describe the model instead',
    );
  }
  for (const name of ['config.json', 'params.json']) {
    if (json.has(name)) continue;
    const at = found.find((f) => f.path === name);
    if (!at) continue;
    if (at.entry.size > MAX_JSON)
      throw new ModelcarError('source', `${name} in the image is ${at.entry.size} bytes`, 'pass --model-config FILE');
    json.set(name, await range(at.layer, at.entry.offset, at.entry.size));
  }
  const config = json.has('config.json') ? parseJsonFile(json.get('config.json') as Buffer, 'config.json') : undefined;
  const params = json.has('params.json') ? parseJsonFile(json.get('params.json') as Buffer, 'params.json') : undefined;
  // The stored dtype of the weights, for configs that do not declare torch_dtype.
  const headers = [];
  for (const f of found.filter((x) => x.path.endsWith('.safetensors') && x.entry.offset > 0)) {
    const prefix = await range(f.layer, f.entry.offset, 8);
    const n = headerLength(prefix, f.path, f.entry.size);
    headers.push(parseHeader(await range(f.layer, f.entry.offset + 8, n), f.path));
  }
  const dominant = summarize(headers).dtypes[0]?.dtype;
  const dtype = dominant ? { BF16: 'bfloat16', F16: 'float16', F32: 'float32' }[dominant] : undefined;
  const withDtype =
    config && dtype && config.torch_dtype === undefined && config.dtype === undefined
      ? { ...config, torch_dtype: dtype }
      : config;
  const files = found.map((f) => ({ path: f.path, size: f.entry.size }));
  return {
    facts: modelFacts({ files, ...(withDtype ? { config: withDtype } : {}), ...(params ? { params } : {}) }),
    files,
    bytesRead,
  };
}

/** Streams a gzip layer until config.json (and params.json) are in, recording the files it passes. */
async function scanGzipLayer(
  repo: Repository,
  layer: Descriptor,
  found: Located[],
  json: Map<string, Buffer>,
): Promise<number> {
  const blob = await repo.fetchBlob(layer);
  if (!blob) return 0;
  let compressed = 0;
  async function* capped(): AsyncGenerator<Buffer> {
    for await (const chunk of blob as AsyncIterable<Buffer>) {
      compressed += chunk.length;
      if (compressed > MAX_GZIP_READ) return;
      yield chunk;
    }
  }
  const gunzip = Readable.from(capped()).pipe(createGunzip());
  const wanted = new Set(['config.json', 'params.json']);
  const parts = new Map<string, Buffer[]>();
  try {
    for await (const entry of readTar(gunzip, {
      onData: (e, chunk) => {
        const p = underRoot(e.path);
        if (p && wanted.has(p)) parts.set(p, [...(parts.get(p) ?? []), Buffer.from(chunk)]);
      },
    })) {
      const path = underRoot(entry.path);
      if (path === undefined || entry.type !== 'file') continue;
      // offset 0: content not reachable by range in a compressed layer.
      found.push({ layer, entry: { ...entry, offset: 0 }, path });
      if (wanted.has(path)) json.set(path, Buffer.concat(parts.get(path) ?? []));
      if (json.has('config.json')) break;
    }
  } catch (e) {
    if (!json.has('config.json')) throw e;
  } finally {
    gunzip.destroy();
    // undici reports a body destroyed before its end as an 'error' event (RequestAbortedError); once the reader above
    // has let go of it nobody listens, and that unhandled event crashed the process now and then.
    const body = blob as AsyncIterable<Buffer> & { destroy?: () => void; on?: (e: 'error', f: () => void) => void };
    body.on?.('error', () => {});
    body.destroy?.();
  }
  return compressed;
}
