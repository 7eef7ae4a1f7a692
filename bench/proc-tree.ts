/**
 * Memory and CPU of processes, read from /proc. Peak RSS is the sum over a whole process tree at each sample, so a
 * tool that forks helpers (buildah, sh + curl) is charged for all of them.
 */
import { readdirSync, readFileSync } from 'node:fs';

const PAGE = 4096;
const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly comm: string;
  readonly ppid: number;
  readonly rssBytes: number;
  /** utime + stime of the process itself. */
  readonly cpuSeconds: number;
  /** cutime + cstime: children that exited and were waited for. */
  readonly reapedCpuSeconds: number;
}

function readStat(pid: number | 'self'): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm may hold spaces and parentheses: the other fields follow the last ')'.
    const close = text.lastIndexOf(')');
    const f = text.slice(close + 2).split(' ');
    const ticks = (i: number) => Number(f[i]) / TICKS_PER_SECOND;
    return {
      comm: text.slice(text.indexOf('(') + 1, close),
      ppid: Number(f[1]),
      rssBytes: Number(f[21]) * PAGE,
      cpuSeconds: ticks(11) + ticks(12),
      reapedCpuSeconds: ticks(13) + ticks(14),
    };
  } catch {
    return undefined; // the process exited between readdir and read
  }
}

function allProcesses(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st) stats.set(pid, st);
  }
  return stats;
}

/** Current RSS of `root` and all its descendants, in bytes. */
export function treeRss(root: number): number {
  const stats = allProcesses();
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

/**
 * CPU seconds of every child of this process that has exited and been reaped. The difference around one command is
 * that command's whole tree, exactly (each parent waits for its own children).
 */
export function reapedChildrenCpu(): number {
  return readStat('self')?.reapedCpuSeconds ?? 0;
}

/** CPU seconds a running process has used so far. */
export function processCpu(pid: number): number {
  return readStat(pid)?.cpuSeconds ?? 0;
}

/** The pid of this process's child running `comm` (e.g. the registry the bench started). */
export function childNamed(comm: string): number | undefined {
  for (const [pid, st] of allProcesses()) if (st.ppid === process.pid && st.comm === comm) return pid;
  return undefined;
}
