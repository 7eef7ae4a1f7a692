/**
 * Reading the layers of an existing image back (the image itself is resolved by oci/resolve.ts): the files each
 * model layer declares in its annotations, and the layer bytes as a stream of tar entries. Used by inspect and
 * verify; knows nothing about where the image came from.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ModelcarError, messageOf } from '../errors.js';
import { DigestCounter } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';
import { type Repository, requireBlob } from '../oci/repository.js';
import type { Descriptor } from '../oci/spec.js';
import { Annotation } from './image.js';
import type { LayerFile } from './layer.js';
import { readTar, type TarEntry, type TarReadOptions } from './tar-read.js';

/** The files a model layer declares in `dev.modelcar.layer.files`; undefined when it declares none. */
export function annotatedFiles(desc: Descriptor): LayerFile[] | undefined {
  const text = desc.annotations?.[Annotation.layerFiles];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelcarError('integrity', `layer ${desc.digest}: the ${Annotation.layerFiles} annotation is not JSON`);
  }
  const ok =
    Array.isArray(parsed) &&
    parsed.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        typeof f.path === 'string' &&
        typeof f.size === 'number' &&
        typeof f.sha256 === 'string',
    );
  if (!ok) {
    throw new ModelcarError(
      'integrity',
      `layer ${desc.digest}: the ${Annotation.layerFiles} annotation is not a list of {path, size, sha256}`,
    );
  }
  return (parsed as LayerFile[]).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
}

export function isGzipLayer(mediaType: string): boolean {
  return mediaType === MediaType.ociLayerGzip || mediaType === MediaType.dockerLayerGzip;
}

export function isReadableLayer(mediaType: string): boolean {
  return isGzipLayer(mediaType) || mediaType === MediaType.ociLayer || mediaType === MediaType.dockerLayer;
}

export interface LayerRead {
  /** Tar entries, after each one's content has passed. */
  readonly entries: AsyncGenerator<TarEntry>;
  /** The digest and size of the blob bytes that passed; call after `entries` is drained. */
  result(): { digest: string; size: number };
}

export interface LayerReadOptions extends TarReadOptions {
  /** Blob bytes as they arrive (before any gunzip), for progress. */
  readonly onBytes?: (bytes: number) => void;
}

/** Stops a blob download: an undrained registry body keeps its connection, and closing the client, waiting forever. */
function release(body: AsyncIterable<Buffer>): void {
  (body as { destroy?: () => void }).destroy?.();
}

/**
 * Streams one layer: blob bytes are hashed as they arrive, gunzipped when needed, and walked as tar. Nothing is kept
 * in memory beyond one chunk. The blob's trailing bytes after the tar end are still hashed (drained), so `result()`
 * always covers the whole blob. However the walk ends (done, a corrupt gzip stream, a consumer that stops early),
 * the blob stream is released.
 */
export async function readLayer(repo: Repository, desc: Descriptor, opts: LayerReadOptions = {}): Promise<LayerRead> {
  const counter = new DigestCounter();
  const body = await requireBlob(repo, desc);
  const raw = counter.pass(body, opts.onBytes);
  const gzip = isGzipLayer(desc.mediaType);
  // pipeline() destroys the source when gunzip fails (a layer labelled gzip that is not), unlike pipe().
  const stream: AsyncIterable<Buffer> = gzip ? pipeline(Readable.from(raw), createGunzip(), () => {}) : raw;
  async function* entries(): AsyncGenerator<TarEntry> {
    try {
      yield* readTar(stream, opts);
      // Hash whatever follows the end-of-archive marker, so the digest is of the whole blob.
      for await (const _ of raw) {
        /* draining */
      }
    } catch (e) {
      if (gzip && isZlibError(e)) {
        throw new ModelcarError(
          'integrity',
          `layer ${desc.digest} is labelled ${desc.mediaType} but is not gzip data (${messageOf(e)})`,
          'the image manifest names the wrong media type for this layer; rebuild or re-push it with the right one',
          { cause: e },
        );
      }
      throw e;
    } finally {
      release(body);
    }
  }
  return { entries: entries(), result: () => ({ digest: counter.digest(), size: counter.bytes }) };
}

function isZlibError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** Model files of a layer by reading its tar: regular files under `models/`, paths relative to it. */
export async function filesInLayer(
  repo: Repository,
  desc: Descriptor,
  onBytes?: (bytes: number) => void,
): Promise<LayerFile[]> {
  const files: LayerFile[] = [];
  const read = await readLayer(repo, desc, onBytes ? { onBytes } : {});
  for await (const e of read.entries) {
    if (e.type === 'file' && e.path.startsWith('models/')) {
      files.push({ path: e.path.slice('models/'.length), size: e.size, sha256: e.sha256 as string });
    }
  }
  return files;
}
