/**
 * Tiny model directories for the deploy tests: a real config.json (or params.json) and weight files whose sizes are
 * real but whose bytes are holes (sparse files), so a "70B" model costs no disk.
 */
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const GB = 1_000_000_000;

/** Llama 3.1 8B's shape (bf16, GQA 32/8, 128k context). */
export const LLAMA_8B_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  vocab_size: 128256,
  max_position_embeddings: 131072,
  torch_dtype: 'bfloat16',
};

/** Llama 3.1 70B's shape. */
export const LLAMA_70B_CONFIG = {
  ...LLAMA_8B_CONFIG,
  hidden_size: 8192,
  intermediate_size: 28672,
  num_hidden_layers: 80,
  num_attention_heads: 64,
  num_key_value_heads: 8,
};

/** A w4a16 checkpoint written by llm-compressor: quant_method compressed-tensors, 4-bit weights. */
export const COMPRESSED_TENSORS_QUANT = {
  quant_method: 'compressed-tensors',
  format: 'pack-quantized',
  config_groups: {
    group_0: {
      targets: ['Linear'],
      weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 128 },
    },
  },
  ignore: ['lm_head'],
};

export const AWQ_QUANT = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm' };

/** Mistral's own params.json for Mistral-Small-style repos. */
export const MISTRAL_PARAMS = {
  dim: 5120,
  n_layers: 40,
  head_dim: 128,
  hidden_dim: 32768,
  n_heads: 32,
  n_kv_heads: 8,
  norm_eps: 1e-5,
  vocab_size: 131072,
  rope_theta: 1000000000,
};

export interface ModelFixture {
  /** JSON files by relative path (config.json, params.json, ...). */
  json?: Record<string, unknown>;
  /** Other files by relative path, with their (sparse) size in bytes. */
  sized?: Record<string, number>;
}

/** A scratch directory that tests fill with model fixtures; `cleanup()` removes it. */
export async function scratchDir(prefix = 'modelcar-test-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeModel(dir: string, fixture: ModelFixture): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [path, value] of Object.entries(fixture.json ?? {})) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), `${JSON.stringify(value, null, 2)}\n`);
  }
  for (const [path, size] of Object.entries(fixture.sized ?? {})) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    const fh = await open(join(dir, path), 'w');
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  }
  return dir;
}
