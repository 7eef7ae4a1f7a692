import { ModelcarError } from '../errors.js';
import { VERSION } from '../version.js';
import { type ModelRegistryClient, ModelRegistryHttpError } from './client.js';
import { parsePinnedImage } from './image-uri.js';
import { modelFormatFromFiles } from './model-format.js';
import type {
  CustomProperties,
  MetadataValue,
  ModelArtifact,
  ModelArtifactCreate,
  ModelVersion,
  RegisteredModel,
} from './types.js';

export interface RegisterInput {
  /** RegisteredModel name (globally unique in the registry). */
  modelName: string;
  /** ModelVersion name (unique within the model). Versions are immutable: one version = one image digest. */
  versionName: string;
  /** `oci://HOST/REPO@sha256:…`; a reference without a digest is refused. */
  image: string;
  /** The tag pushed with the digest; recorded as a property, never used as identity. */
  tag?: string;
  /** Explicit format; otherwise derived from `files`. */
  modelFormatName?: string;
  modelFormatVersion?: string;
  /** Paths of the model files in the image, used only to derive the format. */
  files?: readonly string[];
  /** Description of the version (and of the model, when this call creates it). */
  description?: string;
  /** ModelVersion author and, when this call creates it, RegisteredModel owner. */
  author?: string;
  sourceUri?: string;
  sourceRevision?: string;
  fileCount?: number;
  totalBytes?: number;
  /** sha256 over the sorted `<sha256>  <path>` lines of the files: identifies the model bytes apart from packaging. */
  filesSha256?: string;
  /** Digests of the image's signature and attestations (`modelcar sign`, `build --sign-key`), kept as provenance. */
  trust?: TrustDigests;
  /** Model Registry instance name, for the `modelregistry.opendatahub.io/name` label; derived from the URL if unset. */
  registryName?: string;
  /** The registry URL, to derive `registryName` from. */
  registryUrl?: string;
}

export interface TrustDigests {
  /** The cosign signature manifest (`sha256-<hex>.sig`). */
  signatureDigest?: string;
  /** The SLSA provenance referrer manifest. */
  provenanceDigest?: string;
  /** The OpenSSF model signature referrer manifest. */
  modelSignatureDigest?: string;
}

export interface RegisterResult {
  registeredModelId: string;
  modelVersionId: string;
  modelArtifactId: string;
  /** The digest-pinned URI recorded on the ModelArtifact. */
  uri: string;
  created: { registeredModel: boolean; modelVersion: boolean; modelArtifact: boolean };
  /** Nothing was written: all three objects existed and matched. */
  unchanged: boolean;
  /** Creates that lost a race (409) and were resolved by reading what the other client made. */
  conflictsResolved: number;
  /** Fields of existing objects that differ from this request; reported, never overwritten. */
  differences: string[];
  /** Labels that link an InferenceService to this version in the OpenShift AI dashboard. */
  labels: Record<string, string>;
}

/** Custom-property keys on the ModelVersion. snake_case so `filterQuery` can name them without backticks. */
export const PROPERTY = {
  imageDigest: 'image_digest',
  imageTag: 'image_tag',
  sourceUri: 'source_uri',
  sourceRevision: 'source_revision',
  fileCount: 'file_count',
  totalBytes: 'total_bytes',
  filesSha256: 'files_sha256',
  toolVersion: 'modelcar_version',
  signatureDigest: 'signature_digest',
  provenanceDigest: 'provenance_digest',
  modelSignatureDigest: 'model_signature_digest',
} as const;

export const LABEL = {
  registeredModelId: 'modelregistry.opendatahub.io/registered-model-id',
  modelVersionId: 'modelregistry.opendatahub.io/model-version-id',
  registryName: 'modelregistry.opendatahub.io/name',
} as const;

/**
 * Idempotent upsert keyed by (model name, version name): find-then-create the RegisteredModel, the ModelVersion and
 * its ModelArtifact. A 409 means another client created the object between our find and our create: read theirs.
 * An existing version pointing at a different image is an error, never an update, because deployments and audits
 * refer to versions by id and expect their bytes not to change.
 */
export async function registerModel(client: ModelRegistryClient, input: RegisterInput): Promise<RegisterResult> {
  const plan = planRegistration(input);
  const created = { registeredModel: false, modelVersion: false, modelArtifact: false };
  let conflictsResolved = 0;
  const differences: string[] = [];

  let rm = await client.findRegisteredModel(plan.modelName);
  if (!rm) {
    try {
      rm = await client.createRegisteredModel({
        name: plan.modelName,
        ...(plan.description ? { description: plan.description } : {}),
        ...(plan.author ? { owner: plan.author } : {}),
        state: 'LIVE',
      });
      created.registeredModel = true;
    } catch (e) {
      rm = await afterConflict(
        e,
        () => client.findRegisteredModel(plan.modelName),
        `registered model ${plan.modelName}`,
      );
      conflictsResolved++;
    }
  }
  if (rm.state === 'ARCHIVED') differences.push(`registered model ${plan.modelName} is ARCHIVED`);

  let mv = await client.findModelVersion(plan.versionName, rm.id);
  if (!mv) {
    try {
      mv = await client.createModelVersion({
        name: plan.versionName,
        registeredModelId: rm.id,
        ...(plan.description ? { description: plan.description } : {}),
        ...(plan.author ? { author: plan.author } : {}),
        state: 'LIVE',
        customProperties: plan.versionProperties,
      });
      created.modelVersion = true;
    } catch (e) {
      const id = (rm as RegisteredModel).id;
      mv = await afterConflict(e, () => client.findModelVersion(plan.versionName, id), versionLabel(plan));
      conflictsResolved++;
    }
  }
  if (!created.modelVersion) checkExistingVersion(mv, plan, differences);

  // a version we just made has no artifacts; one that existed may (or may be left over from an interrupted run)
  let artifact = created.modelVersion ? undefined : pickArtifact(await client.listModelArtifacts(mv.id), plan);
  if (!artifact) {
    try {
      artifact = await client.createModelVersionArtifact(mv.id, plan.artifact);
      created.modelArtifact = true;
    } catch (e) {
      const id = mv.id;
      artifact = await afterConflict(
        e,
        async () => pickArtifact(await client.listModelArtifacts(id), plan),
        `the model artifact of ${versionLabel(plan)}`,
      );
      conflictsResolved++;
    }
  } else {
    compareArtifact(artifact, plan, differences);
  }

  const labels: Record<string, string> = {
    [LABEL.registeredModelId]: rm.id,
    [LABEL.modelVersionId]: mv.id,
  };
  const registryName = input.registryName ?? (input.registryUrl ? registryNameFromUrl(input.registryUrl) : undefined);
  if (registryName) labels[LABEL.registryName] = registryName;

  return {
    registeredModelId: rm.id,
    modelVersionId: mv.id,
    modelArtifactId: artifact.id,
    uri: plan.uri,
    created,
    unchanged: !created.registeredModel && !created.modelVersion && !created.modelArtifact,
    conflictsResolved,
    differences,
    labels,
  };
}

interface Plan {
  modelName: string;
  versionName: string;
  uri: string;
  digest: string;
  description?: string;
  author?: string;
  versionProperties: CustomProperties;
  artifact: ModelArtifactCreate;
}

/** Validate the input and build the exact bodies to send; pure, so it is tested without a server. */
export function planRegistration(input: RegisterInput): Plan {
  const modelName = checkName(input.modelName, '--model-name');
  const versionName = checkName(input.versionName, '--model-version');
  const image = parsePinnedImage(input.image);
  if (input.tag !== undefined && image.tag !== undefined && input.tag !== image.tag) {
    throw new ModelcarError(
      'usage',
      `--tag ${input.tag} differs from the tag in --image (${image.tag})`,
      'give one tag',
    );
  }
  const tag = input.tag ?? image.tag;

  const derived = input.files ? modelFormatFromFiles(input.files) : undefined;
  const formatName = input.modelFormatName ?? derived?.name;
  const formatVersion = input.modelFormatVersion ?? (input.modelFormatName ? undefined : derived?.version);

  const props: CustomProperties = {
    [PROPERTY.imageDigest]: str(image.digest),
    [PROPERTY.toolVersion]: str(VERSION),
  };
  if (tag) props[PROPERTY.imageTag] = str(tag);
  if (input.sourceUri) props[PROPERTY.sourceUri] = str(input.sourceUri);
  if (input.sourceRevision) props[PROPERTY.sourceRevision] = str(input.sourceRevision);
  if (input.filesSha256) props[PROPERTY.filesSha256] = str(input.filesSha256);
  if (input.fileCount !== undefined) props[PROPERTY.fileCount] = int32(input.fileCount, '--file-count');
  for (const [key, value] of [
    [PROPERTY.signatureDigest, input.trust?.signatureDigest],
    [PROPERTY.provenanceDigest, input.trust?.provenanceDigest],
    [PROPERTY.modelSignatureDigest, input.trust?.modelSignatureDigest],
  ] as const) {
    if (value !== undefined) props[key] = str(checkDigest(value, key.replace(/_/g, '-')));
  }
  // int_value is int32 in the API (at most 9 digits): model sizes overflow it, so bytes travel as an exact string.
  if (input.totalBytes !== undefined)
    props[PROPERTY.totalBytes] = str(String(nonNegativeInteger(input.totalBytes, '--total-bytes')));

  const artifact: ModelArtifactCreate = {
    artifactType: 'model-artifact',
    // named after the model, as the upstream Python client does; unique within the version
    name: modelName,
    uri: image.uri,
    state: 'LIVE',
    ...(formatName ? { modelFormatName: formatName } : {}),
    ...(formatVersion ? { modelFormatVersion: formatVersion } : {}),
  };
  return {
    modelName,
    versionName,
    uri: image.uri,
    digest: image.digest,
    ...(input.description ? { description: input.description } : {}),
    ...(input.author ? { author: input.author } : {}),
    versionProperties: props,
    artifact,
  };
}

/**
 * `https://<name>-rest.<domain>` (route) or `https://<gateway>/model-registry/<name>` (gateway) → `<name>`, the
 * value the dashboard puts in `modelregistry.opendatahub.io/name`. Other URLs tell nothing: undefined.
 */
export function registryNameFromUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const fromPath = /\/model-registry\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\/|$)/.exec(u.pathname)?.[1];
  if (fromPath) return fromPath;
  const first = u.hostname.split('.')[0] ?? '';
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)-rest$/.exec(first);
  return m?.[1];
}

function checkExistingVersion(mv: ModelVersion, plan: Plan, differences: string[]): void {
  const recorded = stringProperty(mv.customProperties?.[PROPERTY.imageDigest]);
  if (recorded !== undefined && recorded !== plan.digest) {
    throw immutable(plan, `records image ${recorded}`);
  }
  if (mv.state === 'ARCHIVED') differences.push(`${versionLabel(plan)} is ARCHIVED`);
  for (const key of [
    PROPERTY.imageTag,
    PROPERTY.sourceUri,
    PROPERTY.sourceRevision,
    PROPERTY.fileCount,
    PROPERTY.totalBytes,
    PROPERTY.filesSha256,
  ]) {
    const want = plan.versionProperties[key];
    if (!want) continue;
    const have = mv.customProperties?.[key];
    if (!have || metadataText(have) !== metadataText(want)) {
      differences.push(
        `${versionLabel(plan)} property ${key} is ${have ? JSON.stringify(metadataText(have)) : 'unset'}, not ${JSON.stringify(metadataText(want))}`,
      );
    }
  }
}

/** The artifact carrying our URI, or undefined when the version has none; another URI is an immutability error. */
function pickArtifact(artifacts: ModelArtifact[], plan: Plan): ModelArtifact | undefined {
  const same = artifacts.find((a) => a.uri === plan.uri);
  if (same) return same;
  const other = artifacts.find((a) => a.uri);
  if (other) throw immutable(plan, `already points at ${other.uri}`);
  if (artifacts.length > 0) {
    throw new ModelcarError(
      'model-registry',
      `${versionLabel(plan)} already has a model artifact (${artifacts[0]?.id}) without a URI`,
      'another tool is registering this version (an upload still pending?): wait for it, or pick a new --model-version',
    );
  }
  return undefined;
}

function compareArtifact(a: ModelArtifact, plan: Plan, differences: string[]): void {
  for (const key of ['modelFormatName', 'modelFormatVersion'] as const) {
    const want = plan.artifact[key];
    if (want !== undefined && a[key] !== want) {
      differences.push(
        `model artifact ${a.id} ${key} is ${a[key] === undefined ? 'unset' : JSON.stringify(a[key])}, not ${JSON.stringify(want)}`,
      );
    }
  }
}

function immutable(plan: Plan, what: string): ModelcarError {
  return new ModelcarError(
    'model-registry',
    `${versionLabel(plan)} ${what}, not ${plan.uri}`,
    'versions are immutable (deployments refer to them by id): register the new image under a new --model-version',
  );
}

/** After a failed create: a 409 means someone else created it first, so read theirs; anything else propagates. */
async function afterConflict<T>(e: unknown, reread: () => Promise<T | undefined>, what: string): Promise<T> {
  if (!(e instanceof ModelRegistryHttpError) || e.status !== 409) throw e;
  const found = await reread();
  if (!found) {
    throw new ModelcarError(
      'model-registry',
      `creating ${what} conflicted (409) but it cannot be found afterwards`,
      'a name may be taken by an object of another kind, or was deleted meanwhile: check the registry, then rerun',
      { cause: e },
    );
  }
  return found;
}

function versionLabel(plan: Plan): string {
  return `version ${plan.versionName} of model ${plan.modelName}`;
}

function checkName(name: string, flag: string): string {
  // the find endpoints only take printable ASCII (`^[\x20-\x7E]+$`); refuse up front instead of a confusing 400
  if (!/^[\x20-\x7e]+$/.test(name) || name.trim() !== name) {
    throw new ModelcarError(
      'usage',
      `${flag} ${JSON.stringify(name)} must be printable ASCII without leading or trailing spaces`,
      'the Model Registry looks names up with that character set only',
    );
  }
  return name;
}

function checkDigest(value: string, what: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(value)) {
    throw new ModelcarError(
      'usage',
      `--${what} "${value}" is not a sha256 digest`,
      'give sha256:<64 hex digits>, as `modelcar sign --json` prints them',
    );
  }
  return value;
}

function str(value: string): MetadataValue {
  return { metadataType: 'MetadataStringValue', string_value: value };
}

function int32(n: number, flag: string): MetadataValue {
  const v = nonNegativeInteger(n, flag);
  if (v > 999_999_999)
    throw new ModelcarError(
      'usage',
      `${flag} ${v} is too large for the registry's integer type`,
      'give a count below 10^9',
    );
  return { metadataType: 'MetadataIntValue', int_value: String(v) };
}

function nonNegativeInteger(n: number, flag: string): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ModelcarError('usage', `${flag} must be a non-negative integer, not ${n}`, `e.g. ${flag} 4`);
  return n;
}

function stringProperty(v: MetadataValue | undefined): string | undefined {
  return v?.metadataType === 'MetadataStringValue' ? v.string_value : undefined;
}

function metadataText(v: MetadataValue): string {
  switch (v.metadataType) {
    case 'MetadataStringValue':
      return v.string_value;
    case 'MetadataIntValue':
      return v.int_value;
    case 'MetadataDoubleValue':
      return String(v.double_value);
    case 'MetadataBoolValue':
      return String(v.bool_value);
    case 'MetadataStructValue':
      return v.struct_value;
    case 'MetadataProtoValue':
      return v.proto_value;
  }
}
