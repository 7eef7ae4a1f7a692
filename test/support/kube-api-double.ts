/**
 * A Kubernetes API server double on loopback for the few endpoints `modelcar doctor` reads: namespaces, nodes,
 * SelfSubjectReview and SelfSubjectAccessReview. It answers as the real API does (201 Created with the review
 * echoed back and `status` filled in, `Status` objects for 401/404) and records every request that departs from the
 * authorization.k8s.io/v1 shape in `violations`, so a test fails when the client sends something the real server
 * would reject.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Rule {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace: string;
}

export interface KubeApiOptions {
  readonly token: string;
  /** `system:serviceaccount:NS:NAME` or a user name. */
  readonly username: string;
  /** What the subject may do; anything else is denied. */
  readonly allow: readonly (Rule & { readonly reason: string })[];
  readonly namespaces: Readonly<Record<string, Record<string, string>>>;
  readonly nodes?: readonly { name: string; ephemeralStorage: string; gpus?: number }[];
}

const RESOURCE_ATTRIBUTES = new Set([
  'namespace',
  'verb',
  'group',
  'version',
  'resource',
  'subresource',
  'name',
  'fieldSelector',
  'labelSelector',
]);

export class KubeApiDouble {
  readonly violations: string[] = [];
  readonly reviews: Rule[] = [];
  url = '';
  private server?: Server;

  constructor(private readonly options: KubeApiOptions) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => send(res, 500, status(500, 'InternalError', String(e))));
    });
    await new Promise<void>((ok) => this.server?.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => this.server?.close(() => ok()));
  }

  /** A kubeconfig with one context pointing here, as `oc login` writes it. */
  kubeconfig(namespace: string, token = this.options.token): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'test',
      clusters: [{ name: 'c', cluster: { server: this.url } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'c', user: 'u', namespace } }],
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const url = new URL(req.url ?? '/', this.url);
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && ns) {
      const name = decodeURIComponent(ns[1] as string);
      const annotations = this.options.namespaces[name];
      if (!annotations) return send(res, 404, status(404, 'NotFound', `namespaces "${name}" not found`));
      return send(res, 200, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, annotations },
        status: { phase: 'Active' },
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
      const items = (this.options.nodes ?? []).map((n) => ({
        metadata: { name: n.name },
        status: {
          allocatable: {
            cpu: '16',
            'ephemeral-storage': n.ephemeralStorage,
            ...(n.gpus ? { 'nvidia.com/gpu': String(n.gpus) } : {}),
          },
        },
      }));
      return send(res, 200, { apiVersion: 'v1', kind: 'NodeList', metadata: {}, items });
    }
    if (req.method !== 'POST')
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      this.violations.push(`${url.pathname}: content-type ${req.headers['content-type']}`);
    }
    const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as Record<string, unknown>;
    if (url.pathname === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      this.expectKind(body, 'authentication.k8s.io/v1', 'SelfSubjectReview');
      return send(res, 201, {
        ...body,
        status: { userInfo: { username: this.options.username, groups: ['system:authenticated'] } },
      });
    }
    if (url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      this.expectKind(body, 'authorization.k8s.io/v1', 'SelfSubjectAccessReview');
      const attrs = ((body.spec ?? {}) as { resourceAttributes?: Record<string, unknown> }).resourceAttributes;
      if (!attrs) {
        this.violations.push('SelfSubjectAccessReview without spec.resourceAttributes');
        return send(res, 400, status(400, 'BadRequest', 'spec.resourceAttributes: Required value'));
      }
      for (const k of Object.keys(attrs))
        if (!RESOURCE_ATTRIBUTES.has(k)) this.violations.push(`unknown field resourceAttributes.${k}`);
      for (const k of ['verb', 'resource', 'namespace']) {
        if (typeof attrs[k] !== 'string' || attrs[k] === '') this.violations.push(`resourceAttributes.${k} missing`);
      }
      const asked: Rule = {
        verb: String(attrs.verb),
        group: String(attrs.group ?? ''),
        resource: String(attrs.resource),
        ...(attrs.subresource ? { subresource: String(attrs.subresource) } : {}),
        namespace: String(attrs.namespace),
      };
      this.reviews.push(asked);
      const match = this.options.allow.find(
        (r) =>
          r.verb === asked.verb &&
          r.group === asked.group &&
          r.resource === asked.resource &&
          (r.subresource ?? '') === (asked.subresource ?? '') &&
          r.namespace === asked.namespace,
      );
      // The real RBAC authorizer answers a denial with allowed:false and, usually, no reason at all.
      return send(res, 201, { ...body, status: match ? { allowed: true, reason: match.reason } : { allowed: false } });
    }
    return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }

  private expectKind(body: Record<string, unknown>, apiVersion: string, kind: string): void {
    if (body.apiVersion !== apiVersion || body.kind !== kind) {
      this.violations.push(`expected ${apiVersion} ${kind}, got ${String(body.apiVersion)} ${String(body.kind)}`);
    }
  }
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}
