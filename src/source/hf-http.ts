import { Agent, type Dispatcher, request } from 'undici';
import { ModelcarError, messageOf } from '../errors.js';
import { VERSION } from '../version.js';
import { type HubErrorContext, hubError, isRetryableStatus, printableUrl } from './hf-errors.js';
import type { HfToken } from './hf-token.js';
import { DEFAULT_RETRY, RetryCounter, type RetryPolicy } from './retry-policy.js';

/** Where a file's bytes can be fetched, learnt from the Hub's `resolve` answer. */
export interface ResolvedFile {
  /** The URL that answers range requests: the CDN for LFS files, the Hub itself for small ones. */
  readonly url: string;
  readonly size: number;
  /** `X-Linked-Etag` (the sha256 for LFS files), unquoted. */
  readonly linkedEtag?: string;
  readonly repoCommit?: string;
}

export interface HubHttpOptions {
  /** Longest silence in a response body before the connection counts as dropped. @default 60000 */
  readonly bodyTimeoutMs?: number;
  /** @default 60000 */
  readonly headersTimeoutMs?: number;
}

/** A status the downloader may try again after: a dropped connection, a busy server, an expired CDN URL. */
export class RetryableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
    /** The CDN refused a URL it signed earlier: resolve the file again. */
    readonly stale = false,
  ) {
    super(message);
  }
}

const MAX_REDIRECTS = 5;
const RETRY_HINT = 'check the network, HF_ENDPOINT and any proxy; run again';

/**
 * The one HTTP client for the Hub and its CDN. It alone decides where the token goes: to the Hub's origin, never
 * to any other host a redirect points at. Redirects are followed by hand for that reason.
 */
export class HubHttp {
  readonly origin: string;
  private readonly dispatcher: Agent;

  constructor(
    readonly ctx: HubErrorContext,
    private readonly token: HfToken | undefined,
    opts: HubHttpOptions = {},
    readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.origin = new URL(ctx.endpoint).origin;
    this.dispatcher = new Agent({
      keepAliveTimeout: 30_000,
      bodyTimeout: opts.bodyTimeoutMs ?? 60_000,
      headersTimeout: opts.headersTimeoutMs ?? 60_000,
    });
  }

  private headers(url: string, extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': `modelcar/${VERSION}`, ...extra };
    if (this.token && new URL(url).origin === this.origin) h.authorization = `Bearer ${this.token.value}`;
    return h;
  }

  /**
   * A `fetch` for `@huggingface/hub`: adds the token for the Hub's origin only and turns refusals into our errors,
   * so every caller of the library gets the same messages and hints.
   */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    headers.delete('authorization');
    for (const [k, v] of Object.entries(this.headers(url))) headers.set(k, v);
    const retry = new RetryCounter(this.retry);
    for (;;) {
      let res: Response;
      try {
        res = await fetch(url, { ...init, headers });
      } catch (e) {
        if (await retry.again()) continue;
        throw networkError(url, e);
      }
      if (res.ok) return res;
      const message = res.headers.get('x-error-message') ?? (await jsonError(res));
      if (isRetryableStatus(res.status) && (await retry.again())) continue;
      throw hubError(this.ctx, {
        status: res.status,
        url: printableUrl(url),
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
    const retry = new RetryCounter(this.retry);
    for (;;) {
      try {
        return await this.resolveOnce(commit, path, signal);
      } catch (e) {
        if (!(e instanceof RetryableError) || signal?.aborted) throw e;
        if (!(await retry.again(signal))) {
          throw new ModelcarError('network', `${path}: cannot resolve its download URL (${e.message})`, RETRY_HINT, {
            cause: e,
          });
        }
      }
    }
  }

  private async resolveOnce(commit: string, path: string, signal?: AbortSignal): Promise<ResolvedFile> {
    let url = `${this.ctx.endpoint}/${this.ctx.repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const found: { size?: number; linkedEtag?: string; repoCommit?: string } = {};
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.send(url, 'HEAD', {}, path, signal);
      const h = res.headers;
      found.linkedEtag ??= unquote(header(h, 'x-linked-etag'));
      found.repoCommit ??= header(h, 'x-repo-commit');
      const linkedSize = header(h, 'x-linked-size');
      if (linkedSize !== undefined) found.size ??= Number(linkedSize);
      await res.body.dump();
      const location = header(h, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        url = new URL(location, url).href;
        // Like huggingface_hub, stop at the hop off the Hub: the CDN's signed URL is for the range GETs, and the
        // Hub's own headers already named size and sha256.
        if (new URL(url).origin !== this.origin && found.size !== undefined) {
          return {
            url,
            size: found.size,
            ...optional('linkedEtag', found.linkedEtag),
            ...optional('repoCommit', found.repoCommit),
          };
        }
        continue;
      }
      if (res.statusCode >= 400) {
        if (isRetryableStatus(res.statusCode)) throw new RetryableError(`${printableUrl(url)}: HTTP ${res.statusCode}`);
        throw this.refusal(url, res, path);
      }
      const length = header(h, 'content-length');
      const size = found.size ?? (length !== undefined ? Number(length) : Number.NaN);
      return {
        url,
        size,
        ...optional('linkedEtag', found.linkedEtag),
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
        url = new URL(location, url).href;
        continue;
      }
      if (res.statusCode < 300) return res;
      const stale = new URL(url).origin !== this.origin && [401, 403, 404, 410].includes(res.statusCode);
      if (stale || isRetryableStatus(res.statusCode)) {
        await res.body.dump().catch(() => {});
        throw new RetryableError(`${printableUrl(url)}: HTTP ${res.statusCode}`, undefined, stale);
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
      return await request(url, {
        method,
        headers: this.headers(url, extra),
        dispatcher: this.dispatcher,
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new RetryableError(`${path}: ${messageOf(e)}`, e);
    }
  }

  private refusal(url: string, res: Dispatcher.ResponseData, path: string): ModelcarError {
    res.body.dump().catch(() => {});
    const onHub = new URL(url).origin === this.origin;
    return hubError(this.ctx, {
      status: res.statusCode,
      url: printableUrl(url),
      path,
      ...(onHub ? optional('code', header(res.headers, 'x-error-code')) : {}),
      ...optional('message', header(res.headers, 'x-error-message')),
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

export function networkError(url: string, e: unknown): ModelcarError {
  return new ModelcarError('network', `cannot reach ${printableUrl(url)}: ${messageOf(e)}`, RETRY_HINT, { cause: e });
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
