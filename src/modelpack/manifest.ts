/**
 * The ModelPack manifest written next to a ModelCar: the same model layer blobs (uncompressed tars with every file
 * under `models/`), typed with ModelPack layer media types and annotated with the file paths the tars hold. No new
 * blob but the small config: the artifact costs a manifest, not an upload.
 *
 * Paths keep the `models/` prefix (docs/image-format.md, "ModelPack"): the annotation names what the tar holds, so
 * readers that extract the tar (modctl, CRI-O's artifact mount) and readers that trust the annotation agree, and one
 * `subPath: models` serves both the image and the artifact.
 */
import type { ModelLayer } from '../image/image.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/spec.js';
import { MODEL_ROOT } from '../plan/plan.js';
import { layerRole } from './layer-role.js';
import { ModelPack, ModelPackAnnotation } from './media-types.js';

/** Mode, owner and type of every file a ModelCar layer holds (src/plan: 0644, uid/gid 0, regular file). */
const FILE_MODE = 0o644;
const TYPEFLAG_REGULAR = '0'.charCodeAt(0);

function commonDirectory(paths: readonly string[]): string {
  const split = paths.map((p) => p.split('/').slice(0, -1));
  const first = split[0] ?? [];
  let n = first.length;
  for (const parts of split) {
    let i = 0;
    while (i < n && parts[i] === first[i]) i++;
    n = i;
  }
  return [MODEL_ROOT, ...first.slice(0, n)].join('/');
}

export function modelPackLayer(layer: ModelLayer, mtime: number): Descriptor {
  const paths = layer.files.map((f) => f.path);
  const { mediaType, untested } = layerRole(paths);
  const annotations: Record<string, string> = {};
  const only = layer.files.length === 1 ? layer.files[0] : undefined;
  if (only) {
    annotations[ModelPackAnnotation.filepath] = `${MODEL_ROOT}/${only.path}`;
    // Field order and names of the spec's FileMetadata (Go struct, encoding/json).
    annotations[ModelPackAnnotation.fileMetadata] = JSON.stringify({
      name: only.path.slice(only.path.lastIndexOf('/') + 1),
      mode: FILE_MODE,
      uid: 0,
      gid: 0,
      size: only.size,
      mtime: new Date(mtime * 1000).toISOString().replace(/\.000Z$/, 'Z'),
      typeflag: TYPEFLAG_REGULAR,
    });
  } else {
    // A layer of grouped small files: the directory they share is the layer's path.
    annotations[ModelPackAnnotation.filepath] = commonDirectory(paths);
  }
  if (untested) annotations[ModelPackAnnotation.mediaTypeUntested] = 'true';
  return { mediaType, digest: layer.digest, size: layer.size, annotations };
}

export function buildModelPackManifest(
  config: { digest: string; size: number },
  layers: readonly ModelLayer[],
  mtime: number,
  annotations: Readonly<Record<string, string>>,
): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: ModelPack.artifactType,
    config: { mediaType: ModelPack.config, digest: config.digest, size: config.size },
    layers: layers.map((l) => modelPackLayer(l, mtime)),
    annotations,
  };
  return Buffer.from(JSON.stringify(manifest));
}
