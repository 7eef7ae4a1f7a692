import { Readable } from 'node:stream';
import { listCommits, listFiles, modelInfo } from '@huggingface/hub';
import { mapLimit } from '../builder/pool.js';
import { ModelcarError } from '../errors.js';
import type { RateFloor } from '../http/body.js';
import { emitNetworkEvent } from '../http/events.js';
import { pageGuard } from '../http/pages.js';
import { addUrlSecrets, redact } from '../http/redact.js';
import { type RetryPolicy, retryPolicy } from '../http/retry.js';
import { httpUrl } from '../http/url.js';
import { ByteBudget } from './byte-budget.js';
import { checkedStream, type ExpectedContent } from './content-check.js';
import { HubCache } from './hf-cache.js';
import { RangedDownload } from './hf-download.js';
import { HubError } from './hf-errors.js';
import { HubHttp, type HubHttpOptions } from './hf-http.js';
import { formatHfRef, type HfRef, isCommitSha, parseHfRef } from './hf-ref.js';
import type { HfToken } from './hf-token.js';
import { hubJsonFetch } from './hub-json.js';
import { hubTreeEntry, isFileSize, relativePathProblem, type TreeEntry, treeProblems } from './listing.js';
import type { ModelSource, SourceEntry, SourceIdentity } from './source.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_CONNECTIONS = 4;
const MiB = 1024 * 1024;

export interface HfSourceOptions extends HubHttpOptions {
  /** The Hub's base URL. @default https://huggingface.co */
  readonly endpoint?: string;
  readonly token?: HfToken;
  /** Keep verified files in this directory (Hugging Face cache layout) and build from them when complete. */
  readonly cacheDir?: string;
  /** Ranged connections per file. @default 4 */
  readonly connections?: number;
  /** Bytes per ranged request. @default 16 MiB */
  readonly partSize?: number;
  /** Memory cap shared by every open file. @default 64 MiB (4 parts of 16 MiB in flight: peak RSS ~220 MB with Node itself) */
  readonly budget?: ByteBudget;
  readonly retry?: Partial<RetryPolicy>;
  /** The minimum download rate per connection (`--min-rate`); with it each file's deadline. */
  readonly floor?: RateFloor;
  /** Pages of the tree listing followed at most. @default 1000 */
  readonly maxPages?: number;
}

interface Pinned {
  readonly commit: string;
  readonly identity: SourceIdentity;
}

/** What the listing promises about a file: its size and the hash the bytes must have. */
interface Listed {
  readonly size: number;
  readonly expected: ExpectedContent;
}

/**
 * A model repository on the Hugging Face Hub. The revision is turned into a commit sha once; the listing and every
 * download ask for that sha, so a branch that moves during a build cannot mix two commits. Every file is checked
 * against the listing's sha256 (LFS) or git blob sha1 (small files) while it streams.
 */
export class HfSource implements ModelSource {
  readonly ref: HfRef;
  readonly endpoint: string;
  private readonly http: HubHttp;
  /** The HTTP client's fetch with every JSON answer checked, for `@huggingface/hub`. */
  private readonly apiFetch: typeof fetch;
  private readonly cache?: HubCache;
  private readonly budget: ByteBudget;
  private readonly retry: RetryPolicy;
  private pinned?: Promise<Pinned>;
  private listing?: Promise<Map<string, Listed>>;

  constructor(
    ref: HfRef | string,
    private readonly opts: HfSourceOptions = {},
  ) {
    this.ref = typeof ref === 'string' ? parseHfRef(ref) : ref;
    this.endpoint = hubEndpoint(opts.endpoint ?? DEFAULT_HF_ENDPOINT);
    this.retry = retryPolicy(opts.retry);
    this.budget = opts.budget ?? new ByteBudget(64 * MiB);
    const ctx = {
      endpoint: this.endpoint,
      repo: this.ref.repo,
      ...(this.ref.revision ? { revision: this.ref.revision } : {}),
      ...(opts.token ? { tokenSource: opts.token.source } : {}),
    };
    this.http = new HubHttp(ctx, opts.token, opts, this.retry);
    this.apiFetch = hubJsonFetch(this.http.fetch);
    if (opts.cacheDir) this.cache = new HubCache(opts.cacheDir, this.ref.repo);
  }

  async identity(): Promise<SourceIdentity> {
    return (await this.pin()).identity;
  }

  /** How requests to the Hub travel, for doctor: `direct` or `via proxy http://... (HTTPS_PROXY)`. */
  get route(): string {
    return this.http.route;
  }

  /** The commit every request is pinned to. */
  async commit(): Promise<string> {
    return (await this.pin()).commit;
  }

  private pin(): Promise<Pinned> {
    this.pinned ??= this.resolveRevision();
    return this.pinned;
  }

  private async resolveRevision(): Promise<Pinned> {
    const { repo, name, revision } = this.ref;
    const common = { hubUrl: this.endpoint, fetch: this.apiFetch };
    // huggingface_hub's default revision is "main" too.
    const asked = revision ?? 'main';
    const info = await modelInfo({ ...common, name: repo, revision: asked, additionalFields: ['sha', 'cardData'] });
    const commit = info.sha;
    if (typeof commit !== 'string' || !isCommitSha(commit)) {
      throw new ModelcarError(
        'hub',
        `${formatHfRef(this.ref, revision)}: the Hub did not name a commit for "${asked}"`,
        'check HF_ENDPOINT points at a Hugging Face Hub',
      );
    }
    const committedAt = await this.commitTime(commit, info.updatedAt);
    if (this.cache && asked !== commit) await this.cache.recordRef(asked, commit);
    const license = licenseOf(info.cardData);
    const identity: SourceIdentity = {
      uri: formatHfRef(this.ref, commit),
      title: name,
      revision: commit,
      ref: asked,
      ...(committedAt && !Number.isNaN(committedAt.getTime()) ? { committedAt } : {}),
      ...(license ? { license } : {}),
    };
    return { commit, identity };
  }

  /**
   * The commit's date from the commits API; a mirror that lacks it (it serves what huggingface_hub downloads, not
   * the Hub's browsing APIs) gives the model info's lastModified instead, said once in a note.
   */
  private async commitTime(commit: string, lastModified: Date | undefined): Promise<Date | undefined> {
    try {
      for await (const c of listCommits({
        hubUrl: this.endpoint,
        fetch: this.apiFetch,
        repo: this.ref.repo,
        revision: commit,
        batchSize: 1,
      })) {
        return c.date;
      }
      return undefined;
    } catch (e) {
      if (!isMissingApi(e)) throw e;
      this.noteMirror();
      return lastModified;
    }
  }

  private mirrorNoted = false;

  private noteMirror(): void {
    if (this.mirrorNoted) return;
    this.mirrorNoted = true;
    emitNetworkEvent({
      type: 'note',
      endpoint: this.endpoint,
      message:
        'no tree/commits API here (a mirror?): file sizes and sha256 come from the resolve headers, the commit time from the model info',
    });
  }

  async list(): Promise<SourceEntry[]> {
    const files = await this.files();
    return [...files.entries()]
      .map(([path, f]) => ({
        path,
        size: f.size,
        ...(f.expected.algorithm === 'sha256' ? { sha256: f.expected.hex } : { gitSha1: f.expected.hex }),
      }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  private files(): Promise<Map<string, Listed>> {
    this.listing ??= this.listFiles();
    return this.listing;
  }

  private async listFiles(): Promise<Map<string, Listed>> {
    const { commit } = await this.pin();
    let out: Map<string, Listed>;
    try {
      out = await this.listTree(commit);
    } catch (e) {
      if (!isMissingApi(e)) throw e;
      this.noteMirror();
      out = await this.listFromResolve(commit);
    }
    if (out.size === 0) {
      throw new ModelcarError(
        'source',
        `${formatHfRef(this.ref, commit)} has no files`,
        'check the repository and revision on the Hub',
      );
    }
    return out;
  }

  /** A listing no repository can have: refused as a whole, before anything is downloaded or written. */
  private refusedListing(commit: string, where: string, problem: string): ModelcarError {
    return new ModelcarError(
      'hub',
      `${formatHfRef(this.ref, commit)}: the file listing (${where}) holds ${problem}`,
      'no repository can have such a listing: the Hub or a mirror or proxy in between sent it; nothing was downloaded; check HF_ENDPOINT and report it to whoever runs that endpoint',
    );
  }

  /** Paths that cannot form one tree (`X` and `X/y`, a path twice) are refused like any other bad entry. */
  private checkTree(commit: string, where: string, files: string[], directories: string[] = []): void {
    const [problem, ...more] = treeProblems(files, directories).errors;
    if (problem) {
      throw this.refusedListing(
        commit,
        where,
        more.length > 0 ? `${problem} (and ${more.length} more problems)` : problem,
      );
    }
  }

  /**
   * The tree API, page by page (`Link: rel="next"`), bounded in pages and refusing a page it already had. Every
   * entry's path, size and ids are checked before any use (src/source/listing.ts).
   */
  private async listTree(commit: string): Promise<Map<string, Listed>> {
    const where = `${this.endpoint}/api/models/${this.ref.repo}/tree/${commit}`;
    const out = new Map<string, Listed>();
    const files: string[] = [];
    const directories: string[] = [];
    const entries = listFiles({
      repo: this.ref.repo,
      revision: commit,
      recursive: true,
      hubUrl: this.endpoint,
      fetch: pageGuard(this.apiFetch, {
        what: `the file listing of ${formatHfRef(this.ref, commit)} on ${this.endpoint}`,
        kind: 'hub',
        ...(this.opts.maxPages !== undefined ? { maxPages: this.opts.maxPages } : {}),
      }),
    });
    for await (const raw of entries) {
      const f: TreeEntry | string | undefined = hubTreeEntry(raw as unknown);
      if (typeof f === 'string') throw this.refusedListing(commit, where, f);
      if (f === undefined) continue;
      if (f.type === 'directory') {
        directories.push(f.path);
        continue;
      }
      files.push(f.path);
      const expected: ExpectedContent = f.sha256
        ? { size: f.size, algorithm: 'sha256', hex: f.sha256 }
        : { size: f.size, algorithm: 'git-sha1', hex: f.oid };
      out.set(f.path, { size: f.size, expected });
    }
    this.checkTree(commit, where, files, directories);
    return out;
  }

  /**
   * For a mirror that serves only what huggingface_hub downloads: the model info's siblings, and for each file a HEAD
   * on its resolve URL, whose headers give the size (X-Linked-Size or Content-Length) and the hash (X-Linked-Etag:
   * the sha256 of an LFS file; ETag: the git blob sha1 of a small one), as huggingface_hub itself reads them.
   */
  private async listFromResolve(commit: string): Promise<Map<string, Listed>> {
    const ref = formatHfRef(this.ref, commit);
    const info = await modelInfo({
      hubUrl: this.endpoint,
      fetch: this.apiFetch,
      name: this.ref.repo,
      revision: commit,
      additionalFields: ['filePaths'],
    });
    const paths: unknown[] = Array.isArray(info.filePaths) ? info.filePaths : [];
    const where = `${this.endpoint}/api/models/${this.ref.repo}/revision/${commit}`;
    for (const path of paths) {
      const problem = relativePathProblem(path);
      if (problem) throw this.refusedListing(commit, where, `${problem} (${JSON.stringify(path)})`);
    }
    this.checkTree(commit, where, paths as string[]);
    const out = new Map<string, Listed>();
    await mapLimit(paths as string[], RESOLVE_CONCURRENCY, async (path) => {
      const r = await this.http.resolve(commit, path);
      const sha256 = r.linkedEtag && /^[0-9a-f]{64}$/i.test(r.linkedEtag) ? r.linkedEtag.toLowerCase() : undefined;
      const sha1 = !sha256 && r.etag && /^[0-9a-f]{40}$/i.test(r.etag) ? r.etag.toLowerCase() : undefined;
      if (!Number.isSafeInteger(r.size) || r.size < 0) {
        throw new ModelcarError(
          'hub',
          `${ref}: ${this.endpoint} gives no usable size for ${path} (X-Linked-Size / Content-Length)`,
          'check HF_ENDPOINT points at a Hugging Face Hub or a complete mirror of it',
        );
      }
      if (!sha256 && !sha1) {
        throw new ModelcarError(
          'hub',
          `${ref}: ${this.endpoint} names no sha256 (X-Linked-Etag) or git sha1 (ETag) for ${path}; it cannot be verified`,
          'check HF_ENDPOINT points at a Hugging Face Hub or a mirror that passes its headers through',
        );
      }
      const hex = (sha256 ?? sha1) as string;
      out.set(path, { size: r.size, expected: { size: r.size, algorithm: sha256 ? 'sha256' : 'git-sha1', hex } });
    });
    return out;
  }

  async open(entry: SourceEntry, offset = 0): Promise<Readable> {
    const { commit } = await this.pin();
    const listed = (await this.files()).get(entry.path);
    if (!listed) {
      throw new ModelcarError(
        'source',
        `${entry.path} is not in ${formatHfRef(this.ref, commit)}`,
        'pass a path from the listing',
      );
    }
    const { size, expected } = listed;
    if (offset < 0 || offset > size) throw new RangeError(`offset ${offset} outside ${entry.path} (${size} bytes)`);
    // From the middle of a file the hash cannot be known: only the size is checked then.
    const check = {
      label: entry.path,
      size: size - offset,
      ...(offset === 0 ? { expected } : {}),
    };
    const cached = await this.cache?.open(commit, entry.path, expected.hex, size, offset);
    if (cached) return checkedStream(cached, check);
    if (size === offset) return checkedStream(Readable.from([]), check);
    const resolved = await this.http.resolve(commit, entry.path);
    const label = `${formatHfRef(this.ref, commit)}: ${entry.path}`;
    if (!isFileSize(resolved.size)) {
      throw new ModelcarError(
        'hub',
        `${label}: the Hub's answer to HEAD on its resolve URL names no valid size (X-Linked-Size or Content-Length)`,
        'check HF_ENDPOINT and any proxy between here and the Hub',
      );
    }
    if (resolved.size !== size) {
      throw new ModelcarError(
        'hub',
        `${label}: listed as ${size} bytes but the Hub serves ${resolved.size}`,
        'the Hub contradicts itself; run again later',
      );
    }
    if (resolved.repoCommit && resolved.repoCommit !== commit) {
      throw new ModelcarError(
        'hub',
        `${label}: asked for commit ${commit}, the Hub answered for ${resolved.repoCommit}`,
        'check HF_ENDPOINT and any caching proxy in between',
      );
    }
    if (expected.algorithm === 'sha256' && resolved.linkedEtag && /^[0-9a-f]{64}$/.test(resolved.linkedEtag)) {
      if (resolved.linkedEtag !== expected.hex) {
        throw new ModelcarError(
          'integrity',
          `${entry.path}: sha256 mismatch: the listing says ${expected.hex}, the download link says ${resolved.linkedEtag}`,
          'the Hub contradicts itself; nothing was published; run again later',
        );
      }
    }
    const download = new RangedDownload({
      http: this.http,
      commit,
      path: entry.path,
      size,
      offset,
      resolved,
      connections: Math.max(1, this.opts.connections ?? DEFAULT_CONNECTIONS),
      partSize: Math.min(this.opts.partSize ?? 16 * MiB, this.budget.limit),
      budget: this.budget,
      retry: this.retry,
      ...(this.opts.floor ? { floor: this.opts.floor } : {}),
    });
    // A partial file is never cached: the cache only holds whole, verified files.
    const sink = offset === 0 ? await this.cache?.writer(commit, entry.path, expected.hex, size) : undefined;
    return checkedStream(download, { ...check, ...(sink ? { sink } : {}) });
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** HEADs in flight while a mirror's files are resolved one by one. */
const RESOLVE_CONCURRENCY = 8;

/**
 * An API a mirror does not serve (it has the model info and resolve, not tree, paths-info or commits): 404 without
 * the Hub's own error codes, 405 or 501. A missing repository or revision keeps its own error.
 */
function isMissingApi(e: unknown): boolean {
  if (!(e instanceof HubError)) return false;
  const { status, code } = e.reply;
  if (code === 'RepoNotFound' || code === 'RevisionNotFound' || code === 'GatedRepo' || code === 'EntryNotFound')
    return false;
  return status === 404 || status === 405 || status === 501;
}

/**
 * The Hub's base URL without trailing slashes and without userinfo: credentials written into HF_ENDPOINT are
 * registered as secrets (never printed) and not sent; the Hub token goes in HF_TOKEN.
 */
export function hubEndpoint(text: string): string {
  const url = httpUrl(text, (problem, parsed) =>
    problem === 'not a URL'
      ? new ModelcarError(
          'usage',
          `HF_ENDPOINT ${redact(text)} is not a URL`,
          'e.g. HF_ENDPOINT=https://hf-mirror.example.com',
        )
      : new ModelcarError(
          'usage',
          `HF_ENDPOINT must be an http(s) URL, not ${parsed?.protocol}`,
          'e.g. https://hf-mirror.example.com',
        ),
  );
  addUrlSecrets(url);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/** The model card's license: an SPDX-like id, several joined with OR, or the name of an "other" license. */
export function licenseOf(card: unknown): string | undefined {
  if (!card || typeof card !== 'object') return undefined;
  const { license, license_name } = card as { license?: unknown; license_name?: unknown };
  if (license === 'other' && typeof license_name === 'string' && license_name) return license_name;
  if (typeof license === 'string' && license) return license;
  if (Array.isArray(license)) {
    const ids = license.filter((x): x is string => typeof x === 'string' && x !== '');
    return ids.length ? ids.join(' OR ') : undefined;
  }
  return undefined;
}
