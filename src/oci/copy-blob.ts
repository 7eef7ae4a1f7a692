import { type Repository, requireBlob } from './repository.js';
import type { Descriptor } from './spec.js';

export type BlobOutcome = 'present' | 'mounted' | 'copied';

/**
 * Makes one blob of `from` exist in `to`, moving as few bytes as possible: nothing when it is there, a cross-repo
 * mount within one registry, else a stream from one to the other (the target verifies the digest).
 */
export async function copyBlob(desc: Descriptor, from: Repository, to: Repository): Promise<BlobOutcome> {
  if (await to.hasBlob(desc)) return 'present';
  if (to.mountBlob && (await to.mountBlob(desc, from))) return 'mounted';
  await to.pushBlob({
    size: desc.size,
    digest: desc.digest,
    open: async function* () {
      yield* await requireBlob(from, desc);
    },
  });
  return 'copied';
}
