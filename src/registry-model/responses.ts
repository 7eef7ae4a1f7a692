/**
 * The Model Registry's answers, checked before any id in them is used: an id goes into URL paths of the next calls,
 * into Kubernetes labels (`deploy --registered-model-id`) and into what `register` prints, so `{}`, `[1,2,3]` or an
 * object without `id` is that server's fault, named with the request and what it sent, never
 * "registered model id: undefined" with exit 0. Hand-written guards of the fields modelcar uses, matched to the
 * OpenAPI document (test/schemas/model-registry-openapi.yaml) by a test; why not a validator at run time: see
 * docs/dependencies.md.
 */
import { k8sValueProblem } from '../deploy/k8s-values.js';
import { ModelcarError } from '../errors.js';
import type { Artifact, ArtifactState, ListPage, ModelArtifact, ModelVersion, RegisteredModel } from './types.js';

/** Which server answered which request, and how to keep the token out of what is quoted. */
export interface ResponseContext {
  readonly server: string;
  /** e.g. `GET /api/model_registry/v1alpha3/registered_model` */
  readonly request: string;
  readonly scrub: (text: string) => string;
}

const STATES = new Set(['LIVE', 'ARCHIVED']);
const ARTIFACT_STATES = new Set<ArtifactState>([
  'UNKNOWN',
  'PENDING',
  'LIVE',
  'MARKED_FOR_DELETION',
  'DELETED',
  'ABANDONED',
  'REFERENCE',
]);

type Json = Record<string, unknown>;

function excerpt(value: unknown, scrub: (s: string) => string): string {
  const text = scrub(JSON.stringify(value) ?? String(value));
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

function refuse(where: ResponseContext, what: string, problem: string, sent: unknown): ModelcarError {
  return new ModelcarError(
    'model-registry',
    `the Model Registry at ${where.server} answered ${where.request} with ${what} ${problem}: ${excerpt(sent, where.scrub)}`,
    'the server (or a proxy in front of it) does not speak the Model Registry REST API v1alpha3: check --model-registry; nothing was registered from this answer',
  );
}

/** Why `id` cannot be a Model Registry id, or undefined when it can (they become label values and URL segments). */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return 'has no id';
  return k8sValueProblem('label-value', id)
    ? `has the id ${JSON.stringify(id.length > 70 ? `${id.slice(0, 70)}…` : id)}, which is not a plain identifier (letters, digits, '-', '_' and '.', at most 63)`
    : undefined;
}

function object(json: unknown, what: string, where: ResponseContext): Json {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw refuse(where, what, Array.isArray(json) ? 'that is a list, not an object' : 'that is not an object', json);
  }
  return json as Json;
}

/** The fields every object we read shares: an id, optional name, state and custom properties of the right types. */
function entity(json: unknown, what: string, where: ResponseContext, states: Set<string>): Json {
  const o = object(json, what, where);
  const id = idProblem(o.id);
  if (id) throw refuse(where, what, `that ${id}`, json);
  for (const key of ['name', 'uri', 'description', 'owner', 'author', 'registeredModelId', 'modelFormatName']) {
    if (o[key] !== undefined && typeof o[key] !== 'string')
      throw refuse(where, what, `whose ${key} is not a string`, json);
  }
  if (o.state !== undefined && !states.has(o.state as string)) throw refuse(where, what, 'with an unknown state', json);
  const props = o.customProperties;
  if (props !== undefined && (props === null || typeof props !== 'object' || Array.isArray(props))) {
    throw refuse(where, what, 'whose customProperties is not an object', json);
  }
  return o;
}

function named(o: Json, name: string | undefined, what: string, where: ResponseContext): void {
  if (name !== undefined && o.name !== name) {
    throw refuse(where, what, `named ${JSON.stringify(o.name)}, not ${JSON.stringify(name)} as asked`, o);
  }
}

export function readRegisteredModel(json: unknown, where: ResponseContext, asked?: { name: string }): RegisteredModel {
  const o = entity(json, 'a registered model', where, STATES);
  named(o, asked?.name, 'a registered model', where);
  return o as unknown as RegisteredModel;
}

export function readModelVersion(
  json: unknown,
  where: ResponseContext,
  asked?: { name?: string; registeredModelId: string },
): ModelVersion {
  const what = 'a model version';
  const o = entity(json, what, where, STATES);
  named(o, asked?.name, what, where);
  if (asked && o.registeredModelId !== undefined && o.registeredModelId !== asked.registeredModelId) {
    throw refuse(
      where,
      what,
      `of registered model ${JSON.stringify(o.registeredModelId)}, not ${asked.registeredModelId}`,
      o,
    );
  }
  return o as unknown as ModelVersion;
}

export function readModelArtifact(json: unknown, where: ResponseContext): ModelArtifact {
  const o = entity(json, 'a model artifact', where, ARTIFACT_STATES);
  if (o.artifactType !== 'model-artifact') throw refuse(where, 'a model artifact', 'of another artifactType', o);
  return o as unknown as ModelArtifact;
}

export function readArtifactPage(json: unknown, where: ResponseContext): ListPage<Artifact> {
  const page = object(json, 'an artifact list', where);
  if (!Array.isArray(page.items)) throw refuse(where, 'an artifact list', 'without an items list', json);
  if (page.nextPageToken !== undefined && typeof page.nextPageToken !== 'string') {
    throw refuse(where, 'an artifact list', 'whose nextPageToken is not a string', json);
  }
  const items = page.items.map((item) => {
    const a = object(item, 'an artifact list item', where);
    if (typeof a.artifactType !== 'string') throw refuse(where, 'an artifact list item', 'without an artifactType', a);
    return a.artifactType === 'model-artifact' ? readModelArtifact(a, where) : (a as unknown as Artifact);
  });
  return { ...(page as unknown as ListPage<Artifact>), items };
}
