/**
 * What a model's own files say about how to serve it: architecture, dtype, context length, quantization, the shape of
 * its attention (for a KV-cache estimate), weight bytes, and whether it is in Mistral's native format. Pure: callers
 * hand in the parsed JSON and the file list; `model-dir.ts` does the reading.
 */
import { ModelcarError } from '../errors.js';

export type Quantization = 'awq' | 'gptq' | 'fp8' | 'compressed-tensors' | 'bitsandbytes' | 'other';

export interface ModelFile {
  /** Path relative to the model root, `/`-separated. */
  path: string;
  size: number;
}

export interface ModelFacts {
  architecture: string;
  modelType?: string;
  /** torch dtype of the weights as the config declares it (`bfloat16`, `float16`, `float32`), if it does. */
  dtype?: string;
  /** The longest context the model was built for, if the config says. */
  maxContext?: number;
  quantization?: {
    method: Quantization;
    /** `quant_method` exactly as written in the config. */
    raw: string;
    /** Bits per weight when the config says (awq/gptq `bits`, compressed-tensors `num_bits`, fp8 => 8). */
    bits?: number;
  };
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  hiddenSize?: number;
  /** Weight bytes: the sum of the weight files loaded, or an estimate from the shape when no sizes are known. */
  weightBytes?: number;
  weightBytesSource: 'files' | 'estimate' | 'unknown';
  /** Repo in Mistral's own layout (consolidated.safetensors + params.json + tekken.json / tokenizer.model.v*). */
  mistralNative: boolean;
}

type Json = Record<string, unknown>;

const KNOWN_QUANT: Record<string, Quantization> = {
  awq: 'awq',
  gptq: 'gptq',
  fp8: 'fp8',
  'compressed-tensors': 'compressed-tensors',
  compressed_tensors: 'compressed-tensors',
  bitsandbytes: 'bitsandbytes',
};

const DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2, float8_e4m3fn: 1 };

function num(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  return undefined;
}

function str(...values: unknown[]): string | undefined {
  for (const v of values) if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Multimodal configs (Llava, Mistral3, Gemma3...) keep the language model's shape in `text_config`. */
function textConfig(config: Json): Json {
  return obj(config.text_config) ?? obj(config.language_config) ?? obj(config.llm_config) ?? config;
}

function quantOf(config: Json, text: Json): ModelFacts['quantization'] {
  const qc = obj(config.quantization_config) ?? obj(text.quantization_config) ?? obj(config.compression_config);
  if (!qc) return undefined;
  const raw = str(qc.quant_method) ?? (config.compression_config ? 'compressed-tensors' : undefined);
  if (!raw) return undefined;
  const method = KNOWN_QUANT[raw.toLowerCase()] ?? 'other';
  let bits = num(qc.bits, qc.w_bit);
  if (method === 'fp8') bits = 8;
  if (method === 'bitsandbytes') bits = qc.load_in_4bit === true ? 4 : qc.load_in_8bit === true ? 8 : bits;
  if (method === 'compressed-tensors') {
    for (const group of Object.values(obj(qc.config_groups) ?? {})) {
      bits = num(obj(obj(group)?.weights)?.num_bits) ?? bits;
    }
  }
  return bits === undefined ? { method, raw } : { method, raw, bits };
}

/**
 * The weight files vLLM will actually load: Mistral-native repos load `consolidated*.safetensors`, HF-layout repos
 * load the other safetensors (a repo may carry both). Falls back to PyTorch `.bin`/`.pt` when there is no safetensors.
 */
function weightFiles(files: ModelFile[], mistralNative: boolean): ModelFile[] {
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const st = files.filter((f) => f.path.endsWith('.safetensors'));
  const consolidated = st.filter((f) => base(f.path).startsWith('consolidated'));
  if (mistralNative) return consolidated;
  const hf = st.filter((f) => !base(f.path).startsWith('consolidated'));
  if (hf.length > 0) return hf;
  if (st.length > 0) return st;
  return files.filter((f) => /\.(bin|pt|pth)$/.test(f.path) && !base(f.path).startsWith('training_args'));
}

export function isMistralNative(files: ModelFile[]): boolean {
  const names = new Set(files.map((f) => f.path));
  const hasWeights = files.some((f) => /^consolidated.*\.safetensors$/.test(f.path));
  const hasTokenizer = names.has('tekken.json') || files.some((f) => /^tokenizer\.model\.v\d+/.test(f.path));
  return hasWeights && names.has('params.json') && hasTokenizer;
}

/** Parameter count from the shape, for when no file sizes are known (e.g. only a config.json was given). */
function estimateParams(
  t: Json,
  f: Pick<ModelFacts, 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'hiddenSize'>,
): number | undefined {
  const { numLayers: L, hiddenSize: h, numHeads: nh, numKvHeads: kv, headDim: hd } = f;
  const vocab = num(t.vocab_size);
  const inter = num(t.intermediate_size, t.ffn_dim, t.hidden_dim);
  if (!L || !h || !nh || !kv || !hd || !vocab || !inter) return undefined;
  const experts = num(t.num_local_experts, t.n_routed_experts, t.num_experts) ?? 1;
  const moeInter = num(t.moe_intermediate_size) ?? inter;
  const attention = h * nh * hd * 2 + h * kv * hd * 2;
  const mlp = experts > 1 ? 3 * h * moeInter * experts : 3 * h * inter;
  const embeddings = vocab * h * (t.tie_word_embeddings === true ? 1 : 2);
  return L * (attention + mlp) + embeddings;
}

export interface ModelInputs {
  /** Parsed config.json (Hugging Face layout), if present. */
  config?: Json;
  /** Parsed params.json (Mistral native layout), if present. */
  params?: Json;
  /** Files of the repo with sizes, if known. */
  files?: ModelFile[];
}

export function modelFacts(input: ModelInputs): ModelFacts {
  const files = input.files ?? [];
  const mistralNative = isMistralNative(files);
  const config = input.config ?? {};
  const params = input.params ?? {};
  if (!input.config && !input.params) {
    throw new ModelcarError(
      'source',
      'the model has neither config.json nor params.json',
      'point --model-dir at the model repository root, or pass --model-config FILE with its config.json',
    );
  }
  const t = textConfig(config);
  const architectures = (config.architectures ?? t.architectures) as unknown;
  const architecture =
    (Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : undefined) ??
    str(config.model_type, t.model_type) ??
    (input.params ? 'MistralNative' : 'unknown');

  const hiddenSize = num(t.hidden_size, t.n_embd, t.d_model, params.dim);
  const numHeads = num(t.num_attention_heads, t.n_head, params.n_heads);
  const numKvHeads = num(t.num_key_value_heads, t.num_kv_heads, t.multi_query_group_num, params.n_kv_heads) ?? numHeads;
  const headDim = num(t.head_dim, params.head_dim) ?? (hiddenSize && numHeads ? hiddenSize / numHeads : undefined);
  const numLayers = num(t.num_hidden_layers, t.n_layer, t.num_layers, params.n_layers);
  const maxContext = num(
    t.max_position_embeddings,
    t.n_positions,
    t.max_sequence_length,
    t.max_seq_len,
    t.seq_length,
    params.max_seq_len,
    params.max_position_embeddings,
  );
  const dtype = str(config.torch_dtype, config.dtype, t.torch_dtype, t.dtype);
  const quantization = quantOf(config, t);

  const facts: ModelFacts = {
    architecture,
    mistralNative,
    weightBytesSource: 'unknown',
    ...(str(config.model_type) ? { modelType: str(config.model_type) } : {}),
    ...(dtype ? { dtype } : {}),
    ...(maxContext ? { maxContext } : {}),
    ...(quantization ? { quantization } : {}),
    ...(numLayers ? { numLayers } : {}),
    ...(numHeads ? { numHeads } : {}),
    ...(numKvHeads ? { numKvHeads } : {}),
    ...(headDim ? { headDim } : {}),
    ...(hiddenSize ? { hiddenSize } : {}),
  };

  const weights = weightFiles(files, mistralNative);
  if (weights.length > 0) {
    facts.weightBytes = weights.reduce((a, f) => a + f.size, 0);
    facts.weightBytesSource = 'files';
  } else {
    const count = estimateParams({ ...params, ...t }, facts);
    const bytesPerParam = quantization?.bits ? quantization.bits / 8 : (DTYPE_BYTES[dtype ?? 'bfloat16'] ?? 2);
    if (count) {
      facts.weightBytes = Math.round(count * bytesPerParam);
      facts.weightBytesSource = 'estimate';
    }
  }
  return facts;
}

/**
 * The `--quantization` value vLLM needs, or undefined when it reads the method from config.json by itself. vLLM
 * detects awq, gptq, fp8 and compressed-tensors from `quantization_config`; forcing a value only narrows its kernel
 * choice (`awq` disables awq_marlin) or, when it disagrees with the config (`awq` on a compressed-tensors checkpoint),
 * makes the server fail at start and crash-loop. bitsandbytes checkpoints are the exception older vLLMs could not
 * infer.
 */
export function vllmQuantizationArg(facts: ModelFacts): string | undefined {
  return facts.quantization?.method === 'bitsandbytes' ? 'bitsandbytes' : undefined;
}

/** Bytes per element of the KV cache: vLLM keeps it in the activation dtype (16-bit unless the model is fp32). */
export function kvBytesPerElement(facts: ModelFacts): number {
  return facts.dtype === 'float32' && !facts.quantization ? 4 : 2;
}
