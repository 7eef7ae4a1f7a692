/**
 * The entries of a tar layer found by ranged reads, header to header, without reading any file's content: one small
 * read per entry (a few KiB, enough for a PAX record and the header after it). What `deploy --image` uses to find
 * config.json and the safetensors headers inside a multi-GB layer while moving kilobytes.
 */
import { ModelcarError } from '../errors.js';
import { BLOCK, padding } from './tar.js';
import { decodeHeader, type Extension, extend, type TarEntry } from './tar-read.js';

/** Bytes [offset, offset+length) of the layer; fewer at its end. */
export type ReadRange = (offset: number, length: number) => Promise<Buffer>;

/** One read covers a header with the PAX record before it in the usual case. */
const WINDOW = 4096;
/** A layer with more entries than this is not a model layer; stop rather than issue thousands of reads. */
export const MAX_ENTRIES = 10_000;

export type RangedEntry = Omit<TarEntry, 'sha256'>;

export async function* tarEntriesByRange(
  read: ReadRange,
  layerSize: number,
  what: string,
): AsyncGenerator<RangedEntry> {
  let at = 0;
  let ext: Extension = { pax: {} };
  let window: Buffer = Buffer.alloc(0);
  let windowAt = 0;
  const bytes = async (offset: number, length: number): Promise<Buffer> => {
    if (offset >= windowAt && offset + length <= windowAt + window.length) {
      return window.subarray(offset - windowAt, offset - windowAt + length);
    }
    window = await read(offset, Math.max(length, WINDOW));
    windowAt = offset;
    if (window.length < length)
      throw new ModelcarError('integrity', `${what} ends inside a tar header at byte ${offset}`);
    return window.subarray(0, length);
  };
  for (let n = 0; n < MAX_ENTRIES && at + BLOCK <= layerSize; n++) {
    const h = await bytes(at, BLOCK);
    if (h.every((x) => x === 0)) return;
    const decoded = decodeHeader(h, ext, at);
    at += BLOCK;
    if (!decoded.entry) {
      ext = extend(ext, decoded.flag, await bytes(at, decoded.rawSize));
      at += decoded.rawSize + padding(decoded.rawSize);
      continue;
    }
    ext = { pax: {} };
    yield { ...decoded.entry, offset: at };
    at += decoded.entry.size + padding(decoded.entry.size);
  }
}
