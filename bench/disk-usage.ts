/**
 * Bytes allocated on disk under a set of directories (st_blocks, so sparse files count for what they hold). The
 * bench points every tool's scratch space (TMPDIR, HOME, container storage) into such a sandbox and samples it: what
 * a tool stages on disk is the peak of that sum, free of noise from other processes on the same filesystem.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function allocatedBytes(path: string): number {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return 0; // removed while we walked
  }
  let total = Number(st.blocks) * 512;
  if (!st.isDirectory()) return total;
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {
    return total;
  }
  for (const name of names) total += allocatedBytes(join(path, name));
  return total;
}

export function allocatedUnder(paths: readonly string[]): number {
  return paths.reduce((sum, p) => sum + allocatedBytes(p), 0);
}
