/**
 * Which ModelPack layer type a model file is (weight, weight config, doc, code), from its name: the same heuristic
 * modctl's `modelfile generate` applies. A layer holding files of several roles takes the strongest one and says the
 * classification is a guess (`org.cncf.model.file.mediatype.untested`).
 */
import { ModelPack } from './media-types.js';

export type Role = 'weight' | 'weightConfig' | 'code' | 'doc';

const WEIGHT = /\.(safetensors|bin|pt|pth|ckpt|gguf|ggml|onnx|h5|msgpack|pb|tflite|npz|mlmodel|engine|plan)$/i;
const CONFIG_NAMES =
  /(^|\/)(tokenizer\.model|vocab\.txt|merges\.txt|added_tokens\.json|spiece\.model|sentencepiece\.bpe\.model)$/i;
const CONFIG = /\.(json|jsonl|yaml|yml|tiktoken|jinja|model|vocab|txt)$/i;
const CODE = /\.(py|sh|ipynb|js|ts|go|rs|c|cc|cpp|h|cu)$/i;
const DOC =
  /(^|\/)(readme|license|licence|notice|use_policy|copying)[^/]*$|\.(md|pdf|rst|png|jpe?g|gif|svg|webp|html)$/i;

/** A file's role, and whether it was only a fallback (no rule named it). */
export function roleOf(path: string): { role: Role; guessed: boolean } {
  if (DOC.test(path)) return { role: 'doc', guessed: false };
  if (WEIGHT.test(path)) return { role: 'weight', guessed: false };
  if (CONFIG_NAMES.test(path) || CONFIG.test(path)) return { role: 'weightConfig', guessed: false };
  if (CODE.test(path)) return { role: 'code', guessed: false };
  return { role: 'weightConfig', guessed: true };
}

const STRENGTH: readonly Role[] = ['weight', 'weightConfig', 'code', 'doc'];

/** The media type of a layer holding these files, and whether that is a guess. */
export function layerRole(paths: readonly string[]): { mediaType: string; untested: boolean } {
  const roles = paths.map(roleOf);
  const kinds = new Set(roles.map((r) => r.role));
  const role = STRENGTH.find((r) => kinds.has(r)) ?? 'weightConfig';
  return { mediaType: ModelPack[role], untested: kinds.size > 1 || roles.some((r) => r.guessed) };
}
