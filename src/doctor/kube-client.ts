/**
 * The smallest Kubernetes client doctor needs: find the API server and a bearer token (or client certificate) in a
 * kubeconfig or the pod's service-account mount, then GET and POST JSON. No watch, no discovery, no exec plugins.
 * The token is read from its file for each request (projected tokens rotate) and never printed.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { ModelcarError, messageOf } from '../errors.js';
import { BODY_LIMITS, readCapped } from '../http/body.js';
import { HttpClient } from '../http/client.js';
import { addSecret } from '../http/redact.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeTarget {
  readonly server: string;
  readonly namespace: string;
  /** Where the connection came from, safe to print: `kubeconfig /x (context c)` or `in-pod service account`. */
  readonly from: string;
  readonly token?: () => string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecure?: boolean;
}

export interface KubeReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface KubeClient {
  readonly target: KubeTarget;
  /** How requests to the API server travel: `direct` or `via proxy ...` (credentials never shown). */
  readonly route: string;
  get(path: string, signal?: AbortSignal): Promise<KubeReply>;
  post(path: string, body: unknown, signal?: AbortSignal): Promise<KubeReply>;
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;
const obj = (x: unknown): Obj => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : {});
const named = (list: unknown, name: unknown): Obj =>
  obj(obj((Array.isArray(list) ? list : []).find((e) => obj(e).name === name)));

function read(file: string, base: string): string {
  return readFileSync(isAbsolute(file) ? file : join(base, file), 'utf8');
}

function fromKubeconfig(path: string, namespace?: string): KubeTarget {
  let config: Obj;
  try {
    config = obj(parse(readFileSync(path, 'utf8')));
  } catch (e) {
    throw new ModelcarError(
      'cluster',
      `cannot read kubeconfig ${path}: ${messageOf(e)}`,
      'check --kubeconfig/KUBECONFIG',
    );
  }
  const base = dirname(path);
  const contextName = config['current-context'];
  const context = obj(named(config.contexts, contextName).context);
  const cluster = obj(named(config.clusters, context.cluster).cluster);
  const user = obj(named(config.users, context.user).user);
  if (typeof cluster.server !== 'string') {
    throw new ModelcarError(
      'cluster',
      `kubeconfig ${path}: context "${String(contextName)}" names no cluster server`,
      'log in again (oc login / kubectl config use-context)',
    );
  }
  if (user.exec || user['auth-provider']) {
    throw new ModelcarError(
      'cluster',
      `kubeconfig ${path}: user "${String(context.user)}" authenticates through an exec plugin, which doctor does not run`,
      'use a token: oc whoami -t, or run doctor in the pod with its service account',
    );
  }
  const dataOrFile = (data: unknown, file: unknown): string | undefined =>
    typeof data === 'string'
      ? Buffer.from(data, 'base64').toString('utf8')
      : typeof file === 'string'
        ? read(file, base)
        : undefined;
  const token = user.token;
  const tokenFile = user.tokenFile;
  const ca = dataOrFile(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = dataOrFile(user['client-certificate-data'], user['client-certificate']);
  const key = dataOrFile(user['client-key-data'], user['client-key']);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    namespace: namespace ?? (typeof context.namespace === 'string' ? context.namespace : 'default'),
    from: `kubeconfig ${path} (context ${String(contextName)})`,
    ...(typeof token === 'string' ? { token: () => remember(token) } : {}),
    ...(typeof tokenFile === 'string' ? { token: () => remember(read(tokenFile, base).trim()) } : {}),
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecure: true } : {}),
  };
}

/** The cluster to talk to: --kubeconfig, $KUBECONFIG, ~/.kube/config, else the pod's service account; or none. */
export function findKube(opts: {
  kubeconfig?: string;
  namespace?: string;
  env?: NodeJS.ProcessEnv;
}): KubeTarget | undefined {
  const env = opts.env ?? process.env;
  const explicit = opts.kubeconfig ?? env.KUBECONFIG?.split(':')[0];
  if (explicit) return fromKubeconfig(explicit, opts.namespace);
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (exists(home)) return fromKubeconfig(home, opts.namespace);
  const dir = env.MODELCAR_SA_DIR ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host && exists(join(dir, 'token'))) {
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    const ns = opts.namespace ?? (exists(join(dir, 'namespace')) ? read('namespace', dir).trim() : 'default');
    return {
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      namespace: ns,
      from: `in-pod service account (${dir})`,
      token: () => remember(read('token', dir).trim()),
      ...(exists(join(dir, 'ca.crt')) ? { ca: read('ca.crt', dir) } : {}),
    };
  }
  return undefined;
}

/** A token read from a kubeconfig or the pod's mount is registered with the redactor before it is used. */
function remember(token: string): string {
  addSecret(token);
  return token;
}

function exists(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kubeconfig's own trust (its CA data, client certificate, insecure-skip-tls-verify) on the shared network layer:
 * the API server is reached through the same proxy rules and error table as every other endpoint.
 */
export function kubeClient(target: KubeTarget, env: NodeJS.ProcessEnv = process.env): KubeClient {
  const http = new HttpClient({
    endpoint: `the Kubernetes API ${target.server}`,
    env,
    tls: {
      verify: target.insecure !== true,
      ...(target.ca ? { onlyCa: target.ca } : {}),
      ...(target.cert && target.key ? { client: { cert: target.cert, key: target.key } } : {}),
    },
    trustHint: `the kubeconfig's certificate-authority(-data) for ${target.server} does not sign the server's certificate: log in again (oc login) or fix the cluster entry`,
  });
  const origin = new URL(target.server).origin;
  const send = async (method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = target.token?.();
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await http.send({
      method,
      url: `${target.server}${path}`,
      headers,
      ...(token ? { credentials: { authorization: `Bearer ${token}`, origin } } : {}),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(signal ? { signal } : {}),
      headersTimeoutMs: 30_000,
      bodyTimeoutMs: 30_000,
    });
    const text = (
      await readCapped(res, BODY_LIMITS.apiJson, `the answer of ${target.server} to ${method} ${path}`)
    ).toString('utf8');
    let parsed: Obj = {};
    try {
      parsed = obj(JSON.parse(text));
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    return { status: res.statusCode, body: parsed };
  };
  return {
    target,
    route: http.route(origin).label,
    get: (path, signal) => send('GET', path, undefined, signal),
    post: (path, body, signal) => send('POST', path, body, signal),
    close: async () => {},
  };
}
