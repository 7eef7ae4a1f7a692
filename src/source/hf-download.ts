import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ModelcarError, messageOf } from '../errors.js';
import { DEFAULT_RATE_FLOOR, downloadDeadlineMs, type RateFloor, rateFloored, TooSlowError } from '../http/body.js';
import { formatDelay } from '../http/events.js';
import { Retrier, type RetryPolicy } from '../http/retry.js';
import type { ByteBudget } from './byte-budget.js';
import { type HubHttp, type ResolvedFile, RetryableError } from './hf-http.js';

export interface RangedDownloadOptions {
  readonly http: HubHttp;
  readonly commit: string;
  readonly path: string;
  /** Size of the whole file. */
  readonly size: number;
  /** First byte to deliver. */
  readonly offset: number;
  /** Where the bytes are, as `resolve` answered when the file was opened. */
  readonly resolved: ResolvedFile;
  /** Parts fetched at once. */
  readonly connections: number;
  readonly partSize: number;
  /** Shared by every download of the source; a part reserves its size here before its request starts. */
  readonly budget: ByteBudget;
  readonly retry: RetryPolicy;
  /** The minimum rate per connection (`--min-rate`), and with it the file's overall deadline. */
  readonly floor?: RateFloor;
}

interface Part {
  readonly size: number;
  /** The part's bytes as they arrived: kept as chunks, not copied into one buffer. */
  readonly chunks: Promise<Buffer[]>;
}

/**
 * A file's bytes from `offset` to the end, fetched as consecutive ranges over up to `connections` connections and
 * delivered in order. One CDN connection often tops out near 40 MB/s; several at once do not. A part that loses its
 * connection resumes with a Range from its first missing byte, so nothing is fetched twice. Memory is bounded by the
 * shared budget and by `connections` parts per file. The stream errors, and never ends early, when a part cannot be
 * completed within the retry policy, when a connection stays under the minimum rate, or when the whole file takes
 * longer than its deadline (ten minutes plus its size at the minimum rate): a server that drips bytes cannot keep a
 * build waiting forever.
 */
export class RangedDownload extends Readable {
  private readonly aborter = new AbortController();
  private readonly queue: Part[] = [];
  private location: ResolvedFile | Promise<ResolvedFile>;
  private nextStart: number;
  private started = false;
  private pumping = false;
  private held = 0;
  private changed = deferred();
  private deadline: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RangedDownloadOptions) {
    super({ highWaterMark: 1 });
    this.location = opts.resolved;
    this.nextStart = opts.offset;
  }

  private get floor(): RateFloor {
    return this.opts.floor ?? DEFAULT_RATE_FLOOR;
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      const limit = downloadDeadlineMs(this.opts.size - this.opts.offset, this.floor);
      if (Number.isFinite(limit)) {
        this.deadline = setTimeout(() => {
          this.destroy(
            new ModelcarError(
              'network',
              `${this.opts.path}: the download did not finish within ${formatDelay(limit)} (ten minutes plus its size at the minimum rate of ${this.floor.minBytesPerSec} bytes/s)`,
              'the Hub, its CDN, a mirror or a proxy in between is far too slow; run again later, or lower --min-rate on a slow link',
            ),
          );
        }, limit);
        this.deadline.unref();
      }
      this.schedule().catch((e) => this.destroy(e));
    }
    if (!this.pumping) this.pump().catch((e) => this.destroy(e));
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.deadline);
    this.aborter.abort();
    this.opts.budget.release(this.held);
    this.held = 0;
    this.queue.length = 0;
    this.changed.resolve();
    done(err);
  }

  /** Starts part requests in file order while the window and the shared budget allow. */
  private async schedule(): Promise<void> {
    const { size, partSize, connections, budget } = this.opts;
    while (this.nextStart < size && !this.destroyed) {
      if (this.queue.length >= connections) {
        await this.changed.promise;
        continue;
      }
      const start = this.nextStart;
      const length = Math.min(partSize, size - start);
      await budget.acquire(length, this.aborter.signal);
      if (this.destroyed) {
        budget.release(length);
        return;
      }
      this.nextStart += length;
      this.held += length;
      const chunks = this.fetchPart(start, length);
      chunks.catch((e) => this.destroy(e));
      this.queue.push({ size: length, chunks });
      this.notify();
    }
  }

  /** Hands finished parts to the consumer in order, as long as it keeps reading. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.destroyed) {
        const head = this.queue[0];
        if (!head) {
          if (this.nextStart >= this.opts.size) {
            this.push(null);
            return;
          }
          await this.changed.promise;
          continue;
        }
        const chunks = await head.chunks;
        if (this.destroyed) return;
        this.queue.shift();
        this.held -= head.size;
        this.opts.budget.release(head.size);
        this.notify();
        let more = true;
        for (const chunk of chunks) more = this.push(chunk);
        if (!more) return;
      }
    } finally {
      this.pumping = false;
    }
  }

  private notify(): void {
    const was = this.changed;
    this.changed = deferred();
    was.resolve();
  }

  /** One range into its own buffer, resuming from the first missing byte after a drop. */
  private async fetchPart(start: number, length: number): Promise<Buffer[]> {
    const { http, path, size } = this.opts;
    const signal = this.aborter.signal;
    const chunks: Buffer[] = [];
    const retrier = new Retrier(`${http.http.endpoint}: ${path}`, this.opts.retry);
    let got = 0;
    while (got < length) {
      const before = got;
      try {
        const where = await this.location;
        const from = start + got;
        const to = start + length - 1;
        const res = await http.getRange(where.url, path, from, to, signal);
        checkRange(res, path, from, to, size);
        try {
          for await (const chunk of rateFloored(res.body, this.floor)) {
            if (chunk.length > length - got) {
              throw new ModelcarError(
                'hub',
                `${path}: the server sent more bytes than the range ${from}-${to} asked for`,
                'check HF_ENDPOINT and any proxy between here and the Hub',
              );
            }
            chunks.push(chunk);
            got += chunk.length;
          }
        } catch (e) {
          if (e instanceof ModelcarError || signal.aborted) throw e;
          if (e instanceof TooSlowError) {
            throw new RetryableError(
              `${path}: the connection fell below the minimum rate at byte ${start + got} (${e.message})`,
              e,
              false,
              undefined,
              true,
            );
          }
          throw new RetryableError(`${path}: connection lost at byte ${start + got}: ${messageOf(e)}`, e);
        }
        if (got < length) throw new RetryableError(`${path}: connection closed at byte ${start + got}`);
      } catch (e) {
        if (signal.aborted || !(e instanceof RetryableError)) throw e;
        // Bytes that got through count as progress, unless they came at a drip below the floor.
        if (got > before && !e.slow) retrier.progressed();
        if (e.stale) {
          // Signed CDN URLs expire during long builds: ask the Hub again.
          const again = http.resolve(this.opts.commit, path, signal);
          again.catch(() => {}); // awaited by the next try; this keeps a failure from being unhandled meanwhile
          this.location = again;
        }
        const wait = { signal, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
        if (!(await retrier.again(e.message, wait))) {
          throw new ModelcarError(
            'network',
            `${path}: download failed ${retrier.count} times in a row at byte ${start + got} of ${size} (${e.message})`,
            'check the network and HF_ENDPOINT; run again (a --cache DIR keeps completed files)',
            { cause: e },
          );
        }
      }
    }
    return chunks;
  }
}

function checkRange(res: Dispatcher.ResponseData, path: string, from: number, to: number, size: number): void {
  if (res.statusCode === 200 && from === 0 && to === size - 1) return;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  if (res.statusCode === 206 && range && Number(range[1]) === from && Number(range[2]) === to) return;
  res.body.destroy();
  throw new ModelcarError(
    'hub',
    `${path}: asked for bytes ${from}-${to}, got HTTP ${res.statusCode} ${res.headers['content-range'] ?? 'without Content-Range'}`,
    'a proxy or mirror in between does not honour Range requests; check HF_ENDPOINT and the proxy settings',
  );
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
