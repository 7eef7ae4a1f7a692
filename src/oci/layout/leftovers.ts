/**
 * Temporary files of an OCI layout (blobs being written, index replacements) carry the host and process that write
 * them, so a later run can tell the leftovers of a crashed or killed run (its process is gone) from the files of a
 * run that is still writing into the same layout (keep them). Files in the older unnamed form, or of another host,
 * are left alone until nobody has written them for a day.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './index-lock.js';

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const OWNED = /^\.(partial|index)-([0-9a-f]{8})-(\d+)-[0-9a-f]+(\.json)?$/;
const UNNAMED = /^\.(partial|index)-[0-9a-f]+(\.json)?$/;
const ABANDONED_AFTER_MS = 24 * 3600_000;

/** `.partial-<host>-<pid>-<random>` (or `.index-…​.json`): a temporary name that says who writes it. */
export function ownedTempName(kind: 'partial' | 'index'): string {
  return `.${kind}-${HOST}-${process.pid}-${randomBytes(6).toString('hex')}${kind === 'index' ? '.json' : ''}`;
}

async function isLeftover(dir: string, name: string): Promise<boolean> {
  const owned = OWNED.exec(name);
  if (owned && owned[2] === HOST && Number(owned[3]) !== process.pid) return !processAlive(Number(owned[3]));
  if (!owned && !UNNAMED.test(name)) return false;
  try {
    return Date.now() - (await stat(join(dir, name))).mtimeMs > ABANDONED_AFTER_MS;
  } catch {
    return false;
  }
}

/** Removes the leftovers of earlier runs in `dirs`; returns how many bytes that freed. */
export async function removeLeftovers(dirs: readonly string[]): Promise<number> {
  let freed = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!(await isLeftover(dir, name))) continue;
      const path = join(dir, name);
      const size = await stat(path).then(
        (s) => s.size,
        () => 0,
      );
      await rm(path, { force: true });
      freed += size;
    }
  }
  return freed;
}
