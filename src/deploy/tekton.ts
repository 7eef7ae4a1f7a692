/**
 * Tekton v1 manifests that rebuild a ModelCar image in-cluster with our own CLI, under OpenShift's default
 * restricted-v2 SCC with no extra grant: a Task with one step running `modelcar build` through command/args (no
 * script), a Pipeline around it, a PipelineRun, and the ServiceAccount + RoleBinding it runs as. Pure: returns objects.
 */
import { ModelcarError } from '../errors.js';
import { registryNameFromUrl } from '../registry-model/register.js';
import { isHfRef, parseHfRef } from '../source/hf-ref.js';
import { formatRef, type ImageRef, isInternalRegistry, parsePinnedImage } from './image-ref.js';
import { checkK8sValues } from './k8s-values.js';
import { RESTRICTED_CONTAINER_SECURITY } from './kserve.js';
import { type K8sObject, MANAGED_BY, type Manifest } from './manifest.js';

export interface PipelineOptions {
  /** Base name of the Task, Pipeline, ServiceAccount and PipelineRun prefix. */
  name: string;
  namespace: string;
  /** `hf://ORG/NAME[@REV]`, or a directory inside the PVC named by `sourcePvc`. */
  source: string;
  sourcePvc?: string;
  destination: ImageRef & { tag: string };
  modelcarImage: string;
  modelSizeGB?: number;
  hfTokenSecret: string;
  registryAuthSecret?: string;
  /**
   * Secret holding `cosign.key` and `cosign.password` (as `cosign generate-key-pair k8s://NS/NAME` makes it): mounted
   * as a read-only volume, and the build signs the image in the same step.
   */
  signKeySecret?: string;
  modelRegistry?: string;
  /** Namespace of the Model Registry instance (its Role `registry-user-<name>` lives there). */
  modelRegistryNamespace?: string;
  /** Kubernetes quantity, e.g. `100Gi`: an emptyDir cache with this sizeLimit. */
  cache?: string;
}

/** Where `modelcar build --result-dir` writes IMAGE_URL, IMAGE_DIGEST and MODEL_VERSION_ID. */
export const RESULT_DIR = '/tekton/results';
export const RESULTS = ['IMAGE_URL', 'IMAGE_DIGEST', 'MODEL_VERSION_ID'] as const;
const HOME = '/home/modelcar';
const CACHE = '/cache';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Where the signing key Secret is mounted. */
export const SIGN_DIR = '/var/run/secrets/modelcar/signing';

/** Timeout sizing: base + 2 x (size / assumed throughput), rounded up to 10 minutes. Documented in docs/serving.md. */
export const TIMEOUT_BASE_MINUTES = 30;
export const ASSUMED_THROUGHPUT_MBPS = 50;
export const TIMEOUT_SAFETY_FACTOR = 2;
/** Without --model-size we cannot size the timeout: four hours covers ~100 GB at the assumed throughput. */
export const UNKNOWN_SIZE_TIMEOUT_MINUTES = 240;
/** Extra room for the PipelineRun over its one task (pod scheduling, image pulls). */
const PIPELINE_MARGIN_MINUTES = 10;

export function taskTimeoutMinutes(modelSizeGB: number | undefined): number {
  if (modelSizeGB === undefined) return UNKNOWN_SIZE_TIMEOUT_MINUTES;
  const transferMinutes = (modelSizeGB * 1000) / ASSUMED_THROUGHPUT_MBPS / 60;
  return Math.ceil((TIMEOUT_BASE_MINUTES + transferMinutes * TIMEOUT_SAFETY_FACTOR) / 10) * 10;
}

/** Go duration as Tekton writes it. */
export function goDuration(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h}h${m}m0s` : `${m}m0s`;
}

/** PipelineRun names are `<name>-<5 chars>`, and TaskRun and pod names add the task name to that. */
export const MAX_PIPELINE_NAME = 52;

interface Parts {
  hf: boolean;
  register: boolean;
  internal: boolean;
  taskName: string;
  saName: string;
}

function check(o: PipelineOptions): Parts {
  checkK8sValues([
    ['dns1123-label', o.name, '--name', MAX_PIPELINE_NAME],
    ['dns1123-label', o.namespace, '--namespace'],
    ['dns1123-subdomain', o.sourcePvc, '--source-pvc'],
    ['dns1123-subdomain', o.hfTokenSecret, '--hf-token-secret'],
    ['dns1123-subdomain', o.registryAuthSecret, '--registry-auth-secret'],
    ['dns1123-subdomain', o.signKeySecret, '--sign-key-secret'],
    ['dns1123-label', o.modelRegistryNamespace, '--model-registry-namespace'],
    ['quantity', o.cache, '--cache'],
  ]);
  const hf = isHfRef(o.source);
  if (hf) parseHfRef(o.source);
  if (!hf && !o.sourcePvc) {
    throw new ModelcarError(
      'usage',
      `--source ${JSON.stringify(o.source)} is a directory but no --source-pvc holds it`,
      'pass --source hf://ORG/NAME[@REV] to stream from the Hub, or --source-pvc CLAIM with --source PATH-IN-CLAIM',
    );
  }
  if (hf && o.sourcePvc) {
    throw new ModelcarError(
      'usage',
      '--source-pvc only applies to a directory source',
      'drop --source-pvc for hf:// sources',
    );
  }
  if (!hf && (o.source.startsWith('/') || o.source.split('/').includes('..'))) {
    throw new ModelcarError(
      'usage',
      `--source ${JSON.stringify(o.source)} must be a relative path inside the PVC`,
      'write it relative to the claim root, e.g. models/granite',
    );
  }
  const internal = isInternalRegistry(o.destination);
  if (!internal && !o.registryAuthSecret) {
    throw new ModelcarError(
      'usage',
      `pushing to ${o.destination.registry} needs credentials but no --registry-auth-secret was given`,
      'create a kubernetes.io/dockerconfigjson Secret (oc create secret docker-registry ...) and pass its name, or push to the internal registry',
    );
  }
  if (o.modelSizeGB !== undefined && !(o.modelSizeGB > 0)) {
    throw new ModelcarError(
      'usage',
      `--model-size must be a positive number of GB, got ${o.modelSizeGB}`,
      'e.g. --model-size 16',
    );
  }
  if (o.modelRegistry !== undefined && !/^https?:\/\/[^\s/]+/.test(o.modelRegistry)) {
    throw new ModelcarError(
      'usage',
      `--model-registry ${JSON.stringify(o.modelRegistry)} is not an http(s) URL`,
      'e.g. https://my-registry-rest.apps.example.com',
    );
  }
  parsePinnedImage(o.modelcarImage, '--modelcar-image');
  return { hf, register: o.modelRegistry !== undefined, internal, taskName: o.name, saName: o.name };
}

function taskSpec(o: PipelineOptions, p: Parts): Record<string, unknown> {
  const params: Record<string, unknown>[] = [
    {
      name: 'source',
      type: 'string',
      description: p.hf
        ? 'Model source, hf://ORG/NAME[@REV]'
        : 'Model directory, relative to the model-source workspace',
    },
    { name: 'destination', type: 'string', description: 'Image to push, HOST/REPO:TAG (never latest)' },
    { name: 'modelcar-image', type: 'string', description: 'The modelcar tool image that runs the build' },
  ];
  if (p.register)
    params.push({ name: 'model-registry-url', type: 'string', description: 'Kubeflow Model Registry REST URL' });

  const workspaces: Record<string, unknown>[] = [];
  if (!p.hf) workspaces.push({ name: 'model-source', description: 'PVC holding the model directory', readOnly: true });
  if (o.registryAuthSecret) {
    workspaces.push({
      name: 'registry-auth',
      description: 'kubernetes.io/dockerconfigjson Secret for the destination registry',
      readOnly: true,
    });
  }

  const home = o.cache ? CACHE : HOME;
  const env: Record<string, unknown>[] = [
    // Under restricted-v2 the UID is arbitrary and HOME would be `/`: keep every write inside an emptyDir.
    { name: 'HOME', value: HOME },
    { name: 'XDG_CACHE_HOME', value: `${home}/.cache` },
    { name: 'HF_HOME', value: `${home}/.cache/huggingface` },
  ];
  if (o.cache) env.push({ name: 'MODELCAR_CACHE_DIR', value: CACHE });
  if (p.hf) {
    env.push({
      name: 'HF_TOKEN',
      valueFrom: { secretKeyRef: { name: o.hfTokenSecret, key: 'token', optional: true } },
    });
  }
  if (o.registryAuthSecret)
    env.push({ name: 'REGISTRY_AUTH_FILE', value: '$(workspaces.registry-auth.path)/.dockerconfigjson' });
  if (p.internal || p.register) {
    // modelcar reads the pod's own bound token for the internal registry and the Model Registry by itself; their
    // certificates are signed by the service CA, which OpenShift projects next to the token.
    env.push({ name: 'NODE_EXTRA_CA_CERTS', value: `${SA_DIR}/service-ca.crt` });
  }

  const source = p.hf ? '$(params.source)' : '$(workspaces.model-source.path)/$(params.source)';
  const args = ['build', source, '--to=$(params.destination)', `--result-dir=${RESULT_DIR}`];
  if (p.register) args.push('--register', '--model-registry=$(params.model-registry-url)');

  const volumes: Record<string, unknown>[] = [{ name: 'home', emptyDir: { sizeLimit: '1Gi' } }];
  const mounts: Record<string, unknown>[] = [{ name: 'home', mountPath: HOME }];
  if (o.signKeySecret) {
    // A file, never an env var: env leaks into `oc describe`, crash dumps and child processes. 0440: readable by the
    // pod's fsGroup (restricted-v2 sets one), not by others, so modelcar does not warn about the key's mode.
    volumes.push({ name: 'signing-key', secret: { secretName: o.signKeySecret, defaultMode: 0o440 } });
    mounts.push({ name: 'signing-key', mountPath: SIGN_DIR, readOnly: true });
    args.push(`--sign-key=${SIGN_DIR}/cosign.key`, `--sign-password-file=${SIGN_DIR}/cosign.password`);
  }
  if (o.cache) {
    volumes.push({ name: 'cache', emptyDir: { sizeLimit: o.cache } });
    mounts.push({ name: 'cache', mountPath: CACHE });
  }

  return {
    description:
      'Build a KServe ModelCar image with modelcar, streaming the model into registry layers' +
      (p.register ? ', and register it in the Model Registry.' : '.'),
    params,
    ...(workspaces.length ? { workspaces } : {}),
    results: [
      { name: 'IMAGE_URL', type: 'string', description: 'Pushed image, HOST/REPO:TAG' },
      { name: 'IMAGE_DIGEST', type: 'string', description: 'sha256 digest of the pushed manifest' },
      {
        name: 'MODEL_VERSION_ID',
        type: 'string',
        description: 'Model Registry version id (empty when not registered)',
      },
    ],
    volumes,
    stepTemplate: { env, securityContext: RESTRICTED_CONTAINER_SECURITY },
    steps: [
      {
        name: 'build',
        image: '$(params.modelcar-image)',
        command: ['modelcar'],
        args,
        workingDir: HOME,
        computeResources: {
          // Streaming keeps memory flat whatever the model size; disk is only the HOME emptyDir unless --cache.
          requests: { cpu: '1', memory: '1Gi', 'ephemeral-storage': o.cache ?? '1Gi' },
          limits: { memory: '2Gi' },
        },
        volumeMounts: mounts,
      },
    ],
  };
}

function pipelineSpec(
  o: PipelineOptions,
  p: Parts,
  task: { taskRef?: unknown; taskSpec?: unknown },
): Record<string, unknown> {
  const names = ['source', 'destination', 'modelcar-image', ...(p.register ? ['model-registry-url'] : [])];
  const timeout = goDuration(taskTimeoutMinutes(o.modelSizeGB));
  const workspaces: Record<string, unknown>[] = [];
  if (!p.hf) workspaces.push({ name: 'model-source', workspace: 'model-source' });
  if (o.registryAuthSecret) workspaces.push({ name: 'registry-auth', workspace: 'registry-auth' });
  const results = RESULTS.filter((r) => p.register || r !== 'MODEL_VERSION_ID');
  return {
    description: 'Build (and register) a KServe ModelCar image with modelcar.',
    params: names.map((name) => ({ name, type: 'string' })),
    ...(workspaces.length ? { workspaces: workspaces.map((w) => ({ name: w.name })) } : {}),
    tasks: [
      {
        name: 'build',
        ...task,
        params: names.map((name) => ({ name, value: `$(params.${name})` })),
        ...(workspaces.length ? { workspaces } : {}),
        timeout,
      },
    ],
    results: results.map((r) => ({ name: r, type: 'string', value: `$(tasks.build.results.${r})` })),
  };
}

function meta(o: PipelineOptions, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, namespace: o.namespace, labels: { ...MANAGED_BY }, ...extra };
}

function runSpec(
  o: PipelineOptions,
  p: Parts,
  pipeline: { pipelineRef?: unknown; pipelineSpec?: unknown },
): Record<string, unknown> {
  const minutes = taskTimeoutMinutes(o.modelSizeGB);
  const params: Record<string, unknown>[] = [
    { name: 'source', value: o.source },
    { name: 'destination', value: formatRef(o.destination) },
    { name: 'modelcar-image', value: o.modelcarImage },
  ];
  if (o.modelRegistry) params.push({ name: 'model-registry-url', value: o.modelRegistry });
  const workspaces: Record<string, unknown>[] = [];
  if (o.sourcePvc)
    workspaces.push({ name: 'model-source', persistentVolumeClaim: { claimName: o.sourcePvc, readOnly: true } });
  if (o.registryAuthSecret) workspaces.push({ name: 'registry-auth', secret: { secretName: o.registryAuthSecret } });
  return {
    ...pipeline,
    params,
    taskRunTemplate: { serviceAccountName: p.saName },
    timeouts: { pipeline: goDuration(minutes + PIPELINE_MARGIN_MINUTES), tasks: goDuration(minutes) },
    ...(workspaces.length ? { workspaces } : {}),
  };
}

export interface PipelineResult {
  manifests: Manifest[];
  warnings: string[];
  /** The PipelineRun written with a fixed name for Kustomize (GitOps tools apply, and apply cannot generateName). */
  namedRun: K8sObject;
}

export function pipelineManifests(o: PipelineOptions, inline = false): PipelineResult {
  const p = check(o);
  const warnings: string[] = [];
  if (o.modelSizeGB === undefined) {
    warnings.push(
      `no --model-size: timeouts default to ${goDuration(UNKNOWN_SIZE_TIMEOUT_MINUTES)}; pass --model-size GB to size them`,
    );
  }
  const sa: K8sObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(o, p.saName) };
  const manifests: Manifest[] = [
    {
      file: 'serviceaccount.yaml',
      doc: sa,
      comment:
        'A dedicated ServiceAccount: restricted-v2 only (via system:authenticated), not the `pipeline` SA with edit + pipelines-scc.',
    },
  ];
  if (p.internal) {
    const imageNamespace = o.destination.repository.split('/')[0] ?? o.namespace;
    manifests.push({
      file: 'rolebinding.yaml',
      comment: 'Push to the internal registry (and create the ImageStream on first push) in the image namespace.',
      doc: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `${p.saName}-image-builder`, namespace: imageNamespace, labels: { ...MANAGED_BY } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:image-builder' },
        subjects: [{ kind: 'ServiceAccount', name: p.saName, namespace: o.namespace }],
      },
    });
  }
  if (o.modelRegistry) {
    const binding = modelRegistryBinding(o, p);
    if (binding) manifests.push(binding);
    else
      warnings.push(
        `cannot tell the Model Registry instance name from ${o.modelRegistry}: grant ServiceAccount ${p.saName} the Role registry-user-<name> in the registry's namespace yourself`,
      );
  }
  const spec = taskSpec(o, p);
  const runComment = 'Create with `oc create -f` (generateName: every create is a new run).';
  if (inline) {
    manifests.push({
      file: 'pipelinerun.yaml',
      comment: `Self-contained run (inline pipelineSpec/taskSpec). ${runComment}`,
      doc: {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { generateName: `${o.name}-`, namespace: o.namespace, labels: { ...MANAGED_BY } },
        spec: runSpec(o, p, { pipelineSpec: pipelineSpec(o, p, { taskSpec: spec }) }),
      },
    });
  } else {
    manifests.push(
      { file: 'task.yaml', doc: { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: meta(o, p.taskName), spec } },
      {
        file: 'pipeline.yaml',
        doc: {
          apiVersion: 'tekton.dev/v1',
          kind: 'Pipeline',
          metadata: meta(o, o.name),
          spec: pipelineSpec(o, p, { taskRef: { kind: 'Task', name: p.taskName } }),
        },
      },
      {
        file: 'pipelinerun.yaml',
        comment: runComment,
        doc: {
          apiVersion: 'tekton.dev/v1',
          kind: 'PipelineRun',
          metadata: { generateName: `${o.name}-`, namespace: o.namespace, labels: { ...MANAGED_BY } },
          spec: runSpec(o, p, { pipelineRef: { name: o.name } }),
        },
      },
    );
  }
  const namedRun: K8sObject = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: meta(o, `${o.name}-run`),
    spec: runSpec(o, p, { pipelineRef: { name: o.name } }),
  };
  return { manifests, warnings, namedRun };
}

/** Default namespace of Model Registry instances on OpenShift AI (Open Data Hub uses odh-model-registries). */
export const DEFAULT_MODEL_REGISTRY_NAMESPACE = 'rhoai-model-registries';

/**
 * kube-rbac-proxy in front of the Model Registry lets a token through when its identity may `get` the registry's
 * Service; the operator's Role `registry-user-<name>` grants exactly that.
 */
function modelRegistryBinding(o: PipelineOptions, p: Parts): Manifest | undefined {
  const registry = o.modelRegistry ? registryNameFromUrl(o.modelRegistry) : undefined;
  if (!registry) return undefined;
  return {
    file: 'rolebinding-model-registry.yaml',
    comment: `Lets the pipeline's token through the Model Registry's auth proxy (get on services/${registry}).`,
    doc: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: {
        name: `${p.saName}-model-registry-user`,
        namespace: o.modelRegistryNamespace ?? DEFAULT_MODEL_REGISTRY_NAMESPACE,
        labels: { ...MANAGED_BY },
      },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `registry-user-${registry}` },
      subjects: [{ kind: 'ServiceAccount', name: p.saName, namespace: o.namespace }],
    },
  };
}
