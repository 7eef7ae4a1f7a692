/**
 * `deploy --kind llm`: a KServe LLMInferenceService (serving.kserve.io/v1alpha2, the llm-d based CRD, storage version
 * in KServe 0.20). Its LLMInferenceServiceConfig preset starts `vllm serve /mnt/models` with the served name, port and
 * `--tensor-parallel-size` from `spec.parallelism.tensor`, and passes the container's `args` on to vLLM: only what
 * the model itself decides (dtype, context length, quantization, Mistral format) goes there. Pure.
 */
import { ModelcarError } from '../errors.js';
import { connectionName, type DeployOptions, registryLabels, resources } from './kserve.js';
import { type K8sObject, MANAGED_BY, RESTRICTED_CONTAINER_SECURITY } from './manifest.js';
import { NO_PLACEMENT, podPlacement } from './placement.js';
import { storageUriFor } from './storage-mode.js';

/** vLLM flags the preset's command line already sets; repeating them in args would be refused by vLLM's parser. */
const SET_BY_PRESET = new Set(['--model', '--served-model-name', '--port', '--tensor-parallel-size']);

export function llmArgs(args: readonly string[]): string[] {
  return args.filter((a) => !SET_BY_PRESET.has(a.split('=')[0] as string));
}

export function llmInferenceService(o: DeployOptions, args: readonly string[]): K8sObject {
  if (o.mode === 'fetch') {
    throw new ModelcarError(
      'usage',
      '--kind llm cannot use --mode fetch: KServe does not route oci+fetch:// for LLMInferenceService',
      'use --mode modelcar or --mode image-volume with --kind llm, or --kind inferenceservice for fetch',
    );
  }
  const annotations: Record<string, string> = { 'openshift.io/display-name': o.name };
  const connection = connectionName(o);
  if (connection) annotations['opendatahub.io/connections'] = connection;
  const pullSecret = o.pullSecret ?? connectionName(o);
  return {
    apiVersion: 'serving.kserve.io/v1alpha2',
    kind: 'LLMInferenceService',
    metadata: {
      name: o.name,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      labels: { ...MANAGED_BY, 'opendatahub.io/dashboard': 'true', ...registryLabels(o) },
      annotations,
    },
    spec: {
      model: { uri: storageUriFor(o.mode, o.image), name: o.name },
      replicas: 1,
      ...(o.gpus > 1 ? { parallelism: { tensor: o.gpus } } : {}),
      template: {
        ...podPlacement(o.placement ?? NO_PLACEMENT),
        // The modelcar sidecar and the image volume are pulled with the pod's pull secrets.
        ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
        containers: [
          {
            name: 'main',
            args: llmArgs(args),
            resources: resources(o),
            securityContext: RESTRICTED_CONTAINER_SECURITY,
          },
        ],
      },
    },
  };
}
