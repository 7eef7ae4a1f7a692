/**
 * `inspect`: what an image holds without pulling it: the files under /models with sizes and sha256 (from the layer
 * annotations modelcar writes, or by reading the layers of an image built by something else), the base image, the
 * annotations, sizes and the layer plan.
 */
import { Annotation } from '../image/image.js';
import { annotatedFiles, filesInLayer, isReadableLayer } from '../image/read-image.js';
import type { Repository } from '../oci/repository.js';
import { type ResolvedImage, resolveImage } from '../oci/resolve.js';
import { type Descriptor, formatPlatform, type Platform } from '../oci/spec.js';

export interface InspectedFile {
  /** Absolute path in the image, `/models/...`. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** 1-based layer position in the image. */
  readonly layer: number;
}

export interface InspectedLayer {
  readonly index: number;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly kind: 'base' | 'model';
  readonly files: number;
  /** Where the file list came from. */
  readonly filesFrom: 'annotation' | 'layer' | 'none';
}

export interface InspectReport {
  readonly manifestDigest: string;
  readonly mediaType: string;
  readonly index?: { readonly digest: string; readonly platforms: readonly string[] };
  readonly platform: string;
  readonly base: { readonly name?: string; readonly digest?: string; readonly layers: number };
  readonly annotations: Readonly<Record<string, string>>;
  readonly config: {
    readonly user?: string;
    readonly entrypoint?: unknown;
    readonly cmd?: unknown;
    readonly env?: unknown;
  };
  /** Manifest, config and every layer: what a pull moves and what the node stores. */
  readonly totalBytes: number;
  readonly modelBytes: number;
  readonly layers: readonly InspectedLayer[];
  readonly files: readonly InspectedFile[];
}

/** Layers inspect has to read (an image without modelcar's file lists), for progress. */
export interface InspectWatcher {
  readonly onLayerStart?: (index: number, desc: Descriptor) => void;
  readonly onBytes?: (index: number, bytes: number) => void;
  readonly onLayerDone?: (index: number, desc: Descriptor, files: number) => void;
}

export async function inspectImage(
  repo: Repository,
  reference: string,
  platform?: Platform,
  watch: InspectWatcher = {},
): Promise<InspectReport> {
  const image = await resolveImage(repo, reference, platform ? { platform } : {});
  const { manifest } = image;
  const anyAnnotated = manifest.layers.some((l) => annotatedFiles(l) !== undefined);
  const layers: InspectedLayer[] = [];
  const files: InspectedFile[] = [];
  for (const [i, desc] of manifest.layers.entries()) {
    const declared = annotatedFiles(desc);
    // Without any annotation (an image built by another tool), read the layers to find the model files.
    let read = declared ?? [];
    if (!declared && !anyAnnotated && isReadableLayer(desc.mediaType)) {
      watch.onLayerStart?.(i + 1, desc);
      read = await filesInLayer(repo, desc, (n) => watch.onBytes?.(i + 1, n));
      watch.onLayerDone?.(i + 1, desc, read.length);
    }
    const from = declared ? 'annotation' : !anyAnnotated && isReadableLayer(desc.mediaType) ? 'layer' : 'none';
    for (const f of read) files.push({ path: `/models/${f.path}`, size: f.size, sha256: f.sha256, layer: i + 1 });
    layers.push({
      index: i + 1,
      digest: desc.digest,
      size: desc.size,
      mediaType: desc.mediaType,
      kind: read.length > 0 ? 'model' : 'base',
      files: read.length,
      filesFrom: from,
    });
  }
  const annotations = manifest.annotations ?? {};
  const runConfig = (image.config.config ?? {}) as Record<string, unknown>;
  return {
    manifestDigest: image.stored.digest,
    mediaType: image.stored.mediaType,
    ...(image.index ? { index: indexSummary(image) } : {}),
    platform: formatPlatform(image.platform),
    base: {
      ...(annotations['org.opencontainers.image.base.name']
        ? { name: annotations['org.opencontainers.image.base.name'] }
        : {}),
      ...(annotations['org.opencontainers.image.base.digest']
        ? { digest: annotations['org.opencontainers.image.base.digest'] }
        : {}),
      layers: layers.filter((l) => l.kind === 'base').length,
    },
    annotations,
    config: {
      ...(runConfig.User !== undefined ? { user: String(runConfig.User) } : {}),
      ...(runConfig.Entrypoint ? { entrypoint: runConfig.Entrypoint } : {}),
      ...(runConfig.Cmd ? { cmd: runConfig.Cmd } : {}),
      ...(runConfig.Env ? { env: runConfig.Env } : {}),
    },
    totalBytes: image.stored.bytes.length + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
    modelBytes:
      annotations[Annotation.modelBytes] !== undefined
        ? Number(annotations[Annotation.modelBytes])
        : files.reduce((n, f) => n + f.size, 0),
    layers,
    files,
  };
}

function indexSummary(image: ResolvedImage): { digest: string; platforms: string[] } {
  const idx = image.index as NonNullable<ResolvedImage['index']>;
  return {
    digest: idx.stored.digest,
    platforms: idx.index.manifests.map((m) => formatPlatform(m.platform)),
  };
}
