import { posix } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import type { ModelSource, SourceEntry } from '../source/source.js';

/**
 * Which files of a model go into the image. Selection is subtractive: every file is kept unless we can name why a
 * serving runtime does not need it (repo metadata, an alternative copy of the weights in another format, a duplicate
 * copy in the same format, training state). `--include` re-adds what the defaults dropped; `--exclude` wins over all.
 */

export interface SelectOptions {
  /** Globs; a matching file is kept even when a default rule would skip it. */
  readonly include?: readonly string[];
  /** Globs; a matching file is skipped, whatever else says. */
  readonly exclude?: readonly string[];
  /** Keep safetensors that duplicate the indexed shard set (e.g. Mistral's consolidated.safetensors). */
  readonly keepDuplicateWeights?: boolean;
  /** Contents of `*.safetensors.index.json` files by path (parsed JSON or the raw text); see readIndexFiles. */
  readonly indexFiles?: ReadonlyMap<string, unknown>;
}

export interface SkippedFile {
  readonly path: string;
  readonly size: number;
  /** Plain words for the plan output. */
  readonly reason: string;
}

export interface Selection<T> {
  readonly selected: T[];
  readonly skipped: SkippedFile[];
}

type Entry = Pick<SourceEntry, 'path' | 'size'>;

// Weight formats in order of preference for serving. Only the best family present is kept.
const SAFETENSORS = /\.safetensors$/i;
const PYTORCH = /\.(bin|pt|pth|ckpt)$/i;
const OTHER_WEIGHTS = /\.(h5|keras|msgpack|gguf|onnx|onnx_data|ot|tflite|mlmodel|npz|pb)$/i;
// Exports in other formats that live in their own folder (Optimum, OpenVINO, Core ML, Meta's original checkpoint).
const ALT_FORMAT_DIRS = /^(original|onnx|openvino|coreml|tflite|gguf)\//i;
// Index files of weights in other formats, e.g. pytorch_model.bin.index.json, tf_model.h5.index.json.
const ALT_INDEX = /\.(bin|pt|pth|h5|msgpack)\.index\.json$/i;
const TRAINING_STATE =
  /(^|\/)(training_args\.bin|optimizer\.(pt|bin)|scheduler\.pt|rng_state[^/]*\.pth|trainer_state\.json)$/;
const SAFETENSORS_INDEX = /\.safetensors\.index\.json$/i;

type Family = 'safetensors' | 'pytorch' | 'other' | 'none';

function weightFamily(path: string): Family {
  if (SAFETENSORS.test(path)) return 'safetensors';
  if (PYTORCH.test(path)) return 'pytorch';
  if (OTHER_WEIGHTS.test(path)) return 'other';
  return 'none';
}

function repoMetadataReason(path: string): string | undefined {
  if (path === '.gitattributes' || path.endsWith('/.gitattributes')) return 'git metadata, not part of the model';
  if (path === '.git' || path.startsWith('.git/')) return 'git metadata, not part of the model';
  // `hf download --local-dir` leaves its bookkeeping here.
  if (path.startsWith('.cache/huggingface/')) return 'Hugging Face download cache metadata, not part of the model';
  return undefined;
}

export function selectFiles<T extends Entry>(entries: readonly T[], options: SelectOptions = {}): Selection<T> {
  const include = (options.include ?? []).map(compileGlob);
  const exclude = (options.exclude ?? []).map(compileGlob);
  const defaults = defaultSkips(entries, options);
  const selected: T[] = [];
  const skipped: SkippedFile[] = [];
  for (const e of entries) {
    const ex = exclude.find((g) => g.test(e.path));
    if (ex) {
      skipped.push({ path: e.path, size: e.size, reason: `excluded by --exclude ${ex.source}` });
      continue;
    }
    const reason = defaults.get(e.path);
    if (reason !== undefined && !include.some((g) => g.test(e.path))) {
      skipped.push({ path: e.path, size: e.size, reason });
      continue;
    }
    selected.push(e);
  }
  return { selected, skipped };
}

/** path -> reason for every file the default rules drop. */
function defaultSkips(entries: readonly Entry[], options: SelectOptions): Map<string, string> {
  const skips = new Map<string, string>();
  const families = new Set<Family>();
  for (const e of entries) {
    if (repoMetadataReason(e.path) || TRAINING_STATE.test(e.path) || ALT_FORMAT_DIRS.test(e.path)) continue;
    families.add(weightFamily(e.path));
  }
  // Keep the best weight family present; a .bin-only model keeps its .bin, a GGUF-only repo keeps its GGUFs.
  const best: Family = families.has('safetensors') ? 'safetensors' : families.has('pytorch') ? 'pytorch' : 'other';

  for (const e of entries) {
    const meta = repoMetadataReason(e.path);
    if (meta) {
      skips.set(e.path, meta);
      continue;
    }
    if (TRAINING_STATE.test(e.path)) {
      skips.set(e.path, 'training state, not needed for serving');
      continue;
    }
    if (best === 'other') continue;
    const dir = ALT_FORMAT_DIRS.exec(e.path);
    if (dir) {
      skips.set(e.path, `${dir[1]}/ holds another export of the weights; the ${best} weights at the top are kept`);
      continue;
    }
    const family = weightFamily(e.path);
    if (family !== 'none' && family !== best) {
      skips.set(e.path, `alternative weight format (${extOf(e.path)}); the ${best} weights are kept`);
      continue;
    }
    if (ALT_INDEX.test(e.path) && best === 'safetensors') {
      skips.set(e.path, 'index of alternative-format weights that are not kept');
    }
  }
  if (!options.keepDuplicateWeights && best === 'safetensors') {
    for (const [path, reason] of duplicateSafetensors(entries, options.indexFiles)) {
      if (!skips.has(path)) skips.set(path, reason);
    }
  }
  return skips;
}

function extOf(path: string): string {
  const m = /\.([^./]+)$/.exec(path);
  return m ? `.${m[1]}` : path;
}

/**
 * A safetensors index names the shard set a loader reads. Other safetensors beside it that together are as large as
 * a real copy of that set (>= half its size) are a second copy of the same weights — Mistral ships
 * `consolidated.safetensors` next to the HF shards. Smaller extras (projectors, adapters) are kept.
 * A Mistral-native repo (params.json, no config.json) is read through its consolidated file, so there the HF shards
 * are the copy to drop.
 */
function duplicateSafetensors(
  entries: readonly Entry[],
  indexFiles: ReadonlyMap<string, unknown> | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const dirs = new Set(entries.map((e) => posix.dirname(e.path)));
  for (const dir of dirs) {
    const inDir = entries.filter((e) => posix.dirname(e.path) === dir);
    const prefix = dir === '.' ? '' : `${dir}/`;
    const index = inDir.find((e) => SAFETENSORS_INDEX.test(e.path));
    if (!index) continue;
    const shards = shardSet(index.path, indexFiles?.get(index.path), prefix);
    if (!shards || shards.size === 0) continue;
    const indexed = [...shards].map((p) => byPath.get(p)).filter((e): e is Entry => e !== undefined);
    const indexedSize = indexed.reduce((n, e) => n + e.size, 0);
    const others = inDir.filter((e) => SAFETENSORS.test(e.path) && !shards.has(e.path));
    const groups = new Map<string, Entry[]>();
    for (const e of others) {
      const stem = posix.basename(e.path).replace(/(-\d+-of-\d+|\.\d+)?\.safetensors$/i, '');
      groups.set(stem, [...(groups.get(stem) ?? []), e]);
    }
    const mistralNative = inDir.some((e) => e.path === `${prefix}params.json`) && !byPath.has(`${prefix}config.json`);
    for (const [stem, group] of groups) {
      const size = group.reduce((n, e) => n + e.size, 0);
      if (indexedSize === 0 || size * 2 < indexedSize) continue;
      const indexName = posix.basename(index.path);
      if (mistralNative && stem.startsWith('consolidated')) {
        for (const e of indexed) {
          out.set(
            e.path,
            `duplicate weights: Mistral-native repo (params.json, no config.json) is served from ${stem}.safetensors`,
          );
        }
        out.set(index.path, `duplicate weights: index of the HF shards, the Mistral-native ${stem} weights are kept`);
        continue;
      }
      for (const e of group) {
        out.set(
          e.path,
          `duplicate weights: not in ${indexName}, which lists the shards that carry the same weights (${fmtSize(indexedSize)})`,
        );
      }
    }
  }
  return out;
}

function shardSet(indexPath: string, content: unknown, prefix: string): Set<string> | undefined {
  if (content === undefined) return undefined;
  let json: unknown = content;
  if (typeof content === 'string' || Buffer.isBuffer(content)) {
    try {
      json = JSON.parse(content.toString());
    } catch (e) {
      throw new ModelcarError(
        'source',
        `${indexPath}: not valid JSON (${messageOf(e)})`,
        'check the file in the model',
      );
    }
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object') {
    throw new ModelcarError('source', `${indexPath}: has no weight_map`, 'check the file in the model');
  }
  return new Set(Object.values(map as Record<string, unknown>).map((v) => posix.normalize(prefix + String(v))));
}

function fmtSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Largest index file we read into memory; real ones are a few hundred KiB. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** Reads every `*.safetensors.index.json` among the entries through the source, for selectFiles' indexFiles. */
export async function readIndexFiles(
  source: Pick<ModelSource, 'open'>,
  entries: readonly SourceEntry[],
): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const e of entries) {
    if (!SAFETENSORS_INDEX.test(e.path) || repoMetadataReason(e.path) || ALT_FORMAT_DIRS.test(e.path)) continue;
    if (e.size > MAX_INDEX_BYTES) {
      throw new ModelcarError('source', `${e.path}: ${e.size} bytes is too large for an index file`, undefined);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await source.open(e, 0)) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      out.set(e.path, JSON.parse(text));
    } catch (err) {
      throw new ModelcarError('source', `${e.path}: not valid JSON (${messageOf(err)})`, 'check the file in the model');
    }
  }
  return out;
}

export interface Glob {
  readonly source: string;
  test(path: string): boolean;
}

/**
 * A small glob: `*` and `?` within one path segment, `**` across segments, `{a,b}` alternatives, `[abc]`/`[!abc]`
 * classes. A pattern without `/` matches the file name at any depth (`*.bin`); a pattern ending in `/` matches
 * everything under that folder (`original/`).
 */
export function compileGlob(pattern: string): Glob {
  let p = pattern.replace(/^\.\//, '');
  if (p.endsWith('/')) p += '**';
  const basenameOnly = !p.includes('/');
  const re = new RegExp(`^${globBody(p)}$`);
  return {
    source: pattern,
    test: (path) => re.test(basenameOnly ? posix.basename(path) : path),
  };
}

function globBody(p: string): string {
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p[i] as string;
    if (c === '*') {
      if (p[i + 1] === '*') {
        const atStart = i === 0 || p[i - 1] === '/';
        const j = i + 2;
        if (atStart && p[j] === '/') {
          out += '(?:.*/)?';
          i = j + 1;
          continue;
        }
        if (atStart && j === p.length) {
          out += '.*';
          i = j;
          continue;
        }
        i = j;
        out += '[^/]*';
        continue;
      }
      out += '[^/]*';
      i++;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        i++;
        continue;
      }
      let cls = p.slice(i + 1, end);
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      out += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end + 1;
    } else if (c === '{') {
      const end = matchingBrace(p, i);
      if (end < 0) {
        out += '\\{';
        i++;
        continue;
      }
      out += `(?:${splitTopLevel(p.slice(i + 1, end))
        .map(globBody)
        .join('|')})`;
      i = end + 1;
    } else {
      out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
      i++;
    }
  }
  return out;
}

function matchingBrace(p: string, open: number): number {
  let depth = 0;
  for (let i = open; i < p.length; i++) {
    if (p[i] === '{') depth++;
    else if (p[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}') depth--;
    else if (s[i] === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}
