/**
 * Reading an existing image back from a registry or layout: the manifest (an index resolved to one platform), its
 * config, the files each model layer declares in its annotations, and the layer bytes as a stream of tar entries.
 * Used by inspect, verify and copy; knows nothing about where the image came from.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ModelcarError, messageOf } from '../errors.js';
import { DigestCounter, digestOf } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, FetchedManifest, Platform, Repository } from '../oci/repository.js';
import { Annotation } from './image.js';
import type { LayerFile } from './layer.js';
import { readTar, type TarEntry, type TarReadOptions } from './tar-read.js';

export interface ImageManifest {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface OpenedImage {
  readonly manifest: ImageManifest;
  readonly fetched: FetchedManifest;
  readonly config: Record<string, unknown>;
  /** The index the manifest was picked from, when the reference named one. */
  readonly index?: { readonly fetched: FetchedManifest; readonly index: ImageIndex };
}

export function isIndex(mediaType: string, parsed: Record<string, unknown>): boolean {
  return (
    mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList || Array.isArray(parsed.manifests)
  );
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelcarError('integrity', `${what} is not valid JSON: ${messageOf(e)}`);
  }
  throw new ModelcarError('integrity', `${what} is not a JSON object`);
}

/** Reads a small blob (config, manifest) whole and checks it against its descriptor. */
export async function readSmallBlob(repo: Repository, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await repo.fetchBlob(desc)) {
    n += c.length;
    if (n > 16 * 1024 * 1024) throw new ModelcarError('integrity', `${desc.digest} is larger than a config can be`);
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  const digest = digestOf(bytes);
  if (digest !== desc.digest) {
    throw new ModelcarError('integrity', `${repo.label}: blob ${desc.digest} holds content ${digest}`);
  }
  return bytes;
}

function platformName(p: Platform | undefined): string {
  return p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : '?';
}

/** Opens the image at `reference`; an index is resolved to `platform` (default: its only child, else linux/amd64). */
export async function openImage(repo: Repository, reference: string, platform?: Platform): Promise<OpenedImage> {
  let fetched = await repo.fetchManifest(reference);
  let parsed = parseJson(fetched.bytes, `manifest ${fetched.digest}`);
  let index: OpenedImage['index'];
  if (isIndex(fetched.mediaType, parsed)) {
    const idx = parsed as unknown as ImageIndex;
    const want = platform ?? (idx.manifests.length === 1 ? undefined : { os: 'linux', architecture: 'amd64' });
    const child = want
      ? idx.manifests.find(
          (m) =>
            m.platform?.os === want.os &&
            m.platform?.architecture === want.architecture &&
            (want.variant === undefined || m.platform?.variant === want.variant),
        )
      : idx.manifests[0];
    if (!child) {
      throw new ModelcarError(
        'usage',
        `${repo.label}@${fetched.digest} is an index without a ${platformName(want)} image`,
        `it has: ${idx.manifests.map((m) => platformName(m.platform)).join(', ') || 'nothing'}; pick one with --platform`,
      );
    }
    index = { fetched, index: idx };
    fetched = await repo.fetchManifest(child.digest);
    parsed = parseJson(fetched.bytes, `manifest ${fetched.digest}`);
  }
  const manifest = parsed as unknown as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new ModelcarError('integrity', `${repo.label}@${fetched.digest} is not an image manifest (no config/layers)`);
  }
  const config = parseJson(await readSmallBlob(repo, manifest.config), `config ${manifest.config.digest}`);
  return { manifest, fetched, config, ...(index ? { index } : {}) };
}

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

/**
 * Streams one layer: blob bytes are hashed as they arrive, gunzipped when needed, and walked as tar. Nothing is kept
 * in memory beyond one chunk. The blob's trailing bytes after the tar end are still hashed (drained), so `result()`
 * always covers the whole blob.
 */
export async function readLayer(repo: Repository, desc: Descriptor, opts: TarReadOptions = {}): Promise<LayerRead> {
  const counter = new DigestCounter();
  const raw = counter.pass(await repo.fetchBlob(desc));
  const drained = async function* (): AsyncGenerator<Buffer> {
    yield* raw;
  };
  const stream: AsyncIterable<Buffer> = isGzipLayer(desc.mediaType)
    ? Readable.from(drained()).pipe(createGunzip())
    : drained();
  async function* entries(): AsyncGenerator<TarEntry> {
    yield* readTar(stream, opts);
    // Hash whatever follows the end-of-archive marker, so the digest is of the whole blob.
    for await (const _ of raw) {
      /* draining */
    }
  }
  return { entries: entries(), result: () => ({ digest: counter.digest(), size: counter.bytes }) };
}

/** Model files of a layer by reading its tar: regular files under `models/`, paths relative to it. */
export async function filesInLayer(repo: Repository, desc: Descriptor): Promise<LayerFile[]> {
  const files: LayerFile[] = [];
  const read = await readLayer(repo, desc);
  for await (const e of read.entries) {
    if (e.type === 'file' && e.path.startsWith('models/')) {
      files.push({ path: e.path.slice('models/'.length), size: e.size, sha256: e.sha256 as string });
    }
  }
  return files;
}
