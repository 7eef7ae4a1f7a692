import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseDestinationRef } from '../../src/deploy/image-ref.js';
import { kustomizeFiles } from '../../src/deploy/kustomize.js';
import type { K8sObject } from '../../src/deploy/manifest.js';
import { type PipelineOptions, pipelineManifests, taskTimeoutMinutes } from '../../src/deploy/tekton.js';
import { validateManifest } from '../support/crd-schema.js';
import { scratchDir } from '../support/model-fixtures.js';
import { latestTags, pipelinePolicyViolations, taskSpecs } from '../support/policy.js';

const INTERNAL = 'image-registry.openshift-image-registry.svc:5000';

function options(over: Partial<PipelineOptions> = {}): PipelineOptions {
  return {
    name: 'modelcar-build',
    namespace: 'ml',
    source: 'hf://ibm-granite/granite-3.1-8b-instruct@main',
    destination: parseDestinationRef(`${INTERNAL}/ml/granite:3.1-8b-r1`),
    modelcarImage: 'quay.io/modelcar/modelcar:0.1.0',
    modelSizeGB: 16,
    hfTokenSecret: 'hf-token',
    ...over,
  };
}

type Obj = Record<string, unknown>;
const docsOf = (o: PipelineOptions, inline = false): K8sObject[] =>
  pipelineManifests(o, inline).manifests.map((m) => m.doc);
const ofKind = (docs: K8sObject[], kind: string) => docs.filter((d) => d.kind === kind);
const json = (x: unknown) => JSON.stringify(x);

function assertValid(docs: readonly K8sObject[]): void {
  for (const d of docs) assert.deepEqual(validateManifest(d), [], `${d.kind} must match its upstream schema`);
  assert.deepEqual(pipelinePolicyViolations(docs), []);
  assert.deepEqual(latestTags(docs), []);
}

function firstTaskSpec(docs: K8sObject[]): Obj {
  const [first] = taskSpecs(docs);
  assert.ok(first, 'a task spec');
  return first.spec;
}

function buildStep(docs: K8sObject[]): Obj {
  return (firstTaskSpec(docs).steps as Obj[])[0] as Obj;
}

const variants: Array<[string, PipelineOptions, boolean]> = [
  ['Hugging Face to the internal registry (stream mode)', options(), false],
  [
    'an external registry with a dockerconfigjson workspace',
    options({ destination: parseDestinationRef('quay.io/acme/granite:r1'), registryAuthSecret: 'quay-push' }),
    false,
  ],
  ['registration in the Model Registry', options({ modelRegistry: 'https://models-rest.apps.example.com' }), false],
  ['cache mode', options({ cache: '100Gi' }), false],
  ['a model directory on a PVC', options({ source: 'models/granite', sourcePvc: 'model-store' }), false],
  ['one inline PipelineRun', options({ modelRegistry: 'https://models-rest.apps.example.com', cache: '50Gi' }), true],
];

describe('pipeline manifests', () => {
  for (const [what, o, inline] of variants) {
    it(`are valid Tekton v1 and restricted-v2 clean: ${what}`, () => {
      const docs = docsOf(o, inline);
      assertValid(docs);
      assert.equal(ofKind(docs, 'PipelineRun').length, 1);
      if (inline) {
        assert.deepEqual(ofKind(docs, 'Task'), []);
        assert.ok(json(docs).includes('"taskSpec"'), 'the inline run embeds the task');
      }
    });
  }

  it('streams: no PVC, no volumeClaimTemplate, so no affinity assistant and no node disk', () => {
    const text = json(docsOf(options()));
    assert.doesNotMatch(text, /persistentVolumeClaim|volumeClaimTemplate/);
    const step = buildStep(docsOf(options()));
    assert.equal((step.computeResources as Obj & { requests: Obj }).requests['ephemeral-storage'], '1Gi');
  });

  it('runs the CLI with command/args and the tool image parameter', () => {
    const docs = docsOf(options({ modelRegistry: 'https://models-rest.apps.example.com' }));
    const step = buildStep(docs);
    assert.equal(step.image, '$(params.modelcar-image)');
    assert.deepEqual(step.command, ['modelcar']);
    assert.deepEqual(step.args, [
      'build',
      '$(params.source)',
      '--to=$(params.destination)',
      '--result-dir=/tekton/results',
      '--register',
      '--model-registry=$(params.model-registry-url)',
    ]);
    const run = ofKind(docs, 'PipelineRun')[0] as K8sObject & { spec: { params: Obj[] } };
    assert.deepEqual(
      run.spec.params.find((p) => p.name === 'modelcar-image'),
      { name: 'modelcar-image', value: 'quay.io/modelcar/modelcar:0.1.0' },
    );
  });

  it('takes the HF token from an optional secretKeyRef, never a param', () => {
    const docs = docsOf(options());
    const task = firstTaskSpec(docs);
    const env = ((task.stepTemplate as Obj).env as Obj[]).find((e) => e.name === 'HF_TOKEN');
    assert.deepEqual(env?.valueFrom, { secretKeyRef: { name: 'hf-token', key: 'token', optional: true } });
    assert.doesNotMatch(json(task.params), /token/i);
  });

  it('binds system:image-builder in the image namespace for the internal registry only', () => {
    const internal = ofKind(docsOf(options()), 'RoleBinding');
    assert.equal(internal.length, 1);
    assert.deepEqual((internal[0] as Obj).roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:image-builder',
    });
    assert.equal(internal[0]?.metadata.namespace, 'ml');
    const external = docsOf(
      options({ destination: parseDestinationRef('quay.io/acme/granite:r1'), registryAuthSecret: 'quay-push' }),
    );
    assert.deepEqual(ofKind(external, 'RoleBinding'), []);
    const run = ofKind(external, 'PipelineRun')[0] as K8sObject & { spec: { workspaces: Obj[] } };
    assert.deepEqual(run.spec.workspaces, [{ name: 'registry-auth', secret: { secretName: 'quay-push' } }]);
    const task = firstTaskSpec(external);
    assert.ok(
      ((task.stepTemplate as Obj).env as Obj[]).some(
        (e) => e.name === 'REGISTRY_AUTH_FILE' && e.value === '$(workspaces.registry-auth.path)/.dockerconfigjson',
      ),
    );
  });

  it("grants the registry's user Role when registering", () => {
    const bindings = ofKind(docsOf(options({ modelRegistry: 'https://models-rest.apps.example.com' })), 'RoleBinding');
    const mr = bindings.find((b) => (b.roleRef as Obj).kind === 'Role') as K8sObject & { roleRef: Obj };
    assert.equal(mr.roleRef.name, 'registry-user-models');
    assert.equal((mr.metadata as Obj).namespace, 'rhoai-model-registries');
  });

  it('sizes timeouts from the model instead of the one-hour default', () => {
    assert.equal(taskTimeoutMinutes(16), 50);
    assert.ok(taskTimeoutMinutes(140) >= 120, 'a 140 GB model gets at least two hours');
    const big = ofKind(docsOf(options({ modelSizeGB: 140 })), 'PipelineRun')[0] as K8sObject & {
      spec: { timeouts: { pipeline: string; tasks: string } };
    };
    assert.deepEqual(big.spec.timeouts, { pipeline: '2h20m0s', tasks: '2h10m0s' });
    const unknown = pipelineManifests(options({ modelSizeGB: undefined }));
    assert.match(unknown.warnings.join('\n'), /no --model-size: timeouts default to 4h0m0s/);
  });

  it('puts the cache on an emptyDir with a size limit, and HOME stays on its own emptyDir', () => {
    const task = firstTaskSpec(docsOf(options({ cache: '100Gi' })));
    assert.deepEqual(
      (task.volumes as Obj[]).find((v) => v.name === 'cache'),
      { name: 'cache', emptyDir: { sizeLimit: '100Gi' } },
    );
  });

  it('refuses what cannot run: a directory without PVC, an external push without credentials, latest', () => {
    assert.throws(() => pipelineManifests(options({ source: 'models/x' })), /no --source-pvc holds it/);
    assert.throws(
      () => pipelineManifests(options({ destination: parseDestinationRef('quay.io/acme/granite:r1') })),
      /needs credentials/,
    );
    assert.throws(() => parseDestinationRef('quay.io/acme/granite:latest'), /latest is not allowed/);
    assert.throws(() => parseDestinationRef(`${INTERNAL}/a/b/c:r1`), /exactly <namespace>\/<name>/);
    assert.throws(() => pipelineManifests(options({ modelcarImage: 'quay.io/modelcar/modelcar' })), /neither tag/);
    assert.throws(() => pipelineManifests(options({ source: 'hf://just-a-name' })), /ORG\/NAME/);
  });

  it('has validators that reject v1beta1 fields', () => {
    const docs = docsOf(options());
    const run = structuredClone(ofKind(docs, 'PipelineRun')[0]) as K8sObject & { spec: Obj };
    run.spec.serviceAccountName = 'pipeline';
    assert.match(validateManifest(run).join('\n'), /additional properties \(serviceAccountName\)/);
    assert.deepEqual(pipelinePolicyViolations([run]), ['PipelineRun/spec/serviceAccountName: v1beta1 field']);
    const task = structuredClone(ofKind(docs, 'Task')[0]) as K8sObject & { spec: { steps: Obj[] } };
    (task.spec.steps[0] as Obj).resources = { limits: { memory: '1Gi' } };
    assert.match(validateManifest(task).join('\n'), /additional properties \(resources\)/);
  });
});

describe('kustomize output', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  before(async () => {
    scratch = await scratchDir('modelcar-kustomize-');
  });
  after(() => scratch.cleanup());

  /** RFC 6902 `replace` on an object path: all our overlay uses, applied as kustomize would. */
  function applyReplace(doc: Obj, ops: Array<{ op: string; path: string; value: unknown }>): Obj {
    const out = structuredClone(doc);
    for (const { op, path, value } of ops) {
      assert.equal(op, 'replace');
      const keys = path.split('/').slice(1);
      const last = keys.pop() as string;
      const parent = keys.reduce<Obj>((o, k) => o[k] as Obj, out);
      assert.ok(last in parent, `replace needs ${path} to exist`);
      parent[last] = value;
    }
    return out;
  }

  it('writes a base of valid documents and an overlay whose patch targets the run by name', async () => {
    const o = options({ modelRegistry: 'https://models-rest.apps.example.com' });
    const files = kustomizeFiles(pipelineManifests(o), o, 'granite');
    for (const f of files) {
      await mkdir(dirname(join(scratch.dir, f.path)), { recursive: true });
      await writeFile(join(scratch.dir, f.path), f.content);
    }
    const read = (path: string) => {
      const f = files.find((x) => x.path === path);
      assert.ok(f, `${path} is written`);
      return parseAllDocuments(f.content).map((d) => d.toJS() as Obj);
    };
    const [base] = read('base/kustomization.yaml') as [Obj & { resources: string[] }];
    assert.equal(base.apiVersion, 'kustomize.config.k8s.io/v1beta1');
    const docs = base.resources.flatMap((r) => read(`base/${r}`)) as K8sObject[];
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      'Pipeline',
      'PipelineRun',
      'RoleBinding',
      'RoleBinding',
      'ServiceAccount',
      'Task',
    ]);
    assertValid(docs);
    const run = ofKind(docs, 'PipelineRun')[0] as K8sObject;
    assert.equal(run.metadata.name, 'modelcar-build-run', 'apply cannot generateName: the GitOps run is named');

    const [overlay] = read('overlays/granite/kustomization.yaml') as [Obj & { resources: string[]; patches: Obj[] }];
    assert.deepEqual(overlay.resources, ['../../base']);
    const [patch] = overlay.patches as [{ path: string; target: Obj }];
    assert.deepEqual(patch.target, {
      group: 'tekton.dev',
      version: 'v1',
      kind: 'PipelineRun',
      name: 'modelcar-build-run',
    });
    const [ops] = read(`overlays/granite/${patch.path}`) as unknown as [
      Array<{ op: string; path: string; value: unknown }>,
    ];
    const patched = applyReplace(run, ops) as K8sObject & { spec: { params: Obj[] } };
    assert.equal(patched.metadata.name, 'modelcar-build-run-granite');
    assert.equal(patched.spec.params.find((p) => p.name === 'source')?.value, o.source);
    assertValid([patched]);
  });
});
