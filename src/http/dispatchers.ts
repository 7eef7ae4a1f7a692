/**
 * The undici dispatchers every client shares: one per (route, TLS settings) pair, created on first use and kept for
 * the life of the process, so the registry client, its token service, the Hub, its CDN and doctor's probes reuse
 * connections and agree on trust. Direct routes use an Agent; proxied routes undici's ProxyAgent, which tunnels
 * https:// with CONNECT and sends http:// requests to the proxy in absolute form (as curl does: corporate proxies
 * often allow CONNECT to port 443 only). Timeouts per request are set by the caller (src/http/client.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import type { Route } from './proxy.js';
import { type TlsSettings, tlsSettings } from './trust.js';

/** How long a TCP (and TLS) connection may take to come up, to a server or to the proxy. */
export const CONNECT_TIMEOUT_MS = 30_000;

const cache = new Map<string, Dispatcher>();

function tlsConnect(tls: TlsSettings) {
  return {
    timeout: CONNECT_TIMEOUT_MS,
    rejectUnauthorized: tls.verify,
    secureContext: tls.secureContext,
  };
}

export function dispatcherFor(route: Route, tls: TlsSettings): Dispatcher {
  const key = `${route.kind === 'proxy' ? route.proxy.href : 'direct'}\0${tls.id}`;
  let d = cache.get(key);
  if (d) return d;
  if (route.kind === 'direct') {
    d = new Agent({ keepAliveTimeout: 30_000, connect: tlsConnect(tls) });
  } else {
    // The proxy itself is trusted with the base set (an https:// proxy with a private CA: SSL_CERT_FILE et al.).
    const proxyTls = tlsSettings({}, process.env);
    d = new ProxyAgent({
      uri: route.proxy.href,
      keepAliveTimeout: 30_000,
      proxyTunnel: false,
      requestTls: tlsConnect(tls),
      proxyTls: tlsConnect(proxyTls),
    });
  }
  cache.set(key, d);
  return d;
}

/** How long closing lets requests still in flight finish before their connections are cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * Closes every shared dispatcher (end of a CLI run; tests that want no open sockets). Bounded: undici's close()
 * waits for every response body to be read, and one nobody will read (a failed command's) would hold the run open
 * forever; after a grace period those connections are destroyed.
 */
export async function closeDispatchers(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(
    all.map(async (d) => {
      const closed = d.close().then(
        () => true,
        () => true,
      );
      if (!(await Promise.race([closed, sleep(CLOSE_GRACE_MS, false, { ref: false })]))) {
        await d.destroy().catch(() => {});
      }
    }),
  );
}
