/**
 * The HTTP side of talking to one registry: origin and TLS, authentication with one retry after a 401, manual
 * redirects that never carry Authorization to another host, and errors turned into messages a user can act on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher, request } from 'undici';
import { errorCode, errorCodes, ModelcarError, messageOf } from '../../errors.js';
import { VERSION } from '../../version.js';
import { apiHost, isLoopbackHost } from '../reference.js';
import { Authenticator } from './auth.js';
import { parseChallenges } from './challenge.js';
import type { Credential } from './credentials.js';
import { debug, shortUrl } from './log.js';
import {
  DEFAULT_RETRY,
  isTransientError,
  isTransientStatus,
  nextDelay,
  type RetryPolicy,
  retryAfterMs,
} from './retry.js';
import { trustedCas } from './trust.js';

export interface TransportOptions {
  /** Use http:// even for a non-loopback host (--plain-http). Loopback hosts use it unless caFile is given. */
  readonly plainHttp?: boolean;
  /** Verify TLS certificates (default true; --tls-verify=false turns it off). */
  readonly tlsVerify?: boolean;
  /** Extra CA certificates (PEM) to trust besides the system ones. */
  readonly caFile?: string;
  /** The pod's service CA, trusted when the file exists (default: the OpenShift mount; see trust.ts). */
  readonly serviceCaFile?: string;
  /** Concurrent connections to the registry. */
  readonly connections?: number;
  /** How hard to retry (tests shorten the waits). */
  readonly retry?: Partial<RetryPolicy>;
}

export interface SendOptions {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the origin (`/v2/...`) or an absolute URL (upload Location). */
  readonly url: string;
  readonly scopes: readonly string[];
  readonly headers?: Record<string, string>;
  /** A body that can be sent again (a string or buffer), or a stream sent once (no retry after a 401). */
  readonly body?: string | Buffer | AsyncIterable<Buffer>;
  /** Follow redirects (GETs of blobs go to object storage). */
  readonly followRedirects?: boolean;
  /** No retry after a dropped connection or a 5xx: the upload engine recovers the session itself. */
  readonly once?: boolean;
}

const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: 'check the host and port; is the registry running?',
  ENOTFOUND: 'check the host name (DNS lookup failed)',
  EAI_AGAIN: 'DNS lookup failed; check the network',
  ETIMEDOUT: 'the registry did not answer in time; check the network or proxy',
  ECONNRESET: 'the connection was reset; try again',
  UND_ERR_CONNECT_TIMEOUT: 'the registry did not answer in time; check the network or proxy',
  EPROTO: 'TLS handshake failed: the registry may speak plain HTTP (pass --plain-http) or an old TLS version',
};

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function networkError(registry: string, e: unknown): ModelcarError {
  const code = errorCode(e);
  if (code && TLS_CODES.has(code)) {
    return new ModelcarError(
      'network',
      `the TLS certificate of ${registry} is not trusted (${code})`,
      "pass the registry's CA certificate with --ca-file FILE (inside OpenShift: /var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt); --tls-verify=false only for throwaway tests",
      { cause: e },
    );
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    return new ModelcarError(
      'network',
      `${registry} did not answer the TLS handshake (it may speak plain HTTP)`,
      'pass --plain-http if this registry really serves plain HTTP (only on a trusted network), or check the port',
      { cause: e },
    );
  }
  return new ModelcarError(
    'network',
    `cannot reach registry ${registry}: ${messageOf(e)}`,
    (code && NETWORK_HINTS[code]) ?? 'check the host, port and network',
    { cause: e },
  );
}

/** Reads the registry's JSON error body ({errors:[{code,message}]}) into one line. */
export async function describeFailure(res: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    /* the body may already be gone */
  }
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (first) return `${first.code ?? 'ERROR'}: ${first.message ?? ''}`.trim();
  } catch {
    /* not JSON */
  }
  return text.trim().split('\n')[0]?.slice(0, 200) || `HTTP ${res.statusCode}`;
}

export class RegistryClient {
  /** The registry has answered at least once (see send: a refused first connection is not retried). */
  private answered = false;
  readonly origin: string;
  readonly dispatcher: Dispatcher;
  readonly retry: RetryPolicy;
  private readonly auth: Authenticator;

  constructor(
    readonly registry: string,
    credential: Credential,
    opts: TransportOptions = {},
  ) {
    const host = apiHost(registry);
    // Loopback speaks plain HTTP unless a CA file says it serves TLS; anything else only with --plain-http.
    const plain = opts.plainHttp === true || (isLoopbackHost(host) && !opts.caFile);
    this.origin = `${plain ? 'http' : 'https'}://${host}`;
    const ca = trustedCas(opts);
    const tlsVerify = opts.tlsVerify !== false;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.dispatcher = new Agent({
      connections: opts.connections ?? 8,
      keepAliveTimeout: 30_000,
      // The final PUT of a multi-GB blob can wait minutes while object storage verifies and moves it.
      headersTimeout: 30 * 60_000,
      bodyTimeout: 5 * 60_000,
      connect: {
        rejectUnauthorized: tlsVerify,
        ...(ca ? { ca } : {}),
      },
    });
    this.auth = new Authenticator(registry, credential, this.dispatcher, this.retry);
  }

  get credentialSource(): string {
    return this.auth.credentialSource;
  }

  /** Bearer tokens fetched so far. */
  get tokensIssued(): number {
    return this.auth.issued;
  }

  url(path: string): string {
    return new URL(path, this.origin).href;
  }

  /**
   * Sends one request, authenticating as the registry asks and retrying what is worth retrying.
   * A 401 is answered once: with a fresh token, or with credentials the first time the challenge is seen; a second
   * 401 means the credentials are wrong and fails at once (no retry storm). A request whose body can be sent again
   * is retried with backoff after a dropped connection or a 429/5xx, honouring Retry-After. A streamed body is sent
   * once: a 401 or a transient failure is returned or thrown to the upload engine, which knows how to resume.
   */
  async send(opts: SendOptions): Promise<Dispatcher.ResponseData> {
    const replayable = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    const retryable = replayable && !opts.once;
    const startedAt = Date.now();
    let authRetried = false;
    for (let failures = 0; ; ) {
      const authorization = await this.auth.header(opts.scopes);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.raw(opts, authorization);
      } catch (e) {
        // A registry that never answered is most likely the wrong address, not a restart: say so at once, as skopeo
        // and crane do. Once it has answered, a refused connection means it is restarting: retry.
        const worthRetrying =
          retryable && isTransientError(e) && (this.answered || !errorCodes(e).includes('ECONNREFUSED'));
        const delay = worthRetrying ? nextDelay(++failures, startedAt, this.retry) : undefined;
        if (delay === undefined) throw e instanceof ModelcarError ? e : networkError(this.registry, e);
        debug(`${opts.method} ${shortUrl(this.url(opts.url))}: ${messageOf(e)}; retry ${failures} in ${ms(delay)}`);
        await sleep(delay);
        continue;
      }
      this.answered = true;
      if (res.statusCode === 401) {
        const challenge = parseChallenges(res.headers['www-authenticate'])[0];
        this.auth.learn(challenge);
        this.auth.invalidate(opts.scopes);
        if (!replayable) return res;
        await res.body.dump();
        // Once: after sending no credentials (now we know how, perhaps from a parallel request), or a stale token.
        if (!authRetried && (authorization !== undefined || this.auth.knowsChallenge)) {
          authRetried = true;
          continue;
        }
        // A token service grants only what the account may do: a valid login without push comes back as
        // insufficient_scope, which is a permission to ask for, not a password to fix.
        if (challenge?.params.error === 'insufficient_scope' && authorization !== undefined) {
          const wanted = challenge.params.scope ?? opts.scopes.join(' ');
          throw new ModelcarError(
            'registry-auth',
            `${this.registry}: the credentials from ${this.auth.credentialSource} are valid but not allowed ${wanted} (insufficient_scope)`,
            'ask for push access to this repository (a robot account or token with write permission), or push to a repository you own',
          );
        }
        throw new ModelcarError(
          'registry-auth',
          `${this.registry} refused the credentials from ${this.auth.credentialSource} (HTTP 401)`,
          authorization === undefined
            ? 'log in first (podman login / docker login) or pass --authfile FILE'
            : 'check the username and password or token; log in again',
        );
      }
      if (retryable && isTransientStatus(res.statusCode)) {
        const delay = nextDelay(++failures, startedAt, this.retry, retryAfterMs(res.headers['retry-after']));
        if (delay !== undefined) {
          await res.body.dump();
          debug(
            `${opts.method} ${shortUrl(this.url(opts.url))}: HTTP ${res.statusCode}; retry ${failures} in ${ms(delay)}`,
          );
          await sleep(delay);
          continue;
        }
      }
      return res;
    }
  }

  /** Authenticates ahead of a request whose body can only be sent once. */
  async prepare(scopes: readonly string[]): Promise<void> {
    if (this.auth.knowsChallenge) return;
    const res = await this.send({ method: 'GET', url: '/v2/', scopes });
    await res.body.dump();
  }

  private async raw(opts: SendOptions, authorization: string | undefined): Promise<Dispatcher.ResponseData> {
    let url = this.url(opts.url);
    const originHost = new URL(url).host;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': `modelcar/${VERSION}`, ...opts.headers };
      // Only ever to the registry's own host: blob redirects go to CDNs and object stores.
      if (authorization && new URL(url).host === originHost) headers.authorization = authorization;
      const streamed = opts.body !== undefined && typeof opts.body !== 'string' && !Buffer.isBuffer(opts.body);
      const watchdog = streamed ? new StallWatchdog(this.retry.stallMs) : undefined;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: opts.method,
          headers,
          dispatcher: this.dispatcher,
          ...(watchdog ? { signal: watchdog.signal } : {}),
          ...(opts.body !== undefined
            ? {
                body: (watchdog
                  ? watchdog.watch(opts.body as AsyncIterable<Buffer>)
                  : opts.body) as Dispatcher.DispatchOptions['body'],
              }
            : {}),
        });
      } catch (e) {
        if (watchdog?.stalled) {
          throw new ModelcarError(
            'network',
            `the upload to ${this.registry} stalled: no byte moved for ${ms(this.retry.stallMs)}`,
            'check the network between here and the registry',
            { cause: Object.assign(new Error('stalled'), { code: 'ETIMEDOUT' }) },
          );
        }
        throw e;
      } finally {
        watchdog?.stop();
      }
      const location = res.headers.location;
      if (
        opts.followRedirects &&
        res.statusCode >= 300 &&
        res.statusCode < 400 &&
        typeof location === 'string' &&
        hop < 5
      ) {
        await res.body.dump();
        url = new URL(location, url).href;
        continue;
      }
      return res;
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

/**
 * Aborts a streamed request when its body stops moving: a stalled connection (a proxy or NAT that silently drops
 * packets) would otherwise hang until the kernel gives up, hours later. Armed until the response headers arrive.
 */
class StallWatchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  stalled = false;

  constructor(private readonly stallMs: number) {
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.stallMs);
    this.timer.unref();
  }

  async *watch(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      this.arm();
      yield chunk;
    }
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
