/**
 * A full disk is the user's to fix, not a bug: every local write (layout blobs and index, the --cache) turns ENOSPC
 * and EDQUOT into one error that names where, how much the write needed and how much is free.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorCodes, ModelcarError } from './errors.js';
import { formatBytes } from './plan/plan.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);

export function isDiskFull(e: unknown): boolean {
  return errorCodes(e).some((c) => FULL.has(c));
}

async function freeBytes(path: string): Promise<number | undefined> {
  for (const p of [path, dirname(path)]) {
    try {
      const fs = await statfs(p);
      return fs.bavail * fs.bsize;
    } catch {
      /* the path may be gone with the partial file: try its directory */
    }
  }
  return undefined;
}

/**
 * The disk-full error for a write at `path` of `what` (e.g. "blob sha256:ab12…"), `needed` bytes in all; undefined
 * when `e` is another failure, for the caller to report as before.
 */
export async function diskFullError(
  e: unknown,
  path: string,
  what: string,
  needed: number | undefined,
): Promise<ModelcarError | undefined> {
  if (!isDiskFull(e)) return undefined;
  const free = await freeBytes(path);
  const quota = errorCodes(e).includes('EDQUOT');
  const need = needed === undefined ? '' : `: ${what} needs ${formatBytes(needed)}`;
  const left = free === undefined ? '' : `, ${formatBytes(free)} free`;
  return new ModelcarError(
    'destination',
    `${quota ? 'disk quota exceeded' : 'disk full'} at ${path}${need}${left}`,
    'free space there or write somewhere else, then run the same command again; the incomplete file was removed and nothing points at it',
    { cause: e },
  );
}
