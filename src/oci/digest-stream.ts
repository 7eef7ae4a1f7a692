import { createHash, type Hash } from 'node:crypto';
import { ModelcarError } from '../errors.js';

/**
 * Passes bytes through while hashing and counting them. The one place a blob's digest is computed on its way to
 * a target, and where a digest known ahead is checked.
 */
export class DigestCounter {
  constructor(
    private readonly hash: Hash = createHash('sha256'),
    public bytes = 0,
  ) {}

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  async *pass(source: AsyncIterable<Buffer>, onChunk?: (n: number) => void): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.update(chunk);
      onChunk?.(chunk.length);
      yield chunk;
    }
  }

  /** The state so far, to resume from this offset later without hashing the bytes before it again. */
  snapshot(): DigestCounter {
    return new DigestCounter(this.hash.copy(), this.bytes);
  }

  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** The digest of bytes in memory (manifests, configs). */
export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Fails unless the bytes that passed match what the blob promised. */
export function checkBlob(
  label: string,
  expected: { size: number; digest?: string },
  got: { size: number; digest: string },
): void {
  if (got.size !== expected.size) {
    throw new ModelcarError(
      'integrity',
      `${label}: got ${got.size} bytes, expected ${expected.size}`,
      'the source changed or the transfer was cut; run again',
    );
  }
  if (expected.digest && expected.digest !== got.digest) {
    throw new ModelcarError(
      'integrity',
      `${label}: content is ${got.digest}, expected ${expected.digest}`,
      'the source served corrupt bytes; nothing was committed; run again or check the source',
    );
  }
}
