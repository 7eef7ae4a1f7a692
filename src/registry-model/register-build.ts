/**
 * Registration of a build that was just pushed: what `modelcar build ... --register` calls. It turns the build's
 * facts (pinned image, tag, source identity, file list) into a `RegisterInput`, opens a client and registers.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { ModelcarError } from '../errors.js';
import { isHfRef, parseHfRef } from '../source/hf-ref.js';
import { ModelRegistryClient } from './client.js';
import { parsePinnedImage } from './image-uri.js';
import { type RegisterResult, registerModel, type TrustDigests } from './register.js';
import { tokenSource } from './token.js';

export interface BuiltFile {
  /** Path inside the model (what lands under /models), `/`-separated. */
  path: string;
  size: number;
  sha256?: string;
}

export interface BuildToRegister {
  /** The pushed image with its digest: `HOST/REPO[:TAG]@sha256:…` (`oci://` or `docker://` prefix accepted). */
  image: string;
  /** The tag pushed with it, recorded as a property. */
  tag?: string;
  /** Where the model came from: `hf://ORG/NAME` or a directory, and the resolved commit when known. */
  source: { uri: string; revision?: string };
  files: readonly BuiltFile[];
  totalBytes: number;
  /** When the build signed the image: its signature and attestation digests. */
  trust?: TrustDigests;
}

export interface RegisterBuildOptions {
  /** Model Registry REST URL (`https://<name>-rest.<domain>`). */
  modelRegistry: string;
  /** RegisteredModel name. @default the Hub repo id (`org/name`), or the directory's base name */
  name?: string;
  /** ModelVersion name. @default the tag, else `sha256-<first 12 hex of the digest>` */
  version?: string;
  /** Bearer token file. @default $MODEL_REGISTRY_TOKEN, then the pod's service-account token */
  tokenFile?: string;
  /** Extra CA bundle (PEM) for the registry's TLS certificate. */
  caFile?: string;
  author?: string;
  description?: string;
  /** Environment to read MODEL_REGISTRY_TOKEN from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

function clientFor(options: RegisterBuildOptions): ModelRegistryClient {
  return new ModelRegistryClient({
    url: options.modelRegistry,
    token: tokenSource({
      ...(options.tokenFile ? { tokenFile: options.tokenFile } : {}),
      env: options.env ?? process.env,
    }),
    ...(options.caFile ? { caFile: options.caFile } : {}),
  });
}

/**
 * What `build --register` checks before the first model byte moves: the Model Registry answers, the token is
 * accepted for reading (the find the registration starts with) and for creating (proven without writing anything).
 * A registration can still fail after the push (the server goes down meanwhile), but not for a reason known now.
 */
export async function checkRegistration(options: RegisterBuildOptions, modelName: string): Promise<void> {
  const client = clientFor(options);
  try {
    await client.findRegisteredModel(modelName);
    await client.checkCanWrite();
  } finally {
    await client.close();
  }
}

export async function registerBuild(build: BuildToRegister, options: RegisterBuildOptions): Promise<RegisterResult> {
  const image = parsePinnedImage(build.image);
  const tag = build.tag ?? image.tag;
  const contentDigest = filesSha256(build.files);
  const client = clientFor(options);
  try {
    return await registerModel(client, {
      modelName: options.name ?? defaultModelName(build.source.uri),
      versionName: options.version ?? tag ?? `sha256-${image.digest.slice('sha256:'.length, 'sha256:'.length + 12)}`,
      image: image.uri,
      ...(tag ? { tag } : {}),
      files: build.files.map((f) => f.path),
      fileCount: build.files.length,
      totalBytes: build.totalBytes,
      ...(contentDigest ? { filesSha256: contentDigest } : {}),
      sourceUri: build.source.uri,
      ...(build.source.revision ? { sourceRevision: build.source.revision } : {}),
      ...(build.trust ? { trust: build.trust } : {}),
      ...(options.author ? { author: options.author } : {}),
      ...(options.description ? { description: options.description } : {}),
      registryUrl: options.modelRegistry,
    });
  } finally {
    await client.close();
  }
}

/** `hf://org/name@rev` → `org/name` (two orgs' fine-tunes often share a name); a directory → its base name. */
export function defaultModelName(sourceUri: string): string {
  if (isHfRef(sourceUri)) return parseHfRef(sourceUri).repo;
  const name = decodeURI(basename(sourceUri.replace(/^file:(\/\/)?/, '').replace(/\/+$/, '')));
  if (name === '' || name === '.' || name === '..') {
    throw new ModelcarError(
      'usage',
      `cannot derive a model name from the source ${JSON.stringify(sourceUri)}`,
      'pass the registered model name explicitly (--model-name)',
    );
  }
  return name;
}

/**
 * sha256 of the `sha256sum`-style listing (`<hex>  <path>\n`, sorted by path) of every file, so the model's bytes can
 * be compared across images (another base, another layering). Undefined when any file's hash is unknown.
 */
export function filesSha256(files: readonly BuiltFile[]): string | undefined {
  if (files.length === 0 || files.some((f) => !f.sha256)) return undefined;
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${String(f.sha256).replace(/^sha256:/, '')}  ${f.path}\n`)
    .join('');
  return `sha256:${createHash('sha256').update(lines).digest('hex')}`;
}
