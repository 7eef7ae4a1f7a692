/**
 * Who signed a certificate we refused: one extra, unverified handshake after the real (verified) one failed, along the
 * same route (directly, or through the proxy's CONNECT tunnel opened by undici), so the error can name the issuer.
 * Diagnostics only: nothing is sent over this connection, and it is closed right after the handshake.
 */
import type { Socket } from 'node:net';
import { type ConnectionOptions, connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { Client } from 'undici';
import type { Route } from './proxy.js';

const PROBE_TIMEOUT_MS = 5_000;

type Cert = PeerCertificate & { issuerCertificate?: Cert };

/** The chain the server presents, leaf first; empty when it cannot be read in time. */
export async function peerChain(url: URL, route: Route, signal?: AbortSignal): Promise<PeerCertificate[]> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let tunnel: Socket | undefined;
  let proxyClient: Client | undefined;
  try {
    if (route.kind === 'proxy') {
      proxyClient = new Client(route.proxyOrigin);
      const auth = route.proxy.username
        ? {
            'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(route.proxy.username)}:${decodeURIComponent(route.proxy.password)}`).toString('base64')}`,
          }
        : {};
      const { socket, statusCode } = await proxyClient.connect({
        path: `${url.hostname}:${port}`,
        headers: { host: `${url.hostname}:${port}`, ...auth },
        signal: stop,
      });
      if (statusCode !== 200) {
        socket.destroy();
        return [];
      }
      tunnel = socket as Socket;
    }
    return await new Promise<PeerCertificate[]>((resolve) => {
      const socket: TLSSocket = connect({
        ...(tunnel ? { socket: tunnel } : { host, port }),
        servername: /^[\d.]+$|:/.test(host) ? undefined : host,
        rejectUnauthorized: false,
      } as ConnectionOptions);
      const done = (chain: PeerCertificate[]) => {
        socket.destroy();
        resolve(chain);
      };
      stop.addEventListener('abort', () => done([]), { once: true });
      socket.once('error', () => done([]));
      socket.once('secureConnect', () => {
        const chain: PeerCertificate[] = [];
        let cert = socket.getPeerCertificate(true) as Cert;
        while (cert && Object.keys(cert).length > 0 && chain.length < 6) {
          chain.push(cert);
          const next = cert.issuerCertificate;
          if (!next || next === cert || next.fingerprint256 === cert.fingerprint256) break;
          cert = next;
        }
        done(chain);
      });
    });
  } catch {
    return [];
  } finally {
    tunnel?.destroy();
    await proxyClient?.close().catch(() => {});
  }
}

/** "self-signed (CN=x)" or `issued by "Corp CA"`: who would have to be trusted. */
export function describeIssuer(chain: readonly PeerCertificate[]): string | undefined {
  const leaf = chain[0];
  if (!leaf) return undefined;
  const top = chain[chain.length - 1] as PeerCertificate;
  const name = (c: PeerCertificate['issuer'] | undefined) => c?.CN ?? c?.O ?? 'unknown';
  const selfSigned = chain.length === 1 && name(leaf.subject) === name(leaf.issuer);
  return selfSigned ? `self-signed certificate (CN=${name(leaf.subject)})` : `issued by "${name(top.issuer)}"`;
}
