/**
 * Directories a run writes into, made and proven writable before the work that needs them. `mkdir -p` is done by
 * hand, one missing level at a time: Node 20's `mkdir(dir, {recursive: true})` never returns for a path under /proc
 * (the kernel answers ENOENT for a parent that exists, and Node retries it forever at full CPU).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** `mkdir -p`: makes `dir` and its missing parents; bounded by the depth of the path. */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let cur = resolve(dir); ; ) {
    try {
      const st = await stat(cur);
      if (!st.isDirectory()) {
        throw Object.assign(new Error(`${cur} exists and is not a directory`), { code: 'ENOTDIR' });
      }
      break;
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
      missing.push(cur);
      const parent = dirname(cur);
      if (parent === cur) break;
      cur = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
    }
  }
}

/**
 * Makes `dir` and proves a file can be created in it (a probe written and removed), so an unwritable output fails
 * in the first second rather than after the long part of the run. `what` names the flag, e.g. `--result-dir`.
 */
export async function ensureWritableDir(dir: string, what: string): Promise<void> {
  const probe = join(dir, `.modelcar-probe-${randomBytes(6).toString('hex')}`);
  try {
    await makeDirs(dir);
    await writeFile(probe, '', { flag: 'wx' });
    await rm(probe, { force: true });
  } catch (e) {
    throw new ModelcarError(
      'destination',
      `${what} ${dir} is not writable: ${messageOf(e)}`,
      `pass a directory this user (uid ${process.getuid?.() ?? '?'}) can create files in`,
      { cause: e },
    );
  }
}
