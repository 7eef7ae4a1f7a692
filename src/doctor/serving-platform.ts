/**
 * What the cluster can serve a ModelCar with: the Kubernetes version (/version), each node's container runtime,
 * kubelet, CPU architecture and GPUs (node.status.nodeInfo, allocatable), and KServe (its `inferenceservice-config`
 * ConfigMap and controller image, in the namespaces KServe, OpenShift AI and Open Data Hub install into). From these,
 * a pure `recommendMode` picks `deploy --mode`: image volumes need KServe >= 0.20, Kubernetes >= 1.33 with the
 * ImageVolume feature gate (default on from 1.35, GA in 1.36; OpenShift enables it from 4.20) and CRI-O >= 1.31 or
 * containerd >= 2.1 on every GPU node; the modelcar sidecar works wherever KServe has it enabled.
 */
import type { CheckResult } from './check.js';
import type { KubeClient } from './kube-client.js';
import { bytesOf } from './manifest-rules.js';

export type Runtime = 'cri-o' | 'containerd' | 'other';

export interface NodeFacts {
  readonly name: string;
  readonly runtime: Runtime;
  /** `1.33.2` from `cri-o://1.33.2` or `containerd://2.1.1`. */
  readonly runtimeVersion: string;
  readonly architecture: string;
  readonly gpus: number;
  readonly ephemeralBytes?: number;
}

export interface KServeFacts {
  readonly namespace: string;
  /** From the controller image tag, when it is a version (`v0.20.0`). */
  readonly version?: string;
  /** storageInitializer.ociModelMode: present from KServe 0.20 on. */
  readonly ociModelMode?: string;
  readonly enableModelcar?: boolean;
}

export interface ClusterFacts {
  /** `v1.33.2` or `v1.33.5+rhos` as /version says. */
  readonly kubernetes?: string;
  readonly openshift: boolean;
  readonly nodes: readonly NodeFacts[];
  readonly kserve?: KServeFacts;
}

/** Where KServe's config lives: upstream, OpenShift AI, Open Data Hub. */
export const KSERVE_NAMESPACES = ['kserve', 'redhat-ods-applications', 'opendatahub'] as const;

type Obj = Record<string, unknown>;
const obj = (x: unknown): Obj => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : {});

export function parseVersion(v: string | undefined): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function atLeast(v: string | undefined, major: number, minor: number): boolean | undefined {
  const p = parseVersion(v);
  if (!p) return undefined;
  return p[0] > major || (p[0] === major && p[1] >= minor);
}

export function nodeFacts(item: unknown): NodeFacts {
  const n = obj(item);
  const info = obj(obj(n.status).nodeInfo);
  const alloc = obj(obj(n.status).allocatable) as Record<string, string>;
  const [scheme, version = ''] = String(info.containerRuntimeVersion ?? '').split('://');
  const runtime: Runtime = scheme === 'cri-o' ? 'cri-o' : scheme === 'containerd' ? 'containerd' : 'other';
  const gpus = Number(alloc['nvidia.com/gpu'] ?? 0) + Number(alloc['amd.com/gpu'] ?? 0);
  const ephemeral = bytesOf(alloc['ephemeral-storage']);
  return {
    name: String(obj(n.metadata).name ?? '?'),
    runtime,
    runtimeVersion: version,
    architecture: String(info.architecture ?? 'unknown'),
    gpus: Number.isFinite(gpus) ? gpus : 0,
    ...(ephemeral !== undefined ? { ephemeralBytes: ephemeral } : {}),
  };
}

/** Reads what the recommendation needs; every read is optional (a namespace-scoped user cannot list nodes). */
export async function readClusterFacts(kube: KubeClient, signal: AbortSignal): Promise<ClusterFacts> {
  const version = await kube.get('/version', signal);
  const kubernetes = version.status === 200 ? String(version.body.gitVersion ?? '') || undefined : undefined;
  const openshift = (await kube.get('/apis/config.openshift.io/v1', signal)).status === 200;
  const nodeList = await kube.get('/api/v1/nodes', signal);
  const nodes = nodeList.status === 200 && Array.isArray(nodeList.body.items) ? nodeList.body.items.map(nodeFacts) : [];
  let kserve: KServeFacts | undefined;
  for (const ns of KSERVE_NAMESPACES) {
    const cm = await kube.get(`/api/v1/namespaces/${ns}/configmaps/inferenceservice-config`, signal);
    if (cm.status !== 200) continue;
    let storage: Obj = {};
    try {
      storage = obj(JSON.parse(String(obj(cm.body.data).storageInitializer ?? '{}')));
    } catch {
      // A hand-edited ConfigMap that is not JSON: KServe itself would fail on it; report what we know.
    }
    const deploy = await kube.get(`/apis/apps/v1/namespaces/${ns}/deployments/kserve-controller-manager`, signal);
    const containers = (obj(obj(obj(deploy.body.spec).template).spec).containers ?? []) as Obj[];
    const tag = String(containers.find((c) => c.name === 'manager')?.image ?? containers[0]?.image ?? '')
      .split('@')[0]
      ?.split(':')
      .pop();
    kserve = {
      namespace: ns,
      ...(tag && parseVersion(tag) ? { version: tag } : {}),
      ...(typeof storage.ociModelMode === 'string' ? { ociModelMode: storage.ociModelMode } : {}),
      ...(typeof storage.enableModelcar === 'boolean' ? { enableModelcar: storage.enableModelcar } : {}),
    };
    break;
  }
  return { ...(kubernetes ? { kubernetes } : {}), openshift, nodes, ...(kserve ? { kserve } : {}) };
}

export interface ModeAdvice {
  readonly mode: 'modelcar' | 'image-volume';
  /** Why, one clause per fact. */
  readonly because: readonly string[];
  /** What stands in the way of image volumes, when modelcar was chosen. */
  readonly blockers: readonly string[];
  /** GPU node architectures other than amd64: build for them (`--platform`). */
  readonly architectures: readonly string[];
}

function runtimeSupportsImageVolume(n: NodeFacts): boolean {
  if (n.runtime === 'cri-o') return atLeast(n.runtimeVersion, 1, 31) === true;
  if (n.runtime === 'containerd') return atLeast(n.runtimeVersion, 2, 1) === true;
  return false;
}

export function kserveHasNative(k: KServeFacts | undefined): boolean {
  return k !== undefined && (k.ociModelMode !== undefined || atLeast(k.version, 0, 20) === true);
}

export function recommendMode(f: ClusterFacts): ModeAdvice {
  const serving = f.nodes.filter((n) => n.gpus > 0);
  const pool = serving.length > 0 ? serving : f.nodes;
  const blockers: string[] = [];
  const because: string[] = [];
  if (!kserveHasNative(f.kserve)) {
    blockers.push(
      f.kserve
        ? `KServe ${f.kserve.version ?? '(version unknown)'} in ${f.kserve.namespace} predates oci+native:// (0.20: no ociModelMode in its storageInitializer config)`
        : 'KServe was not found (no inferenceservice-config ConfigMap readable in kserve, redhat-ods-applications or opendatahub)',
    );
  } else because.push(`KServe ${f.kserve?.version ?? '>= 0.20'} understands oci+native://`);
  const k8s = f.kubernetes;
  const gateOn = atLeast(k8s, 1, 35) === true || (f.openshift && atLeast(k8s, 1, 33) === true);
  if (k8s === undefined) blockers.push('the Kubernetes version is unknown (/version not readable)');
  else if (atLeast(k8s, 1, 33) !== true)
    blockers.push(`Kubernetes ${k8s} is older than 1.33 (image volumes with subPath)`);
  else if (!gateOn)
    blockers.push(`Kubernetes ${k8s} needs the ImageVolume feature gate switched on (default only from 1.35)`);
  else because.push(`Kubernetes ${k8s}${f.openshift ? ' (OpenShift)' : ''} has image volumes on`);
  if (pool.length === 0) blockers.push('the nodes and their container runtimes are unknown (cannot list nodes)');
  else {
    const lacking = pool.filter((n) => !runtimeSupportsImageVolume(n));
    if (lacking.length > 0) {
      blockers.push(
        `${lacking.map((n) => `${n.name} runs ${n.runtime} ${n.runtimeVersion}`).join(', ')}: image volumes need CRI-O >= 1.31 or containerd >= 2.1`,
      );
    } else {
      const runtimes = [...new Set(pool.map((n) => `${n.runtime} ${n.runtimeVersion}`))].join(', ');
      because.push(`the ${serving.length > 0 ? 'GPU ' : ''}nodes run ${runtimes}`);
    }
  }
  const architectures = [...new Set(pool.map((n) => n.architecture))].filter((a) => a !== 'amd64' && a !== 'unknown');
  return { mode: blockers.length === 0 ? 'image-volume' : 'modelcar', because, blockers, architectures };
}

/**
 * Node disk a pull of `imageBytes` needs, at its peak and once done. containerd writes each layer blob into its content
 * store, unpacks it into a snapshot and keeps both (KServe's measurements call it two passes): twice the image, for
 * good. CRI-O (containers/image into containers/storage) stages the downloaded blobs in a temporary directory that is
 * removed only when the whole image is committed (containers/image#1187): twice the image during the pull, the image
 * alone afterwards. Either way the node needs room for two copies while the pull runs.
 */
export function pullDiskBytes(runtime: Runtime, imageBytes: number): { peak: number; retained: number } {
  return { peak: imageBytes * 2, retained: runtime === 'cri-o' ? imageBytes : imageBytes * 2 };
}

/** The doctor results: what the cluster runs, and the `deploy --mode` to use there. */
export function servingPlatformResults(f: ClusterFacts): CheckResult[] {
  const gpuNodes = f.nodes.filter((n) => n.gpus > 0);
  const runtimes = [...new Set(f.nodes.map((n) => `${n.runtime} ${n.runtimeVersion}`))];
  const arches = [...new Set(f.nodes.map((n) => n.architecture))];
  const versions: CheckResult = {
    id: 'cluster.versions',
    title: 'cluster versions',
    status: f.kserve ? 'ok' : 'warn',
    summary: [
      `Kubernetes ${f.kubernetes ?? 'unknown'}${f.openshift ? ' (OpenShift)' : ''}`,
      f.nodes.length > 0
        ? `${f.nodes.length} node${f.nodes.length === 1 ? '' : 's'} (${gpuNodes.length} with GPUs): ${runtimes.join(', ')}; ${arches.join(', ')}`
        : 'nodes not readable',
      f.kserve
        ? `KServe ${f.kserve.version ?? '(version unknown)'} in ${f.kserve.namespace}${f.kserve.ociModelMode ? `, ociModelMode ${f.kserve.ociModelMode}` : ''}${f.kserve.enableModelcar === false ? ', enableModelcar false' : ''}`
        : 'KServe not found',
    ].join('; '),
    details: { ...f, nodes: f.nodes.map((n) => ({ ...n })) },
    ...(f.kserve
      ? {}
      : {
          cause: `No inferenceservice-config ConfigMap was readable in ${KSERVE_NAMESPACES.join(', ')}: KServe is not installed, or this account may not read its namespace.`,
          fix: 'install KServe (or OpenShift AI with the single-model serving platform), or run doctor with an account that can read the KServe namespace',
        }),
  };
  const advice = recommendMode(f);
  const mode: CheckResult = {
    id: 'cluster.storage-mode',
    title: 'how KServe should read the ModelCar',
    status: 'ok',
    summary:
      advice.mode === 'image-volume'
        ? `use deploy --mode image-volume (oci+native://): ${advice.because.join('; ')}`
        : `use deploy --mode modelcar (oci://): image volumes are out because ${advice.blockers.join('; ')}`,
    details: { mode: advice.mode, because: advice.because, blockers: advice.blockers },
  };
  if (advice.mode === 'modelcar' && f.kserve?.enableModelcar === false && f.kserve.ociModelMode === undefined) {
    mode.status = 'warn';
    mode.cause = 'KServe has enableModelcar false: it will not run an oci:// storageUri.';
    mode.fix = `oc edit configmap inferenceservice-config -n ${f.kserve.namespace}   # storageInitializer: "enableModelcar": true`;
  }
  const results = [versions, mode];
  if (advice.architectures.length > 0) {
    results.push({
      id: 'cluster.architectures',
      title: 'serving node architectures',
      status: 'warn',
      summary: `the serving nodes include ${advice.architectures.join(', ')}: a ModelCar built for linux/amd64 only fails there with "exec format error"`,
      symptom: 'exec /bin/sh: exec format error   (the modelcar sidecar or init container)',
      cause: "A modelcar's sidecar runs the base image's shell, which must match the node's CPU.",
      fix: `modelcar build ... --platform linux/amd64,${advice.architectures.map((a) => `linux/${a}`).join(',')}   # one index, the model layers shared`,
    });
  }
  return results;
}
