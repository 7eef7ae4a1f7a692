import { hasControlCharacter } from '../printable.js';

/**
 * Paths and ids that come from a listing or a manifest are data, never trusted: each is checked before it is used
 * in a path on disk, a URL or an image. Pure functions; the sources call them where the data enters, and the plan
 * checks the tree of the files it packages (for every source) once more.
 */

/** Why `path` cannot name a file under a model root, or undefined when it can. */
export function relativePathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'a path that is not a string';
  if (path === '') return 'an empty path';
  if (LONE_SURROGATE.test(path)) return 'a path that is not valid Unicode';
  if (Buffer.byteLength(path) > 4096) return 'a path longer than 4096 bytes';
  if (hasControlCharacter(path)) return 'a path with a control character';
  if (path.startsWith('/')) return 'an absolute path';
  if (path.split('/').some((p) => p === '' || p === '.' || p === '..')) return 'a path with an empty, "." or ".." part';
  return undefined;
}

// Half of a UTF-16 pair: JSON can carry it, no file system name can (it would be written as U+FFFD).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A size a file can have: a whole number of bytes from 0 to 2^53 - 1 (beyond that, byte counts lose precision). */
export function isFileSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Lower-case hex of exactly `length` digits: a git sha1 (40) or a sha256 (64). */
export function isHexId(s: unknown, length: 40 | 64): s is string {
  return typeof s === 'string' && s.length === length && /^[0-9a-fA-F]+$/.test(s);
}

export type TreeEntry =
  | { readonly type: 'directory'; readonly path: string }
  | {
      readonly type: 'file';
      readonly path: string;
      readonly size: number;
      /** The git blob sha1 (of the LFS pointer, for LFS files). */
      readonly oid: string;
      /** The content's sha256, for LFS files. */
      readonly sha256?: string;
    };

/**
 * One entry of the Hub's tree listing (`GET /api/models/{repo}/tree/{rev}`), checked; a string says what is wrong
 * with it. Entries of other types (future ones) come back as undefined: they are not files of the model.
 */
export function hubTreeEntry(raw: unknown): TreeEntry | string | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'an entry that is not an object';
  const e = raw as Record<string, unknown>;
  const pathProblem = relativePathProblem(e.path);
  if (pathProblem) return `${pathProblem} (${show(e.path)})`;
  const path = e.path as string;
  if (e.type === 'directory') return { type: 'directory', path };
  if (e.type !== 'file') return typeof e.type === 'string' ? undefined : `an entry without a type at ${path}`;
  if (!isFileSize(e.size)) return `a size that is not a whole number of bytes (${show(e.size)}) for ${path}`;
  if (!isHexId(e.oid, 40)) return `a git oid that is not 40 hex digits (${show(e.oid)}) for ${path}`;
  if (e.lfs === undefined || e.lfs === null) return { type: 'file', path, size: e.size, oid: e.oid.toLowerCase() };
  const lfs = e.lfs as Record<string, unknown>;
  if (typeof lfs !== 'object' || !isHexId(lfs.oid, 64)) {
    return `an LFS oid that is not 64 hex digits (${show(lfs?.oid)}) for ${path}`;
  }
  if (lfs.size !== undefined && lfs.size !== e.size) {
    return `two sizes for ${path}: ${show(e.size)} and ${show(lfs.size)} in its LFS record`;
  }
  return { type: 'file', path, size: e.size, oid: e.oid.toLowerCase(), sha256: lfs.oid.toLowerCase() };
}

/** A short, printable rendering of a value a server sent. */
function show(v: unknown): string {
  const text = v === undefined ? 'missing' : (JSON.stringify(v) ?? String(v));
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

export interface TreeProblems {
  /** The set cannot be laid out as files: a path twice, or a file that is also a directory. */
  readonly errors: string[];
  /** Paths that collide on a case-insensitive or normalising file system. */
  readonly warnings: string[];
}

function parentsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * Checks `files` (and the directories a listing names) as a tree: no path twice, no file that is also the directory
 * of another path (`X` and `X/y`: one of them would silently vanish from the image), and names that differ only in
 * case or Unicode normalisation, which are one file on macOS and Windows and when a model is copied there.
 */
export function treeProblems(files: readonly string[], directories: readonly string[] = []): TreeProblems {
  const errors: string[] = [];
  const warnings: string[] = [];
  const fileSet = new Set<string>();
  for (const f of files) {
    if (fileSet.has(f)) errors.push(`${JSON.stringify(f)} is listed twice`);
    fileSet.add(f);
  }
  for (const d of directories) {
    if (fileSet.has(d)) errors.push(`${JSON.stringify(d)} is listed both as a file and as a directory`);
  }
  for (const f of fileSet) {
    const parent = parentsOf(f).find((p) => fileSet.has(p));
    if (parent !== undefined) {
      errors.push(`${JSON.stringify(parent)} is a file and also the directory of ${JSON.stringify(f)}`);
    }
  }
  const folded = new Map<string, string>();
  for (const f of [...fileSet].sort()) {
    const key = f.normalize('NFC').toLowerCase();
    const first = folded.get(key);
    if (first === undefined) folded.set(key, f);
    else
      warnings.push(
        `${JSON.stringify(first)} and ${JSON.stringify(f)} differ only in case or Unicode form: on macOS and Windows they are one file`,
      );
  }
  return { errors, warnings };
}
