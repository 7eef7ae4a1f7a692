/**
 * Pure layer planning: which files go into which layer. Deterministic: the same entries and options always give the
 * same plan, so the same input gives the same image digest on any machine.
 */
import { ModelcarError } from '../errors.js';
import { entrySize, type TarHeader, TRAILER_SIZE } from '../image/tar.js';
import { relativePathProblem, treeProblems } from '../source/listing.js';
import type { SourceEntry } from '../source/source.js';

export const MODEL_ROOT = 'models';
export const FILE_MODE = 0o644;
export const DIR_MODE = 0o755;

export interface PlanOptions {
  /** Layers the whole image may have, base layers included. Overlay mounts fail near 127; default 100. */
  readonly maxLayers: number;
  readonly baseLayers: number;
  /** Files at least this big get a layer of their own. */
  readonly largeFileThreshold: number;
  /** Small files are grouped into layers of at most this many content bytes. */
  readonly smallGroupBytes: number;
  /** Largest layer the destination accepts, in bytes (registry profile); undefined = no limit. */
  readonly maxLayerBytes?: number;
  /** Where a layer limit came from, for messages ("ghcr.io allows 10 GB per layer"). */
  readonly maxLayerBytesReason?: string;
  /** Fixed timestamp for every tar entry, seconds since the epoch. */
  readonly mtime: number;
}

export const DEFAULT_PLAN_OPTIONS = {
  maxLayers: 100,
  largeFileThreshold: 32 * 1024 * 1024,
  smallGroupBytes: 512 * 1024 * 1024,
} as const;

export type LayerEntry =
  | { readonly kind: 'dir'; readonly header: TarHeader }
  | { readonly kind: 'file'; readonly header: TarHeader; readonly file: SourceEntry };

export interface PlannedLayer {
  /** Tar entries in archive order: parents before children, byte order of the path. */
  readonly entries: readonly LayerEntry[];
  readonly files: readonly SourceEntry[];
  /** Exact size of the layer tar in bytes. */
  readonly size: number;
}

export interface LayerPlan {
  readonly layers: readonly PlannedLayer[];
  readonly fileCount: number;
  readonly contentBytes: number;
  readonly mtime: number;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Parent directories of a path inside the image, `models` included, outermost first. */
function parents(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

function layerFor(files: SourceEntry[], mtime: number): PlannedLayer {
  const dirs = new Set<string>();
  const entries: LayerEntry[] = [];
  for (const file of files) {
    const path = `${MODEL_ROOT}/${file.path}`;
    for (const dir of parents(path)) dirs.add(dir);
    entries.push({ kind: 'file', file, header: { path, type: 'file', size: file.size, mode: FILE_MODE, mtime } });
  }
  for (const dir of dirs)
    entries.push({ kind: 'dir', header: { path: dir, type: 'dir', size: 0, mode: DIR_MODE, mtime } });
  // Sorting by the name as written ("dir/" for directories) puts every parent before its children.
  const name = (e: LayerEntry) => (e.kind === 'dir' ? `${e.header.path}/` : e.header.path);
  entries.sort((a, b) => byteOrder(name(a), name(b)));
  const size = entries.reduce((sum, e) => sum + entrySize(e.header), TRAILER_SIZE);
  return { entries, files, size };
}

function checkPath(path: string): void {
  const problem =
    relativePathProblem(path) ??
    (path.split('/').some((part) => part.startsWith('.wh.'))
      ? 'a part starting with ".wh." (an OCI whiteout)'
      : undefined);
  if (problem) {
    throw new ModelcarError(
      'source',
      `file path ${JSON.stringify(path)} cannot be put in an image: ${problem}`,
      'rename the file, or leave it out with --exclude; paths must be relative, without "." or ".." parts or control characters, and no part may start with ".wh."',
    );
  }
}

function tooBig(file: SourceEntry, opts: Pick<PlanOptions, 'maxLayerBytes' | 'maxLayerBytesReason'>): ModelcarError {
  return new ModelcarError(
    'limit',
    `${file.path} is ${formatBytes(file.size)}, over the destination's layer limit of ${formatBytes(opts.maxLayerBytes ?? 0)}${opts.maxLayerBytesReason ? ` (${opts.maxLayerBytesReason})` : ''}`,
    'a file is never split across layers: push to a registry with a larger limit (raise it with --max-layer-size if your registry allows more), or re-shard the weights into smaller files',
  );
}

/**
 * The checks that need no base image and no network: every path can go in an image, none twice, and no file is
 * bigger than the destination's layer limit (a file is never split). Returns the files in byte order of path.
 */
export function checkFiles(
  entries: readonly SourceEntry[],
  opts: Pick<PlanOptions, 'maxLayerBytes' | 'maxLayerBytesReason'>,
): SourceEntry[] {
  const files = [...entries].sort((a, b) => byteOrder(a.path, b.path));
  for (const f of files) {
    checkPath(f.path);
    if (opts.maxLayerBytes !== undefined && f.size > opts.maxLayerBytes) throw tooBig(f, opts);
  }
  // A file that is also a directory of another (`X` and `X/y`) would silently vanish from the image.
  const [problem] = treeProblems(files.map((f) => f.path)).errors;
  if (problem)
    throw new ModelcarError(
      'source',
      `the model's files cannot form one tree: ${problem}`,
      'leave one of them out with --exclude',
    );
  return files;
}

/**
 * Plans the model layers. Each file of at least `largeFileThreshold` bytes gets its own layer, so a change to one
 * shard re-uploads one layer; small files are grouped in path order. When that makes more layers than the budget,
 * the two neighbouring layers with the smallest combined size are merged until it fits.
 */
export function planLayers(entries: readonly SourceEntry[], opts: PlanOptions): LayerPlan {
  if (entries.length === 0) {
    throw new ModelcarError(
      'source',
      'the model has no files to package',
      'check the source path and --include/--exclude',
    );
  }
  const files = checkFiles(entries, opts);
  const budget = opts.maxLayers - opts.baseLayers;
  if (budget < 1) {
    throw new ModelcarError(
      'limit',
      `the base image already has ${opts.baseLayers} layers, leaving none of the ${opts.maxLayers} allowed for the model`,
      'use a base image with fewer layers (ubi-micro and busybox have one), or raise --max-layers',
    );
  }

  const groups: SourceEntry[][] = [];
  // Small files share a group even when large files sort between them: the group sits where its first file sorts.
  let small: SourceEntry[] | undefined;
  let smallBytes = 0;
  for (const f of files) {
    if (f.size >= opts.largeFileThreshold) {
      groups.push([f]);
      continue;
    }
    if (small === undefined || smallBytes + f.size > opts.smallGroupBytes) {
      small = [];
      smallBytes = 0;
      groups.push(small);
    }
    small.push(f);
    smallBytes += f.size;
  }

  const sizeOf = (g: SourceEntry[]) => g.reduce((s, f) => s + f.size, 0);
  while (groups.length > budget) {
    let best = -1;
    let bestSize = Number.POSITIVE_INFINITY;
    for (let i = 0; i + 1 < groups.length; i++) {
      const combined = sizeOf(groups[i] as SourceEntry[]) + sizeOf(groups[i + 1] as SourceEntry[]);
      if (combined < bestSize && (opts.maxLayerBytes === undefined || combined <= opts.maxLayerBytes)) {
        best = i;
        bestSize = combined;
      }
    }
    if (best < 0) {
      throw new ModelcarError(
        'limit',
        `${files.length} files do not fit in ${budget} layers under the layer size limit of ${formatBytes(opts.maxLayerBytes ?? 0)}`,
        'raise --max-layers (the overlay limit is about 127 layers) or push to a registry with a larger layer limit',
      );
    }
    const merged = [...(groups[best] as SourceEntry[]), ...(groups[best + 1] as SourceEntry[])].sort((a, b) =>
      byteOrder(a.path, b.path),
    );
    groups.splice(best, 2, merged);
  }

  const layers = groups.map((g) => layerFor(g, opts.mtime));
  return {
    layers,
    fileCount: files.length,
    contentBytes: files.reduce((s, f) => s + f.size, 0),
    mtime: opts.mtime,
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}
