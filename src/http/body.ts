/**
 * Bounds on what a server can make us hold or wait for: every response body read into memory has a size cap, an
 * upload whose body stops moving is cut, and a download must keep a minimum rate over a window and finish within a
 * deadline derived from its size. A server that breaks a bound is named as the cause; nothing waits forever.
 */
import type { Readable } from 'node:stream';
import { ModelcarError } from '../errors.js';
import { formatDelay } from './events.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Caps on bodies read into memory, by what they are. */
export const BODY_LIMITS = {
  /** distribution and containers/image refuse manifests over 4 MiB; so do we, on read. */
  manifest: 4 * MiB,
  /** A token service answers a few hundred bytes of JSON. */
  token: 1 * MiB,
  /** Hub API JSON: one page of the tree listing, model info with its siblings. */
  hubJson: 16 * MiB,
  /** Model Registry and Kubernetes API answers: small JSON objects and pages of 100. */
  apiJson: 4 * MiB,
  /** Error bodies: only their first line is ever shown. */
  errorText: 64 * KiB,
} as const;

function sizeText(n: number): string {
  return n >= MiB ? `${(n / MiB).toFixed(0)} MiB` : `${(n / KiB).toFixed(0)} KiB`;
}

/** Something a server sent that breaks a bound: the server's fault, named with what it sent. */
export function tooLarge(what: string, limit: number): ModelcarError {
  return new ModelcarError(
    'network',
    `${what} is larger than ${sizeText(limit)}; refusing to read it into memory`,
    'the server is broken or hostile (or a proxy answers in its place); check the URL and the proxy settings',
  );
}

interface BodyLike {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: AsyncIterable<Buffer | Uint8Array> & { destroy?: (e?: Error) => unknown; dump?: () => Promise<void> };
}

/**
 * The whole body as a Buffer, or a ModelcarError when it is (or announces itself to be) larger than `limit`.
 * `truncate` returns the first `limit` bytes instead of failing (error bodies, where only the start is shown).
 */
export async function readCapped(res: BodyLike, limit: number, what: string, truncate = false): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (!truncate && Number.isFinite(declared) && declared > limit) {
    res.body.destroy?.();
    throw tooLarge(what, limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const b = Buffer.from(chunk);
    if (size + b.length > limit) {
      if (truncate) {
        chunks.push(b.subarray(0, limit - size));
        res.body.destroy?.();
        return Buffer.concat(chunks);
      }
      res.body.destroy?.();
      throw tooLarge(what, limit);
    }
    chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks);
}

export async function readCappedText(res: BodyLike, limit: number, what: string): Promise<string> {
  return (await readCapped(res, limit, what)).toString('utf8');
}

/**
 * Aborts a streamed request when its body stops moving: a stalled connection (a proxy or NAT that silently drops
 * packets) would otherwise hang until the kernel gives up, hours later. Armed until stop().
 */
export class StallWatchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  stalled = false;

  constructor(private readonly stallMs: number) {
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.stallMs);
    this.timer.unref();
  }

  async *watch(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      this.arm();
      yield chunk;
    }
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** The floor a download must hold: bytes per second over a window, and an overall deadline per file. */
export interface RateFloor {
  /** Minimum average rate over `windowMs`, in bytes per second (`--min-rate`). 0 turns the floor off. */
  readonly minBytesPerSec: number;
  /** @default 60000 */
  readonly windowMs: number;
}

export const DEFAULT_RATE_FLOOR: RateFloor = { minBytesPerSec: 64 * KiB, windowMs: 60_000 };

/** Extra time every file gets on top of size / floor: connection set-up, a few retries. */
const DEADLINE_SLACK_MS = 10 * 60_000;

/**
 * The longest one file's download may take: ten minutes plus its size at the minimum rate. A server that drips a
 * few bytes now and then (and so resets every stall timer) still meets this bound.
 */
export function downloadDeadlineMs(size: number, floor: RateFloor = DEFAULT_RATE_FLOOR): number {
  if (floor.minBytesPerSec <= 0) return Number.POSITIVE_INFINITY;
  return DEADLINE_SLACK_MS + Math.ceil((size / floor.minBytesPerSec) * 1000);
}

/** Thrown into a body that fell below the floor: a retryable slowness, like a dropped connection. */
export class TooSlowError extends Error {
  readonly code = 'ETOOSLOW';
  constructor(
    readonly bytes: number,
    readonly windowMs: number,
  ) {
    super(`only ${bytes} bytes in ${formatDelay(windowMs)}`);
  }
}

/**
 * Yields the body's chunks and fails it with TooSlowError when fewer than `floor` bytes arrived in the last window
 * (checked once per window, so a short pause is fine, a drip is not).
 */
export async function* rateFloored(body: Readable | AsyncIterable<Buffer>, floor: RateFloor): AsyncGenerator<Buffer> {
  if (floor.minBytesPerSec <= 0) {
    yield* body as AsyncIterable<Buffer>;
    return;
  }
  const needed = (floor.minBytesPerSec * floor.windowMs) / 1000;
  let inWindow = 0;
  let failure: TooSlowError | undefined;
  const destroy = (body as { destroy?: (e?: Error) => void }).destroy?.bind(body);
  const timer = setInterval(() => {
    if (inWindow < needed) {
      failure = new TooSlowError(inWindow, floor.windowMs);
      destroy?.(failure);
    }
    inWindow = 0;
  }, floor.windowMs);
  timer.unref();
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      inWindow += chunk.length;
      yield chunk;
    }
    if (failure) throw failure;
  } catch (e) {
    throw failure ?? e;
  } finally {
    clearInterval(timer);
  }
}
