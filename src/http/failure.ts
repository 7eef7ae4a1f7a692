/**
 * The one table that turns a failed connection into a message a user can act on: which endpoint, which route
 * (direct, or via which proxy; never its credentials), what happened (DNS, refused, TLS with the issuer, proxy 407,
 * timeout, ...) and what to do. build and doctor both report through it, so they name the same cause for the same
 * broken endpoint. Pure apart from reading the error: the TLS issuer is looked up by the caller (tls-probe.ts).
 */
import { errorChain, errorCodes, ModelcarError, messageOf } from '../errors.js';
import type { Route } from './proxy.js';

export type FailureKind =
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'connect-timeout'
  | 'timeout'
  | 'reset'
  | 'tls-untrusted'
  | 'tls-expired'
  | 'tls-hostname'
  | 'tls-plain-http'
  | 'tls-client-cert'
  | 'proxy-auth'
  | 'proxy-down'
  | 'proxy-failed'
  | 'other';

/** What the table needs to know about where the request was going. */
export interface FailureContext {
  /** What the client talks to, as messages name it: "registry quay.io", "the Hugging Face Hub https://hf.co". */
  readonly endpoint: string;
  readonly url: URL;
  readonly route: Route;
  /** What fixes an untrusted certificate for this endpoint (flags, files). */
  readonly trustHint: string;
  /** What fixes a missing or refused client certificate. */
  readonly clientCertHint?: string;
  /**
   * No request of this client got an answer yet. A connection that fails at first contact is most likely the wrong
   * address or a dead proxy, not a restart: it is not retried (skopeo and crane fail fast the same way).
   */
  readonly firstContact?: boolean;
}

/** A failure the network layer classified: kind, endpoint and route are kept for doctor and for retry decisions. */
export class NetworkError extends ModelcarError {
  constructor(
    readonly failure: FailureKind,
    readonly endpoint: string,
    readonly route: Route,
    /** Worth another try (a reset or a refused connection may pass; a bad CA or a proxy's 407 will not). */
    readonly transient: boolean,
    message: string,
    hint: string,
    cause?: unknown,
  ) {
    super('network', message, hint, { cause });
  }
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const CLIENT_CERT =
  /ALERT_CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_HANDSHAKE_FAILURE|ALERT_CERTIFICATE_UNKNOWN|ALERT_ACCESS_DENIED/;

/** The status a proxy answered a CONNECT (or an absolute-form request) with, as undici reports it. */
function proxyStatus(e: unknown): number | undefined {
  for (const x of errorChain(e)) {
    const m = /Proxy response \((\d{3})\)|Proxy Authentication Required \((\d{3})\)/.exec(messageOf(x));
    if (m) return Number(m[1] ?? m[2]);
  }
  return undefined;
}

export function classify(e: unknown, route: Route): { kind: FailureKind; code?: string } {
  const codes = errorCodes(e);
  const code = codes.find((c) => c !== 'UND_ERR_SOCKET') ?? codes[0];
  const status = proxyStatus(e);
  if (status === 407) return { kind: 'proxy-auth', code: 'HTTP 407' };
  if (status !== undefined) return { kind: 'proxy-failed', code: `HTTP ${status}` };
  const has = (...c: string[]) => codes.some((x) => c.includes(x));
  // Through a proxy every socket goes to the proxy first: a refused or unresolvable connection is the proxy's.
  if (
    route.kind === 'proxy' &&
    has('ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')
  ) {
    return { kind: 'proxy-down', ...(code ? { code } : {}) };
  }
  const c = code ? { code } : {};
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL')) return { kind: 'dns', ...c };
  if (has('ECONNREFUSED')) return { kind: 'refused', ...c };
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return { kind: 'unreachable', ...c };
  if (has('UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')) return { kind: 'connect-timeout', ...c };
  if (codes.some((x) => UNTRUSTED.has(x))) return { kind: 'tls-untrusted', ...c };
  if (codes.some((x) => EXPIRED.has(x))) return { kind: 'tls-expired', ...c };
  if (has('ERR_TLS_CERT_ALTNAME_INVALID')) return { kind: 'tls-hostname', ...c };
  if (codes.some((x) => CLIENT_CERT.test(x))) return { kind: 'tls-client-cert', ...c };
  if (
    has('ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG') ||
    (has('EPROTO') && /wrong version number|packet length too long/i.test(errorChain(e).map(messageOf).join(' ')))
  ) {
    return { kind: 'tls-plain-http', ...c };
  }
  if (has('UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT')) return { kind: 'timeout', ...c };
  if (has('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED')) return { kind: 'reset', ...c };
  return { kind: 'other', ...c };
}

/** Worth another try: the server may be restarting, the network flapping. A DNS answer "no such name" is not. */
const TRANSIENT_KINDS = new Set<FailureKind>([
  'refused',
  'unreachable',
  'connect-timeout',
  'timeout',
  'reset',
  'other',
]);

/** Failures that, at first contact, mean a wrong address or a dead proxy rather than a server restarting. */
const FIRST_CONTACT_FINAL = new Set<FailureKind>(['refused', 'unreachable', 'connect-timeout', 'proxy-down']);

/** The one line and hint for a failed request; `issuer` names who signed an untrusted certificate, when known. */
export function networkFailure(ctx: FailureContext, e: unknown, issuer?: string): NetworkError {
  if (e instanceof NetworkError) return e;
  const { kind, code } = classify(e, ctx.route);
  const { endpoint, url, route } = ctx;
  const host = url.host;
  const via = route.kind === 'proxy' ? route.label : 'direct';
  const tag = code ? ` (${code})` : '';
  const proxyVar = route.kind === 'proxy' ? route.variable : 'HTTPS_PROXY';
  const make = (message: string, hint: string, transient = TRANSIENT_KINDS.has(kind)) =>
    new NetworkError(
      kind,
      endpoint,
      route,
      transient && !(ctx.firstContact && FIRST_CONTACT_FINAL.has(kind)),
      message,
      hint,
      e,
    );
  switch (kind) {
    case 'proxy-auth': {
      const proxy = route.kind === 'proxy' ? route.proxyOrigin : 'the proxy';
      const withCreds = route.kind === 'proxy' && route.proxy.username !== '';
      return make(
        `proxy ${proxy} (${proxyVar}) ${withCreds ? 'refused our credentials' : 'demands credentials'} for ${endpoint} (HTTP 407 Proxy Authentication Required)`,
        withCreds
          ? `check the user and password in ${proxyVar} (URL-encode special characters), or ask the proxy's admin whether this account may reach ${host}`
          : `put the proxy's user and password in ${proxyVar}: http://USER:PASSWORD@HOST:PORT (URL-encode special characters)`,
        false,
      );
    }
    case 'proxy-down':
      return make(
        `cannot reach ${endpoint}: the proxy ${route.kind === 'proxy' ? `${route.proxyOrigin} (${route.variable})` : ''} does not answer${tag}`,
        `check that the proxy is running and that ${proxyVar} names it; a host that must not go through it belongs in NO_PROXY`,
        true,
      );
    case 'proxy-failed':
      return make(
        `cannot reach ${endpoint} ${via}: the proxy could not connect to ${host}${tag}`,
        `the proxy cannot resolve or reach ${host}: check the host and port, or put ${url.hostname} in NO_PROXY if it must be reached directly`,
        false,
      );
    case 'dns':
      return make(
        `cannot reach ${endpoint} (${via}): the name ${url.hostname} does not resolve${tag}`,
        `check the host name; behind a proxy, set HTTPS_PROXY (and HTTP_PROXY for http:// endpoints)`,
        code === 'EAI_AGAIN', // a resolver that timed out may answer next time
      );
    case 'refused':
      return make(
        `cannot reach ${endpoint} (${via}): connection to ${host} refused${tag}`,
        'check the host and port, and that the server is running',
      );
    case 'unreachable':
      return make(
        `cannot reach ${endpoint} (${via}): no route to ${host}${tag}`,
        `check the network; behind a proxy, set HTTPS_PROXY`,
      );
    case 'connect-timeout':
      return make(
        `cannot reach ${endpoint} (${via}): no connection to ${host} in time${tag}`,
        `a firewall may drop the traffic: behind a proxy set HTTPS_PROXY, otherwise check the host, port and network`,
      );
    case 'timeout':
      return make(
        `${endpoint} (${via}) did not answer in time${tag}`,
        'the server or the network is slow or stuck; run again, and check the server if it persists',
      );
    case 'reset':
      return make(
        `the connection to ${endpoint} (${via}) was cut${tag}`,
        'the server, a proxy or the network dropped it; run again',
      );
    case 'tls-untrusted':
      return make(
        `the TLS certificate of ${host} is not trusted${issuer ? `: ${issuer}` : ''}${tag}`,
        ctx.trustHint,
        false,
      );
    case 'tls-expired':
      return make(
        `the TLS certificate of ${host} is expired or not yet valid${tag}`,
        "the server's certificate must be renewed (or this machine's clock is wrong); --tls-verify=false only for throwaway tests",
        false,
      );
    case 'tls-hostname':
      return make(
        `the TLS certificate of ${host} does not name ${url.hostname}${tag}`,
        `use the host name the certificate was issued for, or have the certificate reissued with ${url.hostname} in its subjectAltName`,
        false,
      );
    case 'tls-client-cert':
      return make(
        `${host} refused the TLS handshake: it wants a client certificate it trusts${tag}`,
        ctx.clientCertHint ??
          'give a client certificate and key (NAME.cert + NAME.key) in the certs.d directory of the host or with --cert-dir DIR',
        false,
      );
    case 'tls-plain-http':
      return make(
        `${host} did not answer the TLS handshake (it may speak plain HTTP)${tag}`,
        'pass --plain-http if it really serves plain HTTP (only on a trusted network), or check the port',
        false,
      );
    default:
      return make(
        `cannot reach ${endpoint} (${via}): ${messageOf(e)}`,
        'check the host, port, network and proxy settings',
      );
  }
}
