/**
 * The lock that serialises updates of an OCI layout's `index.json` between processes: builds and copies into one
 * layout at once each read, change and replace the index, and without the lock the last writer drops the others'
 * tags. The lock is a file `index.json.lock` created with O_EXCL and naming its holder. A lock whose holder is gone
 * (a crashed or killed run) is broken: on this host when its process no longer exists, from another host (a shared
 * file system) when it is older than any index update can take. Waiting is bounded and says what it waits for.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { diskFullError } from '../../disk-full.js';
import { ModelcarError, messageOf } from '../../errors.js';

export const LOCK_FILE = 'index.json.lock';

export interface IndexLockOptions {
  /** Longest wait for another holder. @default 60 s */
  readonly waitMs?: number;
  /** Age after which a lock from another host counts as abandoned. @default 30 s */
  readonly staleMs?: number;
  /** Age after which even a lock of a live process on this host counts as abandoned (pid reuse). @default 10 min */
  readonly maxHoldMs?: number;
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  /** ms since the epoch */
  readonly since: number;
}

function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string') {
      return { pid: h.pid, host: h.host, token: h.token, since: typeof h.since === 'number' ? h.since : 0 };
    }
  } catch {
    /* being written, or not ours */
  }
  return undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<{ holder?: Holder; ageMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const holder = parseHolder(text);
    return { ...(holder ? { holder } : {}), ageMs: Date.now() - st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function describe(holder: Holder | undefined): string {
  if (!holder) return 'another process';
  return `process ${holder.pid} on ${holder.host} (since ${new Date(holder.since).toISOString()})`;
}

export class IndexLock {
  private constructor(
    private readonly path: string,
    private readonly token: string,
  ) {}

  /** Takes the lock of the layout at `root`, waiting for (or breaking the abandoned lock of) another holder. */
  static async acquire(root: string, label: string, opts: IndexLockOptions = {}): Promise<IndexLock> {
    const path = join(root, LOCK_FILE);
    const waitMs = opts.waitMs ?? 60_000;
    const deadline = Date.now() + waitMs;
    const me: Holder = { pid: process.pid, host: hostname(), token: randomBytes(12).toString('hex'), since: 0 };
    let pause = 5;
    for (;;) {
      const since = Date.now();
      try {
        const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW);
        try {
          await file.writeFile(JSON.stringify({ ...me, since }));
        } catch (e) {
          await unlink(path).catch(() => {});
          throw e;
        } finally {
          await file.close();
        }
        return new IndexLock(path, me.token);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw (
            (await diskFullError(e, path, 'the lock', 0)) ??
            new ModelcarError(
              'destination',
              `cannot create the lock ${path}: ${messageOf(e)}`,
              'make the layout writable',
              {
                cause: e,
              },
            )
          );
        }
      }
      const seen = await readLock(path);
      if (seen && abandoned(seen, opts)) {
        await breakLock(path, seen.holder);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new ModelcarError(
          'destination',
          `${label} is locked by ${describe(seen?.holder)}: waited ${Math.round(waitMs / 1000)} s for its index update to finish`,
          `if no modelcar runs on that layout any more, remove ${path} and run again`,
        );
      }
      // Index updates take milliseconds: poll briefly, with jitter so waiters do not move in step.
      await sleep(pause + Math.floor(Math.random() * pause));
      pause = Math.min(pause * 2, 100);
    }
  }

  /** Removes the lock if it is still ours (an abandoned-lock breaker may have taken it meanwhile). */
  async release(): Promise<void> {
    const seen = await readLock(this.path).catch(() => undefined);
    if (seen?.holder?.token === this.token) await unlink(this.path).catch(() => {});
  }
}

function abandoned(seen: { holder?: Holder; ageMs: number }, opts: IndexLockOptions): boolean {
  const { holder, ageMs } = seen;
  if (holder && holder.host === hostname()) return !processAlive(holder.pid) || ageMs > (opts.maxHoldMs ?? 600_000);
  // Unreadable (being written right now) or from another host: only age tells.
  return ageMs > (opts.staleMs ?? 30_000);
}

/**
 * Moves the abandoned lock aside and deletes it. Two processes may judge the same lock abandoned; the second one's
 * rename can then catch the first one's fresh lock: it sees a different holder and puts that lock back.
 */
async function breakLock(path: string, judged: Holder | undefined): Promise<void> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = parseHolder(await readFile(aside, 'utf8').catch(() => ''));
  if (moved && judged && moved.token !== judged.token) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}
