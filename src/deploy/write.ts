/** Writes manifests to a directory or stdout. The only I/O of the generators. */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { makeDirs } from '../run/dirs.js';
import { type Manifest, toYaml } from './manifest.js';

export interface OutputFile {
  /** Relative to the output directory. */
  readonly path: string;
  readonly content: string;
  /** Secret material: mode 0600. */
  readonly sensitive?: boolean;
}

/**
 * Each file is written whole to a new temporary file beside it (created with O_EXCL and O_NOFOLLOW, so nothing that
 * is already there, a planted symlink included, is written through) and renamed over the target. The rename replaces
 * a symlink or an old file itself: a Secret never lands in a file that keeps mode 0644, nor where a link points, and
 * a reader never sees half a file.
 */
async function replaceFile(path: string, content: string, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const file = await open(temp, flags, mode);
  try {
    await file.writeFile(content);
    // The umask may have taken bits away, never added them; this makes the mode exact for a Secret.
    await file.chmod(mode);
    await file.close();
    await rename(temp, path);
  } catch (e) {
    await file.close().catch(() => {});
    await rm(temp, { force: true });
    throw e;
  }
}

/** Writes `files` under `dir`; `flag` names the option that chose `dir`, for the error. */
export async function writeFilesInto(dir: string, files: readonly OutputFile[], flag: string): Promise<string[]> {
  const written: string[] = [];
  try {
    await makeDirs(dir);
    for (const f of files) {
      const path = join(dir, f.path);
      await makeDirs(dirname(path));
      await replaceFile(path, f.content, f.sensitive ? 0o600 : 0o644);
      written.push(path);
    }
  } catch (e) {
    throw new ModelcarError('destination', `cannot write to ${dir}: ${messageOf(e)}`, `pass a writable ${flag} DIR`, {
      cause: e,
    });
  }
  return written;
}

export function writeManifests(dir: string, manifests: Manifest[]): Promise<string[]> {
  return writeFilesInto(
    dir,
    manifests.map((m) => ({ path: m.file, content: toYaml([m]), ...(m.sensitive ? { sensitive: true } : {}) })),
    '--output',
  );
}

/** stdout gets everything but secrets: a Secret on a terminal or in a CI log is a leaked Secret. */
export function renderToStdout(manifests: Manifest[]): string {
  if (manifests.some((m) => m.sensitive)) {
    throw new ModelcarError(
      'usage',
      'refusing to print a Secret to stdout',
      'pass --output DIR; the Secret is written there with mode 0600',
    );
  }
  return toYaml(manifests);
}
