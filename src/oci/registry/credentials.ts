/**
 * Where registry credentials come from, in the order podman, skopeo and docker users expect (docs/registry.md):
 *   1. --authfile FILE (containers auth.json, docker config.json, a mounted dockerconfigjson Secret, or legacy .dockercfg)
 *   2. REGISTRY_AUTH_FILE
 *   3. $XDG_RUNTIME_DIR/containers/auth.json
 *   4. ~/.config/containers/auth.json
 *   5. $DOCKER_CONFIG/config.json or ~/.docker/config.json (auths, credHelpers, credsStore)
 *   6. inside a pod, the service-account token for the OpenShift internal registry (or any host with --sa-token)
 * Secrets are read from files or helper programs, never from argv, and never printed.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelcarError, messageOf } from '../../errors.js';
import { addCredentialPair, addSecret } from '../../http/redact.js';

export type Credential =
  | { readonly kind: 'anonymous'; readonly source: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string; readonly source: string }
  /** An OAuth2 refresh token (docker `identitytoken`), exchanged at the token endpoint. */
  | { readonly kind: 'identity-token'; readonly username: string; readonly token: string; readonly source: string };

export const OPENSHIFT_INTERNAL_REGISTRY = 'image-registry.openshift-image-registry.svc:5000';
export const SA_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface CredentialOptions {
  /** --authfile: one file, tried first. */
  readonly authFile?: string;
  /** Hosts for which the pod's service-account token is the password (--sa-token HOST). */
  readonly saTokenHosts?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function readJson(path: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined;
    throw new ModelcarError(
      'registry-auth',
      `cannot read credentials file ${path}: ${messageOf(e)}`,
      'check its permissions',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelcarError(
      'registry-auth',
      `credentials file ${path} is not valid JSON`,
      'a docker config.json or containers auth.json is expected',
    );
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const obj = parsed as Record<string, unknown>;
  // A legacy ~/.dockercfg (and a kubernetes.io/dockercfg Secret) maps hosts directly, without the "auths" wrapper.
  if (!('auths' in obj) && !('credHelpers' in obj) && !('credsStore' in obj)) {
    const looksLegacy = Object.values(obj).some(
      (v) => typeof v === 'object' && v !== null && ('auth' in v || 'username' in v),
    );
    if (looksLegacy) return { auths: obj as Record<string, AuthEntry> };
  }
  return obj as ConfigFile;
}

/** The keys under which a credential for `registry/repository` may be stored, most specific first. */
export function lookupKeys(registry: string, repository: string): string[] {
  const keys: string[] = [];
  const parts = repository.split('/').filter(Boolean);
  for (let i = parts.length; i >= 1; i--) keys.push(`${registry}/${parts.slice(0, i).join('/')}`);
  keys.push(registry);
  if (registry === 'docker.io') keys.push('https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io');
  return keys;
}

function normaliseKey(key: string): string {
  return key
    .replace(/^https?:\/\//, '')
    .replace(/\/v[12]\/?$/, '')
    .replace(/\/$/, '');
}

function fromEntry(entry: AuthEntry, source: string): Credential | undefined {
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw new ModelcarError('registry-auth', `the "auth" value in ${source} is not base64 of user:password`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  return remembered(
    entry.identitytoken
      ? { kind: 'identity-token', username: username ?? '<token>', token: entry.identitytoken, source }
      : username !== undefined && password !== undefined && (username !== '' || password !== '')
        ? { kind: 'basic', username, password, source }
        : undefined,
  );
}

/** Registers a credential's secret with the redactor the moment it is read (src/http/redact.ts). */
function remembered(cred: Credential | undefined): Credential | undefined {
  if (cred?.kind === 'basic') addCredentialPair(cred.username, cred.password);
  if (cred?.kind === 'identity-token') addSecret(cred.token);
  return cred;
}

async function fromHelper(helper: string, registry: string, source: string): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`;
  const out = await new Promise<string>((ok, fail) => {
    const child = execFile(program, ['get'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        const text = `${stdout}${stderr}`;
        if (/credentials not found/i.test(text)) return ok('');
        // A helper's own words are not repeated: its output is where secrets live, and a failing helper may well
        // print the very secret it failed to hand over. The user can run it by hand to read them.
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const why =
          e.code === 'ENOENT'
            ? 'not found on PATH'
            : e.killed
              ? 'no answer within 30 s'
              : `exited with status ${typeof e.code === 'number' ? e.code : '?'}`;
        fail(
          new ModelcarError(
            'registry-auth',
            `credential helper ${program} failed for ${registry}: ${why}`,
            e.code === 'ENOENT'
              ? `install ${program} or remove it from ${source}`
              : `run it by hand to read its message: echo ${registry} | ${program} get  (it may print secrets); or remove it from ${source}`,
          ),
        );
      } else ok(stdout);
    });
    // A helper may exit without reading its stdin: the EPIPE that follows is its failure, reported above.
    child.stdin?.on('error', () => {});
    child.stdin?.end(registry);
  });
  if (out.trim() === '') return undefined;
  try {
    const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
    if (!parsed.Secret) return undefined;
    if (parsed.Username === '<token>')
      return remembered({
        kind: 'identity-token',
        username: '<token>',
        token: parsed.Secret,
        source: `${program} (from ${source})`,
      });
    return remembered({
      kind: 'basic',
      username: parsed.Username ?? '',
      password: parsed.Secret,
      source: `${program} (from ${source})`,
    });
  } catch {
    throw new ModelcarError('registry-auth', `credential helper ${program} printed something that is not JSON`);
  }
}

async function fromConfig(
  config: ConfigFile,
  path: string,
  registry: string,
  repository: string,
): Promise<Credential | undefined> {
  const keys = lookupKeys(registry, repository);
  const helper = keys.map((k) => config.credHelpers?.[k]).find(Boolean);
  if (helper) return fromHelper(helper, registry, path);
  if (config.auths) {
    const byKey = new Map(Object.entries(config.auths).map(([k, v]) => [normaliseKey(k), v]));
    for (const key of keys) {
      const entry = byKey.get(key);
      if (entry) {
        const cred = fromEntry(entry, path);
        if (cred) return cred;
      }
    }
  }
  if (config.credsStore) return fromHelper(config.credsStore, registry, path);
  return undefined;
}

/** Candidate credential files, in lookup order. */
export function credentialFiles(opts: CredentialOptions): string[] {
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? homedir();
  const files: string[] = [];
  if (opts.authFile) files.push(opts.authFile);
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(home, '.config', 'containers', 'auth.json'));
  files.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
  return files;
}

/** Resolves the credential for a repository; anonymous when no source has one. */
export async function resolveCredential(
  registry: string,
  repository: string,
  opts: CredentialOptions = {},
): Promise<Credential> {
  const env = opts.env ?? process.env;
  for (const path of credentialFiles(opts)) {
    // A mounted Secret is a directory holding .dockerconfigjson (or config.json, or .dockercfg): accept the directory.
    const candidates = [path, join(path, '.dockerconfigjson'), join(path, 'config.json'), join(path, '.dockercfg')];
    for (const candidate of candidates) {
      const config = readJsonIfFile(candidate);
      if (!config) continue;
      const cred = await fromConfig(config, candidate, registry, repository);
      if (cred) return cred;
      break;
    }
    if (
      path === opts.authFile &&
      !existsAsFile(path) &&
      !existsAsFile(join(path, '.dockerconfigjson')) &&
      !existsAsFile(join(path, 'config.json'))
    ) {
      throw new ModelcarError(
        'registry-auth',
        `--authfile ${path} does not exist`,
        'pass a docker config.json, a containers auth.json, or a mounted dockerconfigjson Secret',
      );
    }
  }
  const saHosts = opts.saTokenHosts ?? [];
  if (registry === OPENSHIFT_INTERNAL_REGISTRY || saHosts.includes(registry)) {
    const tokenFile = env.MODELCAR_SA_TOKEN_FILE ?? SA_TOKEN_FILE;
    if (existsAsFile(tokenFile)) {
      return {
        kind: 'basic',
        username: 'serviceaccount',
        // Read fresh on every use: projected service-account tokens rotate during a long push.
        get password() {
          const token = readFileSync(tokenFile, 'utf8').trim();
          addSecret(token);
          return token;
        },
        source: `service-account token ${tokenFile}`,
      };
    }
  }
  return { kind: 'anonymous', source: 'no credentials found (anonymous)' };
}

function existsAsFile(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

function readJsonIfFile(path: string): ConfigFile | undefined {
  try {
    return readJson(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR' || /EISDIR/.test(messageOf(e))) return undefined;
    throw e;
  }
}
