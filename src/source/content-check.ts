import { createHash, type Hash } from 'node:crypto';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { ModelcarError } from '../errors.js';

/** What a file's bytes must hash to: the LFS sha256, or the git blob sha1 the Hub lists for small files. */
export interface ExpectedContent {
  readonly size: number;
  readonly algorithm: 'sha256' | 'git-sha1';
  /** Lower-case hex. */
  readonly hex: string;
}

/** Optional place the verified bytes also go (the `--cache` copy); committed only after the check passed. */
export interface VerifiedSink {
  write(chunk: Buffer): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface CheckOptions {
  /** Printed in errors: the file path. */
  readonly label: string;
  /** Bytes the input must deliver. */
  readonly size: number;
  /** Absent when the stream starts mid-file and the hash cannot be known. */
  readonly expected?: ExpectedContent;
  readonly sink?: VerifiedSink;
  /** What to tell the user on a mismatch; the default speaks of the Hub. */
  readonly mismatchHint?: string;
  /**
   * A last check once every byte has arrived and before the last one is released (a local file is the same file it
   * was when listed): a rejection reaches the consumer as the stream's error.
   */
  readonly verify?: () => Promise<void>;
}

function startHash(expected: ExpectedContent): Hash {
  if (expected.algorithm === 'sha256') return createHash('sha256');
  // What git hashes for a blob: a header naming the size, then the content.
  return createHash('sha1').update(`blob ${expected.size}\0`);
}

/**
 * Passes bytes through while counting and hashing them, holding back the file's last chunk until the whole file has
 * been checked: a consumer never sees the end of a file whose hash or size is wrong, it sees an error instead.
 */
class CheckedStream extends Transform {
  private readonly hash?: Hash;
  private seen = 0;
  private last?: Buffer;
  private committed = false;

  constructor(private readonly opts: CheckOptions) {
    super();
    if (opts.expected) this.hash = startHash(opts.expected);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.opts.size) {
      // A file that grew says so through its own check, when it has one.
      (this.opts.verify?.() ?? Promise.resolve()).then(() => done(this.sizeError()), done);
      return;
    }
    this.hash?.update(chunk);
    // The file's last chunk waits for the check in _flush; the others go on at once.
    if (this.seen === this.opts.size) {
      this.last = chunk;
      done();
      return;
    }
    this.forward(chunk).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    this.finish().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    const sink = this.opts.sink;
    if (!sink || this.committed) {
      done(err);
      return;
    }
    // The check failed or the consumer gave up early: the partial copy goes.
    sink.abort().then(
      () => done(err),
      () => done(err),
    );
  }

  private async forward(chunk: Buffer): Promise<void> {
    await this.opts.sink?.write(chunk);
    this.push(chunk);
  }

  private async finish(): Promise<void> {
    await this.opts.verify?.();
    if (this.seen !== this.opts.size) throw this.sizeError();
    const expected = this.opts.expected;
    if (expected && this.hash) {
      const got = this.hash.digest('hex');
      if (got !== expected.hex) {
        const what = expected.algorithm === 'sha256' ? 'sha256' : 'git blob sha1';
        throw new ModelcarError(
          'integrity',
          `${this.opts.label}: ${what} mismatch: expected ${expected.hex}, got ${got}`,
          this.opts.mismatchHint ??
            'the bytes served differ from what the Hub lists for this commit; nothing was published; run again, and report it to the repository owner if it persists',
        );
      }
    }
    const last = this.last;
    this.last = undefined;
    if (last) await this.opts.sink?.write(last);
    await this.opts.sink?.commit();
    this.committed = true;
    if (last) this.push(last);
  }

  private sizeError(): ModelcarError {
    return new ModelcarError(
      'integrity',
      `${this.opts.label}: ${this.seen > this.opts.size ? 'more' : 'fewer'} bytes than the ${this.opts.size} promised (got ${this.seen})`,
      'the file changed or the transfer was cut; run again',
    );
  }
}

/**
 * The input's bytes, checked. Destroying the result destroys the input; an error on either side reaches the
 * consumer as an error of the result.
 */
export function checkedStream(input: Readable, opts: CheckOptions): Readable {
  const out = new CheckedStream(opts);
  pipeline(input, out, () => {});
  return out;
}
