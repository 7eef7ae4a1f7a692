/**
 * Diagnostics after a failed TLS connection: one extra handshake along the same route (directly, or through the
 * proxy's CONNECT tunnel opened by undici) to learn what the failed one could not say. Who signed a certificate we
 * refused (read without verifying; nothing is sent), and which TLS alert a server answers when it wants a client
 * certificate (undici reports only "other side closed" for that). Closed right after; bounded to 5 s.
 */
import type { Socket } from 'node:net';
import { type ConnectionOptions, connect, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { Client } from 'undici';
import type { Route } from './proxy.js';

const PROBE_TIMEOUT_MS = 5_000;

type Cert = PeerCertificate & { issuerCertificate?: Cert };

/**
 * A TLS socket to `url`'s host along `route`, handed to `use` once the handshake is done (or undefined when it could
 * not be made); everything is closed when `use` settles or the time is up.
 */
async function probe<T>(
  url: URL,
  route: Route,
  tls: ConnectionOptions,
  signal: AbortSignal | undefined,
  use: (socket: TLSSocket | undefined, error?: Error) => Promise<T>,
): Promise<T> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let tunnel: Socket | undefined;
  let proxyClient: Client | undefined;
  let socket: TLSSocket | undefined;
  try {
    if (route.kind === 'proxy') {
      proxyClient = new Client(route.proxyOrigin);
      const auth = route.proxy.username
        ? {
            'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(route.proxy.username)}:${decodeURIComponent(route.proxy.password)}`).toString('base64')}`,
          }
        : {};
      const { socket: raw, statusCode } = await proxyClient.connect({
        path: `${url.hostname}:${port}`,
        headers: { host: `${url.hostname}:${port}`, ...auth },
        signal: stop,
      });
      if (statusCode !== 200) {
        raw.destroy();
        return await use(undefined);
      }
      tunnel = raw as Socket;
    }
    const handshake = await new Promise<{ socket?: TLSSocket; error?: Error }>((resolve) => {
      const s: TLSSocket = connect({
        ...tls,
        ...(tunnel ? { socket: tunnel } : { host, port }),
        servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      } as ConnectionOptions);
      socket = s;
      stop.addEventListener('abort', () => resolve({}), { once: true });
      s.once('error', (error) => resolve({ error }));
      s.once('secureConnect', () => resolve({ socket: s }));
    });
    return await use(handshake.socket, handshake.error);
  } catch {
    return await use(undefined);
  } finally {
    (socket as TLSSocket | undefined)?.destroy();
    tunnel?.destroy();
    await proxyClient?.close().catch(() => {});
  }
}

/** The chain the server presents, leaf first; empty when it cannot be read in time. */
export function peerChain(url: URL, route: Route, signal?: AbortSignal): Promise<PeerCertificate[]> {
  return probe(url, route, { rejectUnauthorized: false }, signal, async (socket) => {
    const chain: PeerCertificate[] = [];
    if (!socket) return chain;
    let cert = socket.getPeerCertificate(true) as Cert;
    while (cert && Object.keys(cert).length > 0 && chain.length < 6) {
      chain.push(cert);
      const next = cert.issuerCertificate;
      if (!next || next === cert || next.fingerprint256 === cert.fingerprint256) break;
      cert = next;
    }
    return chain;
  });
}

/**
 * The TLS alert a server sends after the handshake when it refuses our client certificate (or its absence): a TLS
 * 1.3 server checks it only after the client thinks the handshake is done, so the alert comes with the first read.
 * Undefined when the server answers normally or with no alert.
 */
export function clientCertAlert(
  url: URL,
  route: Route,
  context: SecureContext,
  verify: boolean,
  signal?: AbortSignal,
): Promise<Error | undefined> {
  return probe(url, route, { secureContext: context, rejectUnauthorized: verify }, signal, async (socket, error) => {
    if (!socket) return error && /ALERT/.test((error as NodeJS.ErrnoException).code ?? '') ? error : undefined;
    return new Promise<Error | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), PROBE_TIMEOUT_MS);
      timer.unref();
      const done = (e?: Error) => {
        clearTimeout(timer);
        resolve(e && /ALERT/.test((e as NodeJS.ErrnoException).code ?? '') ? e : undefined);
      };
      socket.once('error', done);
      socket.once('data', () => done());
      socket.once('close', () => done());
      socket.write(`HEAD / HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
    });
  });
}

/** "self-signed certificate (CN=x)" or `issued by "Corp CA"`: who would have to be trusted. */
export function describeIssuer(chain: readonly PeerCertificate[]): string | undefined {
  const leaf = chain[0];
  if (!leaf) return undefined;
  const top = chain[chain.length - 1] as PeerCertificate;
  const name = (c: PeerCertificate['issuer'] | undefined) => c?.CN ?? c?.O ?? 'unknown';
  const selfSigned = chain.length === 1 && name(leaf.subject) === name(leaf.issuer);
  return selfSigned ? `self-signed certificate (CN=${name(leaf.subject)})` : `issued by "${name(top.issuer)}"`;
}
