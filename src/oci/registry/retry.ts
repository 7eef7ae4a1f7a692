/**
 * When a registry request is worth trying again, and how long to wait: exponential backoff with jitter, the
 * registry's own Retry-After when it sends one, and a bound on both the number of tries and the time spent.
 * Pure: the caller sleeps and counts.
 */
import { errorChain } from '../../errors.js';

export interface RetryPolicy {
  /** Tries after the first one before giving up. */
  readonly retries: number;
  /** First backoff; it doubles per failure. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Give up when the next wait would end later than this after the first try. */
  readonly maxElapsedMs: number;
  /** Abort an upload whose body has not moved a byte for this long (a stalled connection never errors by itself). */
  readonly stallMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 6,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxElapsedMs: 5 * 60_000,
  stallMs: 120_000,
};

/** Answers a registry gives when it is busy, restarting or rate-limiting: the same request may well pass later. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUS.has(status);
}

/** Errors of a connection that died or never came up; the registry may be restarting or the network flapping. */
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

/** True when any error in the cause chain is a transient connection failure. */
export function isTransientError(e: unknown): boolean {
  return errorChain(e).some((x) => {
    const code = (x as NodeJS.ErrnoException).code;
    return (code !== undefined && TRANSIENT_CODES.has(code)) || (x as Error).name === 'AbortError';
  });
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Backoff before try number `failures + 1`: half fixed, half random, so parallel uploads do not retry in step. */
export function backoffMs(failures: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * The wait before the next try, or undefined to give up. A registry's Retry-After wins over our backoff (it knows
 * when it will be ready) but still counts against the time bound.
 */
export function nextDelay(
  failures: number,
  startedAt: number,
  policy: RetryPolicy,
  retryAfter?: number,
  now = Date.now(),
): number | undefined {
  if (failures > policy.retries) return undefined;
  const delay = retryAfter ?? backoffMs(failures, policy);
  if (now + delay - startedAt > policy.maxElapsedMs) return undefined;
  return delay;
}
