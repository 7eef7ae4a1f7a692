import type { Dispatcher } from 'undici';
import { ModelcarError, messageOf } from '../errors.js';
import { BODY_LIMITS } from '../http/body.js';
import { type Credentials, followLocation, HttpClient } from '../http/client.js';
import { safeUrl } from '../http/redact.js';
import { DEFAULT_RETRY, isTransientStatus, Retrier, type RetryPolicy, retryAfterMs } from '../http/retry.js';
import { type HubErrorContext, hubError } from './hf-errors.js';
import type { HfToken } from './hf-token.js';

/** Where a file's bytes can be fetched, learnt from the Hub's `resolve` answer. */
export interface ResolvedFile {
  /** The URL that answers range requests: the CDN for LFS files, the Hub itself for small ones. */
  readonly url: string;
  readonly size: number;
  /** `X-Linked-Etag` (the sha256 for LFS files), unquoted. */
  readonly linkedEtag?: string;
  /** `ETag`, unquoted: the git blob sha1 of a small file on the Hub. */
  readonly etag?: string;
  readonly repoCommit?: string;
}

export interface HubHttpOptions {
  /** Longest silence in a response body before the connection counts as dropped. @default 60000 */
  readonly bodyTimeoutMs?: number;
  /** @default 60000 */
  readonly headersTimeoutMs?: number;
  /** Environment for proxies and CA variables. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** A status the downloader may try again after: a dropped connection, a busy server, an expired CDN URL. */
export class RetryableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
    /** The CDN refused a URL it signed earlier: resolve the file again. */
    readonly stale = false,
    /** The server's Retry-After, when it sent one. */
    readonly retryAfterMs?: number,
    /** The connection was cut for falling below the minimum rate: bytes that came do not count as progress. */
    readonly slow = false,
  ) {
    super(message);
  }
}

const MAX_REDIRECTS = 5;
const RETRY_HINT = 'check the network, HF_ENDPOINT and any proxy; run again';
const HUB_TRUST_HINT =
  'trust the CA of the Hub or mirror: add it to the system store, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS (a corporate proxy that inspects TLS needs its CA there too)';

/**
 * The Hub and its CDN, on the shared network layer. It alone decides where the token goes: to the Hub's origin,
 * never to any other host a redirect points at (the layer binds the credentials to that origin).
 */
export class HubHttp {
  readonly origin: string;
  readonly http: HttpClient;
  private readonly credentials: Credentials | undefined;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;

  constructor(
    readonly ctx: HubErrorContext,
    token: HfToken | undefined,
    opts: HubHttpOptions = {},
    readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.origin = new URL(ctx.endpoint).origin;
    this.http = new HttpClient({
      endpoint: `the Hugging Face Hub ${this.origin}`,
      ...(opts.env ? { env: opts.env } : {}),
      trustHint: HUB_TRUST_HINT,
    });
    this.credentials = token ? { authorization: `Bearer ${token.value}`, origin: this.origin } : undefined;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 60_000;
    this.bodyTimeoutMs = opts.bodyTimeoutMs ?? 60_000;
  }

  /** How requests to the Hub travel, for doctor: `direct` or `via proxy http://... (HTTPS_PROXY)`. */
  get route(): string {
    return this.http.route(this.origin).label;
  }

  private readonly layerFetch = (): typeof fetch => this.http.fetchWith(this.credentials, BODY_LIMITS.hubJson);

  /**
   * A `fetch` for `@huggingface/hub`: the layer's fetch (token for the Hub's origin only, capped bodies), retried
   * under the one policy, with refusals turned into our errors so every caller of the library gets the same
   * messages and hints.
   */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const send = this.layerFetch();
    const retrier = new Retrier(`${this.http.endpoint}: ${safeUrl(url)}`, this.retry);
    for (;;) {
      let res: Response;
      try {
        res = await send(input, init);
      } catch (e) {
        // The layer's fetch throws ModelcarErrors (the error table, body caps); anything else is an abort.
        if (e instanceof ModelcarError && isTransient(e) && (await retrier.again(e.message))) continue;
        throw e;
      }
      if (res.ok) return res;
      const message = res.headers.get('x-error-message') ?? (await jsonError(res));
      if (isTransientStatus(res.status)) {
        const after = retryAfterMs(res.headers.get('retry-after'));
        if (await retrier.again(`HTTP ${res.status}`, after !== undefined ? { retryAfterMs: after } : {})) continue;
      }
      throw hubError(this.ctx, {
        status: res.status,
        url: safeUrl(url),
        ...optional('code', res.headers.get('x-error-code')),
        ...optional('message', message),
      });
    }
  };

  /**
   * Asks the Hub where `path` at `commit` lives: a HEAD on its resolve URL, following its own redirects (to
   * /api/resolve-cache for small files) up to the hop to the CDN (LFS files). The Hub's headers name size and sha256.
   */
  async resolve(commit: string, path: string, signal?: AbortSignal): Promise<ResolvedFile> {
    const retrier = new Retrier(`${this.http.endpoint}: resolve ${path}`, this.retry);
    for (;;) {
      try {
        return await this.resolveOnce(commit, path, signal);
      } catch (e) {
        if (!(e instanceof RetryableError) || signal?.aborted) throw e;
        const more = await retrier.again(
          e.message,
          e.retryAfterMs !== undefined
            ? { retryAfterMs: e.retryAfterMs, ...(signal ? { signal } : {}) }
            : signal
              ? { signal }
              : {},
        );
        if (!more) {
          throw new ModelcarError('network', `${path}: cannot resolve its download URL (${e.message})`, RETRY_HINT, {
            cause: e,
          });
        }
      }
    }
  }

  private async resolveOnce(commit: string, path: string, signal?: AbortSignal): Promise<ResolvedFile> {
    let url = `${this.ctx.endpoint}/${this.ctx.repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const found: { size?: number; linkedEtag?: string; etag?: string; repoCommit?: string } = {};
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.send(url, 'HEAD', {}, path, signal);
      const h = res.headers;
      found.linkedEtag ??= unquote(header(h, 'x-linked-etag'));
      found.etag ??= unquote(header(h, 'etag'));
      found.repoCommit ??= header(h, 'x-repo-commit');
      const linkedSize = header(h, 'x-linked-size');
      if (linkedSize !== undefined) found.size ??= Number(linkedSize);
      await res.body.dump();
      const location = header(h, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        const next = followLocation(this.http.endpoint, new URL(url), location);
        url = next.href;
        // Like huggingface_hub, stop at the hop off the Hub: the CDN's signed URL is for the range GETs, and the
        // Hub's own headers already named size and sha256.
        if (next.origin !== this.origin && found.size !== undefined) {
          return {
            url,
            size: found.size,
            ...optional('linkedEtag', found.linkedEtag),
            ...optional('etag', found.etag),
            ...optional('repoCommit', found.repoCommit),
          };
        }
        continue;
      }
      if (res.statusCode >= 400) {
        if (isTransientStatus(res.statusCode)) {
          throw new RetryableError(
            `${safeUrl(url)}: HTTP ${res.statusCode}`,
            undefined,
            false,
            retryAfterMs(header(h, 'retry-after')),
          );
        }
        throw this.refusal(url, res, path);
      }
      const length = header(h, 'content-length');
      const size = found.size ?? (length !== undefined ? Number(length) : Number.NaN);
      return {
        url,
        size,
        ...optional('linkedEtag', found.linkedEtag),
        ...optional('etag', found.etag),
        ...optional('repoCommit', found.repoCommit),
      };
    }
    throw new ModelcarError('hub', `${path}: more than ${MAX_REDIRECTS} redirects`, 'check HF_ENDPOINT and any proxy');
  }

  /** GET with a Range, following redirects by hand. Non-2xx answers become errors, retryable ones as such. */
  async getRange(
    url: string,
    path: string,
    start: number,
    end: number,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.send(url, 'GET', { range: `bytes=${start}-${end}` }, path, signal);
      const location = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        await res.body.dump();
        url = followLocation(this.http.endpoint, new URL(url), location).href;
        continue;
      }
      if (res.statusCode < 300) return res;
      const stale = new URL(url).origin !== this.origin && [401, 403, 404, 410].includes(res.statusCode);
      if (stale || isTransientStatus(res.statusCode)) {
        await res.body.dump().catch(() => {});
        throw new RetryableError(
          `${safeUrl(url)}: HTTP ${res.statusCode}`,
          undefined,
          stale,
          retryAfterMs(header(res.headers, 'retry-after')),
        );
      }
      throw this.refusal(url, res, path);
    }
    throw new ModelcarError('hub', `${path}: more than ${MAX_REDIRECTS} redirects`, 'check HF_ENDPOINT and any proxy');
  }

  private async send(
    url: string,
    method: 'GET' | 'HEAD',
    extra: Record<string, string>,
    path: string,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await this.http.send({
        method,
        url,
        headers: extra,
        ...(this.credentials ? { credentials: this.credentials } : {}),
        headersTimeoutMs: this.headersTimeoutMs,
        bodyTimeoutMs: this.bodyTimeoutMs,
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      // A cause that will not go away by itself (a bad CA, a proxy's 407, a downgrade) fails at once.
      if (e instanceof ModelcarError && !isTransient(e)) throw e;
      throw new RetryableError(`${path}: ${messageOf(e)}`, e);
    }
  }

  private refusal(url: string, res: Dispatcher.ResponseData, path: string): ModelcarError {
    res.body.dump().catch(() => {});
    const onHub = new URL(url).origin === this.origin;
    return hubError(this.ctx, {
      status: res.statusCode,
      url: safeUrl(url),
      path,
      ...(onHub ? optional('code', header(res.headers, 'x-error-code')) : {}),
      ...optional('message', header(res.headers, 'x-error-message')),
    });
  }

  async close(): Promise<void> {
    // The dispatchers are shared by the process (src/http/dispatchers.ts).
  }
}

function isTransient(e: ModelcarError): boolean {
  return (e as { transient?: boolean }).transient === true;
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function unquote(v: string | undefined): string | undefined {
  return v?.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function optional<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return (value === undefined || value === null ? {} : { [key]: value }) as { [P in K]?: V };
}

async function jsonError(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}
