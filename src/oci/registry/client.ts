/**
 * The HTTP side of talking to one registry, on the shared network layer (src/http/): origin and TLS (certs.d,
 * --cert-dir, --ca-file), authentication with one retry after a 401, the one retry policy, and registry error
 * bodies turned into messages a user can act on. Credentials go only to the registry's own origin.
 */
import type { Dispatcher } from 'undici';
import { ModelcarError } from '../../errors.js';
import { BODY_LIMITS, readCapped, StallWatchdog } from '../../http/body.js';
import { type Credentials, HttpClient, type Response } from '../../http/client.js';
import { formatDelay } from '../../http/events.js';
import { redact, safeUrl } from '../../http/redact.js';
import {
  isTransientError,
  isTransientStatus,
  Retrier,
  type RetryPolicy,
  retryAfterMs,
  retryPolicy,
} from '../../http/retry.js';
import { certsdDirFor, type TlsOptions, tlsConfigured } from '../../http/trust.js';
import { apiHost, isLoopbackHost } from '../reference.js';
import { Authenticator } from './auth.js';
import { parseChallenges } from './challenge.js';
import type { Credential } from './credentials.js';

export interface TransportOptions {
  /** Use http:// even for a non-loopback host (--plain-http). Loopback hosts use it unless TLS is configured. */
  readonly plainHttp?: boolean;
  /** Verify TLS certificates (default true; --tls-verify=false turns it off). */
  readonly tlsVerify?: boolean;
  /** Extra CA certificates (PEM) to trust besides the system ones. */
  readonly caFile?: string;
  /** `--cert-dir`: `*.crt` CAs and `*.cert`/`*.key` client pairs, instead of the certs.d lookup. */
  readonly certDir?: string;
  /** The pod's service CA, trusted when the file exists (default: the OpenShift mount; see src/http/trust.ts). */
  readonly serviceCaFile?: string;
  /** Environment for proxies, certs.d roots and CA variables. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
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

/** What fixes an untrusted registry certificate: the certs.d directory containers tools read, or a flag. */
export function registryTrustHint(registry: string): string {
  return `save the registry's CA as /etc/containers/certs.d/${registry}/ca.crt (as podman and skopeo read it), or pass --ca-file FILE or --cert-dir DIR; inside OpenShift the service CA is trusted automatically; --tls-verify=false only for throwaway tests`;
}

function clientCertHint(registry: string): string {
  return `put the client certificate and key as /etc/containers/certs.d/${registry}/client.cert and client.key, or in --cert-dir DIR (NAME.cert + NAME.key)`;
}

/** The TLS options a registry host gets from its flags: certs.d is looked up under the host as written. */
export function registryTls(registry: string, opts: TransportOptions): TlsOptions {
  return {
    verify: opts.tlsVerify !== false,
    ...(opts.caFile ? { caFile: opts.caFile } : {}),
    ...(opts.certDir ? { certDir: opts.certDir } : { certsdHost: registry }),
    ...(opts.serviceCaFile ? { serviceCaFile: opts.serviceCaFile } : {}),
  };
}

/**
 * The origin a registry is spoken to at. Plain HTTP only when asked (--plain-http) or for a loopback host without
 * TLS configured for it (--ca-file, --cert-dir or a certs.d directory): a local test registry over TLS just works.
 */
export function registryOrigin(registry: string, opts: TransportOptions): string {
  const host = apiHost(registry);
  const env = opts.env ?? process.env;
  const plain = opts.plainHttp === true || (isLoopbackHost(host) && !tlsConfigured(registryTls(registry, opts), env));
  return `${plain ? 'http' : 'https'}://${host}`;
}

/** Reads the registry's JSON error body ({errors:[{code,message}]}) into one redacted line. */
export async function describeFailure(res: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    text = (await readCapped(res, BODY_LIMITS.errorText, 'an error body', true)).toString('utf8');
  } catch {
    /* the body may already be gone */
  }
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (first) return redact(`${first.code ?? 'ERROR'}: ${first.message ?? ''}`.trim()).slice(0, 300);
  } catch {
    /* not JSON */
  }
  return redact(text.trim().split('\n')[0]?.slice(0, 200) || `HTTP ${res.statusCode}`);
}

export class RegistryClient {
  readonly origin: string;
  readonly http: HttpClient;
  readonly retry: RetryPolicy;
  private readonly auth: Authenticator;

  constructor(
    readonly registry: string,
    credential: Credential,
    opts: TransportOptions = {},
  ) {
    this.origin = registryOrigin(registry, opts);
    this.retry = retryPolicy(opts.retry);
    this.http = new HttpClient({
      endpoint: `registry ${registry}`,
      tls: registryTls(registry, opts),
      ...(opts.env ? { env: opts.env } : {}),
      trustHint: registryTrustHint(registry),
      clientCertHint: clientCertHint(registry),
    });
    this.auth = new Authenticator(registry, this.origin, credential, this.http, this.retry);
  }

  get credentialSource(): string {
    return this.auth.credentialSource;
  }

  /** Bearer tokens fetched so far. */
  get tokensIssued(): number {
    return this.auth.issued;
  }

  /** Where the registry's TLS trust came from (for doctor), e.g. the certs.d directory. */
  get certDir(): string | undefined {
    return this.http.tls.certDir ?? certsdDirFor(this.registry);
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
  async send(opts: SendOptions): Promise<Response> {
    const replayable = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    const retryable = replayable && !opts.once;
    const retrier = new Retrier(`registry ${this.registry}: ${opts.method} ${safeUrl(this.url(opts.url))}`, this.retry);
    let authRetried = false;
    for (;;) {
      const authorization = await this.auth.header(opts.scopes);
      let res: Response;
      try {
        res = await this.raw(opts, authorization);
      } catch (e) {
        // The layer already decided what is worth retrying: a registry that never answered is most likely the wrong
        // address (failed at once, as skopeo and crane do); once it has answered, a refused connection is a restart.
        if (retryable && isTransientError(e) && (await retrier.again((e as Error).message))) continue;
        throw e;
      }
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
        const detail = await describeFailure(res);
        const retryAfter = retryAfterMs(res.headers['retry-after']);
        const reason = `HTTP ${res.statusCode} (${detail})`;
        if (await retrier.again(reason, retryAfter !== undefined ? { retryAfterMs: retryAfter } : {})) continue;
        throw new ModelcarError(
          'registry',
          `registry ${this.registry} answered ${opts.method} ${safeUrl(this.url(opts.url))} with ${reason} ${retrier.count} times in a row; gave up`,
          'the registry is busy or failing; run again later',
        );
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

  private async raw(opts: SendOptions, authorization: string | undefined): Promise<Response> {
    const credentials: Credentials | undefined = authorization ? { authorization, origin: this.origin } : undefined;
    const streamed = opts.body !== undefined && typeof opts.body !== 'string' && !Buffer.isBuffer(opts.body);
    const watchdog = streamed ? new StallWatchdog(this.retry.stallMs) : undefined;
    try {
      return await this.http.send({
        method: opts.method,
        url: this.url(opts.url),
        ...(opts.headers ? { headers: opts.headers } : {}),
        ...(credentials ? { credentials } : {}),
        redirects: opts.followRedirects ? 5 : 0,
        // The final PUT of a multi-GB blob can wait minutes while object storage verifies and moves it.
        headersTimeoutMs: 30 * 60_000,
        bodyTimeoutMs: 5 * 60_000,
        ...(watchdog ? { signal: watchdog.signal } : {}),
        ...(opts.body !== undefined
          ? { body: watchdog ? watchdog.watch(opts.body as AsyncIterable<Buffer>) : opts.body }
          : {}),
      });
    } catch (e) {
      if (watchdog?.stalled) {
        throw new ModelcarError(
          'network',
          `the upload to ${this.registry} stalled: no byte moved for ${formatDelay(this.retry.stallMs)}`,
          'check the network between here and the registry',
          { cause: Object.assign(new Error('stalled'), { code: 'ETIMEDOUT' }) },
        );
      }
      throw e;
    } finally {
      watchdog?.stop();
    }
  }

  async close(): Promise<void> {
    // The dispatchers are shared by every client of the process (src/http/dispatchers.ts): nothing to close here.
  }
}
