/**
 * Peak resident memory of a whole process tree, read from /proc: the sum of every descendant's RSS at each sample,
 * so a tool that forks helpers (buildah, sh + curl) is charged for all of them.
 */
import { readdirSync, readFileSync } from 'node:fs';

const PAGE = 4096;

interface ProcStat {
  readonly ppid: number;
  readonly rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm may hold spaces and parentheses: the fields we need follow the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), rssBytes: Number(fields[21]) * PAGE };
  } catch {
    return undefined; // the process exited between readdir and read
  }
}

/** Current RSS of `root` and all its descendants, in bytes. */
export function treeRss(root: number): number {
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st) stats.set(pid, st);
  }
  const children = new Map<number, number[]>();
  for (const [pid, st] of stats) {
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  let total = 0;
  const queue = [root];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    total += stats.get(pid)?.rssBytes ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}
