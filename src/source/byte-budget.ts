/**
 * A cap on bytes held in memory across every download of a source. Each ranged part reserves its size before its
 * request starts and returns it once handed to the consumer, so memory stays bounded however many files are open
 * and however large they are. Waiters are served first come, first served.
 */
export class ByteBudget {
  held = 0;
  /** The most ever held at once: what tests assert instead of RSS. */
  maxHeld = 0;
  private readonly waiters: { n: number; grant: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError('budget limit must be positive');
  }

  /** Waits until `n` bytes (at most `limit`) fit, then holds them. Rejects when the signal aborts. */
  acquire(n: number, signal?: AbortSignal): Promise<void> {
    const want = Math.min(n, this.limit);
    if (this.waiters.length === 0 && this.held + want <= this.limit) {
      this.take(want);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        n: want,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
        this.wake();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(n: number): void {
    this.held -= Math.min(n, this.limit);
    this.wake();
  }

  private take(n: number): void {
    this.held += n;
    this.maxHeld = Math.max(this.maxHeld, this.held);
  }

  private wake(): void {
    for (let w = this.waiters[0]; w && this.held + w.n <= this.limit; w = this.waiters[0]) {
      this.waiters.shift();
      this.take(w.n);
      w.grant();
    }
  }
}
