import { ModelcarError } from '../errors.js';
import type { RateFloor } from '../http/body.js';
import { DEFAULT_CONNECTIONS, DEFAULT_HF_ENDPOINT, HfSource } from './hf.js';
import { defaultHubCache, HfCacheSource, isOffline } from './hf-offline.js';
import { formatHfRef, type HfRef, isHfRef, parseHfRef } from './hf-ref.js';
import { findHfToken } from './hf-token.js';
import { LocalSource, type LocalSourceOptions } from './local.js';
import type { ModelSource } from './source.js';

/** Everything a build may say about where the model comes from; each field is a flag or an environment variable. */
export interface SourceOptions {
  /** A Hugging Face token handed over in memory (never from argv). Default: `--hf-token-file`, then HF_TOKEN, ... */
  readonly hfToken?: string;
  /** `--hf-token-file FILE` */
  readonly hfTokenFile?: string;
  /** Hub base URL. Default: HF_ENDPOINT, then https://huggingface.co */
  readonly hfEndpoint?: string;
  /** `--cache DIR` */
  readonly cacheDir?: string;
  /** `--hf-connections N`: ranged connections per file. */
  readonly connections?: number;
  /** `--follow-external-symlinks`, for a local directory. */
  readonly followExternalSymlinks?: boolean;
  /** Lets a local directory vouch for files an earlier run hashed (see src/journal/journal.ts). */
  readonly journal?: LocalSourceOptions['journal'];
  /** `--revision REV`: the same as `@REV` in the reference (both given, they must agree). */
  readonly revision?: string;
  /** `--min-rate` and its window: the floor every Hub download must hold. */
  readonly floor?: RateFloor;
  /** Environment to read HF_TOKEN, HF_TOKEN_PATH, HF_HOME, HF_ENDPOINT and HF_HUB_OFFLINE from. Default: process.env */
  readonly env?: NodeJS.ProcessEnv;
}

export const REVISION_HELP =
  'for hf://: the branch, tag, commit or refs/pr/N to build (the same as hf://ORG/NAME@REV; default main)';

export const HF_TOKEN_FILE_HELP =
  'read the Hugging Face token for gated and private repos from FILE (default: HF_TOKEN, then HF_TOKEN_PATH or ~/.cache/huggingface/token); the token is sent only to the Hub, never to its CDN';
export const CACHE_HELP =
  'keep a verified copy of downloaded files in DIR (Hugging Face cache layout, shareable via HF_HUB_CACHE) and build from it when complete; without it nothing is written to disk';
export const HF_CONNECTIONS_HELP = `ranged connections per file when downloading from Hugging Face, 1-16 (default ${DEFAULT_CONNECTIONS})`;
export const FOLLOW_EXTERNAL_SYMLINKS_HELP =
  'for a local directory: follow symlinks that point outside it (a Hugging Face cache snapshot links every file to ../../blobs)';

/** Parses `--hf-connections`; usable as a commander argument parser. */
export function parseConnections(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    throw new ModelcarError('usage', `--hf-connections ${text}: expected a whole number from 1 to 16`, undefined);
  }
  return n;
}

/** The reference with `--revision` applied: `@REV` and `--revision` must not disagree. */
function withRevision(spec: string, revision: string | undefined): HfRef {
  const ref = parseHfRef(spec);
  if (revision === undefined) return ref;
  if (ref.revision !== undefined && ref.revision !== revision) {
    throw new ModelcarError(
      'usage',
      `${spec} and --revision ${revision} name different revisions`,
      'give the revision once: hf://ORG/NAME@REV or --revision REV',
    );
  }
  return parseHfRef(formatHfRef(ref, revision));
}

/**
 * `hf://ORG/NAME[@REVISION]` opens the Hub (or, with HF_HUB_OFFLINE=1, the local Hugging Face cache only); anything
 * else is a local directory.
 */
export function openSource(spec: string, opts: SourceOptions = {}): ModelSource {
  const env = opts.env ?? process.env;
  if (!isHfRef(spec)) {
    if (opts.revision !== undefined) {
      throw new ModelcarError(
        'usage',
        `--revision applies to hf:// sources, not to the directory ${spec}`,
        'drop --revision, or build hf://ORG/NAME --revision REV',
      );
    }
    return new LocalSource(spec, {
      followExternalSymlinks: opts.followExternalSymlinks === true,
      ...(opts.journal ? { journal: opts.journal } : {}),
    });
  }
  const ref = withRevision(spec, opts.revision);
  if (isOffline(env)) return new HfCacheSource(ref, opts.cacheDir ?? defaultHubCache(env));
  const token = findHfToken({
    env,
    ...(opts.hfToken !== undefined ? { token: opts.hfToken } : {}),
    ...(opts.hfTokenFile !== undefined ? { tokenFile: opts.hfTokenFile } : {}),
  });
  const endpoint = opts.hfEndpoint ?? (env.HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT);
  return new HfSource(ref, {
    endpoint,
    env,
    ...(token ? { token } : {}),
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.connections !== undefined ? { connections: opts.connections } : {}),
    ...(opts.floor ? { floor: opts.floor } : {}),
  });
}
