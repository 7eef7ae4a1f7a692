/**
 * A faithful local Hugging Face Hub for tests: the API endpoints `@huggingface/hub` and our downloader use, resolve
 * URLs that redirect LFS files to a separate "CDN" origin (another port, so another origin), Range support, the Hub's
 * error headers, and fault knobs (dropped connections, flipped bytes, stalls, per-connection rate caps) with counters.
 */
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FileSpec {
  readonly path: string;
  /** Exact bytes; otherwise `size` deterministic pseudo-random bytes from `seed` (default: the path). */
  readonly content?: Buffer | string;
  readonly size?: number;
  readonly seed?: string;
  /** Stored in LFS (redirected to the CDN). Default: weight extensions or >= 10 MiB, as `.gitattributes` does. */
  readonly lfs?: boolean;
}

export interface CommitSpec {
  readonly files: readonly FileSpec[];
  /** ISO date; default 2024-05-01T12:00:00.000Z plus the commit's index in days. */
  readonly date?: string;
  readonly title?: string;
}

export interface RepoSpec {
  /** `org/name` */
  readonly id: string;
  /** commits[0] is the newest; `main` points at it unless refs say otherwise. */
  readonly commits: readonly CommitSpec[];
  /** Branches, tags and `refs/pr/N` -> index into commits. */
  readonly refs?: Readonly<Record<string, number>>;
  readonly gated?: false | 'auto' | 'manual';
  readonly private?: boolean;
  readonly license?: string;
  /** Tokens that may download a gated repo or see a private one. */
  readonly grantedTokens?: readonly string[];
}

export interface FileFaults {
  /** Cut the connection after this many body bytes of a response. */
  dropAfterBytes?: number;
  /** How many responses to cut (default 1; Infinity = every one). */
  dropTimes?: number;
  /** Absolute file offset whose byte is flipped in every response that covers it. */
  corruptAt?: number;
  /** Pause `stallMs` after this many body bytes of a response, `stallTimes` times (default 1). */
  stallAfterBytes?: number;
  stallMs?: number;
  stallTimes?: number;
}

/** The JSON endpoints a hostile scenario can take over. */
export type HubEndpoint = 'model-info' | 'tree' | 'commits';

export interface HostileAnswers {
  /** Changes the JSON the Hub sends for an endpoint (per page for the tree): `X` and `X/y`, sizes of -1, bad ids. */
  rewrite?: Partial<Record<HubEndpoint, (json: unknown) => unknown>>;
  /** Answers an endpoint with bytes of its own: an HTML login page, invalid JSON, a huge body. */
  raw?: Partial<Record<HubEndpoint, { status?: number; contentType: string; body: string | Buffer }>>;
}

export interface RequestLog {
  readonly origin: 'hub' | 'cdn';
  readonly method: string;
  readonly url: string;
  /** File path for resolve/CDN requests. */
  readonly file?: string;
  /** Revision as the client wrote it in a resolve URL (decoded). */
  readonly revision?: string;
  readonly range?: string;
  readonly authorization: boolean;
}

export interface HubDoubleOptions {
  readonly repos: readonly RepoSpec[];
  /** Entries per page of the tree API (the real Hub pages at 1000-ish); small values exercise `Link` pagination. */
  readonly pageSize?: number;
  /** Serve small (non-LFS) files through a relative 307 to /api/resolve-cache/... like the current Hub does. */
  readonly smallFilesVia307?: boolean;
  /**
   * Tokens the Hub knows. When given, any other token is answered 401 "Invalid credentials", as the Hub does for a
   * revoked or mistyped token; otherwise every `hf_...` token counts as a valid, ungranted account.
   */
  readonly knownTokens?: readonly string[];
  /**
   * Names the Hub and the CDN give themselves in the URLs they hand out (default 127.0.0.1), e.g. `hub.test` and
   * `cdn.test` that only a test proxy resolves: then every request must go through that proxy.
   */
  readonly hubHost?: string;
  readonly cdnHost?: string;
  /**
   * Serve only what huggingface_hub downloads with (model info with `siblings`, and `resolve`), as a plain mirror or
   * a remote-repository proxy does: the tree, paths-info and commits APIs answer 404 without the Hub's error code.
   */
  readonly mirrorOnly?: boolean;
  /** Hostile pagination: `loop` sends the tree listing's `Link: rel="next"` back to the page just served. */
  readonly treePages?: 'loop';
}

interface StoredFile {
  readonly path: string;
  readonly content: Buffer;
  readonly lfs: boolean;
  readonly gitOid: string;
  readonly sha256: string;
}

interface StoredCommit {
  readonly sha: string;
  readonly date: string;
  readonly title: string;
  readonly files: Map<string, StoredFile>;
}

interface StoredRepo {
  readonly spec: RepoSpec;
  readonly commits: StoredCommit[];
  readonly refs: Map<string, number>;
}

const LFS_EXT = /\.(safetensors|bin|pt|pth|ckpt|gguf|h5|msgpack|onnx|ot|tflite|npz)$/i;

/** Deterministic pseudo-random bytes: AES-CTR keystream keyed by the seed (fast enough for 100s of MiB). */
export function pseudoRandomBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function storeFile(f: FileSpec): StoredFile {
  const content = f.content !== undefined ? Buffer.from(f.content) : pseudoRandomBytes(f.seed ?? f.path, f.size ?? 0);
  const lfs = f.lfs ?? (LFS_EXT.test(f.path) || content.length >= 10 * 1024 * 1024);
  const sha = sha256(content);
  const pointer = Buffer.from(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${content.length}\n`,
  );
  return { path: f.path, content, lfs, sha256: sha, gitOid: gitBlobSha1(lfs ? pointer : content) };
}

export class HubDouble {
  /** Base URL of the Hub origin, e.g. http://127.0.0.1:41234 */
  url = '';
  /** Base URL of the CDN origin that LFS downloads are redirected to. */
  cdnUrl = '';
  readonly requests: RequestLog[] = [];
  /** Body bytes written to clients, per file path (hub + CDN). */
  readonly bytesServed = new Map<string, number>();
  readonly faults = new Map<string, FileFaults>();
  /** Per-response (so per-connection) body rate cap in bytes/s; 0 = none. */
  rateLimit = 0;
  /** Scenario switches for hostile-server tests; empty = a well-behaved Hub. */
  hostile: HostileAnswers = {};
  /** Open body responses right now and the most seen at once. */
  activeBodies = 0;
  maxActiveBodies = 0;
  private readonly repos = new Map<string, StoredRepo>();
  private readonly blobs = new Map<string, StoredFile>();
  private secret = randomBytes(16);
  private readonly dropped = new Map<string, number>();
  private readonly stalled = new Map<string, number>();
  private hub?: Server;
  private cdn?: Server;

  constructor(private readonly options: HubDoubleOptions) {
    for (const spec of options.repos) this.addRepo(spec);
  }

  addRepo(spec: RepoSpec): void {
    const commits = spec.commits.map((c, i): StoredCommit => {
      const files = new Map(c.files.map((f) => [f.path, storeFile(f)]));
      const sha = createHash('sha1')
        .update(`${spec.id}\n${i}\n`)
        .update([...files.values()].map((f) => `${f.path} ${f.gitOid}`).join('\n'))
        .digest('hex');
      const date = c.date ?? new Date(Date.UTC(2024, 4, 1, 12) - i * 86_400_000).toISOString();
      for (const f of files.values()) if (f.lfs) this.blobs.set(f.sha256, f);
      return { sha, date, title: c.title ?? `commit ${i}`, files };
    });
    const refs = new Map(Object.entries({ main: 0, ...spec.refs }));
    this.repos.set(spec.id, { spec, commits, refs });
  }

  /** The commit sha a branch/tag/ref points at. */
  shaOf(repo: string, ref = 'main'): string {
    const r = this.mustRepo(repo);
    const i = r.refs.get(ref);
    if (i === undefined) throw new Error(`no ref ${ref}`);
    return (r.commits[i] as StoredCommit).sha;
  }

  /** The bytes of a file at a ref. */
  content(repo: string, path: string, ref = 'main'): Buffer {
    const c = this.commitOf(this.mustRepo(repo), ref);
    const f = c?.files.get(path);
    if (!f) throw new Error(`no file ${path}`);
    return f.content;
  }

  fileInfo(repo: string, path: string, ref = 'main'): { sha256: string; gitOid: string; lfs: boolean } {
    const c = this.commitOf(this.mustRepo(repo), ref);
    const f = c?.files.get(path);
    if (!f) throw new Error(`no file ${path}`);
    return { sha256: f.sha256, gitOid: f.gitOid, lfs: f.lfs };
  }

  /** True when any request to the CDN origin carried an Authorization header. */
  get cdnSawAuthorization(): boolean {
    return this.requests.some((r) => r.origin === 'cdn' && r.authorization);
  }

  /** Invalidates every CDN URL handed out so far, as the real CDN's signed URLs expire after a while. */
  expireCdnUrls(): void {
    this.secret = randomBytes(16);
  }

  resetCounters(): void {
    this.requests.length = 0;
    this.bytesServed.clear();
    this.dropped.clear();
    this.stalled.clear();
    this.maxActiveBodies = 0;
  }

  async start(): Promise<this> {
    this.hub = createServer((req, res) => this.handle('hub', req, res));
    this.cdn = createServer((req, res) => this.handle('cdn', req, res));
    this.url = named(await listen(this.hub), this.options.hubHost);
    this.cdnUrl = named(await listen(this.cdn), this.options.cdnHost);
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  private mustRepo(id: string): StoredRepo {
    const r = this.repos.get(id);
    if (!r) throw new Error(`no repo ${id}`);
    return r;
  }

  private commitOf(repo: StoredRepo, rev: string): StoredCommit | undefined {
    // The Hub answers HEAD (what `modelInfo` asks without a revision) with the default branch.
    const i = repo.refs.get(rev === 'HEAD' ? 'main' : rev);
    if (i !== undefined) return repo.commits[i];
    return repo.commits.find((c) => c.sha === rev);
  }

  private handle(origin: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse): void {
    const run = origin === 'hub' ? this.handleHub(req, res) : this.handleCdn(req, res);
    run.catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(e) }));
      } else res.destroy();
    });
  }

  private log(origin: 'hub' | 'cdn', req: IncomingMessage, extra: Partial<RequestLog> = {}): void {
    this.requests.push({
      origin,
      method: req.method ?? 'GET',
      url: req.url ?? '',
      authorization: req.headers.authorization !== undefined,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...extra,
    });
  }

  private token(req: IncomingMessage): string | undefined {
    const h = req.headers.authorization;
    return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
  }

  private async handleHub(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    const seg = u.pathname.split('/').slice(1);
    const token = this.token(req);
    const known = this.options.knownTokens;
    if (token !== undefined && (!token.startsWith('hf_') || (known !== undefined && !known.includes(token)))) {
      this.log('hub', req);
      return sendError(res, 401, undefined, 'Invalid credentials in Authorization header');
    }
    if (seg[0] === 'api' && seg[1] === 'models' && seg.length >= 4) {
      this.log('hub', req);
      const repoId = `${seg[2]}/${seg[3]}`;
      const repo = this.visibleRepo(repoId, token, res);
      if (!repo) return;
      const [action, ...rest] = seg.slice(4);
      if (this.options.mirrorOnly && (action === 'tree' || action === 'paths-info' || action === 'commits')) {
        return sendJson(res, 404, { error: 'Not Found' });
      }
      if (action === undefined || action === 'revision') {
        const { rev } = splitRev(rest);
        return this.modelInfo(repo, rev ?? 'main', u, res);
      }
      if (action === 'tree') {
        const { rev, remainder } = splitRev(rest);
        return this.tree(repo, rev ?? 'main', remainder.map(decodeURIComponent).join('/'), u, res);
      }
      if (action === 'paths-info' && req.method === 'POST') {
        const { rev } = splitRev(rest);
        return this.pathsInfo(repo, rev ?? 'main', await readBody(req), res);
      }
      if (action === 'commits') {
        const { rev } = splitRev(rest);
        return this.commits(repo, rev ?? 'main', u, res);
      }
      return sendError(res, 404, undefined, 'Not Found');
    }
    if (seg[0] === 'api' && seg[1] === 'resolve-cache' && seg[2] === 'models' && seg.length >= 7) {
      // /api/resolve-cache/models/{ns}/{repo}/{sha}/{path}: where small files are served after a relative 307.
      const repoId = `${seg[3]}/${seg[4]}`;
      const rev = decodeURIComponent(seg[5] as string);
      const path = seg.slice(6).map(decodeURIComponent).join('/');
      this.log('hub', req, { file: path, revision: rev });
      const repo = this.visibleRepo(repoId, token, res);
      if (!repo || !this.downloadAllowed(repo, token, res)) return;
      const commit = this.commitOf(repo, rev);
      const file = commit?.files.get(path);
      if (!commit || !file) {
        sendError(res, 404, 'EntryNotFound', 'Entry not found');
        return;
      }
      return this.serveBytes(req, res, file, { etag: `"${file.gitOid}"`, 'x-repo-commit': commit.sha });
    }
    if (seg.length >= 5 && seg[2] === 'resolve') {
      const repoId = `${seg[0]}/${seg[1]}`;
      const rev = decodeURIComponent(seg[3] as string);
      const path = seg.slice(4).map(decodeURIComponent).join('/');
      this.log('hub', req, { file: path, revision: rev });
      const repo = this.visibleRepo(repoId, token, res);
      if (!repo) return;
      const commit = this.commitOf(repo, rev);
      if (!commit) {
        sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
        return;
      }
      const file = commit.files.get(path);
      if (!file) {
        sendError(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
        return;
      }
      if (!this.downloadAllowed(repo, token, res)) return;
      if (file.lfs) {
        const sig = createHmac('sha256', this.secret).update(file.sha256).digest('hex');
        res.writeHead(302, {
          location: `${this.cdnUrl}/repos/aa/bb/${file.sha256}?sig=${sig}&name=${encodeURIComponent(posix.basename(path))}`,
          'x-linked-size': String(file.content.length),
          'x-linked-etag': `"${file.sha256}"`,
          etag: `"${file.sha256}"`,
          'x-repo-commit': commit.sha,
          'content-type': 'text/plain; charset=utf-8',
        });
        res.end(req.method === 'HEAD' ? undefined : 'Found. Redirecting');
        return;
      }
      if (this.options.smallFilesVia307) {
        res.writeHead(307, {
          location: `/api/resolve-cache/models/${repoId}/${commit.sha}/${encodeURI(path)}?etag=${file.gitOid}`,
          etag: `"${file.gitOid}"`,
          'x-repo-commit': commit.sha,
        });
        res.end();
        return;
      }
      return this.serveBytes(req, res, file, { etag: `"${file.gitOid}"`, 'x-repo-commit': commit.sha });
    }
    this.log('hub', req);
    sendError(res, 404, undefined, 'Not Found');
  }

  private async handleCdn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.cdnUrl);
    const oid = u.pathname.split('/').pop() ?? '';
    const file = this.blobs.get(oid);
    this.log('cdn', req, file ? { file: file.path } : {});
    const sig = createHmac('sha256', this.secret).update(oid).digest('hex');
    if (!file || u.searchParams.get('sig') !== sig) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    return this.serveBytes(req, res, file, { etag: `"${file.sha256}"` });
  }

  /** A private repo is invisible (401 RepoNotFound, as the Hub does) without a granted token. */
  private visibleRepo(id: string, token: string | undefined, res: ServerResponse): StoredRepo | undefined {
    const repo = this.repos.get(id);
    const granted = token !== undefined && repo?.spec.grantedTokens?.includes(token);
    if (!repo || (repo.spec.private && !granted)) {
      sendError(res, 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    return repo;
  }

  private downloadAllowed(repo: StoredRepo, token: string | undefined, res: ServerResponse): boolean {
    if (!repo.spec.gated || (token !== undefined && repo.spec.grantedTokens?.includes(token))) return true;
    const id = repo.spec.id;
    if (token === undefined) {
      sendError(
        res,
        401,
        'GatedRepo',
        `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
      );
    } else {
      sendError(
        res,
        403,
        'GatedRepo',
        `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`,
      );
    }
    return false;
  }

  private modelInfo(repo: StoredRepo, rev: string, u: URL, res: ServerResponse): void {
    const commit = this.commitOf(repo, rev);
    if (!commit) {
      sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    const full: Record<string, unknown> = {
      _id: createHash('sha1').update(repo.spec.id).digest('hex').slice(0, 24),
      id: repo.spec.id,
      author: repo.spec.id.split('/')[0],
      sha: commit.sha,
      lastModified: commit.date,
      createdAt: repo.commits[repo.commits.length - 1]?.date,
      private: repo.spec.private ?? false,
      gated: repo.spec.gated ?? false,
      disabled: false,
      downloads: 0,
      likes: 0,
      pipeline_tag: 'text-generation',
      library_name: 'transformers',
      tags: repo.spec.license ? [`license:${repo.spec.license}`] : [],
      cardData: repo.spec.license ? { license: repo.spec.license } : {},
      siblings: [...commit.files.keys()].sort().map((rfilename) => ({ rfilename })),
    };
    const expand = u.searchParams.getAll('expand');
    const body: Record<string, unknown> = expand.length ? { _id: full._id, id: full.id } : full;
    for (const key of expand) if (key in full) body[key] = full[key];
    this.sendApi('model-info', res, body);
  }

  private treeEntries(commit: StoredCommit): Record<string, unknown>[] {
    const dirs = new Set<string>();
    for (const p of commit.files.keys()) {
      for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) dirs.add(d);
    }
    const out: Record<string, unknown>[] = [];
    for (const d of dirs) {
      out.push({ type: 'directory', oid: createHash('sha1').update(`tree ${d}`).digest('hex'), size: 0, path: d });
    }
    for (const f of commit.files.values()) {
      const pointerSize = 130;
      out.push({
        type: 'file',
        oid: f.gitOid,
        size: f.content.length,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize } } : {}),
      });
    }
    return out.sort((a, b) => String(a.path).localeCompare(String(b.path)));
  }

  private tree(repo: StoredRepo, rev: string, path: string, u: URL, res: ServerResponse): void {
    const commit = this.commitOf(repo, rev);
    if (!commit) {
      sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    const recursive = ['true', '1', 'True'].includes(u.searchParams.get('recursive') ?? '');
    const prefix = path ? `${path}/` : '';
    const all = this.treeEntries(commit).filter((e) => {
      const p = String(e.path);
      if (!p.startsWith(prefix)) return false;
      return recursive || !p.slice(prefix.length).includes('/');
    });
    if (path && all.length === 0) {
      sendError(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
      return;
    }
    const pageSize = this.options.pageSize ?? 1000;
    const cursor = Number(u.searchParams.get('cursor') ?? 0);
    const page = all.slice(cursor, cursor + pageSize);
    const headers: Record<string, string> = {};
    if (this.options.treePages === 'loop') {
      headers.link = `<${this.url}${u.pathname}${u.search}>; rel="next"`;
    } else if (cursor + pageSize < all.length) {
      const next = new URL(u.href);
      next.searchParams.set('cursor', String(cursor + pageSize));
      headers.link = `<${this.url}${next.pathname}${next.search}>; rel="next"`;
    }
    this.sendApi('tree', res, page, headers);
  }

  private pathsInfo(repo: StoredRepo, rev: string, body: Buffer, res: ServerResponse): void {
    const commit = this.commitOf(repo, rev);
    if (!commit) {
      sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    let paths: string[] = [];
    try {
      const parsed = JSON.parse(body.toString() || '{}') as { paths?: string[] };
      paths = parsed.paths ?? [];
    } catch {
      paths = new URLSearchParams(body.toString()).getAll('paths');
    }
    const wanted = new Set(paths);
    sendJson(
      res,
      200,
      this.treeEntries(commit).filter((e) => wanted.has(String(e.path))),
    );
  }

  private commits(repo: StoredRepo, rev: string, u: URL, res: ServerResponse): void {
    const commit = this.commitOf(repo, rev);
    if (!commit) {
      sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    const start = repo.commits.indexOf(commit);
    const limit = Number(u.searchParams.get('limit') ?? 50);
    const list = repo.commits.slice(start, start + limit).map((c) => ({
      id: c.sha,
      title: c.title,
      message: '',
      authors: [{ user: 'tester', avatar: '' }],
      date: c.date,
    }));
    this.sendApi('commits', res, list);
  }

  /** A 200 JSON answer of an API endpoint, unless a hostile scenario rewrites or replaces it. */
  private sendApi(
    endpoint: HubEndpoint,
    res: ServerResponse,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const raw = this.hostile.raw?.[endpoint];
    if (raw) {
      res.writeHead(raw.status ?? 200, { 'content-type': raw.contentType, ...headers });
      res.end(raw.body);
      return;
    }
    const rewrite = this.hostile.rewrite?.[endpoint];
    sendJson(res, 200, rewrite ? rewrite(structuredClone(body)) : body, headers);
  }

  /** 200 or 206 with Range, through the fault knobs. */
  private async serveBytes(
    req: IncomingMessage,
    res: ServerResponse,
    file: StoredFile,
    headers: Record<string, string>,
  ): Promise<void> {
    const size = file.content.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) {
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(end, Number(m[2]));
      }
      if (start >= size || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    const length = end - start + 1;
    res.writeHead(status, {
      ...headers,
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      'content-length': String(length),
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const faults = this.faults.get(file.path) ?? {};
    const dropsDone = this.dropped.get(file.path) ?? 0;
    const drop =
      faults.dropAfterBytes !== undefined && dropsDone < (faults.dropTimes ?? 1) ? faults.dropAfterBytes : undefined;
    if (drop !== undefined) this.dropped.set(file.path, dropsDone + 1);
    const stallsDone = this.stalled.get(file.path) ?? 0;
    const stall =
      faults.stallAfterBytes !== undefined && stallsDone < (faults.stallTimes ?? 1)
        ? faults.stallAfterBytes
        : undefined;
    if (stall !== undefined) this.stalled.set(file.path, stallsDone + 1);

    this.activeBodies++;
    this.maxActiveBodies = Math.max(this.maxActiveBodies, this.activeBodies);
    try {
      const began = Date.now();
      let sent = 0;
      const limit = drop === undefined ? length : Math.min(length, drop);
      const slice =
        this.rateLimit > 0 ? Math.max(1024, Math.min(64 * 1024, Math.floor(this.rateLimit / 50))) : 256 * 1024;
      while (sent < limit) {
        if (res.destroyed) return;
        let n = Math.min(slice, limit - sent);
        if (stall !== undefined && sent < stall) n = Math.min(n, stall - sent);
        const from = start + sent;
        let chunk = file.content.subarray(from, from + n);
        if (faults.corruptAt !== undefined && faults.corruptAt >= from && faults.corruptAt < from + n) {
          chunk = Buffer.from(chunk);
          const i = faults.corruptAt - from;
          chunk[i] = (chunk[i] as number) ^ 0xff;
        }
        const ok = await write(res, chunk);
        if (!ok) return;
        sent += n;
        this.bytesServed.set(file.path, (this.bytesServed.get(file.path) ?? 0) + n);
        if (stall !== undefined && sent >= stall && sent - n < stall) {
          await sleep(faults.stallMs ?? 1000);
        }
        if (this.rateLimit > 0) {
          const due = began + (sent / this.rateLimit) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
        }
      }
      if (drop !== undefined && drop < length) {
        res.socket?.destroy();
        return;
      }
      res.end();
    } finally {
      this.activeBodies--;
    }
  }
}

function splitRev(rest: string[]): { rev: string | undefined; remainder: string[] } {
  if (rest.length === 0) return { rev: undefined, remainder: [] };
  const first = decodeURIComponent(rest[0] as string);
  // listFiles does not encode the revision: `refs/pr/1` arrives as three segments.
  if (first === 'refs' && rest.length >= 3) {
    return {
      rev: `refs/${decodeURIComponent(rest[1] as string)}/${decodeURIComponent(rest[2] as string)}`,
      remainder: rest.slice(3),
    };
  }
  return { rev: first, remainder: rest.slice(1) };
}

function write(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    res.write(chunk, (err) => resolve(!err));
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string | undefined, message: string): void {
  const headers: Record<string, string> = { 'x-error-message': message };
  if (code) headers['x-error-code'] = code;
  sendJson(res, status, { error: message }, headers);
}

function named(url: string, host: string | undefined): string {
  return host ? url.replace('127.0.0.1', host) : url;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

export async function startHubDouble(options: HubDoubleOptions): Promise<HubDouble> {
  return new HubDouble(options).start();
}
