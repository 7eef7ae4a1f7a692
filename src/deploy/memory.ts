/**
 * Will the model fit on the GPUs asked for? Weights plus the KV cache of one sequence of --max-model-len tokens plus a
 * per-GPU overhead, against the share of GPU memory vLLM takes (`--gpu-memory-utilization`, default 0.9). vLLM
 * refuses to start when the KV cache of one full-length sequence does not fit, so this is the same test it makes,
 * done before a pod is scheduled.
 */
import { kvBytesPerElement, type ModelFacts } from './model-facts.js';

export const GIB = 1024 ** 3;
/** CUDA context, activations, CUDA graphs and NCCL buffers per GPU; a rule of thumb from vLLM start-up logs. */
export const OVERHEAD_PER_GPU = 2 * GIB;
/** vLLM's default `--gpu-memory-utilization`. */
export const GPU_MEMORY_UTILIZATION = 0.9;

export interface MemoryEstimate {
  weightBytes?: number;
  kvBytesPerToken?: number;
  kvBytes?: number;
  overheadBytes: number;
  neededBytes?: number;
  availableBytes: number;
  fits: boolean | undefined;
  /** One line each; empty when it fits or when nothing is known. */
  warnings: string[];
}

export function kvBytesPerToken(facts: ModelFacts): number | undefined {
  const { numLayers, numKvHeads, headDim } = facts;
  if (!numLayers || !numKvHeads || !headDim) return undefined;
  return 2 * numLayers * numKvHeads * headDim * kvBytesPerElement(facts); // K and V
}

const gib = (b: number) => `${(b / GIB).toFixed(1)} GiB`;

export function estimateMemory(
  facts: ModelFacts,
  gpus: number,
  gpuMemoryGiB: number,
  maxModelLen: number,
): MemoryEstimate {
  const availableBytes = gpus * gpuMemoryGiB * GIB * GPU_MEMORY_UTILIZATION;
  const overheadBytes = gpus * OVERHEAD_PER_GPU;
  const perToken = kvBytesPerToken(facts);
  const base: MemoryEstimate = { overheadBytes, availableBytes, fits: undefined, warnings: [] };
  if (facts.weightBytes === undefined || perToken === undefined) {
    base.warnings.push('cannot estimate GPU memory: the model config lacks layer/head counts or weight sizes');
    return base;
  }
  const kvBytes = perToken * maxModelLen;
  const neededBytes = facts.weightBytes + kvBytes + overheadBytes;
  const fits = neededBytes <= availableBytes;
  const est: MemoryEstimate = {
    ...base,
    weightBytes: facts.weightBytes,
    kvBytesPerToken: perToken,
    kvBytes,
    neededBytes,
    fits,
  };
  if (!fits) {
    const what = `needs ~${gib(neededBytes)} (weights ${gib(facts.weightBytes)} + KV cache ${gib(kvBytes)} for ${maxModelLen} tokens + overhead ${gib(overheadBytes)})`;
    const suggestions: string[] = [];
    const moreGpus = [1, 2, 4, 8].find(
      (n) =>
        n > gpus &&
        (facts.numHeads === undefined || facts.numHeads % n === 0) &&
        facts.weightBytes !== undefined &&
        facts.weightBytes + kvBytes + n * OVERHEAD_PER_GPU <= n * gpuMemoryGiB * GIB * GPU_MEMORY_UTILIZATION,
    );
    if (moreGpus) suggestions.push(`--gpus ${moreGpus}`);
    const room = availableBytes - facts.weightBytes - overheadBytes;
    const len = Math.floor(room / perToken / 1024) * 1024;
    if (len >= 1024) suggestions.push(`--max-model-len ${len}`);
    if (suggestions.length === 0) suggestions.push('larger GPUs (--gpu-memory) or a quantized model');
    est.warnings.push(
      `the model may not fit: it ${what} but ${gpus} x ${gpuMemoryGiB} GiB GPU(s) give ~${gib(availableBytes)} at ${GPU_MEMORY_UTILIZATION} utilization; try ${suggestions.join(' or ')}`,
    );
  }
  return est;
}
