/**
 * Strict offline validation of generated manifests against the upstream CRD schemas vendored in `test/schemas/` (sources and versions in its README).
 *
 * CRD structural schemas never say `additionalProperties: false` (the apiserver prunes instead), so a misspelt or
 * v1beta1-only field would pass a plain JSON-Schema check and be silently dropped on a cluster. We tighten the schema
 * the way kubeconform's openapi2jsonschema does: every object schema with `properties` and no
 * `additionalProperties`/`x-kubernetes-preserve-unknown-fields` rejects unknown fields. Tekton marks inline
 * `taskSpec`/`pipelineSpec` as preserve-unknown, so those are validated again against the Task/Pipeline spec schemas.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

type Schema = Record<string, unknown>;

/** `test/schemas` of the checkout (tests run from dist/test/support, so walk up from here). */
export const SCHEMA_DIR = fileURLToPath(new URL('../../../test/schemas/', import.meta.url));

/** The subset of ObjectMeta a generator may write; unknown keys rejected like everything else. */
const OBJECT_META: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
    generateName: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?-?$' },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

/** Embedded Tekton metadata (PipelineTaskMetadata) allows only labels and annotations. */
const EMBEDDED_META: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

/** Make a structural CRD schema strict, in place on a copy. */
export function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (node === null || typeof node !== 'object') return node;
  const src = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) out[k] = strictify(v);
  if (src['x-kubernetes-int-or-string'] === true && !out.anyOf && !out.oneOf) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (src['x-kubernetes-embedded-resource'] === true && out.properties) {
    const props = out.properties as Schema;
    props.apiVersion ??= { type: 'string' };
    props.kind ??= { type: 'string' };
    props.metadata ??= { type: 'object' };
  }
  const open = src['x-kubernetes-preserve-unknown-fields'] === true || 'additionalProperties' in src;
  if (out.properties && !open) out.additionalProperties = false;
  return out;
}

export interface CrdValidator {
  readonly kind: string;
  readonly version: string;
  /** Human-readable errors, empty when the document is valid. */
  validate(doc: unknown): string[];
}

const crdCache = new Map<string, Schema>();

function loadCrd(file: string): Schema {
  let crd = crdCache.get(file);
  if (!crd) {
    crd = parse(readFileSync(`${SCHEMA_DIR}${file}`, 'utf8'), { maxAliasCount: -1 }) as Schema;
    crdCache.set(file, crd);
  }
  return crd;
}

/** The openAPIV3Schema of the named served version (default: the storage version). */
export function crdSchema(file: string, version?: string): { kind: string; version: string; schema: Schema } {
  const crd = loadCrd(file);
  const spec = crd.spec as { names: { kind: string }; versions: Array<Schema> };
  const v =
    spec.versions.find((x) => (version ? x.name === version : x.storage === true) && x.served === true) ?? undefined;
  if (!v) throw new Error(`${file}: no served version ${version ?? '(storage)'}`);
  const schema = (v.schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
  return { kind: spec.names.kind, version: String(v.name), schema };
}

function newAjv(): Ajv {
  return new Ajv({ strict: false, allErrors: true, validateFormats: false });
}

function describe(errors: ErrorObject[] | null | undefined, prefix = ''): string[] {
  return (errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
        : e.keyword === 'enum'
          ? ` (${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)})`
          : '';
    return `${prefix}${e.instancePath || '/'} ${e.message}${extra}`;
  });
}

function topLevel(schema: Schema): Schema {
  const s = strictify(schema) as Schema;
  const props = s.properties as Schema;
  props.metadata = OBJECT_META;
  // Some CRDs (sigstore policy-controller) leave the type fields out of their schema; the apiserver always has them.
  props.apiVersion ??= { type: 'string' };
  props.kind ??= { type: 'string' };
  s.required = [...new Set([...((s.required as string[]) ?? []), 'apiVersion', 'kind', 'metadata'])];
  return s;
}

/** The strict schema of `spec` of a kind, for inline specs; embedded metadata allowed where Tekton allows it. */
function specSchema(file: string, withEmbeddedMeta: boolean): Schema {
  const { schema } = crdSchema(file, 'v1');
  const spec = strictify((schema.properties as Schema).spec) as Schema;
  if (withEmbeddedMeta) (spec.properties as Schema).metadata = EMBEDDED_META;
  return spec;
}

const validators = new Map<string, CrdValidator>();

/** A strict validator for one CRD file (e.g. `300-task.yaml`), compiled once per process. */
export function crdValidator(file: string, version?: string): CrdValidator {
  const key = `${file}@${version ?? ''}`;
  const cached = validators.get(key);
  if (cached) return cached;
  const { kind, version: v, schema } = crdSchema(file, version);
  const ajv = newAjv();
  const top: ValidateFunction = ajv.compile(topLevel(schema));
  const group = String(((loadCrd(file).spec as Schema).group as string) ?? '');
  const isTekton = group === 'tekton.dev';
  const taskSpec = isTekton && kind !== 'Task' ? ajv.compile(specSchema('300-task.yaml', true)) : undefined;
  const pipelineSpec =
    isTekton && kind === 'PipelineRun' ? ajv.compile(specSchema('300-pipeline.yaml', false)) : undefined;

  const checkPipelineSpec = (ps: Schema | undefined, at: string, errors: string[]): void => {
    if (!ps) return;
    if (pipelineSpec && at.endsWith('/pipelineSpec') && !pipelineSpec(ps))
      errors.push(...describe(pipelineSpec.errors, at));
    for (const list of ['tasks', 'finally'] as const) {
      const tasks = (ps[list] as Schema[] | undefined) ?? [];
      tasks.forEach((t, i) => {
        const ts = t.taskSpec as Schema | undefined;
        if (ts && taskSpec && !taskSpec(ts)) errors.push(...describe(taskSpec.errors, `${at}/${list}/${i}/taskSpec`));
        if (t.pipelineSpec) errors.push(`${at}/${list}/${i}/pipelineSpec is an alpha field; do not emit it`);
      });
    }
  };

  const validator: CrdValidator = {
    kind,
    version: v,
    validate(doc: unknown): string[] {
      const errors: string[] = [];
      const d = doc as Schema;
      const apiVersion = `${group}/${v}`;
      if (d?.apiVersion !== apiVersion) errors.push(`/apiVersion must be ${apiVersion}, got ${String(d?.apiVersion)}`);
      if (d?.kind !== kind) errors.push(`/kind must be ${kind}, got ${String(d?.kind)}`);
      if (!top(doc)) errors.push(...describe(top.errors));
      const spec = d?.spec as Schema | undefined;
      if (isTekton && spec) {
        if (kind === 'Pipeline') checkPipelineSpec(spec, '/spec', errors);
        if (kind === 'PipelineRun')
          checkPipelineSpec(spec.pipelineSpec as Schema | undefined, '/spec/pipelineSpec', errors);
      }
      return errors;
    },
  };
  validators.set(key, validator);
  return validator;
}

/** Validators for each kind we generate, keyed by kind. Core kinds get small strict hand-written schemas. */
const CRD_FILES: Record<string, string> = {
  Task: '300-task.yaml',
  Pipeline: '300-pipeline.yaml',
  PipelineRun: '300-pipelinerun.yaml',
  TaskRun: '300-taskrun.yaml',
  InferenceService: 'serving.kserve.io_inferenceservices.yaml',
  ServingRuntime: 'serving.kserve.io_servingruntimes.yaml',
  LLMInferenceService: 'serving.kserve.io_llminferenceservices.yaml',
};

/** Kinds that two projects both define, told apart by apiVersion: the CRD file and the served version to check. */
const BY_API_VERSION: Record<string, readonly [string, string]> = {
  'config.openshift.io/v1 ImagePolicy': ['0000_10_config-operator_01_imagepolicies.crd.yaml', 'v1'],
  'config.openshift.io/v1 ClusterImagePolicy': ['0000_10_config-operator_01_clusterimagepolicies.crd.yaml', 'v1'],
  'policy.sigstore.dev/v1beta1 ClusterImagePolicy': ['policy.sigstore.dev_clusterimagepolicies.yaml', 'v1beta1'],
};

const str = { type: 'string', minLength: 1 };
const CORE_SCHEMAS: Record<string, Schema> = {
  ServiceAccount: {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata'],
    properties: {
      apiVersion: { const: 'v1' },
      kind: { const: 'ServiceAccount' },
      metadata: { ...OBJECT_META, required: ['name'] },
      automountServiceAccountToken: { type: 'boolean' },
      imagePullSecrets: {
        type: 'array',
        items: { type: 'object', additionalProperties: false, properties: { name: str } },
      },
      secrets: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { name: str } } },
    },
  },
  RoleBinding: {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'roleRef', 'subjects'],
    properties: {
      apiVersion: { const: 'rbac.authorization.k8s.io/v1' },
      kind: { const: 'RoleBinding' },
      metadata: { ...OBJECT_META, required: ['name'] },
      roleRef: {
        type: 'object',
        additionalProperties: false,
        required: ['apiGroup', 'kind', 'name'],
        properties: {
          apiGroup: { const: 'rbac.authorization.k8s.io' },
          kind: { enum: ['Role', 'ClusterRole'] },
          name: str,
        },
      },
      subjects: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'name'],
          properties: {
            kind: { enum: ['ServiceAccount', 'User', 'Group'] },
            name: str,
            namespace: str,
            apiGroup: { type: 'string' },
          },
        },
      },
    },
  },
  Secret: {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'type'],
    properties: {
      apiVersion: { const: 'v1' },
      kind: { const: 'Secret' },
      metadata: { ...OBJECT_META, required: ['name'] },
      type: { type: 'string' },
      immutable: { type: 'boolean' },
      data: { type: 'object', additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' } },
      stringData: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
};

const coreCompiled = new Map<string, ValidateFunction>();

const LABELS = { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } };

/**
 * apps/v1 DaemonSet: the wrapper strict by hand (selector, update strategy, template metadata), the pod spec by the
 * upstream core/v1 PodSpec schema that KServe's LLMInferenceService CRD embeds as `spec.template` (see the README).
 */
function daemonSetSchema(): Schema {
  const podSpec = strictify(
    ((crdSchema('serving.kserve.io_llminferenceservices.yaml', 'v1alpha2').schema.properties as Schema).spec as Schema)
      .properties as Schema,
  ) as Schema;
  return {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'apps/v1' },
      kind: { const: 'DaemonSet' },
      metadata: { ...OBJECT_META, required: ['name'] },
      spec: {
        type: 'object',
        additionalProperties: false,
        required: ['selector', 'template'],
        properties: {
          selector: {
            type: 'object',
            additionalProperties: false,
            required: ['matchLabels'],
            properties: { matchLabels: LABELS },
          },
          updateStrategy: {
            type: 'object',
            additionalProperties: false,
            properties: {
              type: { enum: ['RollingUpdate', 'OnDelete'] },
              rollingUpdate: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  maxUnavailable: { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^[0-9]+%$' }] },
                  maxSurge: { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^[0-9]+%$' }] },
                },
              },
            },
          },
          minReadySeconds: { type: 'integer' },
          revisionHistoryLimit: { type: 'integer' },
          template: {
            type: 'object',
            additionalProperties: false,
            required: ['metadata', 'spec'],
            properties: {
              metadata: {
                type: 'object',
                additionalProperties: false,
                properties: { labels: LABELS, annotations: { type: 'object' } },
              },
              spec: { ...(podSpec.template as Schema), required: ['containers'] },
            },
          },
        },
      },
    },
  };
}

/** The DaemonSet's template labels must match its selector, or the API server refuses it. */
function selectorMatches(doc: Schema): string[] {
  const spec = doc.spec as Schema | undefined;
  const want = ((spec?.selector as Schema | undefined)?.matchLabels ?? {}) as Record<string, string>;
  const have = (((spec?.template as Schema | undefined)?.metadata as Schema | undefined)?.labels ?? {}) as Record<
    string,
    string
  >;
  return Object.entries(want)
    .filter(([k, v]) => have[k] !== v)
    .map(([k]) => `/spec/template/metadata/labels: selector label ${k} does not match`);
}

/** Validate any document we generate; unknown kinds are an error so nothing slips through unchecked. */
export function validateManifest(doc: unknown): string[] {
  const kind = String((doc as Schema)?.kind);
  const versioned = BY_API_VERSION[`${String((doc as Schema)?.apiVersion)} ${kind}`];
  if (versioned) return crdValidator(versioned[0], versioned[1]).validate(doc);
  const file = CRD_FILES[kind];
  if (file) return crdValidator(file).validate(doc);
  if (kind === 'DaemonSet') {
    let ds = coreCompiled.get(kind);
    if (!ds) {
      ds = newAjv().compile(daemonSetSchema());
      coreCompiled.set(kind, ds);
    }
    return [...(ds(doc) ? [] : describe(ds.errors)), ...selectorMatches(doc as Schema)];
  }
  const core = CORE_SCHEMAS[kind];
  if (!core) return [`no schema for kind ${kind}`];
  let fn = coreCompiled.get(kind);
  if (!fn) {
    fn = newAjv().compile(core);
    coreCompiled.set(kind, fn);
  }
  return fn(doc) ? [] : describe(fn.errors);
}
