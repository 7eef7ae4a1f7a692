/**
 * A small, independent tar reader for tests: reads ustar headers, applies PAX `path` records, decodes GNU base-256
 * sizes and verifies every header checksum. Written from the POSIX/GNU formats, not from src/image/tar.ts, so a
 * mistake in the writer is not mirrored here.
 */
import { createHash } from 'node:crypto';

export interface TarEntry {
  /** Name as a reader sees it (PAX path applied), directories with their trailing slash. */
  readonly name: string;
  /** The raw typeflag: '0' file, '5' directory, '2' symlink. */
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly size: number;
  readonly mtime: number;
  readonly linkname: string;
  /** The PAX records that applied to this entry (key -> value). */
  readonly pax: Readonly<Record<string, string>>;
  /** Offset of the content in the archive. */
  readonly offset: number;
  /** sha256 (hex) of the content. */
  readonly sha256: string;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(block: Buffer, start: number, length: number): number {
  const text = cString(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** Size field: octal, or GNU base-256 when the high bit of the first byte is set. */
export function decodeSize(field: Buffer): number {
  if (((field[0] as number) & 0x80) === 0) {
    const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
    return text === '' ? 0 : Number.parseInt(text, 8);
  }
  let v = BigInt((field[0] as number) & 0x7f);
  for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i] as number);
  return Number(v);
}

/** Checks the header checksum: the byte sum with the checksum field read as eight spaces. */
export function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return octal(block, 148, 8) === sum;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad PAX record length at ${pos}`);
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8'); // drop the trailing newline
    if (data[pos + len - 1] !== 0x0a) throw new Error(`PAX record at ${pos} does not end with a newline`);
    const eq = record.indexOf('=');
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

const pad = (n: number) => (512 - (n % 512)) % 512;

/** All entries of a tar archive; throws on a bad checksum or a missing end-of-archive marker. */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let pos = 0;
  let pax: Record<string, string> = {};
  for (;;) {
    if (pos + 512 > archive.length) throw new Error('archive ends without two zero blocks');
    const block = archive.subarray(pos, pos + 512);
    if (block.every((b) => b === 0)) {
      const next = archive.subarray(pos + 512, pos + 1024);
      if (next.length !== 512 || !next.every((b) => b === 0)) throw new Error(`lone zero block at ${pos}`);
      return entries;
    }
    if (!checksumOk(block)) throw new Error(`bad header checksum at offset ${pos}`);
    const type = cString(block, 156, 1) || '0';
    const size = decodeSize(block.subarray(124, 136));
    const offset = pos + 512;
    const content = archive.subarray(offset, offset + size);
    pos = offset + size + pad(size);
    if (type === 'x') {
      pax = parsePax(content);
      continue;
    }
    const prefix = cString(block, 345, 155);
    const ustarName = cString(block, 0, 100);
    entries.push({
      name: pax.path ?? (prefix ? `${prefix}/${ustarName}` : ustarName),
      type,
      mode: octal(block, 100, 8),
      uid: octal(block, 108, 8),
      gid: octal(block, 116, 8),
      uname: cString(block, 265, 32),
      gname: cString(block, 297, 32),
      size,
      mtime: octal(block, 136, 12),
      linkname: cString(block, 157, 100),
      pax,
      offset,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
    pax = {};
  }
}
