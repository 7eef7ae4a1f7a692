/**
 * The hand-written guards of Model Registry answers (src/registry-model/responses.ts) held to the vendored OpenAPI
 * document: every field they check is a field of the schema with the type they expect, and every state the schema
 * allows is accepted; so a schema change that matters shows up here rather than as a refused real server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { isModelcarError } from '../../src/errors.js';
import {
  readArtifactPage,
  readModelArtifact,
  readModelVersion,
  readRegisteredModel,
} from '../../src/registry-model/responses.js';
import { OPENAPI_FILE } from '../support/model-registry-double.js';

type Json = Record<string, unknown>;
const doc = parse(readFileSync(OPENAPI_FILE, 'utf8')) as { components: { schemas: Record<string, Json> } };

/** The properties of a component schema, through `$ref` and `allOf`. */
function properties(name: string): Record<string, Json> {
  const out: Record<string, Json> = {};
  const walk = (node: Json): void => {
    if (typeof node.$ref === 'string') {
      walk(doc.components.schemas[node.$ref.split('/').pop() as string] as Json);
      return;
    }
    for (const part of (node.allOf as Json[] | undefined) ?? []) walk(part);
    Object.assign(out, node.properties ?? {});
  };
  walk({ $ref: `#/components/schemas/${name}` });
  return out;
}

function typeOf(prop: Json): string | undefined {
  if (typeof prop.type === 'string') return prop.type;
  if (typeof prop.$ref === 'string')
    return (doc.components.schemas[prop.$ref.split('/').pop() as string] as Json).type as string;
  return undefined;
}

function enumOf(prop: Json): string[] {
  const target =
    typeof prop.$ref === 'string' ? (doc.components.schemas[prop.$ref.split('/').pop() as string] as Json) : prop;
  return (target.enum as string[]) ?? [];
}

const where = { server: 'https://mr.example', request: 'GET /x', scrub: (s: string) => s };

describe('Model Registry answer guards against the OpenAPI document', () => {
  it('check only fields the schemas declare, with the declared types', () => {
    const checked: Record<string, Record<string, string>> = {
      RegisteredModel: {
        id: 'string',
        name: 'string',
        description: 'string',
        owner: 'string',
        customProperties: 'object',
      },
      ModelVersion: {
        id: 'string',
        name: 'string',
        registeredModelId: 'string',
        author: 'string',
        customProperties: 'object',
      },
      ModelArtifact: { id: 'string', name: 'string', uri: 'string', artifactType: 'string', modelFormatName: 'string' },
      ArtifactList: { items: 'array', nextPageToken: 'string' },
    };
    for (const [schema, fields] of Object.entries(checked)) {
      const props = properties(schema);
      for (const [field, type] of Object.entries(fields)) {
        assert.ok(props[field], `${schema}.${field} is in the schema`);
        assert.equal(typeOf(props[field] as Json), type, `${schema}.${field} is a ${type}`);
      }
    }
  });

  it('accept every state the schemas allow', () => {
    for (const state of enumOf(properties('RegisteredModel').state as Json)) {
      assert.equal(readRegisteredModel({ id: '1', name: 'm', state }, where).state, state);
    }
    for (const state of enumOf(properties('ModelVersion').state as Json)) {
      assert.equal(readModelVersion({ id: '2', name: 'v', registeredModelId: '1', state }, where).state, state);
    }
    for (const state of enumOf(properties('ModelArtifact').state as Json)) {
      assert.equal(readModelArtifact({ id: '3', artifactType: 'model-artifact', state }, where).state, state);
    }
  });

  it('refuse what no schema allows, as the server’s fault', () => {
    const refusals: [() => unknown, RegExp][] = [
      [() => readRegisteredModel({}, where), /has no id/],
      [() => readRegisteredModel([1, 2, 3], where), /is a list, not an object/],
      [() => readRegisteredModel({ id: 1, name: 'm' }, where), /has no id/],
      [() => readRegisteredModel({ id: '1', name: 'm', state: 'GONE' }, where), /unknown state/],
      [() => readRegisteredModel({ id: '1', name: 7 }, where), /name is not a string/],
      [
        () => readModelVersion({ id: '2', name: 'v', registeredModelId: '9' }, where, { registeredModelId: '1' }),
        /of registered model "9", not 1/,
      ],
      [() => readModelArtifact({ id: '3', artifactType: 'doc-artifact' }, where), /another artifactType/],
      [() => readArtifactPage({ items: [{ id: '3' }] }, where), /without an artifactType/],
      [() => readArtifactPage({ items: [], nextPageToken: 5 }, where), /nextPageToken is not a string/],
    ];
    for (const [read, message] of refusals) {
      assert.throws(read, (e: unknown) => isModelcarError(e) && e.kind === 'model-registry' && message.test(e.message));
    }
  });
});
