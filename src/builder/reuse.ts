/**
 * "The registry is the cache": a model layer is named by the files it holds (path, size, content hash) and the tar
 * parameters it was framed with, both recorded in its annotations. A layer already in the destination (or in a
 * --cache-from image) with the same files and parameters has the same bytes, so it is reused without reading the
 * model. A file matches by sha256, or by git blob sha1 where that is all the source can vouch for without reading
 * (small files on the Hub).
 */
import { Annotation, layerFormat } from '../image/image.js';
import type { Repository } from '../oci/repository.js';
import { type Descriptor, type ParsedManifest, parseManifest } from '../oci/spec.js';
import type { PlannedLayer } from '../plan/plan.js';

export interface KnownLayer {
  readonly descriptor: Descriptor;
  /** Where the blob lives: the destination itself or a --cache-from repository. */
  readonly repository: Repository;
  /** The files its annotation names, in layer order. */
  readonly files: readonly AnnotatedFile[];
}

interface AnnotatedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
  readonly gitSha1?: string;
}

/** Layers grouped by what can be known of them without their content: tar parameters and file paths and sizes. */
export type KnownLayers = ReadonlyMap<string, readonly KnownLayer[]>;

function shapeKey(format: string, files: readonly { path: string; size: number }[]): string {
  return `${format}|${JSON.stringify(files.map((f) => [f.path, f.size]))}`;
}

function parseFiles(d: Descriptor): { format: string; files: AnnotatedFile[] } | undefined {
  const files = d.annotations?.[Annotation.layerFiles];
  const format = d.annotations?.[Annotation.layerFormat];
  if (!files || !format) return undefined;
  try {
    const parsed = JSON.parse(files) as AnnotatedFile[];
    if (!Array.isArray(parsed) || !parsed.every((f) => typeof f.path === 'string' && typeof f.size === 'number')) {
      return undefined;
    }
    return { format, files: parsed };
  } catch {
    return undefined;
  }
}

/**
 * Reads the manifests at `reference` in each repository and indexes their model layers. A reference that does not
 * exist (first build) or is not a single image contributes nothing; a store that fails to answer fails the build
 * (a denied --cache-from is worth knowing about).
 */
export async function knownLayers(
  candidates: readonly { repository: Repository; reference: string }[],
): Promise<KnownLayers> {
  const known = new Map<string, KnownLayer[]>();
  for (const { repository, reference } of candidates) {
    const fetched = await repository.fetchManifest(reference);
    if (!fetched) continue;
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(fetched);
    } catch {
      continue;
    }
    if (parsed.kind !== 'image') continue;
    for (const descriptor of parsed.manifest.layers) {
      const parsed = parseFiles(descriptor);
      if (!parsed) continue;
      const key = shapeKey(parsed.format, parsed.files);
      known.set(key, [...(known.get(key) ?? []), { descriptor, repository, files: parsed.files }]);
    }
  }
  return known;
}

/** The journal's name for a layer: its tar parameters and its files with their sha256. */
export function journalKey(files: readonly { path: string; size: number; sha256: string }[], mtime: number): string {
  return `${layerFormat(mtime)}|${JSON.stringify(files.map((f) => [f.path, f.size, f.sha256]))}`;
}

/** The known layer with exactly this layer's files, or undefined when a file's content cannot be vouched for. */
export function findLayer(known: KnownLayers, layer: PlannedLayer, mtime: number): KnownLayer | undefined {
  const candidates = known.get(shapeKey(layerFormat(mtime), layer.files)) ?? [];
  return candidates.find(
    (c) =>
      c.descriptor.size === layer.size &&
      layer.files.every((f, i) => {
        const a = c.files[i];
        if (!a) return false;
        if (f.sha256) return a.sha256 === f.sha256;
        return f.gitSha1 !== undefined && a.gitSha1 === f.gitSha1;
      }),
  );
}
