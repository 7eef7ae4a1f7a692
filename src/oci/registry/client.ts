/**
 * The HTTP side of talking to one registry: origin and TLS, authentication with one retry after a 401, manual
 * redirects that never carry Authorization to another host, and errors turned into messages a user can act on.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, request } from 'undici';
import { ModelcarError, messageOf } from '../../errors.js';
import { VERSION } from '../../version.js';
import { apiHost, isLoopbackHost } from '../reference.js';
import { Authenticator } from './auth.js';
import { parseChallenges } from './challenge.js';
import type { Credential } from './credentials.js';

export interface TransportOptions {
  /** Use http:// even for a non-loopback host (--plain-http). Loopback hosts always use it. */
  readonly plainHttp?: boolean;
  /** Verify TLS certificates (default true; --tls-verify=false turns it off). */
  readonly tlsVerify?: boolean;
  /** Extra CA certificates (PEM) to trust besides the system ones. */
  readonly caFile?: string;
  /** Concurrent connections to the registry. */
  readonly connections?: number;
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

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (code && code !== 'UND_ERR_SOCKET') return code;
    cur = (cur as Error).cause;
  }
  return (e as NodeJS.ErrnoException)?.code;
}

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
  readonly origin: string;
  readonly dispatcher: Dispatcher;
  private readonly auth: Authenticator;

  constructor(
    readonly registry: string,
    credential: Credential,
    opts: TransportOptions = {},
  ) {
    const host = apiHost(registry);
    const plain = opts.plainHttp === true || isLoopbackHost(host);
    this.origin = `${plain ? 'http' : 'https'}://${host}`;
    let ca: string | undefined;
    if (opts.caFile) {
      try {
        ca = readFileSync(opts.caFile, 'utf8');
      } catch (e) {
        throw new ModelcarError('usage', `cannot read --ca-file ${opts.caFile}: ${messageOf(e)}`);
      }
    }
    const tlsVerify = opts.tlsVerify !== false;
    this.dispatcher = new Agent({
      connections: opts.connections ?? 8,
      keepAliveTimeout: 30_000,
      // The final PUT of a multi-GB blob can wait minutes while object storage verifies and moves it.
      headersTimeout: 30 * 60_000,
      bodyTimeout: 5 * 60_000,
      connect: {
        rejectUnauthorized: tlsVerify,
        // Node replaces the system CAs when `ca` is given: add ours to them instead.
        ...(ca ? { ca: [...rootCertificates, ca] } : {}),
      },
    });
    this.auth = new Authenticator(registry, credential, this.dispatcher);
  }

  get credentialSource(): string {
    return this.auth.credentialSource;
  }

  url(path: string): string {
    return new URL(path, this.origin).href;
  }

  /**
   * Sends one request, authenticating as the registry asks. A 401 is answered once: with a fresh token, or with
   * credentials the first time the challenge is seen. A second 401 means the credentials are wrong.
   */
  async send(opts: SendOptions): Promise<Dispatcher.ResponseData> {
    const replayable = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.auth.header(opts.scopes);
      const res = await this.raw(opts, authorization);
      if (res.statusCode !== 401) return res;
      const challenge = parseChallenges(res.headers['www-authenticate'])[0];
      await res.body.dump();
      const firstChallenge = !this.auth.knowsChallenge;
      this.auth.learn(challenge);
      this.auth.invalidate(opts.scopes);
      if (attempt === 0 && replayable && (firstChallenge || authorization !== undefined)) continue;
      if (!replayable && attempt === 0) {
        throw new ModelcarError(
          'registry-auth',
          `${this.registry} asked to re-authenticate in the middle of a stream`,
          'run again; modelcar authenticates before streaming',
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
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: opts.method,
          headers,
          dispatcher: this.dispatcher,
          ...(opts.body !== undefined ? { body: opts.body as Dispatcher.DispatchOptions['body'] } : {}),
        });
      } catch (e) {
        if (e instanceof ModelcarError) throw e;
        throw networkError(this.registry, e);
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
