import { ModelcarError } from '../errors.js';
import { BODY_LIMITS, readCapped } from '../http/body.js';
import { type Credentials, HttpClient, type Response } from '../http/client.js';
import { redact } from '../http/redact.js';
import { httpUrl } from '../http/url.js';
import { describeBody, looksLikeHtml } from '../printable.js';
import {
  type ResponseContext,
  readArtifactPage,
  readModelArtifact,
  readModelVersion,
  readRegisteredModel,
} from './responses.js';
import { type TokenSource, tokenSource } from './token.js';
import type {
  ApiError,
  Artifact,
  ListPage,
  ModelArtifact,
  ModelArtifactCreate,
  ModelVersion,
  ModelVersionCreate,
  RegisteredModel,
  RegisteredModelCreate,
} from './types.js';

export const API_PATH = '/api/model_registry/v1alpha3';

export interface ModelRegistryClientOptions {
  /** `https://<name>-rest.<domain>`, `https://<gateway>/model-registry/<name>`, or with the API path already on. */
  url: string;
  token?: TokenSource;
  /** PEM bundle trusted in addition to the system roots (OpenShift service CA, private PKI). */
  caFile?: string;
  /** Per-request limit for headers and body; the API answers small JSON documents. */
  timeoutMs?: number;
  /** Environment for proxies and CA variables. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** Pages of artifacts followed at most: 100 per page, so 100,000 artifacts on one version. */
const MAX_PAGES = 1000;

type Method = 'GET' | 'POST' | 'PATCH';

interface CallOptions<T> {
  /** Checks the JSON of a 2xx answer and gives it its type (src/registry-model/responses.ts). */
  read: (json: unknown, where: ResponseContext) => T;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Turn a JSON 404 into `undefined` (the find endpoints answer 404 when nothing matches). */
  notFoundIsEmpty?: boolean;
}

/** An answer that carried a `{code, message}` error body; kept so callers can tell a 409 from other failures. */
export class ModelRegistryHttpError extends ModelcarError {
  constructor(
    readonly status: number,
    readonly apiError: ApiError | undefined,
    message: string,
    hint: string,
  ) {
    super('model-registry', message, hint);
  }
}

/**
 * A typed client for the few Model Registry endpoints registration needs. Every call reads the token again (rotated
 * service-account tokens keep working), sends it only in the Authorization header, and scrubs it from any text that
 * ends up in an error.
 */
export class ModelRegistryClient {
  /** The URL the user gave, without credentials or trailing slash: what error messages show. */
  readonly displayUrl: string;
  private readonly apiBase: URL;
  private readonly token: TokenSource;
  private readonly http: HttpClient;
  private readonly timeoutMs: number;

  constructor(options: ModelRegistryClientOptions) {
    this.apiBase = apiBaseUrl(options.url);
    this.displayUrl = `${this.apiBase.origin}${this.apiBase.pathname.slice(0, -API_PATH.length)}`;
    this.token = options.token ?? tokenSource();
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.http = new HttpClient({
      endpoint: `the Model Registry at ${this.displayUrl}`,
      tls: options.caFile ? { caFile: options.caFile } : {},
      ...(options.env ? { env: options.env } : {}),
      trustHint:
        'pass --ca-file with the CA that signed it (for the OpenShift service CA: /var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt, trusted automatically in a pod); verification stays on',
    });
  }

  get tokenDescription(): string {
    return this.token.describe;
  }

  /** How requests to the registry travel, for doctor: `direct` or `via proxy ...`. */
  get route(): string {
    return this.http.route(this.apiBase).label;
  }

  async close(): Promise<void> {
    // The dispatchers are shared by the process (src/http/dispatchers.ts).
  }

  /**
   * Proves, without writing anything, that this token may create objects, so `build --register` can fail before the
   * push instead of after it. The auth proxy in front of the registry (kube-rbac-proxy on OpenShift AI) authorizes a
   * POST as the Kubernetes verb "create" before the server sees it; a body the server must refuse (a field its
   * strict decoder does not know, and no name) then comes back 400 without touching the database. Refused by the
   * proxy: the token cannot write.
   */
  async checkCanWrite(): Promise<void> {
    try {
      // Any 2xx answer is already wrong (said below), whatever it holds: nothing in it is read.
      await this.call('POST', '/registered_models', { body: { modelcarWriteProbe: true }, read: () => undefined });
    } catch (e) {
      if (e instanceof ModelRegistryHttpError && e.apiError && (e.status === 400 || e.status === 422)) return;
      if (e instanceof ModelRegistryHttpError && (e.status === 401 || e.status === 403)) {
        throw new ModelcarError(
          'model-registry',
          `${this.displayUrl}: the token from ${this.token.describe} may not register models (${e.status} ${e.status === 401 ? 'Unauthorized' : 'Forbidden'} on create)`,
          e.status === 401
            ? (e.hint ?? 'get a fresh token (oc whoami -t, or oc create token SA)')
            : `the identity behind the token needs "create" and "get" on services/<registry-name> in the registries namespace (role registry-user-<registry-name>, or group <registry-name>-users)`,
          { cause: e },
        );
      }
      throw e;
    }
    throw new ModelcarError(
      'model-registry',
      `${this.displayUrl} accepted a registered model without a name: it does not behave as the v1alpha3 API does`,
      'check that --model-registry points at the Model Registry REST endpoint (https://<name>-rest.<domain>)',
    );
  }

  findRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    return this.call('GET', '/registered_model', {
      query: { name },
      notFoundIsEmpty: true,
      read: (json, where) => readRegisteredModel(json, where, { name }),
    });
  }

  async createRegisteredModel(body: RegisteredModelCreate): Promise<RegisteredModel> {
    const read = (json: unknown, where: ResponseContext) => readRegisteredModel(json, where, { name: body.name });
    return (await this.call('POST', '/registered_models', { body, read })) as RegisteredModel;
  }

  findModelVersion(name: string, registeredModelId: string): Promise<ModelVersion | undefined> {
    return this.call('GET', '/model_version', {
      query: { name, parentResourceId: registeredModelId },
      notFoundIsEmpty: true,
      read: (json, where) => readModelVersion(json, where, { name, registeredModelId }),
    });
  }

  async createModelVersion(body: ModelVersionCreate): Promise<ModelVersion> {
    const read = (json: unknown, where: ResponseContext) =>
      readModelVersion(json, where, { name: body.name, registeredModelId: body.registeredModelId });
    return (await this.call('POST', '/model_versions', { body, read })) as ModelVersion;
  }

  /** All model artifacts of a version, following `nextPageToken` to the end. */
  async listModelArtifacts(modelVersionId: string): Promise<ModelArtifact[]> {
    const out: ModelArtifact[] = [];
    const seen = new Set<string>();
    let nextPageToken: string | undefined;
    for (let pages = 1; ; pages++) {
      if (pages > MAX_PAGES) {
        throw new ModelcarError(
          'model-registry',
          `${this.displayUrl} kept paging the artifacts of model version ${modelVersionId} past ${MAX_PAGES} pages`,
          'the Model Registry is broken or hostile; check its version and logs',
        );
      }
      const page = (await this.call('GET', `/model_versions/${segment(modelVersionId)}/artifacts`, {
        query: { artifactType: 'model-artifact', pageSize: '100', nextPageToken },
        read: readArtifactPage,
      })) as ListPage<Artifact>;
      for (const a of page.items ?? []) if (a.artifactType === 'model-artifact') out.push(a as ModelArtifact);
      // a server that repeats its token would loop forever; stop at the first repeat.
      if (!page.nextPageToken || seen.has(page.nextPageToken) || (page.items ?? []).length === 0) return out;
      seen.add(page.nextPageToken);
      nextPageToken = page.nextPageToken;
    }
  }

  /** Creates the artifact and links it to the version in one call (what the Python client and the UI do). */
  async createModelVersionArtifact(modelVersionId: string, body: ModelArtifactCreate): Promise<ModelArtifact> {
    return (await this.call('POST', `/model_versions/${segment(modelVersionId)}/artifacts`, {
      body,
      read: readModelArtifact,
    })) as ModelArtifact;
  }

  private async call<T>(method: Method, path: string, options: CallOptions<T>): Promise<T | undefined> {
    const url = new URL(this.apiBase.href + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const what = `${method} ${API_PATH}${path}`;
    const token = await this.token.read();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const credentials: Credentials | undefined = token
      ? { authorization: `Bearer ${token}`, origin: this.apiBase.origin }
      : undefined;

    let res: Response;
    let text: string;
    try {
      res = await this.http.send({
        method,
        url,
        headers,
        ...(credentials ? { credentials } : {}),
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        headersTimeoutMs: this.timeoutMs,
        bodyTimeoutMs: this.timeoutMs,
      });
      text = (await readCapped(res, BODY_LIMITS.apiJson, `the answer of ${this.displayUrl} to ${what}`)).toString(
        'utf8',
      );
    } catch (e) {
      if (e instanceof ModelcarError) throw e;
      throw await this.http.failure(url, e);
    }
    const status = res.statusCode;
    const contentType = String(res.headers['content-type'] ?? '');
    const json = parseJson(text);

    if (status >= 200 && status < 300) {
      if (json === undefined || typeof json !== 'object' || json === null) {
        throw new ModelcarError(
          'model-registry',
          `${this.displayUrl} answered ${what} with ${describeBody(contentType, text)}, not the JSON of the Model Registry API`,
          looksLikeHtml(contentType, text)
            ? 'an HTML page usually is the login page of an auth proxy: pass a token (--token-file) or use the registry REST route (https://<name>-rest.<domain>)'
            : 'check that --model-registry points at the Model Registry REST endpoint (https://<name>-rest.<domain>)',
        );
      }
      return options.read(json, { server: this.displayUrl, request: what, scrub: (t) => this.scrub(t) });
    }
    const apiError = asApiError(json);
    if (status === 404 && apiError && options.notFoundIsEmpty) return undefined;
    if (status >= 300 && status < 400) {
      throw new ModelcarError(
        'model-registry',
        `${this.displayUrl} answered ${what} with a redirect (${status}) to ${this.scrub(String(res.headers.location ?? '?'))}`,
        /oauth|login|sign_in/i.test(String(res.headers.location ?? ''))
          ? `that is an auth proxy sending us to its login page: ${this.authHint(token, 401)}`
          : 'use the final URL of the Model Registry REST endpoint (https://<name>-rest.<domain>)',
      );
    }
    if ((status === 401 || status === 403) && !apiError) {
      // kube-rbac-proxy / oauth-proxy answer in plain text or HTML, not with the API's error body.
      const refused = token
        ? `refused the token from ${this.token.describe}`
        : 'refused the request: no token was sent';
      throw new ModelRegistryHttpError(
        status,
        undefined,
        `${this.displayUrl} ${refused} (${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'} from ${what}; ${describeBody(contentType, this.scrub(text))})`,
        this.authHint(token, status),
      );
    }
    if (apiError) {
      const message = this.scrub(apiError.message).replace(/\s+/g, ' ').trim();
      throw new ModelRegistryHttpError(
        status,
        apiError,
        `the Model Registry at ${this.displayUrl} refused ${what}: ${status} ${this.scrub(apiError.code)}: ${message}`,
        this.statusHint(status, token),
      );
    }
    throw new ModelRegistryHttpError(
      status,
      undefined,
      `${this.displayUrl} answered ${what} with ${status} and ${describeBody(contentType, this.scrub(text))}`,
      status === 404
        ? 'no Model Registry API at that address: check --model-registry (https://<name>-rest.<domain>, or https://<gateway>/model-registry/<name>)'
        : this.statusHint(status, token),
    );
  }

  private statusHint(status: number, token: string | undefined): string {
    if (status === 401 || status === 403) return this.authHint(token, status);
    if (status === 400 || status === 422)
      return 'the server rejected the request; if it names an unknown field the server is older than the v1alpha3 API modelcar speaks: upgrade it or report the server version';
    if (status === 404) return 'the object disappeared while modelcar was working (deleted concurrently?); rerun';
    if (status === 409) return 'another client changed the same object at the same moment; rerun the command';
    if (status >= 500)
      return 'the Model Registry server failed: check its pod logs and its database, then rerun (registration is idempotent)';
    return 'check --model-registry and rerun';
  }

  private authHint(token: string | undefined, status: number): string {
    if (!token)
      return 'pass --token-file FILE (e.g. from `oc whoami -t`), set MODEL_REGISTRY_TOKEN, or run in a pod whose service-account token is mounted';
    if (status === 401)
      return `the token from ${this.token.describe} is invalid or expired for this cluster: get a fresh one (oc whoami -t, or oc create token SA)`;
    return `the identity behind the token from ${this.token.describe} lacks access: it needs "get" on services/<registry-name> in the registries namespace (role registry-user-<registry-name>, or group <registry-name>-users)`;
  }

  /** Every string from the server or about the token passes the one redaction function before it is shown. */
  private scrub(text: string): string {
    return redact(text);
  }
}

/** Accepts the registry root (with an optional gateway prefix) or the full API base; returns the API base. */
export function apiBaseUrl(input: string): URL {
  const url = httpUrl(input, (problem, parsed) =>
    problem === 'not a URL'
      ? new ModelcarError(
          'usage',
          `--model-registry ${JSON.stringify(redact(input))} is not a URL`,
          'give the REST endpoint, e.g. https://my-registry-rest.apps.example.com',
        )
      : new ModelcarError(
          'usage',
          `--model-registry must be an http(s) URL, not ${parsed?.protocol}`,
          'e.g. https://my-registry-rest.apps.example.com',
        ),
  );
  if (url.username || url.password)
    throw new ModelcarError(
      'usage',
      '--model-registry must not carry credentials in the URL',
      'pass the token with --token-file or MODEL_REGISTRY_TOKEN instead',
    );
  if (url.search || url.hash)
    throw new ModelcarError(
      'usage',
      '--model-registry must not have a query or fragment',
      'e.g. https://my-registry-rest.apps.example.com',
    );
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith(API_PATH)) path = path.slice(0, -API_PATH.length);
  url.pathname = `${path}${API_PATH}`;
  return url;
}

function segment(id: string): string {
  // ids come from the server, but a path segment must never be able to walk elsewhere
  return encodeURIComponent(id);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asApiError(json: unknown): ApiError | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { code, message } = json as Record<string, unknown>;
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : undefined;
}
