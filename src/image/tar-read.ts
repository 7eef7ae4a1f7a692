/**
 * A streaming tar reader for verify and inspect: it walks the archive chunk by chunk, hashing each file's content as
 * it passes, so memory stays constant however big the layer. Reads what our writer writes (ustar, PAX `path`/`size`,
 * GNU base-256 sizes) and what common base images hold (GNU long names, ustar prefixes, global PAX headers).
 */
import { createHash } from 'node:crypto';
import { ModelcarError } from '../errors.js';
import { BLOCK, padding } from './tar.js';

export interface TarEntry {
  /** As stored, without a trailing slash for directories and without a leading `./`. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly linkname?: string;
  /** Offset of the first content byte in the archive. */
  readonly offset: number;
  /** Hex sha256 of the content (regular files only). */
  readonly sha256?: string;
}

export interface TarReadOptions {
  /** Called with each content chunk of a regular file, and where in the file it starts. */
  onData?(entry: Omit<TarEntry, 'sha256'>, chunk: Buffer, fileOffset: number): Promise<void> | void;
}

/** A queue of received chunks that hands out exact byte counts without copying content it only passes through. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;
  /** Bytes taken so far: the archive offset of the queue's front. */
  consumed = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Up to `n` bytes from the front, as one slice of the first chunk. */
  takeSome(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    const out = first.length <= n ? (this.chunks.shift() as Buffer) : first.subarray(0, n);
    if (first.length > n) this.chunks[0] = first.subarray(n);
    this.length -= out.length;
    this.consumed += out.length;
    return out;
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const part = this.takeSome(need);
      parts.push(part);
      need -= part.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
}

function cString(b: Buffer, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function numeric(b: Buffer, start: number, len: number): number {
  const first = b[start] as number;
  if (first & 0x80) {
    // GNU base-256: big-endian in the remaining bytes.
    let v = 0n;
    for (let i = start + 1; i < start + len; i++) v = (v << 8n) | BigInt(b[i] as number);
    return Number(v);
  }
  const text = cString(b, start, len).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumOk(b: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (b[i] as number);
  return sum === numeric(b, 148, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

const TYPES: Record<string, TarEntry['type']> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'dir', '2': 'symlink' };

function normalise(path: string): string {
  return path.replace(/^\.\//, '').replace(/\/+$/, '');
}

function corrupt(offset: number, why: string): ModelcarError {
  return new ModelcarError('integrity', `the layer is not a valid tar archive at byte ${offset}: ${why}`);
}

/** Extended header state carried from a PAX (`x`) or GNU long-name (`L`) entry to the entry it describes. */
export interface Extension {
  pax: Record<string, string>;
  longName?: string;
}

/**
 * One 512-byte header, decoded with the extension that precedes it. `extension` is set for PAX/GNU records (whose
 * `rawSize` bytes of data the caller reads and hands to `extend`), `entry` for a real entry.
 */
export function decodeHeader(
  h: Buffer,
  ext: Extension,
  at: number,
): { flag: string; rawSize: number; entry?: Omit<TarEntry, 'offset' | 'sha256'> } {
  if (!checksumOk(h)) throw corrupt(at, 'header checksum mismatch');
  const flag = String.fromCharCode(h[156] as number);
  const rawSize = numeric(h, 124, 12);
  if (flag === 'x' || flag === 'g' || flag === 'L') return { flag, rawSize };
  const size = ext.pax.size !== undefined ? Number(ext.pax.size) : rawSize;
  const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? cString(h, 345, 155) : '';
  const name = ext.pax.path ?? ext.longName ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
  const type = TYPES[flag] ?? (flag === '1' ? 'hardlink' : 'other');
  const linkname = ext.pax.linkpath ?? cString(h, 157, 100);
  return {
    flag,
    rawSize,
    entry: {
      path: normalise(name),
      type,
      size,
      mode: numeric(h, 100, 8),
      uid: numeric(h, 108, 8),
      gid: numeric(h, 116, 8),
      ...(linkname ? { linkname } : {}),
    },
  };
}

/** Folds the data of a PAX (`x`) or GNU long-name (`L`) record into the extension for the next entry. */
export function extend(ext: Extension, flag: string, data: Buffer): Extension {
  if (flag === 'x') return { ...ext, pax: { ...ext.pax, ...parsePax(data) } };
  if (flag === 'L') return { ...ext, longName: cString(data, 0, data.length) };
  return ext;
}

/** Yields every entry of a tar stream, after its content has passed (so `sha256` is known). */
export async function* readTar(source: AsyncIterable<Buffer>, opts: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const q = new ByteQueue();
  const it = source[Symbol.asyncIterator]();
  let ended = false;
  const fill = async (n: number): Promise<boolean> => {
    while (q.length < n && !ended) {
      const next = await it.next();
      if (next.done) ended = true;
      else q.push(next.value);
    }
    return q.length >= n;
  };
  let ext: Extension = { pax: {} };
  let clean = false;
  try {
    for (;;) {
      const at = q.consumed;
      if (!(await fill(BLOCK))) {
        // A stream may end without the two zero blocks; anything else left over is a cut archive.
        if (q.length > 0) throw corrupt(at, `truncated header (${q.length} bytes)`);
        clean = true;
        return;
      }
      const h = q.take(BLOCK);
      if (h.every((x) => x === 0)) {
        clean = true;
        return;
      }
      const decoded = decodeHeader(h, ext, at);
      if (!decoded.entry) {
        const { rawSize } = decoded;
        if (!(await fill(rawSize + padding(rawSize)))) throw corrupt(q.consumed, 'truncated extended header');
        const data = q.take(rawSize);
        q.take(padding(rawSize));
        ext = extend(ext, decoded.flag, data);
        continue;
      }
      ext = { pax: {} };
      const entry = { ...decoded.entry, offset: q.consumed };
      const { type, size } = entry;
      const hash = type === 'file' ? createHash('sha256') : undefined;
      let left = size;
      while (left > 0) {
        if (!(await fill(1)))
          throw corrupt(q.consumed, `${entry.path} is cut short (${left} of ${size} bytes missing)`);
        const chunk = q.takeSome(left);
        if (hash) {
          hash.update(chunk);
          await opts.onData?.(entry, chunk, size - left);
        }
        left -= chunk.length;
      }
      const pad = padding(size);
      if (pad > 0) {
        if (!(await fill(pad))) throw corrupt(q.consumed, 'truncated padding');
        q.take(pad);
      }
      yield hash ? { ...entry, sha256: hash.digest('hex') } : entry;
    }
  } finally {
    // Stopping early (an error, or a caller that has what it needs) must release the connection or file. After a
    // clean end the caller may still read what follows the archive (to hash the whole blob).
    if (!ended && !clean) await it.return?.();
  }
}
