/**
 * The ModelPack model config (`application/vnd.cncf.model.config.v1+json`, model-spec docs/config.md), derived from
 * the model itself: architecture and family from config.json (as modctl derives them), format from the weight files,
 * parameter count and precision from the safetensors headers, quantization from quantization_config, licence, source
 * and revision from the source. Pure; keys in a fixed order so the same model gives the same bytes.
 */
import { formatParamSize, precisionName, type WeightSummary } from './safetensors.js';

type Json = Record<string, unknown>;

export interface ModelPackInput {
  /** The model's name as the source names it, e.g. `ibm-granite/granite-3.1-8b-instruct`. */
  readonly name: string;
  /** `hf://ORG/NAME@<commit>` or `file:<dir>`. */
  readonly sourceUri: string;
  readonly revision?: string;
  /** SPDX id from the model card. */
  readonly license?: string;
  /** The build's fixed time: the same input gives the same config. */
  readonly created: Date;
  /** Parsed config.json, when the model has one. */
  readonly config?: Json;
  /** Paths of the packaged files, relative to the model root. */
  readonly files: readonly string[];
  /** From the safetensors headers of the weight files, when there are any. */
  readonly weights?: WeightSummary;
  /** Layer digests (uncompressed tar: the diff id) in manifest order. */
  readonly diffIds: readonly string[];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** The format of the weights: what a serving runtime must load. */
export function weightFormat(files: readonly string[]): string | undefined {
  const has = (re: RegExp) => files.some((f) => re.test(f));
  if (has(/\.safetensors$/i)) return 'safetensors';
  if (has(/\.gguf$/i)) return 'gguf';
  if (has(/\.onnx$/i)) return 'onnx';
  if (has(/\.(bin|pt|pth)$/i)) return 'pt';
  return undefined;
}

/** `hf://ORG/NAME@rev` -> the model's page on the Hub; other sources have no public URL. */
export function sourceUrl(sourceUri: string): string | undefined {
  const m = /^hf:\/\/([^@]+)(?:@.*)?$/.exec(sourceUri);
  return m ? `https://huggingface.co/${m[1]}` : undefined;
}

function quantizationOf(config: Json | undefined): string | undefined {
  if (!config) return undefined;
  const text = obj(config.text_config) ?? config;
  const qc = obj(config.quantization_config) ?? obj(text.quantization_config) ?? obj(config.compression_config);
  if (!qc) return undefined;
  return str(qc.quant_method)?.toLowerCase() ?? (config.compression_config ? 'compressed-tensors' : undefined);
}

/** Precision: the dtypes the weights are stored in, by bytes (the truth of the files), else the config's dtype. */
function precisionOf(input: ModelPackInput): string | undefined {
  const dtypes = input.weights?.dtypes ?? [];
  if (dtypes.length > 0) return dtypes.map((d) => precisionName(d.dtype)).join(',');
  const c = input.config;
  const text = obj(c?.text_config) ?? c;
  return str(c?.torch_dtype) ?? str(c?.dtype) ?? str(text?.torch_dtype);
}

export function modelPackConfig(input: ModelPackInput): Record<string, unknown> {
  const c = input.config;
  const created = input.created.toISOString().replace(/\.000Z$/, 'Z');
  const descriptor: Json = { createdAt: created, name: input.name };
  const family = str(c?.model_type) ?? str(obj(c?.text_config)?.model_type);
  if (family) descriptor.family = family;
  const url = sourceUrl(input.sourceUri);
  if (url) {
    descriptor.docURL = url;
    descriptor.sourceURL = url;
  }
  if (input.revision) descriptor.revision = input.revision;
  if (input.license) descriptor.licenses = [input.license];

  const config: Json = {};
  // modctl's rule: a config written by Hugging Face transformers describes a transformer.
  if (c && (c.transformers_version !== undefined || Array.isArray(c.architectures)))
    config.architecture = 'transformer';
  const format = weightFormat(input.files);
  if (format) config.format = format;
  const paramSize = input.weights ? formatParamSize(input.weights.parameters) : undefined;
  if (paramSize) config.paramSize = paramSize;
  const precision = precisionOf(input);
  if (precision) config.precision = precision;
  const quantization = quantizationOf(c);
  if (quantization) config.quantization = quantization;

  return { descriptor, config, modelfs: { type: 'layers', diffIds: [...input.diffIds] } };
}

export function modelPackConfigBytes(input: ModelPackInput): Buffer {
  return Buffer.from(JSON.stringify(modelPackConfig(input)));
}
