/**
 * The one HTTP layer. Every client (registry and its token service, Hugging Face Hub and CDN, Model Registry,
 * Kubernetes API, every doctor probe) sends through an HttpClient, which owns:
 *   - the route (direct or which proxy, src/http/proxy.ts) and the shared dispatcher for it (dispatchers.ts),
 *   - TLS trust and client certificates (trust.ts), with one warning line when verification is off,
 *   - credentials bound to one origin: the Authorization header goes only to that origin, never to a redirect or an
 *     upload Location elsewhere, and a request from an https origin to plain http is refused (no downgrade),
 *   - redirects followed by hand under those rules,
 *   - the error table (failure.ts): a failed request becomes one line naming endpoint, route, cause and fix.
 * Retries are the caller's, through the one policy in retry.ts; bodies read into memory are capped (body.ts).
 */
import type { Readable } from 'node:stream';
import { type Dispatcher, request, fetch as undiciFetch } from 'undici';
import { ModelcarError } from '../errors.js';
import { VERSION } from '../version.js';
import { BODY_LIMITS, tooLarge } from './body.js';
import { dispatcherFor } from './dispatchers.js';
import { type NetworkError, networkFailure } from './failure.js';
import { type ProxySettings, proxySettings, type Route, routeFor } from './proxy.js';
import { redact, safeUrl } from './redact.js';
import { clientCertAlert, describeIssuer, peerChain } from './tls-probe.js';
import { type TlsOptions, type TlsSettings, tlsSettings } from './trust.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** An Authorization value and the one origin (`https://host:port`) it may be sent to. */
export interface Credentials {
  readonly authorization: string;
  readonly origin: string;
}

export interface HttpClientOptions {
  /** What this client talks to, as messages name it: "registry quay.io", "the Hugging Face Hub". */
  readonly endpoint: string;
  readonly tls?: TlsOptions;
  readonly env?: NodeJS.ProcessEnv;
  /** What fixes an untrusted certificate for this endpoint. @default a hint naming --ca-file and the CA variables */
  readonly trustHint?: string;
  readonly clientCertHint?: string;
}

export interface SendOptions {
  readonly method: Method;
  readonly url: string | URL;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer | AsyncIterable<Buffer> | Readable;
  readonly signal?: AbortSignal;
  readonly credentials?: Credentials;
  /** Follow at most this many redirects (default 0: a 3xx comes back as it is). */
  readonly redirects?: number;
  /** Longest wait for the response headers. @default 5 minutes */
  readonly headersTimeoutMs?: number;
  /** Longest silence inside the response body. @default 5 minutes */
  readonly bodyTimeoutMs?: number;
}

export type Response = Dispatcher.ResponseData & { readonly url: URL };

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const warnedInsecure = new Set<string>();

export const DEFAULT_TRUST_HINT =
  'trust its CA: pass --ca-file FILE, or add it to the system store, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS; --tls-verify=false only for throwaway tests';

/** The refusal to follow a server from https to plain http (credentials or not: the bytes would travel in clear). */
export function downgradeError(endpoint: string, from: URL, to: URL): ModelcarError {
  return new ModelcarError(
    'network',
    `${endpoint}: ${safeUrl(from)} sent us on to ${safeUrl(to)}; refusing to go from https to plain http`,
    'the server or a proxy in between is misconfigured or hostile; nothing was sent there',
  );
}

/** Where a redirect's Location points, refusing a downgrade from https to plain http. */
export function followLocation(endpoint: string, from: URL, location: string): URL {
  const next = new URL(location, from);
  if (from.protocol === 'https:' && next.protocol === 'http:') throw downgradeError(endpoint, from, next);
  return next;
}

export class HttpClient {
  readonly endpoint: string;
  readonly tls: TlsSettings;
  private readonly proxies: ProxySettings;
  private readonly trustHint: string;
  private readonly clientCertHint: string | undefined;
  /** Some request of this client got an answer (see FailureContext.firstContact). */
  private answered = false;

  constructor(opts: HttpClientOptions) {
    const env = opts.env ?? process.env;
    this.endpoint = opts.endpoint;
    this.tls = tlsSettings(opts.tls ?? {}, env);
    this.proxies = proxySettings(env);
    this.trustHint = opts.trustHint ?? DEFAULT_TRUST_HINT;
    this.clientCertHint = opts.clientCertHint;
    if (!this.tls.verify && !warnedInsecure.has(this.endpoint)) {
      warnedInsecure.add(this.endpoint);
      process.stderr.write(
        `modelcar: warning: TLS verification is off for ${redact(this.endpoint)} (--tls-verify=false): anyone on the network path can read and change this traffic\n`,
      );
    }
  }

  /** How a request to `url` travels: direct, or via which proxy (safe to print). */
  route(url: string | URL): Route {
    return routeFor(typeof url === 'string' ? new URL(url) : url, this.proxies);
  }

  private dispatcher(url: URL): Dispatcher {
    return dispatcherFor(this.route(url), this.tls);
  }

  /**
   * The classified error for a failed request to `url`, with the issuer of an untrusted certificate looked up along
   * the same route. Exposed for callers that see a failure outside send() (a body that broke mid-way).
   */
  async failure(url: URL, e: unknown, signal?: AbortSignal): Promise<NetworkError> {
    const ctx = {
      endpoint: this.endpoint,
      url,
      route: this.route(url),
      trustHint: this.trustHint,
      ...(this.clientCertHint ? { clientCertHint: this.clientCertHint } : {}),
      firstContact: !this.answered,
    };
    const first = networkFailure(ctx, e);
    if (url.protocol !== 'https:') return first;
    if (first.failure === 'tls-untrusted') {
      return networkFailure(ctx, e, describeIssuer(await peerChain(url, ctx.route, signal)));
    }
    // A server that wants a client certificate closes the connection with a TLS alert undici does not pass on: at
    // first contact, one probe handshake finds out.
    if (first.failure === 'reset' && ctx.firstContact) {
      const alert = await clientCertAlert(url, ctx.route, this.tls.secureContext, this.tls.verify, signal);
      if (alert) return networkFailure(ctx, alert);
    }
    return first;
  }

  /** One request (and its redirects, when asked), under the credential and downgrade rules above. */
  async send(opts: SendOptions): Promise<Response> {
    let url = typeof opts.url === 'string' ? new URL(opts.url) : opts.url;
    const hops = opts.redirects ?? 0;
    for (let hop = 0; ; hop++) {
      const creds = opts.credentials;
      if (creds?.origin.startsWith('https:') && url.protocol === 'http:') {
        throw downgradeError(this.endpoint, new URL(creds.origin), url);
      }
      const headers: Record<string, string> = { 'user-agent': `modelcar/${VERSION}`, ...opts.headers };
      // Only ever to the one origin the credentials belong to: not a CDN, not another host's upload URL.
      if (creds && url.origin === creds.origin) headers.authorization = creds.authorization;
      else delete headers.authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: opts.method,
          headers,
          dispatcher: this.dispatcher(url),
          headersTimeout: opts.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS,
          bodyTimeout: opts.bodyTimeoutMs ?? DEFAULT_TIMEOUT_MS,
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.body !== undefined && hop === 0 ? { body: opts.body as Dispatcher.DispatchOptions['body'] } : {}),
        });
      } catch (e) {
        if (opts.signal?.aborted || e instanceof ModelcarError) throw e;
        throw await this.failure(url, e, opts.signal);
      }
      this.answered = true;
      const location = res.headers.location;
      if (hop < hops && res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        await res.body.dump().catch(() => {});
        url = followLocation(this.endpoint, url, location);
        continue;
      }
      return Object.assign(res, { url });
    }
  }

  /**
   * A `fetch` bound to this layer, for libraries that take one (@huggingface/hub, sigstore): the route, TLS and
   * error table of this client; redirects followed by hand with `credentials` only on their own origin; response
   * bodies capped at `maxBody` bytes.
   */
  fetchWith(credentials?: Credentials, maxBody: number = BODY_LIMITS.hubJson): typeof fetch {
    const bound = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<globalThis.Response> => {
      let url = new URL(input instanceof Request ? input.url : String(input));
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.delete('authorization');
      if (!headers.has('user-agent')) headers.set('user-agent', `modelcar/${VERSION}`);
      for (let hop = 0; ; hop++) {
        if (credentials?.origin.startsWith('https:') && url.protocol === 'http:') {
          throw downgradeError(this.endpoint, new URL(credentials.origin), url);
        }
        if (credentials && url.origin === credentials.origin) headers.set('authorization', credentials.authorization);
        else headers.delete('authorization');
        let res: Awaited<ReturnType<typeof undiciFetch>>;
        try {
          res = await undiciFetch(url, {
            ...(init as object),
            method,
            headers,
            redirect: 'manual',
            dispatcher: this.dispatcher(url),
          } as Parameters<typeof undiciFetch>[1]);
        } catch (e) {
          if (init?.signal?.aborted) throw e;
          throw await this.failure(url, e, init?.signal ?? undefined);
        }
        this.answered = true;
        const location = res.headers.get('location');
        if (
          res.status >= 300 &&
          res.status < 400 &&
          location &&
          hop < 10 &&
          (method === 'GET' || method === 'HEAD' || res.status === 307 || res.status === 308)
        ) {
          await res.body?.cancel().catch(() => {});
          url = followLocation(this.endpoint, url, location);
          continue;
        }
        return capResponse(
          res as unknown as globalThis.Response,
          maxBody,
          `the answer of ${this.endpoint} to ${method} ${safeUrl(url)}`,
        );
      }
    };
    return bound as typeof fetch;
  }
}

/** The same response whose body errors once it grows past `limit` (or at once, when Content-Length says so). */
function capResponse(res: globalThis.Response, limit: number, what: string): globalThis.Response {
  if (!res.body || res.status === 204 || res.status === 304) return res;
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    res.body.cancel().catch(() => {});
    throw tooLarge(what, limit);
  }
  let seen = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.length;
      if (seen > limit) controller.error(tooLarge(what, limit));
      else controller.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(counter), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
