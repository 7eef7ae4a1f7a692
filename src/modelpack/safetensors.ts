/**
 * The safetensors header: 8 bytes little-endian length N, then N bytes of JSON mapping each tensor name to its dtype,
 * shape and byte offsets (huggingface/safetensors, docs "format"). Reading it costs kilobytes and gives the exact
 * parameter count and the stored precisions of a model, without its weights.
 */
import { ModelcarError } from '../errors.js';

/** safetensors refuses headers over 100 MB; so do we, before allocating anything. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly dtype: string;
  readonly shape: readonly number[];
}

export interface SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Bytes per element of each safetensors dtype (Rust `Dtype` names as they appear in headers). */
const DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
};

/** The model-spec's precision names (docs/config.md) for safetensors dtypes; unknown ones keep their lower-case name. */
const PRECISION: Readonly<Record<string, string>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  U16: 'uint16',
  I32: 'int32',
  U32: 'uint32',
  I64: 'int64',
  U64: 'uint64',
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
  F8_E4M3: 'float8_e4m3',
  F8_E5M2: 'float8_e5m2',
};

export function precisionName(dtype: string): string {
  return PRECISION[dtype] ?? dtype.toLowerCase();
}

function bad(path: string, why: string): ModelcarError {
  return new ModelcarError(
    'source',
    `${path} is not a valid safetensors file: ${why}`,
    'check the file (a truncated download or a Git LFS pointer gives this); re-download it',
  );
}

/** The header length from the first 8 bytes, checked against the file size when known. */
export function headerLength(prefix: Buffer, path: string, fileSize?: number): number {
  if (prefix.length < 8) throw bad(path, 'shorter than its 8-byte header length');
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(path, `header length ${n} is over ${MAX_HEADER_BYTES} bytes`);
  const length = Number(n);
  if (fileSize !== undefined && 8 + length > fileSize) throw bad(path, `header length ${length} runs past the file`);
  return length;
}

/** Parses the JSON header (the N bytes after the length). */
export function parseHeader(json: Buffer, path: string): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw bad(path, 'the header is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw bad(path, 'the header is not an object');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = value as Record<string, string>;
      continue;
    }
    const t = value as { dtype?: unknown; shape?: unknown };
    if (
      typeof t?.dtype !== 'string' ||
      !Array.isArray(t.shape) ||
      !t.shape.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      throw bad(path, `tensor ${JSON.stringify(name)} has no dtype or shape`);
    }
    tensors.set(name, { dtype: t.dtype, shape: t.shape as number[] });
  }
  return { tensors, ...(metadata ? { metadata } : {}) };
}

/**
 * Reads just the header from a stream of the file's bytes, then stops reading (the iterator is returned, so a network
 * stream is cancelled after kilobytes).
 */
export async function readHeader(
  bytes: AsyncIterable<Buffer>,
  path: string,
  fileSize?: number,
): Promise<SafetensorsHeader> {
  const chunks: Buffer[] = [];
  let have = 0;
  let need = 8;
  let length: number | undefined;
  for await (const chunk of bytes) {
    chunks.push(chunk);
    have += chunk.length;
    if (length === undefined && have >= 8) {
      length = headerLength(Buffer.concat(chunks), path, fileSize);
      need = 8 + length;
    }
    if (length !== undefined && have >= need) break;
  }
  if (length === undefined || have < need) throw bad(path, 'the file ends inside its header');
  return parseHeader(Buffer.concat(chunks).subarray(8, need), path);
}

export interface WeightSummary {
  /** Parameters: the product of each tensor's shape, summed over every tensor of every file. */
  readonly parameters: number;
  /** Bytes stored per dtype, largest first. */
  readonly dtypes: readonly { readonly dtype: string; readonly bytes: number }[];
}

/** Parameter count and stored dtypes over the weight files of one model (shards of one checkpoint). */
export function summarize(headers: readonly SafetensorsHeader[]): WeightSummary {
  let parameters = 0;
  const bytes = new Map<string, number>();
  for (const h of headers) {
    for (const t of h.tensors.values()) {
      const count = t.shape.reduce((a, d) => a * d, 1);
      parameters += count;
      bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + (count * (DTYPE_BITS[t.dtype] ?? 8)) / 8);
    }
  }
  const dtypes = [...bytes]
    .map(([dtype, b]) => ({ dtype, bytes: b }))
    .sort((a, b) => b.bytes - a.bytes || (a.dtype < b.dtype ? -1 : 1));
  return { parameters, dtypes };
}

/**
 * The model-spec's `paramSize`: a count with at most one decimal and a scale letter (`8b`, `6.7b`, `494m`, `1.2t`).
 * Lower case, as the spec's own example writes it.
 */
export function formatParamSize(parameters: number): string | undefined {
  if (!Number.isFinite(parameters) || parameters <= 0) return undefined;
  const scales: readonly [number, string][] = [
    [1e15, 'q'],
    [1e12, 't'],
    [1e9, 'b'],
    [1e6, 'm'],
    [1e3, 'k'],
  ];
  const i = scales.findIndex(([size]) => parameters >= size);
  if (i === -1) return String(parameters);
  const [size, letter] = scales[i] as [number, string];
  const count = Math.round((parameters / size) * 10) / 10;
  // 999.96m rounds to 1000m: that is 1b.
  if (count >= 1000 && i > 0) return `1${(scales[i - 1] as [number, string])[1]}`;
  return `${count.toFixed(1).replace(/\.0$/, '')}${letter}`;
}
