/**
 * `deploy --prepull`: a DaemonSet that pulls the model image (and the serving runtime's image) onto every node where
 * the serving pods may run, so the first pod does not wait minutes for tens of GB. Its containers sleep in those
 * images, so the kubelet keeps them in use and its image garbage collector never evicts them: in modelcar mode the
 * model image runs `sleep` itself (a modelcar image has it, as KServe's own sidecar relies on); in image-volume mode
 * the model image is mounted as an image volume into the runtime container, exactly as the serving pod will mount it
 * (it may have no shell). Restricted-v2: no UID, no capability, 10m CPU and 15Mi memory each (KServe's modelcar
 * defaults). Placement: the serving pods' node selector and tolerations, else the GPU nodes (the
 * `nvidia.com/gpu.present` label of GPU feature discovery and the usual `nvidia.com/gpu` taint).
 */
import { formatRef, type ImageRef } from './image-ref.js';
import { dnsLabel, type K8sObject, MANAGED_BY, RESTRICTED_CONTAINER_SECURITY } from './manifest.js';
import { type Placement, podPlacement } from './placement.js';
import type { StorageMode } from './storage-mode.js';

export const GPU_NODE_LABEL = 'nvidia.com/gpu.present';

export interface PrepullOptions {
  readonly name: string;
  readonly namespace?: string;
  readonly image: ImageRef & { digest: string };
  /** oci+fetch:// is refused before this: the storage initializer downloads, not the kubelet. */
  readonly mode: Exclude<StorageMode, 'fetch'>;
  /** The serving runtime's image; pre-pulled too, and the holder of the image volume in image-volume mode. */
  readonly runtimeImage?: string;
  readonly placement: Placement;
  readonly pullSecret?: string;
}

const SLEEPER = {
  imagePullPolicy: 'IfNotPresent',
  command: ['sleep', 'infinity'],
  resources: { requests: { cpu: '10m', memory: '15Mi' }, limits: { cpu: '10m', memory: '15Mi' } },
  securityContext: { ...RESTRICTED_CONTAINER_SECURITY, readOnlyRootFilesystem: true },
};

/** The serving pods' placement, or GPU nodes when none was given. */
export function prepullPlacement(p: Placement): Placement {
  if (Object.keys(p.nodeSelector).length > 0 || p.tolerations.length > 0) return p;
  return {
    nodeSelector: { [GPU_NODE_LABEL]: 'true' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  };
}

export function prepullDaemonSet(o: PrepullOptions): K8sObject {
  const name = dnsLabel(`${o.name}-prepull`, 63);
  const labels = { ...MANAGED_BY, 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'model-prepull' };
  const selector = { 'app.kubernetes.io/name': name };
  const model = formatRef(o.image);
  const volume =
    o.mode === 'image-volume' ? { name: 'model', image: { reference: model, pullPolicy: 'IfNotPresent' } } : undefined;
  const containers: Record<string, unknown>[] = [];
  if (o.mode === 'modelcar') containers.push({ name: 'model', image: model, ...SLEEPER });
  if (o.runtimeImage) {
    containers.push({
      name: 'runtime',
      image: o.runtimeImage,
      ...SLEEPER,
      ...(volume
        ? { volumeMounts: [{ name: 'model', mountPath: '/mnt/models', subPath: 'models', readOnly: true }] }
        : {}),
    });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels },
    spec: {
      selector: { matchLabels: selector },
      // One node at a time would pull a 48 GB image node after node: let every node pull at once.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%' } },
      template: {
        metadata: { labels },
        spec: {
          ...podPlacement(prepullPlacement(o.placement)),
          ...(o.pullSecret ? { imagePullSecrets: [{ name: o.pullSecret }] } : {}),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 0,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers,
          ...(volume ? { volumes: [volume] } : {}),
        },
      },
    },
  };
}
