/**
 * The one retry policy of every network client: exponential backoff with jitter, the server's Retry-After (bounded),
 * and limits on tries in a row and on time without progress. Progress (a byte that got through, a part that
 * completed) starts the count again, so a long transfer over a flaky link finishes while one that makes no progress
 * stops. Every wait is announced through the network events (src/http/events.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorChain, ModelcarError } from '../errors.js';
import { emitNetworkEvent, formatDelay } from './events.js';

export interface RetryPolicy {
  /** Tries in a row without progress, the first one included, before giving up. @default 7 */
  readonly attempts: number;
  /** First backoff; it doubles per failure. @default 500 */
  readonly baseDelayMs: number;
  /** @default 30000 */
  readonly maxDelayMs: number;
  /** Give up when the next wait would end later than this after the last progress. @default 300000 */
  readonly maxElapsedMs: number;
  /** A body (upload or download) that has not moved a byte for this long counts as a dropped connection. @default 120000 */
  readonly stallMs: number;
  /** A Retry-After longer than this is not waited out: the request fails and says when to try again. @default 60000 */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 7,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxElapsedMs: 5 * 60_000,
  stallMs: 120_000,
  maxRetryAfterMs: 60_000,
};

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return { ...DEFAULT_RETRY, ...overrides };
}

/** Answers a server gives when it is busy, restarting or rate-limiting: the same request may well pass later. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUS.has(status);
}

/** Errors of a connection that died or never came up; the server may be restarting or the network flapping. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_ABORTED',
  'ABORT_ERR',
]);

/**
 * True when the failure is a transient connection failure. An error the network layer already classified (it
 * carries `transient`) decides for itself: a proxy refusing our credentials is not worth a retry even though undici
 * reports it as an aborted request.
 */
export function isTransientError(e: unknown): boolean {
  const chain = errorChain(e);
  for (const x of chain) {
    const flag = (x as { transient?: unknown }).transient;
    if (typeof flag === 'boolean') return flag;
  }
  return chain.some((x) => {
    const code = (x as NodeJS.ErrnoException).code;
    return (code !== undefined && TRANSIENT_CODES.has(code)) || (x as Error).name === 'AbortError';
  });
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Backoff before try number `failures + 1`: half fixed, half random, so parallel transfers do not retry in step. */
export function backoffMs(failures: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Counts the failures of one operation against the policy, and waits (announced) between its tries. */
export class Retrier {
  private failures = 0;
  private progressAt: number;

  constructor(
    /** Who is being retried, for the announcement: "registry quay.io", "hf://org/name: model.safetensors". */
    readonly endpoint: string,
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly now: () => number = Date.now,
  ) {
    this.progressAt = now();
  }

  /** Something got through: the count starts again. */
  progressed(): void {
    this.failures = 0;
    this.progressAt = this.now();
  }

  /** Failures in a row since the last progress. */
  get count(): number {
    return this.failures;
  }

  /**
   * After a failure worth retrying: waits the backoff (or the server's Retry-After) and resolves true, or resolves
   * false at once when the tries or the time without progress are spent. A Retry-After beyond the policy's bound
   * throws: waiting minutes in silence is worse than saying when to come back.
   */
  async again(reason: string, opts: { retryAfterMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    this.failures++;
    const { retryAfterMs: asked, signal } = opts;
    if (asked !== undefined && asked > this.policy.maxRetryAfterMs) {
      const at = new Date(this.now() + asked);
      throw new ModelcarError(
        'network',
        `${this.endpoint}: ${reason}; the server asks to retry after ${formatDelay(asked)} (at ${at.toISOString()}), longer than modelcar waits (${formatDelay(this.policy.maxRetryAfterMs)})`,
        `run again after ${at.toISOString()}; a rate limit may also lift sooner with credentials (log in) or fewer parallel transfers`,
      );
    }
    if (this.failures >= this.policy.attempts) return false;
    const delay = asked ?? backoffMs(this.failures, this.policy);
    if (this.now() + delay - this.progressAt > this.policy.maxElapsedMs) return false;
    emitNetworkEvent({ type: 'retry', endpoint: this.endpoint, reason, attempt: this.failures, delayMs: delay });
    await sleep(delay, undefined, signal ? { signal } : {});
    return true;
  }
}
