/**
 * The two in-toto Statements (v1) modelcar signs about an image:
 *
 * - SLSA Provenance v1 (https://slsa.dev/provenance/v1): subject = the image manifest digest; resolved dependencies =
 *   the source (`hf://ORG/NAME@COMMIT` or `file:<dir name>`), the base image by digest, and every packaged file by
 *   sha256 (`<source uri>/<path>`); the build parameters; the builder (modelcar and its version); the times.
 * - OpenSSF Model Signing v1.0 (predicate `https://model_signing/signature/v1.0`, ossf/model-signing-spec v1.0): the
 *   files' sha256 sorted by path, the serialization parameters, subject = the root digest over them. It says nothing
 *   about images, so the model's files can be checked wherever they land (/mnt/models, a PVC).
 *
 * Pure and deterministic: the same input gives the same bytes (times come in, they are never read from the clock).
 */
import { createHash } from 'node:crypto';

export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const MODEL_SIGNING_V1 = 'https://model_signing/signature/v1.0';
/** What a modelcar build is; docs/signing.md describes its parameters. A URN: we claim no web address. */
export const BUILD_TYPE = 'urn:modelcar:buildtype:build:v1';
/** OMS §6.2: excluded at the model root whatever the user says. */
export const OMS_DEFAULT_IGNORES = ['.git', '.gitattributes', '.github', '.gitignore'] as const;

export interface ResourceDescriptor {
  readonly name?: string;
  readonly uri?: string;
  readonly digest?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, unknown>>;
}

export interface Statement<P> {
  readonly _type: typeof IN_TOTO_STATEMENT_V1;
  readonly subject: readonly ResourceDescriptor[];
  readonly predicateType: string;
  readonly predicate: P;
}

/** A packaged file: its path under /models and the sha256 of its bytes (lower-case hex). */
export interface SignedFile {
  readonly path: string;
  readonly sha256: string;
}

export interface ProvenanceInput {
  /** The image: repository name (`HOST/REPO`) and manifest digest. */
  readonly image: { readonly name: string; readonly digest: string };
  /** The source identity: `hf://ORG/NAME@COMMIT` or `file:<dir name>`, and the commit when there is one. */
  readonly source: { readonly uri: string; readonly revision?: string };
  readonly files: readonly SignedFile[];
  /** The base image as recorded (a reference or a layout name) and its manifest digest; absent for scratch. */
  readonly base?: { readonly name: string; readonly digest: string };
  /** What the user asked for; recorded as given. */
  readonly externalParameters: Readonly<Record<string, unknown>>;
  readonly internalParameters?: Readonly<Record<string, unknown>>;
  readonly builderVersion: string;
  readonly startedOn?: Date;
  readonly finishedOn?: Date;
}

/** Paths compared as OMS requires (Unicode code points), which is UTF-8 byte order, not JS string order. */
export function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function hex(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** The URI of one packaged file: the source's URI and the path (`hf://ORG/NAME@COMMIT/PATH`, as HfFileSystem spells it). */
export function fileUri(sourceUri: string, path: string): string {
  return `${sourceUri}/${encodeURI(path)}`;
}

/** RFC 3339 in UTC without fractions, as the in-toto Timestamp field type asks. */
function timestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export interface SlsaPredicate {
  readonly buildDefinition: {
    readonly buildType: string;
    readonly externalParameters: Readonly<Record<string, unknown>>;
    readonly internalParameters?: Readonly<Record<string, unknown>>;
    readonly resolvedDependencies: readonly ResourceDescriptor[];
  };
  readonly runDetails: {
    readonly builder: { readonly id: string; readonly version: Readonly<Record<string, string>> };
    readonly metadata?: { readonly startedOn?: string; readonly finishedOn?: string };
  };
}

export function slsaProvenance(input: ProvenanceInput): Statement<SlsaPredicate> {
  const source: ResourceDescriptor = {
    uri: input.source.uri,
    ...(input.source.revision ? { digest: { gitCommit: input.source.revision } } : {}),
  };
  const base: ResourceDescriptor[] = input.base
    ? [
        {
          name: 'base',
          uri: /^[a-z][a-z0-9+.-]*:/.test(input.base.name) ? input.base.name : `docker://${input.base.name}`,
          digest: { sha256: hex(input.base.digest) },
        },
      ]
    : [];
  const files = [...input.files]
    .sort((a, b) => byCodePoint(a.path, b.path))
    .map((f) => ({ name: f.path, uri: fileUri(input.source.uri, f.path), digest: { sha256: f.sha256 } }));
  const metadata = {
    ...(input.startedOn ? { startedOn: timestamp(input.startedOn) } : {}),
    ...(input.finishedOn ? { finishedOn: timestamp(input.finishedOn) } : {}),
  };
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: input.image.name, digest: { sha256: hex(input.image.digest) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: input.externalParameters,
        ...(input.internalParameters ? { internalParameters: input.internalParameters } : {}),
        resolvedDependencies: [source, ...base, ...files],
      },
      runDetails: {
        builder: { id: `urn:modelcar:builder:${input.builderVersion}`, version: { modelcar: input.builderVersion } },
        ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
      },
    },
  };
}

/** The packaged files a provenance statement lists: the dependencies under the source's URI, with their sha256. */
export function provenanceFiles(statement: Statement<SlsaPredicate>): SignedFile[] | undefined {
  const deps = statement.predicate?.buildDefinition?.resolvedDependencies;
  const source = deps?.[0]?.uri;
  if (!Array.isArray(deps) || typeof source !== 'string') return undefined;
  return deps
    .filter((d) => typeof d.uri === 'string' && d.uri.startsWith(`${source}/`) && typeof d.digest?.sha256 === 'string')
    .map((d) => ({ path: decodeURI((d.uri as string).slice(source.length + 1)), sha256: d.digest?.sha256 as string }));
}

export interface OmsResource {
  readonly name: string;
  readonly digest: string;
  readonly algorithm: 'sha256';
}

export interface OmsPredicate {
  readonly resources: readonly OmsResource[];
  readonly serialization: {
    readonly method: 'files';
    readonly hash_type: 'sha256';
    readonly allow_symlinks: false;
    readonly ignore_paths: readonly string[];
  };
}

/** OMS §6.5.1: sha256 over the concatenated raw digests of the resources in order. */
export function omsRootDigest(resources: readonly OmsResource[]): string {
  const hash = createHash('sha256');
  for (const r of resources) hash.update(Buffer.from(r.digest, 'hex'));
  return hash.digest('hex');
}

/**
 * The OMS statement over `files`. `modelName` is informational (OMS: the basename of the model path). `ignorePaths`
 * are the source's files the build left out, so the source directory itself verifies against the same bundle.
 */
export function modelSigningStatement(
  modelName: string,
  files: readonly SignedFile[],
  ignorePaths: readonly string[] = [],
): Statement<OmsPredicate> {
  const resources = [...files]
    .sort((a, b) => byCodePoint(a.path, b.path))
    .map((f): OmsResource => ({ name: f.path, digest: f.sha256, algorithm: 'sha256' }));
  const ignore = [...new Set([...OMS_DEFAULT_IGNORES, ...ignorePaths])].sort(byCodePoint);
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: modelName, digest: { sha256: omsRootDigest(resources) } }],
    predicateType: MODEL_SIGNING_V1,
    predicate: {
      resources,
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: ignore },
    },
  };
}

export function statementBytes(statement: Statement<unknown>): Buffer {
  return Buffer.from(JSON.stringify(statement));
}
