/**
 * A deterministic tar writer for model layers. We write every header byte ourselves so that the same input gives the
 * same layer digest across library upgrades and machines (see docs/image-format.md).
 *
 * Format: POSIX ustar headers; a PAX `path` record for names over 100 bytes or non-ASCII; GNU base-256 in the size
 * field for files of 8 GiB and more (Quay's scanner and older readers choke on PAX-only sizes). Two zero blocks at the
 * end, no padding to a 10 KiB record (not needed by any reader, and it would only add bytes).
 */

export const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits: 8 GiB - 1

export interface TarHeader {
  readonly path: string; // for directories, without the trailing slash
  readonly type: 'file' | 'dir' | 'symlink';
  /** Target of a symlink (base images only; model layers never hold links). */
  readonly linkname?: string;
  readonly size: number; // 0 for directories
  readonly mode: number;
  readonly mtime: number; // seconds since the epoch
}

export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

function entryName(h: TarHeader): string {
  return h.type === 'dir' ? `${h.path}/` : h.path;
}

function needsPax(name: string): boolean {
  return Buffer.byteLength(name) > 100 || !/^[\x20-\x7e]*$/.test(name);
}

/** The PAX record `"<len> path=<name>\n"`, where len counts the whole record including its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (len !== bodyLen + String(len).length) len = bodyLen + String(len).length;
  return Buffer.from(`${len}${body}`);
}

/** Bytes of the header blocks (PAX included) that precede an entry's content. */
export function headerSize(h: TarHeader): number {
  const name = entryName(h);
  if (!needsPax(name)) return BLOCK;
  const pax = paxRecord('path', name).length;
  return BLOCK + pax + padding(pax) + BLOCK;
}

/** Total bytes an entry takes in the archive: headers, content, padding. */
export function entrySize(h: TarHeader): number {
  return headerSize(h) + h.size + padding(h.size);
}

/** Bytes of the end-of-archive marker. */
export const TRAILER_SIZE = 2 * BLOCK;

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits then NUL, zero-padded: the form GNU tar and Go's archive/tar both write.
  writeString(buf, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function writeSize(buf: Buffer, offset: number, value: number): void {
  if (value <= MAX_OCTAL_SIZE) {
    writeOctal(buf, offset, 12, value);
    return;
  }
  // GNU base-256: high bit of the first byte set, the number big-endian in the remaining 11 bytes.
  buf[offset] = 0x80;
  let v = BigInt(value);
  for (let i = 11; i >= 1; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function ustarBlock(name: string, typeflag: string, size: number, mode: number, mtime: number, linkname = ''): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeString(b, 0, 100, name);
  writeString(b, 157, 100, linkname);
  writeOctal(b, 100, 8, mode);
  writeOctal(b, 108, 8, 0); // uid
  writeOctal(b, 116, 8, 0); // gid
  writeSize(b, 124, size);
  writeOctal(b, 136, 12, mtime);
  b.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  writeString(b, 156, 1, typeflag);
  writeString(b, 257, 6, 'ustar\0');
  writeString(b, 263, 2, '00');
  writeString(b, 265, 32, 'root');
  writeString(b, 297, 32, 'root');
  writeOctal(b, 329, 8, 0);
  writeOctal(b, 337, 8, 0);
  let sum = 0;
  for (const byte of b) sum += byte;
  writeString(b, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return b;
}

/** The header blocks of one entry: a PAX extended header first when the name needs one. */
export function encodeHeader(h: TarHeader): Buffer {
  const name = entryName(h);
  const typeflag = h.type === 'dir' ? '5' : h.type === 'symlink' ? '2' : '0';
  if (!needsPax(name)) return ustarBlock(name, typeflag, h.size, h.mode, h.mtime, h.linkname);
  const record = paxRecord('path', name);
  // The ustar name is only a fallback for readers without PAX; keep it ASCII, short and stable.
  const fallback = Buffer.from(name.replace(/[^\x20-\x7e]/g, '_'))
    .subarray(0, 99)
    .toString('latin1');
  const paxHeader = ustarBlock('PaxHeader', 'x', record.length, 0o644, h.mtime);
  return Buffer.concat([
    paxHeader,
    record,
    Buffer.alloc(padding(record.length)),
    ustarBlock(fallback, typeflag, h.size, h.mode, h.mtime, h.linkname),
  ]);
}
