import { type Repository, requireBlob } from './repository.js';
import type { Descriptor } from './spec.js';

export type BlobOutcome = 'present' | 'mounted' | 'copied';

/** What a copy shows while it streams: each (re)start of the transfer and the bytes as they pass. */
export interface CopyWatcher {
  /** The transfer starts, or starts over from byte 0 after the destination dropped the upload. */
  onOpen?(): void;
  onBytes?(bytes: number): void;
}

/**
 * Makes one blob of `from` exist in `to`, moving as few bytes as possible: nothing when it is there, a cross-repo
 * mount within one registry, else a stream from one to the other (the target verifies the digest).
 */
export async function copyBlob(
  desc: Descriptor,
  from: Repository,
  to: Repository,
  watch: CopyWatcher = {},
): Promise<BlobOutcome> {
  if (await to.hasBlob(desc)) return 'present';
  if (to.mountBlob && (await to.mountBlob(desc, from))) return 'mounted';
  await to.pushBlob({
    size: desc.size,
    digest: desc.digest,
    open: async function* () {
      watch.onOpen?.();
      for await (const chunk of await requireBlob(from, desc)) {
        watch.onBytes?.(chunk.length);
        yield chunk;
      }
    },
  });
  return 'copied';
}
