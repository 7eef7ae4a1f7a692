import { setTimeout as sleep } from 'node:timers/promises';

/** How long to keep trying a transfer that keeps failing. Counted from the last byte that got through. */
export interface RetryPolicy {
  /** Tries in a row without a byte of progress before giving up. @default 6 */
  readonly attempts: number;
  /** First delay; it doubles per failure, with jitter. @default 500 */
  readonly baseDelayMs: number;
  /** @default 15000 */
  readonly maxDelayMs: number;
  /** Give up when no byte has arrived for this long, however few the attempts. @default 180000 */
  readonly maxStallMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 15_000, maxStallMs: 180_000 };

/** Exponential backoff with jitter (half fixed, half random) so parallel connections do not retry in step. */
export function retryDelay(failures: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/**
 * Counts failures of one transfer. Progress resets the count, so a long download over a flaky link finishes, while
 * a transfer that makes no progress stops after `attempts` tries or `maxStallMs`, whichever comes first.
 */
export class RetryCounter {
  private failures = 0;
  private lastProgress = Date.now();

  constructor(private readonly policy: RetryPolicy) {}

  progressed(): void {
    this.failures = 0;
    this.lastProgress = Date.now();
  }

  /** Waits before the next try, or returns false when the transfer should give up. */
  async again(signal?: AbortSignal): Promise<boolean> {
    this.failures++;
    const delay = retryDelay(this.failures, this.policy);
    if (this.failures >= this.policy.attempts || Date.now() + delay - this.lastProgress > this.policy.maxStallMs) {
      return false;
    }
    await sleep(delay, undefined, signal ? { signal } : {});
    return true;
  }

  get count(): number {
    return this.failures;
  }
}
