/**
 * Validation against the upstream JSON Schemas (draft 2020-12) vendored in `test/schemas/` (sources and versions in
 * its README): the in-toto Statement and SLSA Provenance v1 transcriptions and the OpenSSF Model Signing v1.0
 * schemas, which reference each other by `$id`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { SCHEMA_DIR } from './crd-schema.js';

/** `test/fixtures` of the checkout: upstream conformance examples (sources and versions in its README). */
export const UPSTREAM_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

const FILES = [
  'in-toto-statement-v1.schema.json',
  'slsa-provenance-v1.schema.json',
  'oms-v1.0/predicate.schema.json',
  'oms-v1.0/statement.schema.json',
  'oms-v1.0/envelope.schema.json',
  'oms-v1.0/bundle.schema.json',
];

let ajv: Ajv2020 | undefined;

function load(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  for (const f of FILES) ajv.addSchema(JSON.parse(readFileSync(`${SCHEMA_DIR}${f}`, 'utf8')));
  return ajv;
}

export const SchemaId = {
  statement: 'https://in-toto.io/Statement/v1/schema',
  slsa: 'https://slsa.dev/provenance/v1/schema',
  omsStatement: 'https://model_signing/statement/v1.0/schema',
  omsBundle: 'https://model_signing/bundle/v1.0/schema',
} as const;

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

/** Errors of `doc` against the schema with `$id` `id`; empty when valid. */
export function validateJson(id: string, doc: unknown): string[] {
  const validate = load().getSchema(id);
  if (!validate) throw new Error(`no schema ${id}`);
  return validate(doc) ? [] : describe(validate.errors);
}
