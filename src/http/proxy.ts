/**
 * Which requests go through a proxy, decided the way curl, skopeo (Go) and huggingface_hub (requests) users expect:
 *   - `https_proxy`/`HTTPS_PROXY` for https:// targets, `http_proxy`/`HTTP_PROXY` for http:// targets (lower case
 *     wins, as in curl; `HTTP_PROXY` upper case is honoured too, unlike curl, since Go and Python read it).
 *     A proxy URL without a scheme is http:// (as curl reads `proxy:3128`); userinfo is the proxy's credentials.
 *   - `no_proxy`/`NO_PROXY`: comma- or space-separated entries; `*` alone bypasses every proxy; a name matches
 *     itself and every subdomain (a leading dot is ignored: `.corp` and `corp` both match `a.corp` and `corp`); an
 *     IPv4/IPv6 address or CIDR block (`10.0.0.0/8`, `fd00::/8`) matches target addresses; an entry with a port
 *     (`registry.corp:5000`) matches only that port (curl ignores such entries, Go and Python honour them; so do we).
 *   - Loopback targets (`localhost`, `*.localhost`, 127.0.0.0/8, ::1) always go direct, as in Go: a proxy cannot
 *     reach the user's own machine. `MODELCAR_PROXY_LOOPBACK=1` proxies them anyway, for the rare proxy that does.
 * Pure: environment and URL in, route out. undici's ProxyAgent does the CONNECT tunnel (src/http/dispatchers.ts).
 */
import { BlockList, isIP } from 'node:net';
import { ModelcarError } from '../errors.js';
import { addUrlSecrets, redact } from './redact.js';
import { httpUrl } from './url.js';

/** How one request travels. `label` is safe to print (no credentials). */
export type Route =
  | { readonly kind: 'direct'; readonly label: string; readonly reason?: string }
  | {
      readonly kind: 'proxy';
      readonly proxy: URL;
      /** e.g. `via proxy http://proxy.corp:3128 (HTTPS_PROXY)` */
      readonly label: string;
      /** The proxy's origin, without credentials: `http://proxy.corp:3128`. */
      readonly proxyOrigin: string;
      /** Which variable named it. */
      readonly variable: string;
    };

export interface ProxySettings {
  readonly https?: { readonly url: URL; readonly variable: string };
  readonly http?: { readonly url: URL; readonly variable: string };
  readonly noProxy: readonly NoProxyEntry[];
  readonly proxyLoopback: boolean;
}

type NoProxyEntry =
  | { readonly kind: 'all' }
  | { readonly kind: 'name'; readonly name: string; readonly port?: string }
  | {
      readonly kind: 'cidr';
      readonly list: BlockList;
      readonly port?: string;
    };

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): { value: string; variable: string } | undefined {
  for (const variable of names) {
    const value = env[variable]?.trim();
    if (value) return { value, variable };
  }
  return undefined;
}

function proxyUrl(value: string, variable: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const url = httpUrl(withScheme, (problem, parsed) =>
    problem === 'not a URL'
      ? new ModelcarError(
          'usage',
          `${variable}=${redact(value)} is not a proxy URL`,
          `write ${variable}=http://HOST:PORT (credentials, if any, as http://USER:PASSWORD@HOST:PORT)`,
        )
      : new ModelcarError(
          'usage',
          `${variable}: ${parsed?.protocol.slice(0, -1)} proxies are not supported`,
          `use an http:// or https:// proxy in ${variable}`,
        ),
  );
  addUrlSecrets(url);
  return url;
}

/** Reads the proxy variables of `env` once; registers proxy credentials as secrets. */
export function proxySettings(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const https = pick(env, ['https_proxy', 'HTTPS_PROXY']);
  const http = pick(env, ['http_proxy', 'HTTP_PROXY']);
  const noProxy = pick(env, ['no_proxy', 'NO_PROXY']);
  return {
    ...(https ? { https: { url: proxyUrl(https.value, https.variable), variable: https.variable } } : {}),
    ...(http ? { http: { url: proxyUrl(http.value, http.variable), variable: http.variable } } : {}),
    noProxy: parseNoProxy(noProxy?.value ?? ''),
    proxyLoopback: /^(1|true|yes)$/i.test(env.MODELCAR_PROXY_LOOPBACK ?? ''),
  };
}

function splitHostPort(entry: string): { host: string; port?: string } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return { host: v6[1] as string, ...(v6[2] ? { port: v6[2] } : {}) };
  const m = /^([^:]+):(\d+)$/.exec(entry);
  if (m) return { host: m[1] as string, port: m[2] as string };
  return { host: entry };
}

export function parseNoProxy(value: string): NoProxyEntry[] {
  const out: NoProxyEntry[] = [];
  for (const raw of value.split(/[\s,]+/)) {
    const entry = raw.trim();
    if (!entry) continue;
    if (entry === '*') {
      out.push({ kind: 'all' });
      continue;
    }
    const slash = entry.indexOf('/');
    const { host, port } = splitHostPort(slash >= 0 ? entry.slice(0, slash) : entry);
    const family = isIP(host);
    if (family !== 0) {
      const max = family === 4 ? 32 : 128;
      const bits = slash >= 0 ? Number(entry.slice(slash + 1)) : max;
      if (!Number.isInteger(bits) || bits < 0 || bits > max) continue; // curl ignores a CIDR it cannot read
      const list = new BlockList();
      list.addSubnet(host, bits, family === 4 ? 'ipv4' : 'ipv6');
      out.push({ kind: 'cidr', list, ...(port ? { port } : {}) });
      continue;
    }
    const name = host
      .replace(/^\*?\./, '')
      .replace(/\.$/, '')
      .toLowerCase();
    if (name) out.push({ kind: 'name', name, ...(port ? { port } : {}) });
  }
  return out;
}

/** The URL's host without IPv6 brackets, and its port (the scheme's default when absent). */
function target(url: URL): { host: string; port: string } {
  const host = url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return { host, port };
}

/** True when NO_PROXY exempts this URL. */
export function bypassesProxy(url: URL, entries: readonly NoProxyEntry[]): boolean {
  const { host, port } = target(url);
  const family = isIP(host);
  return entries.some((e) => {
    if (e.kind === 'all') return true;
    if (e.port !== undefined && e.port !== port) return false;
    if (e.kind === 'cidr') return family !== 0 && e.list.check(host, family === 4 ? 'ipv4' : 'ipv6');
    if (family !== 0) return e.name === host; // an address matches only itself written as a name
    return host === e.name || host.endsWith(`.${e.name}`);
  });
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

export function isLoopback(url: URL): boolean {
  const { host } = target(url);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** How a request to `url` travels under these settings. */
export function routeFor(url: URL, settings: ProxySettings): Route {
  const chosen = url.protocol === 'https:' ? settings.https : settings.http;
  if (!chosen) return { kind: 'direct', label: 'direct' };
  if (isLoopback(url) && !settings.proxyLoopback) {
    return { kind: 'direct', label: 'direct (loopback is never proxied)', reason: 'loopback' };
  }
  if (bypassesProxy(url, settings.noProxy)) {
    return { kind: 'direct', label: 'direct (NO_PROXY)', reason: 'no_proxy' };
  }
  const proxyOrigin = `${chosen.url.protocol}//${chosen.url.host}`;
  return {
    kind: 'proxy',
    proxy: chosen.url,
    proxyOrigin,
    variable: chosen.variable,
    label: `via proxy ${proxyOrigin} (${chosen.variable})`,
  };
}
