/**
 * A faithful HTTP double of the Kubeflow Model Registry REST API (v1alpha3) on 127.0.0.1, for the endpoints modelcar
 * uses, with in-memory state. It is held to the upstream OpenAPI document vendored in `test/schemas/`:
 *
 * - every request body is validated against the operation's request schema, with unknown fields rejected (400,
 *   `json: unknown field "x"`) because the Go server decodes with DisallowUnknownFields, and read-only fields
 *   (`createTimeSinceEpoch`, …) rejected because the Create schemas do not have them;
 * - path and query parameters are validated against their parameter schemas;
 * - every response the double sends (status and JSON body) is validated against the operation's response schema,
 *   with unknown fields rejected too, so the double cannot drift from the spec. Violations are collected in
 *   `violations`; tests assert it stays empty.
 *
 * The schema is OpenAPI 3.0, which plain JSON-Schema validators do not fully speak: `allOf` composition has no
 * `additionalProperties: false` anywhere (only the Go decoder is strict), and `discriminator` + `mapping` decides
 * which `oneOf` branch applies. We therefore validate with draft 2019-09 and add `unevaluatedProperties: false` at
 * every place a named schema is used (request body, response body, array items), and turn each discriminator
 * mapping into `oneOf` branches that pin the discriminator value with `const`.
 *
 * Auth is what kube-rbac-proxy in front of the server does: a missing or wrong Bearer token gets a plain-text 401
 * (not the API's JSON error), and `forbid` answers every request like the proxy or an oauth-proxy login page would.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv2019, type ErrorObject, type ValidateFunction } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

type Json = Record<string, unknown>;

export const OPENAPI_FILE = fileURLToPath(
  new URL('../../../test/schemas/model-registry-openapi.yaml', import.meta.url),
);
const PREFIX = '/api/model_registry/v1alpha3';

export type AuthStyle = 'json' | 'text' | 'html';

/** What a hostile server sends instead: JSON of any shape, or raw text. */
export interface HostileAnswer {
  status?: number;
  contentType?: string;
  /** A string is sent as it is; anything else as JSON. */
  body: unknown;
}
export type EntityKind = 'registered-model' | 'model-version' | 'model-artifact';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The raw Authorization header, so tests can check which token was sent (never printed by the double). */
  authorization: string | undefined;
  body: unknown;
  status: number;
}

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  paramNames: string[];
  operationId: string;
  parameters: Json[];
  requestSchemaRef?: string;
  responses: Record<string, string | undefined>;
}

// ---------------------------------------------------------------------------------------------------------------
// The spec, compiled

class Spec {
  readonly operations: Operation[] = [];
  private readonly ajv: Ajv2019;
  private readonly cache = new Map<string, ValidateFunction>();
  private readonly doc: Json;

  constructor(file: string) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(
        `cannot read the Model Registry OpenAPI schema at ${file} (${String(e)}); it is vendored in test/schemas/ (see its README)`,
      );
    }
    this.doc = parse(text) as Json;
    const components = this.doc.components as Json;
    this.ajv = new Ajv2019({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
    this.ajv.addKeyword({ keyword: 'example' });
    // the container of the component schemas below: refs point into it, it is not itself a keyword
    this.ajv.addKeyword({ keyword: 'components' });
    this.ajv.addFormat('int64', true);
    this.ajv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    this.ajv.addFormat('double', { type: 'number', validate: () => true });
    this.ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
    this.ajv.addFormat('uri', (s: string) => URL.canParse(s));
    // two copies: in requests a read-only property must not appear at all; in responses it is ordinary
    this.ajv.addSchema({ $id: 'request.json', components: prepare(components, 'request') });
    this.ajv.addSchema({ $id: 'response.json', components: prepare(components, 'response') });

    for (const [template, item] of Object.entries(this.doc.paths as Record<string, Json>)) {
      const shared = (item.parameters as Json[] | undefined) ?? [];
      for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
        const op = item[method] as Json | undefined;
        if (!op) continue;
        const paramNames: string[] = [];
        const regex = new RegExp(
          `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, name: string) => {
            paramNames.push(name);
            return '([^/]+)';
          })}$`,
        );
        const body = (op.requestBody as Json | undefined)?.content as Json | undefined;
        const responses: Record<string, string | undefined> = {};
        for (const [status, r] of Object.entries(op.responses as Record<string, Json>)) {
          responses[status] = this.responseSchemaRef(r);
        }
        this.operations.push({
          method: method.toUpperCase(),
          template,
          regex,
          paramNames,
          operationId: String(op.operationId),
          parameters: [...shared, ...((op.parameters as Json[] | undefined) ?? [])].map((p) => this.deref(p)),
          requestSchemaRef: ((body?.['application/json'] as Json | undefined)?.schema as Json | undefined)?.$ref as
            | string
            | undefined,
          responses,
        });
      }
    }
  }

  route(method: string, path: string): { op: Operation; params: Record<string, string> } | undefined {
    for (const op of this.operations) {
      if (op.method !== method) continue;
      const m = op.regex.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      op.paramNames.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { op, params };
    }
    return undefined;
  }

  /** Errors for path and query parameters, as the generated Go router would report them. */
  checkParameters(op: Operation, path: Record<string, string>, query: Record<string, string>): string[] {
    const errors: string[] = [];
    for (const p of op.parameters) {
      const name = String(p.name);
      const value = p.in === 'path' ? path[name] : p.in === 'query' ? query[name] : undefined;
      if (value === undefined) {
        if (p.required) errors.push(`required parameter ${name} is missing`);
        continue;
      }
      const v = this.validator(JSON.stringify({ ...(p.schema as Json) }), 'request', p.schema as Json);
      if (!v(value)) errors.push(`parameter ${name}: ${describe(v.errors)}`);
    }
    return errors;
  }

  validate(ref: string, mode: 'request' | 'response', data: unknown): ErrorObject[] {
    const v = this.validator(`${mode}:${ref}`, mode, { $ref: ref, unevaluatedProperties: false });
    return v(data) ? [] : [...(v.errors ?? [])];
  }

  private validator(key: string, mode: 'request' | 'response', schema: Json): ValidateFunction {
    const cacheKey = `${mode}|${key}`;
    let v = this.cache.get(cacheKey);
    if (!v) {
      v = this.ajv.compile({ $id: `${mode}-${this.cache.size}.json`, ...rebase(schema, `${mode}.json`) });
      this.cache.set(cacheKey, v);
    }
    return v;
  }

  private responseSchemaRef(r: Json): string | undefined {
    const resolved = this.deref(r);
    const content = resolved.content as Json | undefined;
    return ((content?.['application/json'] as Json | undefined)?.schema as Json | undefined)?.$ref as
      | string
      | undefined;
  }

  private deref(node: Json): Json {
    const ref = node.$ref;
    if (typeof ref !== 'string') return node;
    let cur: unknown = this.doc;
    for (const part of ref.replace(/^#\//, '').split('/')) cur = (cur as Json)[part];
    return cur as Json;
  }
}

/** `#/components/...` → `request.json#/components/...` so standalone schemas resolve into the loaded document. */
function rebase(node: Json, docId: string): Json {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (n === null || typeof n !== 'object') return n;
    const out: Json = {};
    for (const [k, v] of Object.entries(n as Json)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${docId}${v}` : walk(v);
    }
    return out;
  };
  return walk(node) as Json;
}

/** Turn the OpenAPI 3.0 component schemas into draft 2019-09 that is as strict as the Go server. */
function prepare(components: Json, mode: 'request' | 'response'): Json {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const src = node as Json;
    if (mode === 'request' && src.readOnly === true) return false;
    const out: Json = {};
    for (const [k, v] of Object.entries(src)) {
      if (k === 'discriminator' || k === 'links') continue;
      out[k] = walk(v);
    }
    const disc = src.discriminator as { propertyName: string; mapping?: Record<string, string> } | undefined;
    if (disc?.mapping && Array.isArray(src.oneOf)) {
      out.oneOf = Object.entries(disc.mapping).map(([value, ref]) => ({
        allOf: [{ $ref: ref }],
        properties: { [disc.propertyName]: { const: value } },
        required: [disc.propertyName],
      }));
    }
    const items = out.items as Json | undefined;
    if (out.type === 'array' && items && typeof items.$ref === 'string') {
      out.items = { ...items, unevaluatedProperties: false };
    }
    return out;
  };
  // `responses`, `parameters`, `links` are not schemas; only schemas are needed for validation
  return { schemas: walk(components.schemas) };
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) =>
      e.keyword === 'unevaluatedProperties'
        ? `json: unknown field "${(e.params as { unevaluatedProperty: string }).unevaluatedProperty}"${e.instancePath ? ` at ${e.instancePath}` : ''}`
        : `${e.instancePath || '/'} ${e.message ?? e.keyword}`,
    )
    .filter((s, i, all) => all.indexOf(s) === i)
    .join('; ');
}

let specSingleton: Spec | undefined;
function spec(): Spec {
  specSingleton ??= new Spec(OPENAPI_FILE);
  return specSingleton;
}

// ---------------------------------------------------------------------------------------------------------------
// The server

interface Stored extends Json {
  id: string;
}

class HttpError {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface ModelRegistryDoubleOptions {
  /** Bearer token the "proxy" in front of the server accepts; unset = no auth (like a port-forward to :8080). */
  token?: string;
  /** A second token the proxy lets read but not write (an identity with "get" but not "create" on the service). */
  readOnlyToken?: string;
}

export class ModelRegistryDouble {
  /** Base URL of the registry (without the API path), e.g. `http://127.0.0.1:41234`. */
  url = '';
  /** Bearer token required on every request; unset = no auth. */
  token: string | undefined;
  /** Accepted for GET only; any other method is refused 403 as kube-rbac-proxy refuses verb create/patch. */
  readOnlyToken: string | undefined;
  /** How a missing/wrong token is refused: kube-rbac-proxy answers plain text. */
  authStyle: AuthStyle = 'text';
  /** Answer every request with this, as an auth proxy denying the identity would. */
  forbid: { status: 401 | 403; style: AuthStyle } | undefined;
  /** Answer the next N API requests with 500 (or `failStatus`). */
  failNext = 0;
  failStatus: 500 | 503 = 500;
  /** Page size cap for list endpoints, to exercise pagination. */
  maxPageSize = 100;
  /**
   * A hostile or broken server, by operationId: the real answer (after the request was validated and the state
   * changed) goes through this function and what it returns is sent instead, unchecked by the schema on purpose:
   * `{}`, `[1,2,3]`, objects without `id`, ids like `../..`, HTML, invalid JSON.
   */
  hostile: Partial<Record<string, (real: { status: number; body: Json }) => HostileAnswer>> = {};

  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];

  private readonly server: Server;
  private readonly races = new Map<EntityKind, ((body: Json) => Json) | undefined>();
  private readonly registeredModels = new Map<string, Stored>();
  private readonly modelVersions = new Map<string, Stored>();
  private readonly artifacts = new Map<string, Stored & { modelVersionId: string }>();
  // MLMD keeps models and versions in the contexts table, artifacts in their own: two id sequences
  private contextSeq = 0;
  private artifactSeq = 0;
  private clock = 1_700_000_000_000;

  private constructor(options: ModelRegistryDoubleOptions) {
    spec(); // load and compile the schema before the first request, so a missing schema fails at start
    this.token = options.token;
    this.readOnlyToken = options.readOnlyToken;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        this.violations.push(`double crashed on ${req.method} ${req.url}: ${String(e)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  static async start(options: ModelRegistryDoubleOptions = {}): Promise<ModelRegistryDouble> {
    const d = new ModelRegistryDouble(options);
    await new Promise<void>((resolve, reject) => {
      d.server.once('error', reject);
      d.server.listen(0, '127.0.0.1', () => resolve());
    });
    d.url = `http://127.0.0.1:${(d.server.address() as AddressInfo).port}`;
    return d;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * On the next create of `kind`, act as a concurrent client that created the same object first (optionally
   * changed by `mutate`), then answer this create with 409 as the real server does.
   */
  raceNextCreate(kind: EntityKind, mutate?: (body: Json) => Json): void {
    this.races.set(kind, mutate);
  }

  counts(): { registeredModels: number; modelVersions: number; modelArtifacts: number } {
    return {
      registeredModels: this.registeredModels.size,
      modelVersions: this.modelVersions.size,
      modelArtifacts: [...this.artifacts.values()].filter((a) => a.artifactType === 'model-artifact').length,
    };
  }

  /** Requests that could change state. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  /** Copies of the stored objects, as the API would return them. */
  snapshot(): { registeredModels: Json[]; modelVersions: Json[]; artifacts: Json[] } {
    return {
      registeredModels: [...this.registeredModels.values()].map((o) => structuredClone(o)),
      modelVersions: [...this.modelVersions.values()].map((o) => structuredClone(o)),
      artifacts: [...this.artifacts.values()].map((o) => this.publicArtifact(o)),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const raw = await readBody(req);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      authorization: req.headers.authorization,
      body: raw === '' ? undefined : safeJson(raw),
      status: 0,
    };
    this.requests.push(record);
    const send = (status: number, contentType: string, body: string) => {
      record.status = status;
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };

    // --- the auth proxy in front of the server
    if (this.forbid) {
      const [type, body] = proxyRefusal(this.forbid.status, this.forbid.style);
      send(this.forbid.status, type, body);
      return;
    }
    // kube-rbac-proxy maps the HTTP method to a Kubernetes verb (GET get, POST create, PATCH patch) and asks a
    // SubjectAccessReview before forwarding anything.
    if (this.readOnlyToken !== undefined && req.headers.authorization === `Bearer ${this.readOnlyToken}`) {
      if (record.method !== 'GET') {
        const verb = record.method === 'POST' ? 'create' : record.method === 'PATCH' ? 'patch' : 'update';
        send(
          403,
          'text/plain; charset=utf-8',
          `Forbidden (user=system:serviceaccount:ci:reader, verb=${verb}, resource=services, subresource=)\n`,
        );
        return;
      }
    } else if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      const [type, body] = proxyRefusal(401, this.authStyle);
      send(401, type, body);
      return;
    }

    // --- the API server
    const routed = url.pathname.startsWith(PREFIX) ? spec().route(record.method, url.pathname) : undefined;
    if (!routed) {
      send(404, 'text/plain; charset=utf-8', '404 page not found\n'); // Go's default NotFound handler
      return;
    }
    const { op, params } = routed;
    const reply = (status: number, body: Json) => {
      this.checkResponse(op, status, body);
      send(status, 'application/json; charset=UTF-8', JSON.stringify(body));
    };
    const fail = (status: number, message: string) =>
      reply(status, { code: STATUS_TEXT[status] ?? String(status), message });

    if (this.failNext > 0) {
      this.failNext--;
      fail(this.failStatus, 'rpc error: code = Unavailable desc = connection error: database is locked');
      return;
    }
    const paramErrors = spec().checkParameters(op, params, query);
    if (paramErrors.length > 0) {
      fail(400, paramErrors.join('; '));
      return;
    }
    let body: unknown;
    if (op.requestSchemaRef) {
      try {
        body = JSON.parse(raw);
      } catch (e) {
        fail(400, `invalid character in request body: ${String(e)}`);
        return;
      }
      const errors = spec().validate(op.requestSchemaRef, 'request', body);
      if (errors.length > 0) {
        fail(400, describe(errors));
        return;
      }
    }
    let real: { status: number; body: Json };
    try {
      const [status, out] = this.dispatch(op.operationId, params, query, body as Json);
      real = { status, body: out };
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      real = { status: e.status, body: { code: STATUS_TEXT[e.status] ?? String(e.status), message: e.message } };
    }
    const hostile = this.hostile[op.operationId];
    if (hostile) {
      const answer = hostile(structuredClone(real));
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      send(answer.status ?? real.status, answer.contentType ?? 'application/json; charset=UTF-8', text);
      return;
    }
    reply(real.status, real.body);
  }

  private checkResponse(op: Operation, status: number, body: Json): void {
    const where = `${op.operationId} → ${status}`;
    if (!(String(status) in op.responses)) {
      this.violations.push(`${where}: status not declared in the OpenAPI document`);
      return;
    }
    const ref = op.responses[String(status)];
    if (!ref) return;
    const errors = spec().validate(ref, 'response', body);
    if (errors.length > 0) this.violations.push(`${where}: ${describe(errors)}`);
  }

  private dispatch(
    opId: string,
    params: Record<string, string>,
    query: Record<string, string>,
    body: Json,
  ): [number, Json] {
    switch (opId) {
      case 'findRegisteredModel':
        return [200, this.findRegisteredModel(query)];
      case 'createRegisteredModel':
        return [201, this.createRegisteredModel(body)];
      case 'getRegisteredModel':
        return [200, this.mustGet(this.registeredModels, params.registeredmodelId, 'registered model')];
      case 'findModelVersion':
        return [200, this.findModelVersion(query)];
      case 'createModelVersion':
        return [201, this.createModelVersion(body)];
      case 'getModelVersion':
        return [200, this.mustGet(this.modelVersions, params.modelversionId, 'model version')];
      case 'getModelVersionArtifacts':
        return [200, this.listVersionArtifacts(String(params.modelversionId), query)];
      case 'upsertModelVersionArtifact':
        return this.upsertVersionArtifact(String(params.modelversionId), body);
      default:
        throw new HttpError(501, `the double does not implement ${opId}`);
    }
  }

  private findRegisteredModel(q: Record<string, string>): Json {
    if (q.name === undefined && q.externalId === undefined)
      throw new HttpError(400, 'invalid parameters call, supply either name or externalId');
    const found = [...this.registeredModels.values()].find(
      (m) =>
        (q.name === undefined || m.name === q.name) && (q.externalId === undefined || m.externalId === q.externalId),
    );
    if (!found)
      throw new HttpError(
        404,
        `no registered models found for name=${q.name ?? ''}, externalId=${q.externalId ?? ''}: not found`,
      );
    return found;
  }

  private createRegisteredModel(body: Json): Json {
    const create = (b: Json): Stored => {
      if ([...this.registeredModels.values()].some((m) => m.name === b.name))
        throw new HttpError(409, `registered model with name ${String(b.name)} already exists: conflict`);
      this.checkExternalId(b);
      const stored = { state: 'LIVE', ...this.stamp(b, String(++this.contextSeq)) };
      this.registeredModels.set(stored.id, stored);
      return stored;
    };
    this.maybeRace('registered-model', body, create);
    return create(body);
  }

  private findModelVersion(q: Record<string, string>): Json {
    const byName = q.name !== undefined && q.parentResourceId !== undefined;
    if (!byName && q.externalId === undefined)
      throw new HttpError(400, 'invalid parameters call, supply either (name and parentResourceId), or externalId');
    const found = [...this.modelVersions.values()].find((v) =>
      byName ? v.name === q.name && v.registeredModelId === q.parentResourceId : v.externalId === q.externalId,
    );
    if (!found) throw new HttpError(404, `no model versions found for name=${q.name ?? ''}: not found`);
    return found;
  }

  private createModelVersion(body: Json): Json {
    const create = (b: Json): Stored => {
      if (!this.registeredModels.has(String(b.registeredModelId)))
        throw new HttpError(404, `no registered model found for id ${String(b.registeredModelId)}: not found`);
      if (
        [...this.modelVersions.values()].some((v) => v.registeredModelId === b.registeredModelId && v.name === b.name)
      )
        throw new HttpError(409, `model version with name ${String(b.name)} already exists: conflict`);
      this.checkExternalId(b);
      const stored = { state: 'LIVE', ...this.stamp(b, String(++this.contextSeq)) };
      this.modelVersions.set(stored.id, stored);
      return stored;
    };
    this.maybeRace('model-version', body, create);
    return create(body);
  }

  private listVersionArtifacts(versionId: string, q: Record<string, string>): Json {
    this.mustGet(this.modelVersions, versionId, 'model version');
    const all = [...this.artifacts.values()]
      .filter((a) => a.modelVersionId === versionId)
      .filter((a) => q.artifactType === undefined || a.artifactType === q.artifactType)
      .filter((a) => q.name === undefined || a.name === q.name)
      .sort((a, b) => Number(a.id) - Number(b.id));
    const pageSize = Math.min(Number(q.pageSize ?? this.maxPageSize), this.maxPageSize);
    const offset = q.nextPageToken ? Number(Buffer.from(q.nextPageToken, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, 'invalid nextPageToken');
    const items = all.slice(offset, offset + pageSize).map((a) => this.publicArtifact(a));
    const next = offset + pageSize < all.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : '';
    return { items, size: items.length, pageSize, nextPageToken: next };
  }

  private upsertVersionArtifact(versionId: string, body: Json): [number, Json] {
    this.mustGet(this.modelVersions, versionId, 'model version');
    if (body.id !== undefined) {
      const existing = this.artifacts.get(String(body.id));
      if (!existing || existing.modelVersionId !== versionId)
        throw new HttpError(404, `no artifact found for id ${String(body.id)}: not found`);
      Object.assign(existing, body, { lastUpdateTimeSinceEpoch: String(++this.clock) });
      return [200, this.publicArtifact(existing)];
    }
    const create = (b: Json): Stored => {
      const name = typeof b.name === 'string' ? b.name : randomUUID();
      if ([...this.artifacts.values()].some((a) => a.modelVersionId === versionId && a.name === name))
        throw new HttpError(409, `artifact with name ${name} already exists: conflict`);
      this.checkExternalId(b);
      const defaults =
        b.artifactType === 'model-artifact' || b.artifactType === 'doc-artifact' ? { state: 'UNKNOWN' } : {};
      const stored = {
        ...defaults,
        ...this.stamp({ ...b, name }, String(++this.artifactSeq)),
        modelVersionId: versionId,
      };
      this.artifacts.set(stored.id, stored);
      return stored;
    };
    if (body.artifactType === 'model-artifact') this.maybeRace('model-artifact', body, create);
    return [201, this.publicArtifact(create(body))];
  }

  private maybeRace(kind: EntityKind, body: Json, create: (b: Json) => Stored): void {
    if (!this.races.has(kind)) return;
    const mutate = this.races.get(kind);
    this.races.delete(kind);
    const theirs = create(structuredClone(mutate ? mutate(structuredClone(body)) : body));
    throw new HttpError(409, `${kind.replace('-', ' ')} with name ${String(theirs.name)} already exists: conflict`);
  }

  private checkExternalId(b: Json): void {
    if (b.externalId === undefined) return;
    const all = [...this.registeredModels.values(), ...this.modelVersions.values(), ...this.artifacts.values()];
    if (all.some((o) => o.externalId === b.externalId))
      throw new HttpError(409, `external id ${String(b.externalId)} already exists: conflict`);
  }

  private stamp(b: Json, id: string): Stored {
    const now = String(++this.clock);
    return {
      customProperties: {},
      ...structuredClone(b),
      id,
      createTimeSinceEpoch: now,
      lastUpdateTimeSinceEpoch: now,
    };
  }

  private mustGet(map: Map<string, Stored>, id: string | undefined, what: string): Stored {
    const found = id === undefined ? undefined : map.get(id);
    if (!found) throw new HttpError(404, `no ${what} found for id ${id}: not found`);
    return found;
  }

  private publicArtifact(a: Stored & { modelVersionId?: string }): Json {
    const { modelVersionId: _, ...rest } = a;
    return structuredClone(rest);
  }
}

/** What kube-rbac-proxy (text) or an OpenShift oauth-proxy (HTML) sends; `json` is a server-style error body. */
function proxyRefusal(status: 401 | 403, style: AuthStyle): [string, string] {
  if (style === 'json') {
    return [
      'application/json',
      JSON.stringify({ code: STATUS_TEXT[status], message: `${STATUS_TEXT[status]}: access denied` }),
    ];
  }
  if (style === 'html') {
    return [
      'text/html; charset=utf-8',
      '<!DOCTYPE html>\n<html lang="en" charset="utf-8">\n<head>\n<title>Log In</title>\n</head>\n<body>\n<form method="GET" action="/oauth/start"><button type="submit">Log in with OpenShift</button></form>\n</body>\n</html>\n',
    ];
  }
  return [
    'text/plain; charset=utf-8',
    status === 401
      ? 'Unauthorized\n'
      : 'Forbidden (user=system:serviceaccount:ci:builder, verb=get, resource=services, subresource=)\n',
  ];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
