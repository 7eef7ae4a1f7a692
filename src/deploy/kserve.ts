/**
 * KServe manifests to serve a ModelCar image with vLLM: a ServingRuntime whose arguments come from the model's own
 * config, and an InferenceService pointing at the image by digest. Pure: returns objects; the CLI writes them.
 */
import { ModelcarError } from '../errors.js';
import { ANONYMOUS_DOCKER_CONFIG, connectionSecret } from './connection.js';
import { type ImageRef, parsePinnedImage } from './image-ref.js';
import { checkK8sValues } from './k8s-values.js';
import { llmInferenceService } from './llm.js';
import { dnsLabel, type K8sObject, MANAGED_BY, type Manifest, RESTRICTED_CONTAINER_SECURITY } from './manifest.js';

export { RESTRICTED_CONTAINER_SECURITY } from './manifest.js';

import { estimateMemory, type MemoryEstimate } from './memory.js';
import { type ModelFacts, vllmQuantizationArg } from './model-facts.js';
import { NO_PLACEMENT, type Placement, podPlacement } from './placement.js';
import { prepullDaemonSet } from './prepull.js';
import { MODE_REQUIREMENTS, type StorageMode, storageUriFor } from './storage-mode.js';

/**
 * vLLM's own OpenAI-compatible server image, pinned to a release. Override with --runtime-image, ideally by digest
 * (e.g. the vLLM image your OpenShift AI release ships).
 */
export const DEFAULT_RUNTIME_IMAGE = 'docker.io/vllm/vllm-openai:v0.11.0';
/** A context default that serves most uses without reserving KV cache for 128k-token prompts nobody sends. */
export const DEFAULT_MAX_MODEL_LEN_CAP = 32768;
/** When the config does not say, vLLM would fall back to 2048; we assume this for the estimate only. */
const ASSUMED_CONTEXT = 4096;

export type DeploymentMode = 'RawDeployment' | 'Serverless';
/** What serves the model: an InferenceService with our vLLM ServingRuntime, or an LLMInferenceService (llm-d). */
export type ServingKind = 'inferenceservice' | 'llm';

export interface DeployOptions {
  image: ImageRef & { digest: string };
  facts: ModelFacts;
  name: string;
  namespace?: string;
  gpus: number;
  gpuMemoryGiB: number;
  runtimeImage: string;
  maxModelLen?: number;
  dtype?: string;
  quantization?: string;
  /** More vLLM arguments, appended as given (e.g. `--enable-prefix-caching`). */
  extraArgs?: readonly string[];
  mode: StorageMode;
  /** @default 'inferenceservice' */
  kind?: ServingKind;
  deploymentMode: DeploymentMode;
  /** Node selector and tolerations of the serving pods (and of the pre-pull DaemonSet). */
  placement?: Placement;
  /** Also write a DaemonSet that pulls the images onto the nodes ahead of the first pod. */
  prepull?: boolean;
  /** Write the OpenShift AI OCI connection Secret of this name (and reference it). */
  connection?: string;
  cpu: string;
  memory: string;
  pullSecret?: string;
  ociConnection?: string;
  /** Contents of a dockerconfigjson file, only when the user asked for a Secret to be generated. */
  pullSecretJson?: string;
  registeredModelId?: string;
  modelVersionId?: string;
  modelRegistryName?: string;
}

export interface DeployResult {
  manifests: Manifest[];
  args: string[];
  maxModelLen: number | undefined;
  estimate: MemoryEstimate;
  warnings: string[];
}

const GPU = 'nvidia.com/gpu';

function resolveMaxModelLen(o: DeployOptions): number | undefined {
  const max = o.facts.maxContext;
  if (o.maxModelLen !== undefined) {
    if (max !== undefined && o.maxModelLen > max) {
      throw new ModelcarError(
        'usage',
        `--max-model-len ${o.maxModelLen} is longer than the model's context (${max})`,
        `pass --max-model-len ${max} or less; vLLM refuses longer values`,
      );
    }
    return o.maxModelLen;
  }
  return max === undefined ? undefined : Math.min(max, DEFAULT_MAX_MODEL_LEN_CAP);
}

function quantizationArg(o: DeployOptions): string | undefined {
  const q = o.facts.quantization;
  if (o.quantization === undefined) return vllmQuantizationArg(o.facts);
  // An explicit method that disagrees with the checkpoint's makes vLLM fail at start: refuse it here instead.
  if (q && !o.quantization.startsWith(q.method === 'other' ? q.raw : q.method)) {
    throw new ModelcarError(
      'usage',
      `--quantization ${o.quantization} does not match the model's quantization_config (${q.raw})`,
      'drop --quantization: vLLM reads the method from config.json',
    );
  }
  return o.quantization;
}

export function vllmArgs(o: DeployOptions, maxModelLen: number | undefined): string[] {
  const f = o.facts;
  const args = ['--model=/mnt/models', `--served-model-name=${o.name}`, '--port=8080'];
  // A quantized checkpoint's kernels pick their activation dtype; forcing the config's dtype can be refused.
  const dtype = o.dtype ?? (f.quantization ? undefined : f.dtype);
  if (dtype) args.push(`--dtype=${dtype}`);
  if (maxModelLen !== undefined) args.push(`--max-model-len=${maxModelLen}`);
  args.push(`--tensor-parallel-size=${o.gpus}`);
  const quant = quantizationArg(o);
  if (quant) args.push(`--quantization=${quant}`);
  if (f.mistralNative) args.push('--tokenizer-mode=mistral', '--config-format=mistral', '--load-format=mistral');
  const flagName = (a: string) => a.split('=')[0];
  const derived = new Set(args.map(flagName));
  for (const extra of o.extraArgs ?? []) {
    // vLLM keeps the last of a repeated flag: a duplicate would silently override what the model's config says.
    if (derived.has(flagName(extra))) {
      throw new ModelcarError(
        'usage',
        `--vllm-arg ${extra} repeats ${flagName(extra)}, which deploy sets from the model`,
        'use the dedicated flag (--max-model-len, --dtype, --quantization, --gpus, --name) instead',
      );
    }
    args.push(extra);
  }
  return args;
}

export function resources(o: DeployOptions): Record<string, unknown> {
  return {
    requests: { cpu: o.cpu, memory: o.memory, [GPU]: String(o.gpus) },
    limits: { memory: o.memory, [GPU]: String(o.gpus) },
  };
}

export function servingRuntime(o: DeployOptions, args: string[]): K8sObject {
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ServingRuntime',
    metadata: {
      name: `${o.name}-vllm`,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      labels: { ...MANAGED_BY, 'opendatahub.io/dashboard': 'true' },
      annotations: {
        'openshift.io/display-name': `vLLM for ${o.name}`,
        'opendatahub.io/recommended-accelerators': JSON.stringify([GPU]),
        'opendatahub.io/apiProtocol': 'REST',
      },
    },
    spec: {
      annotations: { 'prometheus.kserve.io/port': '8080', 'prometheus.kserve.io/path': '/metrics' },
      multiModel: false,
      supportedModelFormats: [{ name: 'vLLM', autoSelect: true }],
      containers: [
        {
          name: 'kserve-container',
          image: o.runtimeImage,
          command: ['python3', '-m', 'vllm.entrypoints.openai.api_server'],
          args,
          env: [
            // OpenShift runs the pod under an arbitrary UID whose HOME is `/`: point every cache at a writable dir.
            { name: 'HOME', value: '/tmp' },
            { name: 'HF_HOME', value: '/tmp/hf_home' },
            // The model is in the image: never reach out to the Hub at start.
            { name: 'HF_HUB_OFFLINE', value: '1' },
          ],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: resources(o),
          securityContext: RESTRICTED_CONTAINER_SECURITY,
          volumeMounts: [{ name: 'shm', mountPath: '/dev/shm' }],
        },
      ],
      // Tensor parallelism moves activations between GPU workers through /dev/shm; the default 64 MiB is too small.
      volumes: [{ name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '2Gi' } }],
    },
  };
}

export function storageUri(o: DeployOptions): string {
  return storageUriFor(o.mode, o.image);
}

/** The Model Registry labels the OpenShift AI dashboard links a deployment to its registered version with. */
export function registryLabels(o: DeployOptions): Record<string, string> {
  const labels: Record<string, string> = {};
  if (o.registeredModelId) labels['modelregistry.opendatahub.io/registered-model-id'] = o.registeredModelId;
  if (o.modelVersionId) labels['modelregistry.opendatahub.io/model-version-id'] = o.modelVersionId;
  if (o.modelRegistryName) labels['modelregistry.opendatahub.io/name'] = o.modelRegistryName;
  return labels;
}

export function inferenceService(o: DeployOptions): K8sObject {
  const labels: Record<string, string> = { ...MANAGED_BY, 'opendatahub.io/dashboard': 'true', ...registryLabels(o) };
  const annotations: Record<string, string> = {
    'openshift.io/display-name': o.name,
    'serving.kserve.io/deploymentMode': o.deploymentMode,
  };
  // The OpenShift AI webhook turns this into predictor imagePullSecrets from the connection Secret.
  const connection = connectionName(o);
  if (connection) annotations['opendatahub.io/connections'] = connection;
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), labels, annotations },
    spec: {
      predictor: {
        // Scale-to-zero would unload a multi-GB model and make the next request wait for a GPU pod to start.
        minReplicas: 1,
        ...podPlacement(o.placement ?? NO_PLACEMENT),
        ...(o.pullSecret ? { imagePullSecrets: [{ name: o.pullSecret }] } : {}),
        model: {
          modelFormat: { name: 'vLLM' },
          runtime: `${o.name}-vllm`,
          storageUri: storageUri(o),
          resources: resources(o),
        },
      },
    },
  };
}

/** The connection a deployment references: one it writes (--connection) or one that exists (--oci-connection). */
export function connectionName(o: DeployOptions): string | undefined {
  return o.connection ?? o.ociConnection;
}

/**
 * The Secret deploy writes, if any: the OpenShift AI connection (--connection, or --oci-connection with
 * --pull-secret-file), or a plain pull secret (--pull-secret with --pull-secret-file).
 */
export function pullSecret(o: DeployOptions): { doc: K8sObject; sensitive: boolean } | undefined {
  const connection = connectionName(o);
  if (o.pullSecretJson === undefined && !o.connection) return undefined;
  const dockerConfigJson = o.pullSecretJson ?? ANONYMOUS_DOCKER_CONFIG;
  const sensitive = o.pullSecretJson !== undefined;
  if (connection) {
    const doc = connectionSecret({
      name: connection,
      image: o.image,
      dockerConfigJson,
      ...(o.namespace ? { namespace: o.namespace } : {}),
    });
    return { doc, sensitive };
  }
  if (!o.pullSecret) {
    throw new ModelcarError('internal', 'pull secret without a name', 'pass --pull-secret NAME or --connection NAME');
  }
  const metadata = {
    name: o.pullSecret,
    ...(o.namespace ? { namespace: o.namespace } : {}),
    labels: { ...MANAGED_BY },
  };
  const data = { '.dockerconfigjson': Buffer.from(dockerConfigJson, 'utf8').toString('base64') };
  return {
    doc: { apiVersion: 'v1', kind: 'Secret', metadata, type: 'kubernetes.io/dockerconfigjson', data },
    sensitive,
  };
}

/** Checks a dockerconfigjson file's shape without ever echoing its content. */
export function checkDockerConfig(json: string, image: ImageRef): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ModelcarError(
      'usage',
      '--pull-secret-file is not valid JSON',
      'pass a dockerconfigjson file: {"auths": {"HOST": {"auth": "..."}}}',
    );
  }
  const auths = (parsed as { auths?: unknown })?.auths;
  if (auths === null || typeof auths !== 'object') {
    throw new ModelcarError(
      'usage',
      '--pull-secret-file has no "auths" object',
      'pass a dockerconfigjson file (podman login --authfile FILE writes one)',
    );
  }
  return Object.keys(auths as object).some((k) => k.replace(/^https?:\/\//, '').split('/')[0] === image.registry)
    ? []
    : [`--pull-secret-file has no credentials for ${image.registry}; the pull will be anonymous`];
}

/** InferenceService names get `-predictor`, `-vllm` and revision suffixes in the objects KServe derives from them. */
export const MAX_SERVICE_NAME = 45;

export function deployManifests(o: DeployOptions): DeployResult {
  checkK8sValues([
    ['dns1035-label', o.name, '--name', MAX_SERVICE_NAME],
    ['dns1123-label', o.namespace, '--namespace'],
    ['quantity', o.cpu, '--cpu'],
    ['quantity', o.memory, '--memory'],
    ['dns1123-subdomain', o.pullSecret, '--pull-secret'],
    ['dns1123-subdomain', o.ociConnection, '--oci-connection'],
    ['dns1123-subdomain', o.connection, '--connection'],
    ['label-value', o.registeredModelId, '--registered-model-id'],
    ['label-value', o.modelVersionId, '--model-version-id'],
    ['dns1123-label', o.modelRegistryName, '--model-registry-name'],
  ]);
  if (!Number.isInteger(o.gpus) || o.gpus < 1) {
    throw new ModelcarError(
      'usage',
      `--gpus must be a whole number >= 1, got ${o.gpus}`,
      'vLLM needs at least one GPU',
    );
  }
  if (o.facts.numHeads !== undefined && o.facts.numHeads % o.gpus !== 0) {
    throw new ModelcarError(
      'usage',
      `--gpus ${o.gpus} does not divide the model's ${o.facts.numHeads} attention heads`,
      'vLLM shards heads across GPUs (tensor parallel): pick a GPU count that divides the head count, such as 1, 2, 4 or 8',
    );
  }
  if ([o.pullSecret, o.ociConnection, o.connection].filter((x) => x !== undefined).length > 1) {
    throw new ModelcarError(
      'usage',
      '--pull-secret, --oci-connection and --connection are exclusive',
      'pick one way to authenticate the pull: --connection NAME writes an OpenShift AI connection, --oci-connection NAME uses one that exists',
    );
  }
  if (o.prepull && o.mode === 'fetch') {
    throw new ModelcarError(
      'usage',
      '--prepull does nothing for --mode fetch',
      "oci+fetch:// is downloaded by KServe's storage initializer, not pulled by the kubelet; drop --prepull, or use --mode modelcar or image-volume",
    );
  }
  parsePinnedImage(o.runtimeImage, '--runtime-image');
  const maxModelLen = resolveMaxModelLen(o);
  const args = vllmArgs(o, maxModelLen);
  const estimate = estimateMemory(o.facts, o.gpus, o.gpuMemoryGiB, maxModelLen ?? ASSUMED_CONTEXT);
  const warnings = [...estimate.warnings];
  if (
    maxModelLen !== undefined &&
    o.facts.maxContext !== undefined &&
    maxModelLen < o.facts.maxContext &&
    o.maxModelLen === undefined
  ) {
    warnings.push(
      `--max-model-len capped at ${maxModelLen} (the model allows ${o.facts.maxContext}); pass --max-model-len to change it`,
    );
  }
  const secret = pullSecret(o);
  if (o.pullSecretJson !== undefined) warnings.push(...checkDockerConfig(o.pullSecretJson, o.image));

  const estimateLine =
    estimate.neededBytes !== undefined
      ? `memory estimate: ~${(estimate.neededBytes / 1024 ** 3).toFixed(1)} GiB needed of ~${(estimate.availableBytes / 1024 ** 3).toFixed(1)} GiB usable (${o.gpus} x ${o.gpuMemoryGiB} GiB at 0.9)${estimate.fits ? '' : ' -- MAY NOT FIT'}`
      : 'memory estimate: unknown (config lacks shape or sizes)';
  const storageNote = MODE_REQUIREMENTS[o.mode];
  const kind = o.kind ?? 'inferenceservice';

  const manifests: Manifest[] = [];
  if (secret) {
    manifests.push({
      file: 'secret.yaml',
      doc: secret.doc,
      sensitive: secret.sensitive,
      comment: secret.sensitive
        ? 'Registry credentials from --pull-secret-file. Keep this file out of git (or seal it).'
        : 'OpenShift AI connection for a registry that needs no credentials (empty auths).',
    });
  }
  if (kind === 'llm') {
    manifests.push({
      file: 'llminferenceservice.yaml',
      doc: llmInferenceService(o, args),
      comment: `vLLM arguments derived from the model (${o.facts.architecture}); ${estimateLine}\nPinned by digest: never a tag.\n${storageNote}`,
    });
  } else {
    manifests.push(
      {
        file: 'servingruntime.yaml',
        doc: servingRuntime(o, args),
        comment: `vLLM arguments derived from the model (${o.facts.architecture}); ${estimateLine}`,
      },
      {
        file: 'inferenceservice.yaml',
        doc: inferenceService(o),
        comment: `Pinned by digest: never a tag.\n${storageNote}`,
      },
    );
  }
  if (o.prepull && o.mode !== 'fetch') {
    const pull = o.pullSecret ?? connectionName(o);
    manifests.push({
      file: 'prepull-daemonset.yaml',
      doc: prepullDaemonSet({
        name: o.name,
        image: o.image,
        mode: o.mode,
        runtimeImage: o.runtimeImage,
        placement: o.placement ?? NO_PLACEMENT,
        ...(o.namespace ? { namespace: o.namespace } : {}),
        ...(pull ? { pullSecret: pull } : {}),
      }),
      comment:
        'Pulls the model (and runtime) image onto the serving nodes ahead of the first pod, and keeps it there.\n' +
        'Delete it when the model is retired: oc delete daemonset -l app.kubernetes.io/component=model-prepull',
    });
  }
  return { manifests, args, maxModelLen, estimate, warnings };
}

export function defaultName(image: ImageRef): string {
  return dnsLabel(image.repository.split('/').pop() ?? 'model', MAX_SERVICE_NAME);
}
