import { createHash } from 'node:crypto';
import { ModelcarError } from '../errors.js';
import type { PlannedLayer } from '../plan/plan.js';
import type { ModelSource } from '../source/source.js';
import { encodeHeader, padding, TRAILER_SIZE } from './tar.js';

export interface LayerFile {
  /** Path relative to the model root (`/models`). */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly gitSha1?: string;
}

export type ProgressFn = (path: string, bytes: number) => void;

/**
 * The bytes of one layer: tar framing around each file's content, read once from the source. Where the source cannot
 * vouch for a file's sha256, it is computed as the bytes pass. The layer digest is not computed here: the target
 * hashes what it writes (one hash per byte, in the one place that commits the blob). `done` settles after the last
 * byte has been pulled: with the files and their sha256, or with the error that stopped the stream.
 */
export function layerBytes(
  layer: PlannedLayer,
  source: ModelSource,
  onProgress?: ProgressFn,
): { bytes: AsyncIterable<Buffer>; done: Promise<LayerFile[]> } {
  let settle!: (d: LayerFile[]) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<LayerFile[]>((ok, ko) => {
    settle = ok;
    fail = ko;
  });
  done.catch(() => {}); // the consumer of `bytes` sees the same error; avoid an unhandled rejection here

  async function* generate(): AsyncGenerator<Buffer> {
    let written = 0;
    const files: LayerFile[] = [];
    const emit = (b: Buffer) => {
      written += b.length;
      return b;
    };
    try {
      for (const entry of layer.entries) {
        yield emit(encodeHeader(entry.header));
        if (entry.kind === 'dir') continue;
        const { file } = entry;
        // A source that lists a sha256 verifies it itself while streaming (and errors before the end if it differs).
        const fileHash = file.sha256 ? undefined : createHash('sha256');
        let seen = 0;
        const stream = await source.open(file, 0);
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > file.size) break;
          fileHash?.update(chunk);
          onProgress?.(file.path, chunk.length);
          yield emit(chunk);
        }
        if (seen !== file.size) {
          throw new ModelcarError(
            'source',
            `${file.path} changed while it was read: expected ${file.size} bytes, got ${seen > file.size ? 'more' : seen}`,
            'do not modify the model while modelcar reads it; run the build again',
          );
        }
        const pad = padding(file.size);
        if (pad > 0) yield emit(Buffer.alloc(pad));
        files.push({
          path: file.path,
          size: file.size,
          sha256: file.sha256 ?? (fileHash as ReturnType<typeof createHash>).digest('hex'),
          ...(file.gitSha1 ? { gitSha1: file.gitSha1 } : {}),
        });
      }
      yield emit(Buffer.alloc(TRAILER_SIZE));
      if (written !== layer.size) {
        throw new ModelcarError('internal', `layer size mismatch: planned ${layer.size}, wrote ${written}`);
      }
      settle(files);
    } catch (e) {
      fail(e);
      throw e;
    }
  }
  return { bytes: generate(), done };
}
