/**
 * A Kubernetes API server double on loopback for the few endpoints `modelcar doctor` reads: /version, namespaces,
 * nodes (with `status.nodeInfo` as the kubelet reports it), ConfigMaps and Deployments (KServe's config and
 * controller), the OpenShift config API group, SelfSubjectReview and SelfSubjectAccessReview. Objects have the
 * k8s.io/api field names and shapes (NodeSystemInfo's `containerRuntimeVersion` is `cri-o://1.33.2`). It answers as the real API does (201 Created with the review
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
  readonly nodes?: readonly {
    name: string;
    ephemeralStorage: string;
    gpus?: number;
    /** `cri-o://1.33.2`, `containerd://2.1.1` as NodeSystemInfo.containerRuntimeVersion; default containerd 1.7. */
    runtime?: string;
    architecture?: string;
  }[];
  /** /version gitVersion; default v1.31.4. */
  readonly version?: string;
  /** Serves /apis/config.openshift.io/v1, as an OpenShift API server does. */
  readonly openshift?: boolean;
  /** `NAMESPACE/NAME` -> data. */
  readonly configMaps?: Readonly<Record<string, Record<string, string>>>;
  /** `NAMESPACE/NAME` -> the image of its one container (named `manager`, as KServe's controller). */
  readonly deployments?: Readonly<Record<string, string>>;
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
    if (req.method === 'GET' && url.pathname === '/version') {
      const gitVersion = this.options.version ?? 'v1.31.4';
      const [, major, minor] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? [];
      return send(res, 200, { major, minor, gitVersion, platform: 'linux/amd64' });
    }
    if (req.method === 'GET' && url.pathname === '/apis/config.openshift.io/v1') {
      if (!this.options.openshift)
        return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return send(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'config.openshift.io/v1',
        resources: [],
      });
    }
    const namespaced = /^\/(api\/v1|apis\/apps\/v1)\/namespaces\/([^/]+)\/(configmaps|deployments)\/([^/]+)$/.exec(
      url.pathname,
    );
    if (req.method === 'GET' && namespaced) {
      const [, , ns, kind, name] = namespaced as unknown as [string, string, string, string, string];
      const key = `${ns}/${name}`;
      if (kind === 'configmaps' && this.options.configMaps?.[key]) {
        return send(res, 200, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace: ns },
          data: this.options.configMaps[key],
        });
      }
      const image = kind === 'deployments' ? this.options.deployments?.[key] : undefined;
      if (image) {
        return send(res, 200, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, namespace: ns },
          spec: {
            selector: { matchLabels: { 'control-plane': name } },
            template: {
              metadata: { labels: { 'control-plane': name } },
              spec: { containers: [{ name: 'manager', image }] },
            },
          },
        });
      }
      return send(res, 404, status(404, 'NotFound', `${kind} "${name}" not found`));
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
          nodeInfo: {
            architecture: n.architecture ?? 'amd64',
            containerRuntimeVersion: n.runtime ?? 'containerd://1.7.27',
            kubeletVersion: this.options.version ?? 'v1.31.4',
            operatingSystem: 'linux',
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
