/**
 * Which certificates a TLS connection trusts and presents, the way containers tools and curl users expect:
 *
 *   base set (every endpoint)  Node's bundled Mozilla roots, plus the system bundle Go and curl read
 *                              (/etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, ...; an
 *                              enterprise CA installed with update-ca-certificates is trusted as skopeo trusts it),
 *                              replaced by SSL_CERT_FILE when set; plus every PEM file in SSL_CERT_DIR; plus
 *                              NODE_EXTRA_CA_CERTS; plus, in an OpenShift pod, the service CA that signs `*.svc`.
 *   --ca-file FILE             PEM CAs added for the endpoints of that command.
 *   --cert-dir DIR             `*.crt` CAs and `*.cert` + `*.key` client pairs (mTLS), as skopeo reads it; it
 *                              replaces the certs.d lookup.
 *   certs.d (registries)       DIR/HOST[:PORT]/ under ~/.config/containers/certs.d, /etc/containers/certs.d and
 *                              /etc/docker/certs.d (the first that has the host), same files as --cert-dir.
 *                              MODELCAR_CERTS_D=ROOT[:ROOT...] replaces those roots (tests, unusual layouts).
 *   verify=false               no verification at all (--tls-verify=false), announced by one warning line.
 *
 * Decision: the base set is a union, not a replacement, even with SSL_CERT_FILE. Node does not read the system store,
 * so a union is what makes a corporate CA work first time; restricting trust below Mozilla's roots is not a goal.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { ModelcarError, messageOf } from '../errors.js';

/** Mounted into every OpenShift pod beside the service-account token. */
export const SERVICE_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt';

/** Where Go's crypto/x509 looks on Linux, in its order; the first that exists is the system bundle. */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

export interface TlsOptions {
  /** Verify the server's certificate and name. @default true */
  readonly verify?: boolean;
  /** `--ca-file`: PEM CAs to trust besides the base set. */
  readonly caFile?: string;
  /** `--cert-dir`: `*.crt` CAs and `*.cert`/`*.key` client pairs; replaces the certs.d lookup. */
  readonly certDir?: string;
  /** Look this `HOST[:PORT]` up in the certs.d roots (registries). */
  readonly certsdHost?: string;
  /** The pod's service CA (default: the OpenShift mount, or MODELCAR_SERVICE_CA_FILE). */
  readonly serviceCaFile?: string;
  /** Trust only these PEM CAs, not the base set (a kubeconfig's certificate-authority, as kubectl does). */
  readonly onlyCa?: string;
  /** A client certificate and key in PEM (a kubeconfig's client-certificate-data). */
  readonly client?: { readonly cert: string; readonly key: string };
}

/** What one client's connections trust and present. Shared dispatchers are keyed by `id`. */
export interface TlsSettings {
  readonly verify: boolean;
  readonly secureContext: SecureContext;
  /** A client certificate is presented (mTLS). */
  readonly clientCert: boolean;
  /** Where the extra trust came from, safe to print: `--ca-file x.pem`, `/etc/containers/certs.d/host:5000`. */
  readonly sources: readonly string[];
  /** The certs.d or --cert-dir directory in use, if any. */
  readonly certDir?: string;
  readonly id: string;
}

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ModelcarError(
      'usage',
      `cannot read ${what} ${path}: ${messageOf(e)}`,
      'check the path and its permissions',
    );
  }
  return text;
}

function readOptional(path: string | undefined): string[] {
  if (!path) return [];
  try {
    return [readFileSync(path, 'utf8')];
  } catch {
    return []; // not mounted, not installed: nothing to add
  }
}

function pemFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const text = readOptional(join(dir, name))[0];
    if (text?.includes('-----BEGIN CERTIFICATE-----')) out.push(text);
  }
  return out;
}

/** The base CA set every endpoint trusts, computed once per environment. */
const baseCache = new Map<string, readonly string[]>();

function serviceCa(env: NodeJS.ProcessEnv, serviceCaFile?: string): string {
  return serviceCaFile ?? env.MODELCAR_SERVICE_CA_FILE ?? SERVICE_CA_FILE;
}

function baseKey(env: NodeJS.ProcessEnv, serviceCaFile?: string): string {
  return [env.SSL_CERT_FILE, env.SSL_CERT_DIR, env.NODE_EXTRA_CA_CERTS, serviceCa(env, serviceCaFile)].join('\0');
}

export function baseCas(env: NodeJS.ProcessEnv = process.env, serviceCaFile?: string): readonly string[] {
  const service = serviceCa(env, serviceCaFile);
  const key = baseKey(env, serviceCaFile);
  const cached = baseCache.get(key);
  if (cached) return cached;
  const system = env.SSL_CERT_FILE
    ? readOptional(env.SSL_CERT_FILE)
    : readOptional(SYSTEM_BUNDLES.find((f) => existsSync(f)));
  const dirs = (env.SSL_CERT_DIR ?? '').split(':').filter(Boolean).flatMap(pemFilesIn);
  const cas = [
    ...rootCertificates,
    ...system,
    ...dirs,
    ...readOptional(env.NODE_EXTRA_CA_CERTS),
    ...readOptional(service),
  ];
  baseCache.set(key, cas);
  return cas;
}

/** The certs.d roots in lookup order. */
export function certsdRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.MODELCAR_CERTS_D) return env.MODELCAR_CERTS_D.split(':').filter(Boolean);
  return [
    join(env.HOME ?? homedir(), '.config', 'containers', 'certs.d'),
    '/etc/containers/certs.d',
    '/etc/docker/certs.d',
  ];
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The certs.d directory for `host[:port]`, if one exists. */
export function certsdDirFor(host: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const root of certsdRoots(env)) {
    const dir = join(root, host);
    if (isDir(dir)) return dir;
  }
  return undefined;
}

export interface CertDirContents {
  readonly cas: string[];
  readonly cert?: string;
  readonly key?: string;
}

/**
 * Reads a containers cert directory: `*.crt` are CAs; `NAME.cert` with `NAME.key` is a client pair. As
 * containers/image does, a `.cert` without its `.key` (or the reverse) is an error rather than a silent no-mTLS.
 * Several pairs: the first by name is presented (Node takes one pair per connection).
 */
export function readCertDir(dir: string, flag: string): CertDirContents {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new ModelcarError(
      'usage',
      `cannot read ${flag} ${dir}: ${messageOf(e)}`,
      'check the path and its permissions',
    );
  }
  const cas = names.filter((n) => n.endsWith('.crt')).map((n) => readPem(join(dir, n), flag));
  const certs = names.filter((n) => n.endsWith('.cert'));
  const keys = names.filter((n) => n.endsWith('.key'));
  for (const c of certs) {
    if (!keys.includes(`${c.slice(0, -5)}.key`)) {
      throw new ModelcarError(
        'usage',
        `${join(dir, c)} is a client certificate without its key ${c.slice(0, -5)}.key`,
        'put the key beside it; a CA certificate must be named *.crt, not *.cert',
      );
    }
  }
  for (const k of keys) {
    if (!certs.includes(`${k.slice(0, -4)}.cert`)) {
      throw new ModelcarError(
        'usage',
        `${join(dir, k)} is a key without its client certificate ${k.slice(0, -4)}.cert`,
        'put the certificate beside it as NAME.cert, or remove the key',
      );
    }
  }
  const first = certs[0];
  if (!first) return { cas };
  return { cas, cert: readPem(join(dir, first), flag), key: readPem(join(dir, `${first.slice(0, -5)}.key`), flag) };
}

/** One secure context per distinct trust, so dispatchers and TLS contexts are shared, not rebuilt per connection. */
const contexts = new Map<string, SecureContext>();

/** The TLS settings for one client. Throws a usage error for unreadable or inconsistent files. */
export function tlsSettings(opts: TlsOptions = {}, env: NodeJS.ProcessEnv = process.env): TlsSettings {
  const verify = opts.verify !== false;
  const sources: string[] = [];
  const extra: string[] = [];
  if (opts.caFile) {
    const pem = readPem(opts.caFile, '--ca-file');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ModelcarError(
        'usage',
        `--ca-file ${opts.caFile} holds no PEM certificate`,
        'give a PEM file (-----BEGIN CERTIFICATE-----)',
      );
    }
    extra.push(pem);
    sources.push(`--ca-file ${opts.caFile}`);
  }
  const dir = opts.certDir ?? (opts.certsdHost ? certsdDirFor(opts.certsdHost, env) : undefined);
  let cert: string | undefined;
  let key: string | undefined;
  if (dir) {
    const contents = readCertDir(dir, opts.certDir ? '--cert-dir' : 'certs.d directory');
    extra.push(...contents.cas);
    cert = contents.cert;
    key = contents.key;
    sources.push(opts.certDir ? `--cert-dir ${dir}` : dir);
  }
  if (opts.client) {
    cert = opts.client.cert;
    key = opts.client.key;
  }
  const cas = opts.onlyCa ? [opts.onlyCa] : [...baseCas(env, opts.serviceCaFile), ...extra];
  const id = createHash('sha256')
    .update(
      JSON.stringify([
        verify,
        opts.onlyCa ? 'only' : baseKey(env, opts.serviceCaFile),
        extra,
        opts.onlyCa ?? '',
        cert ?? '',
        key ?? '',
      ]),
    )
    .digest('hex');
  let secureContext = contexts.get(id);
  if (!secureContext) {
    try {
      secureContext = createSecureContext({ ca: cas, ...(cert && key ? { cert, key } : {}) });
    } catch (e) {
      throw new ModelcarError(
        'usage',
        `the TLS files ${sources.join(', ') || 'of the system'} cannot be used: ${messageOf(e)}`,
        'check that the CA files are PEM certificates and that each client certificate matches its key',
      );
    }
    contexts.set(id, secureContext);
  }
  return { verify, secureContext, clientCert: cert !== undefined, sources, ...(dir ? { certDir: dir } : {}), id };
}

/** True when TLS was configured for this host on purpose (so a loopback registry is spoken to over https). */
export function tlsConfigured(opts: TlsOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(opts.caFile || opts.certDir || (opts.certsdHost && certsdDirFor(opts.certsdHost, env)));
}
