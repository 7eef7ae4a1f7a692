/**
 * "The registry is the cache": a model layer is named by the files it holds (path, size, sha256) and the tar
 * parameters it was framed with, both recorded in its annotations. A layer already in the destination (or in a
 * --cache-from image) with the same name has the same bytes, so it is reused without reading the model.
 */
import { Annotation, layerFormat } from '../image/image.js';
import type { Descriptor, Repository } from '../oci/repository.js';
import type { PlannedLayer } from '../plan/plan.js';

export interface KnownLayer {
  readonly descriptor: Descriptor;
  /** Where the blob lives: the destination itself or a --cache-from repository. */
  readonly repository: Repository;
}

/** The name of a layer from its files; undefined when a file's sha256 is not known without reading it. */
export function layerKey(layer: PlannedLayer, mtime: number): string | undefined {
  const files: { path: string; size: number; sha256: string }[] = [];
  for (const f of layer.files) {
    if (!f.sha256) return undefined;
    files.push({ path: f.path, size: f.size, sha256: f.sha256 });
  }
  return `${layerFormat(mtime)}|${JSON.stringify(files)}`;
}

function keyOfDescriptor(d: Descriptor): string | undefined {
  const files = d.annotations?.[Annotation.layerFiles];
  const format = d.annotations?.[Annotation.layerFormat];
  if (!files || !format) return undefined;
  try {
    const parsed = JSON.parse(files) as { path: string; size: number; sha256: string }[];
    return `${format}|${JSON.stringify(parsed.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })))}`;
  } catch {
    return undefined;
  }
}

/**
 * Reads the manifests at `reference` in each repository and indexes their model layers by name. A reference that
 * does not exist (first build) or is not a single image contributes nothing.
 */
export async function knownLayers(
  candidates: readonly { repository: Repository; reference: string }[],
): Promise<Map<string, KnownLayer>> {
  const known = new Map<string, KnownLayer>();
  for (const { repository, reference } of candidates) {
    let layers: Descriptor[];
    try {
      const fetched = await repository.fetchManifest(reference);
      layers = (JSON.parse(fetched.bytes.toString('utf8')) as { layers?: Descriptor[] }).layers ?? [];
    } catch {
      continue;
    }
    for (const descriptor of layers) {
      const key = keyOfDescriptor(descriptor);
      if (key && !known.has(key)) known.set(key, { descriptor, repository });
    }
  }
  return known;
}
