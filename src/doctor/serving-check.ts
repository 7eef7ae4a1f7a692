import { formatBytes } from '../plan/plan.js';
import type { Check, CheckResult } from './check.js';
import { type NodeFacts, nodeFacts, parseVersion, pullDiskBytes } from './serving-platform.js';

/**
 * The serving side: a ModelCar is pulled onto the GPU node's image storage, which needs room for two copies while
 * the pull runs (`pullDiskBytes`: containerd keeps blob and snapshot for good, CRI-O stages every blob until the image
 * is committed), and the kubelet evicts pods when that disk runs low (an 87 GB ModelCar on a 120 GB node). Compared
 * with each GPU node's allocatable ephemeral storage when a cluster is reachable.
 */
const BASE_ALLOWANCE = 64 * 1024 * 1024;
/** Fraction of the disk the kubelet lets images use before imagefs.available<15% eviction starts. */
const EVICTION_FREE = 0.15;

const ALTERNATIVES =
  'serve from a PVC (storageUri: pvc://NAME/PATH, filled once by `hf download`) or S3 instead of a ModelCar, pin the predictor to nodes with larger disks (nodeSelector), or package a smaller (quantized) variant';

export const servingCheck: Check = {
  id: 'serving',
  title: 'serving node storage',
  after: ['source', 'cluster'],
  async run(ctx) {
    const model = ctx.facts.model;
    if (!model)
      return {
        id: 'serving',
        title: this.title,
        status: 'skip',
        summary: 'image size unknown (source check did not pass)',
      };
    const image = model.layerSizes.reduce((n, s) => n + s, 0) + BASE_ALLOWANCE;
    const onNode = pullDiskBytes('containerd', image).peak;
    const kube = ctx.facts.kube;
    if (!kube) {
      return {
        id: 'serving',
        title: this.title,
        status: 'warn',
        summary: `the image is about ${formatBytes(image)}; each GPU node that may run the predictor needs about ${formatBytes(onNode)} of free image storage (no cluster reachable to check)`,
        fix: `oc get nodes -l nvidia.com/gpu.present=true -o custom-columns=NAME:.metadata.name,EPHEMERAL:.status.allocatable.ephemeral-storage\n# need >= ${formatBytes(onNode)} free on each; else: ${ALTERNATIVES}`,
      };
    }
    const r = await kube.get('/api/v1/nodes', ctx.signal);
    if (r.status !== 200) {
      return {
        id: 'serving',
        title: this.title,
        status: 'warn',
        summary: `cannot list nodes (HTTP ${r.status}); the image is about ${formatBytes(image)} and needs about ${formatBytes(onNode)} of image storage on the GPU node`,
        fix: 'ask a cluster admin: oc get nodes -o custom-columns=NAME:.metadata.name,EPHEMERAL:.status.allocatable.ephemeral-storage',
      };
    }
    const nodes = (Array.isArray(r.body.items) ? r.body.items : []).map(nodeFacts);
    const gpu = nodes.filter((n) => n.gpus > 0);
    const pool = gpu.length > 0 ? gpu : nodes;
    const rows = pool.map((n) => ({ name: n.name, bytes: n.ephemeralBytes ?? 0 }));
    const fits = rows.filter((n) => image <= n.bytes * (1 - EVICTION_FREE));
    const roomy = rows.filter((n) => onNode <= n.bytes * (1 - EVICTION_FREE));
    const list = rows.map((n) => `${n.name} ${formatBytes(n.bytes)}`).join(', ');
    const which =
      gpu.length > 0
        ? `${gpu.length} GPU node${gpu.length === 1 ? '' : 's'}`
        : `${nodes.length} nodes (none advertises a GPU)`;
    const timeout = crioPullTimeout(pool, Math.max(0, ...model.layerSizes));
    const result: CheckResult = {
      id: 'serving',
      title: this.title,
      status: 'ok',
      summary: '',
      details: { imageBytes: image, nodes: rows },
    };
    if (fits.length === 0) {
      return withTimeout(timeout, {
        ...result,
        status: 'fail',
        summary: `the ${formatBytes(image)} image does not fit the ephemeral storage of any of ${which}: ${list}`,
        symptom:
          'The node was low on resource: ephemeral-storage. ... Pod was evicted  (or: ErrImagePull ... no space left on device)',
        cause: 'The kubelet stores pulled images on the node disk and evicts pods once less than about 15% is free.',
        fix: ALTERNATIVES,
      });
    }
    if (roomy.length === 0) {
      return withTimeout(timeout, {
        ...result,
        status: 'warn',
        summary: `the ${formatBytes(image)} image fits ${fits.map((n) => n.name).join(', ')} only without room for the unpacked copy (${formatBytes(onNode)}) or other images: ${list}`,
        cause:
          'A pull needs two copies on the node while it runs: containerd writes each layer blob and then unpacks it, and keeps both (twice the image for good); CRI-O stages every blob until the whole image is committed (twice while pulling, once after).',
        fix: ALTERNATIVES,
      });
    }
    return withTimeout(timeout, {
      ...result,
      summary: `the ${formatBytes(image)} image fits ${roomy.length} of ${which} with room to unpack (${list})`,
    });
  },
};

function withTimeout(timeout: CheckResult | undefined, result: CheckResult): CheckResult[] {
  return timeout ? [result, timeout] : [result];
}

/** Layers this big take long enough to write that a 10-second no-progress deadline can fall inside one. */
const BIG_LAYER = 1024 ** 3;

/**
 * CRI-O 1.30 started cancelling a pull that reports no progress for 10 s (cri-o#7887), which can happen while one
 * big layer is written out; `pull_progress_timeout` (1.32, backported to 1.29-1.31) made it configurable, and since
 * April 2025 it is off by default (cri-o#9130, backported). Nodes on 1.30-1.32 may still have it on.
 */
function crioPullTimeout(nodes: readonly NodeFacts[], largestLayer: number): CheckResult | undefined {
  const exposed = nodes.filter((n) => {
    const v = parseVersion(n.runtimeVersion);
    return n.runtime === 'cri-o' && v !== undefined && v[0] === 1 && v[1] >= 30 && v[1] <= 32;
  });
  if (exposed.length === 0 || largestLayer < BIG_LAYER) return undefined;
  return {
    id: 'serving.crio-pull-timeout',
    title: 'CRI-O pull progress timeout',
    status: 'warn',
    summary: `${exposed.map((n) => `${n.name} (CRI-O ${n.runtimeVersion})`).join(', ')} may cancel the pull while the ${formatBytes(largestLayer)} layer is written`,
    symptom:
      'pulling image: rpc error: code = Canceled desc = copying system image from manifest list: ... context canceled',
    cause:
      'CRI-O 1.30-1.32 cancels a pull after pull_progress_timeout (10 s in the releases that introduced it) without a progress report, and writing one big layer reports none.',
    fix: '# on the nodes (OpenShift: a MachineConfig drop-in), then restart crio:\n# /etc/crio/crio.conf.d/99-pull-progress.conf\n[crio.image]\npull_progress_timeout = "0s"\n# or update CRI-O to a release where it is off by default',
  };
}
