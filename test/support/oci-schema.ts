/**
 * Validation of what modelcar writes against the upstream specs vendored in `test/schemas/` (sources and versions in
 * its README): OCI image-spec v1.1.1 manifest and index schemas, and the CNCF ModelPack model-spec config schema plus
 * the layer media types and annotation keys of its Go spec package (read from the vendored .go files, so the tests
 * follow upstream's list, not ours).
 *
 * The image-spec schemas are JSON Schema draft-04; Ajv speaks draft-07 and later. The only draft-04 construct they
 * use that Ajv reads differently is `id` (which draft-06 renamed `$id`), and every nested `id` there sits beside a
 * `$ref` or names a leaf, so it is dropped on load and the files are registered under their file names, which is
 * how their relative `$ref`s name each other.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SCHEMA_DIR } from './crd-schema.js';

type Json = Record<string, unknown>;

function read(path: string): string {
  return readFileSync(`${SCHEMA_DIR}${path}`, 'utf8');
}

function withoutIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === 'id' || k === '$schema') continue;
    out[k] = withoutIds(v);
  }
  return out;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

let imageSpec: { manifest: ValidateFunction; index: ValidateFunction } | undefined;

function imageSpecValidators(): { manifest: ValidateFunction; index: ValidateFunction } {
  if (!imageSpec) {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    for (const f of ['defs', 'defs-descriptor', 'content-descriptor']) {
      ajv.addSchema(withoutIds(JSON.parse(read(`image-spec/${f}.json`))) as Json, `${f}.json`);
    }
    imageSpec = {
      manifest: ajv.compile(withoutIds(JSON.parse(read('image-spec/image-manifest-schema.json'))) as Json),
      index: ajv.compile(withoutIds(JSON.parse(read('image-spec/image-index-schema.json'))) as Json),
    };
  }
  return imageSpec;
}

/** Errors of an OCI image manifest against image-spec's schema; empty when valid. */
export function ociManifestErrors(doc: unknown): string[] {
  const v = imageSpecValidators().manifest;
  return v(doc) ? [] : describe(v.errors);
}

/** Errors of an OCI image index against image-spec's schema; empty when valid. */
export function ociIndexErrors(doc: unknown): string[] {
  const v = imageSpecValidators().index;
  return v(doc) ? [] : describe(v.errors);
}

let modelPackConfig: ValidateFunction | undefined;

/** Errors of a ModelPack config against model-spec's schema/config-schema.json (draft 2020-12). */
export function modelPackConfigErrors(doc: unknown): string[] {
  modelPackConfig ??= new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(
    JSON.parse(read('model-spec/config-schema.json')) as Json,
  );
  return modelPackConfig(doc) ? [] : describe(modelPackConfig.errors);
}

/** The string constants a vendored Go file of model-spec declares: `Name = "value"`. */
function goConstants(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of read(`model-spec/${file}`).matchAll(/^\s*(\w+)\s*=\s*"([^"]+)"/gm))
    out.set(m[1] as string, m[2] as string);
  return out;
}

/**
 * The model-spec rules (docs/spec.md) for a model artifact manifest that JSON Schema does not cover: the manifest
 * and config media types, the artifactType, layer media types from specs-go/v1/mediatype.go and layer annotation
 * keys from annotations.go (only the spec's `org.cncf.model.*` keys are checked; others are allowed).
 */
export function modelPackManifestErrors(doc: unknown): string[] {
  const errors = ociManifestErrors(doc);
  const m = doc as { mediaType?: string; artifactType?: string; config?: Json; layers?: Json[] };
  const types = goConstants('mediatype.go');
  const keys = new Set(goConstants('annotations.go').values());
  if (m.mediaType !== 'application/vnd.oci.image.manifest.v1+json') errors.push(`/mediaType is ${m.mediaType}`);
  if (m.artifactType !== types.get('ArtifactTypeModelManifest')) errors.push(`/artifactType is ${m.artifactType}`);
  if (m.config?.mediaType !== types.get('MediaTypeModelConfig'))
    errors.push(`/config/mediaType is ${m.config?.mediaType}`);
  const layerTypes = new Set(
    [...types].filter(([k]) => k.startsWith('MediaTypeModel') && k !== 'MediaTypeModelConfig').map(([, v]) => v),
  );
  (m.layers ?? []).forEach((l, i) => {
    if (!layerTypes.has(String(l.mediaType)))
      errors.push(`/layers/${i}/mediaType ${l.mediaType} is not a model-spec layer type`);
    for (const k of Object.keys((l.annotations as Json | undefined) ?? {})) {
      if (k.startsWith('org.cncf.model.') && !keys.has(k)) errors.push(`/layers/${i}/annotations: unknown key ${k}`);
    }
    const meta = (l.annotations as Json | undefined)?.[
      goConstants('annotations.go').get('AnnotationFileMetadata') ?? ''
    ];
    if (typeof meta === 'string') {
      const parsed = JSON.parse(meta) as Json;
      const fields = ['name', 'mode', 'uid', 'gid', 'size', 'mtime', 'typeflag'];
      if (JSON.stringify(Object.keys(parsed)) !== JSON.stringify(fields))
        errors.push(`/layers/${i} file metadata keys ${Object.keys(parsed)}`);
    }
  });
  return errors;
}
