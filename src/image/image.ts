/**
 * Pure builders for the image config and manifest of a ModelCar. Serialisation is deterministic: the bytes hashed
 * are the bytes sent, keys in a fixed order, every timestamp the one fixed build time.
 */
import { MediaType, toOciLayerType } from '../oci/media-types.js';
import type { Descriptor, Platform } from '../oci/spec.js';
import type { LayerFile } from './layer.js';

/** Our own annotation prefix: org.opencontainers.* is reserved for the spec's keys. */
export const ANNOTATION_PREFIX = 'dev.modelcar';
export const Annotation = {
  layerFiles: `${ANNOTATION_PREFIX}.layer.files`,
  layerFormat: `${ANNOTATION_PREFIX}.layer.format`,
  sourceUri: `${ANNOTATION_PREFIX}.source.uri`,
  sourceRevision: `${ANNOTATION_PREFIX}.source.revision`,
  fileCount: `${ANNOTATION_PREFIX}.model.files`,
  modelBytes: `${ANNOTATION_PREFIX}.model.bytes`,
} as const;

/** The user every ModelCar runs as when the platform does not assign one (OpenShift assigns its own). */
export const MODELCAR_USER = '1001';

/**
 * Describes how a layer's tar bytes were framed. Two layers with the same files (paths and sha256) and the same
 * format string have the same bytes, so a later build can reuse a layer without reading anything.
 */
export function layerFormat(mtime: number): string {
  return `tar/v1;root=models;mtime=${mtime};uid=0;gid=0;file=0644;dir=0755`;
}

export interface BaseImage {
  /** How the user named it, e.g. `registry.access.redhat.com/ubi9/ubi-micro:9.6`; undefined for scratch. */
  readonly name?: string;
  /** Digest of the platform-specific manifest; undefined for scratch. */
  readonly digest?: string;
  readonly layers: readonly Descriptor[];
  /** The base config as parsed JSON; for scratch, a minimal one. */
  readonly config: Record<string, unknown>;
}

export function scratchBase(platform: Platform): BaseImage {
  return {
    layers: [],
    config: {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    },
  };
}

export interface ModelLayer {
  readonly digest: string;
  readonly size: number;
  readonly files: readonly LayerFile[];
}

export interface ImageMeta {
  readonly created: Date;
  readonly title: string;
  readonly sourceUri: string;
  readonly revision?: string;
  readonly license?: string;
  readonly mtime: number;
}

function layerDescriptor(layer: ModelLayer, mtime: number): Descriptor {
  const files = layer.files.map((f) => ({
    path: f.path,
    size: f.size,
    sha256: f.sha256,
    ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}),
  }));
  return {
    mediaType: MediaType.ociLayer,
    digest: layer.digest,
    size: layer.size,
    annotations: {
      [Annotation.layerFiles]: JSON.stringify(files),
      [Annotation.layerFormat]: layerFormat(mtime),
    },
  };
}

function describeLayer(layer: ModelLayer): string {
  const first = layer.files[0]?.path ?? '';
  return layer.files.length === 1
    ? `modelcar: add /models/${first}`
    : `modelcar: add ${layer.files.length} files under /models (${first} ...)`;
}

export function buildConfig(base: BaseImage, layers: readonly ModelLayer[], meta: ImageMeta): Buffer {
  const created = meta.created.toISOString().replace(/\.000Z$/, 'Z');
  const baseConfig = base.config;
  const runConfig = { ...((baseConfig.config as Record<string, unknown> | undefined) ?? {}) };
  // KServe sets only args: an entrypoint would be prepended to its `sh -c ...` and break the sidecar.
  delete runConfig.Entrypoint;
  runConfig.User = MODELCAR_USER;
  const rootfs = (baseConfig.rootfs as { diff_ids?: string[] } | undefined) ?? {};
  const history = Array.isArray(baseConfig.history) ? [...baseConfig.history] : [];
  for (const layer of layers) history.push({ created, created_by: describeLayer(layer) });
  const config: Record<string, unknown> = {
    ...baseConfig,
    created,
    config: runConfig,
    // Uncompressed layers: the diff_id is the layer digest.
    rootfs: { type: 'layers', diff_ids: [...(rootfs.diff_ids ?? []), ...layers.map((l) => l.digest)] },
    history,
  };
  return Buffer.from(JSON.stringify(config));
}

export function imageAnnotations(
  base: BaseImage,
  layers: readonly ModelLayer[],
  meta: ImageMeta,
): Record<string, string> {
  const files = layers.reduce((n, l) => n + l.files.length, 0);
  const bytes = layers.reduce((n, l) => n + l.files.reduce((s, f) => s + f.size, 0), 0);
  const a: Record<string, string> = {
    'org.opencontainers.image.created': meta.created.toISOString().replace(/\.000Z$/, 'Z'),
    'org.opencontainers.image.title': meta.title,
    'org.opencontainers.image.source': meta.sourceUri,
  };
  if (meta.revision) a['org.opencontainers.image.revision'] = meta.revision;
  if (meta.license) a['org.opencontainers.image.licenses'] = meta.license;
  if (base.name) a['org.opencontainers.image.base.name'] = base.name;
  if (base.digest) a['org.opencontainers.image.base.digest'] = base.digest;
  a[Annotation.sourceUri] = meta.sourceUri;
  if (meta.revision) a[Annotation.sourceRevision] = meta.revision;
  a[Annotation.fileCount] = String(files);
  a[Annotation.modelBytes] = String(bytes);
  return a;
}

export function buildManifest(
  base: BaseImage,
  config: { digest: string; size: number },
  layers: readonly ModelLayer[],
  meta: ImageMeta,
): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers: [
      ...base.layers.map((l) => ({ ...l, mediaType: toOciLayerType(l.mediaType) })),
      ...layers.map((l) => layerDescriptor(l, meta.mtime)),
    ],
    annotations: imageAnnotations(base, layers, meta),
  };
  return Buffer.from(JSON.stringify(manifest));
}
