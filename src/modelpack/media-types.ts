/**
 * The CNCF ModelPack model-spec (github.com/modelpack/model-spec, v0.0.7 and main as of 2026-06: specs-go/v1
 * mediatype.go and annotations.go). Only the `.tar` layer types are used: a ModelPack manifest written next to a
 * ModelCar shares its uncompressed tar layers byte for byte, so it costs no upload.
 */
export const ModelPack = {
  artifactType: 'application/vnd.cncf.model.manifest.v1+json',
  config: 'application/vnd.cncf.model.config.v1+json',
  weight: 'application/vnd.cncf.model.weight.v1.tar',
  weightConfig: 'application/vnd.cncf.model.weight.config.v1.tar',
  doc: 'application/vnd.cncf.model.doc.v1.tar',
  code: 'application/vnd.cncf.model.code.v1.tar',
  dataset: 'application/vnd.cncf.model.dataset.v1.tar',
} as const;

export const ModelPackAnnotation = {
  filepath: 'org.cncf.model.filepath',
  fileMetadata: 'org.cncf.model.file.metadata+json',
  mediaTypeUntested: 'org.cncf.model.file.mediatype.untested',
} as const;

/**
 * On the index descriptor of the ModelPack manifest: what olot (Kubeflow) writes, so tools of the OpenDataHub world
 * that look for it find ours too.
 */
export const MANIFEST_TYPE_ANNOTATION = 'io.opendatahub.modelcar.manifest.type';

/** The ModelPack layer media types, for readers that must tell a ModelPack manifest's layers apart. */
export const MODELPACK_LAYER_TYPES: ReadonlySet<string> = new Set([
  ModelPack.weight,
  ModelPack.weightConfig,
  ModelPack.doc,
  ModelPack.code,
  ModelPack.dataset,
]);
