/**
 * `copy`: mirror an image between registries and layouts as oras-go's copy does: walk the graph from the root
 * manifest, move each blob at most once (skip what the destination has, mount within one registry, else stream it),
 * push child manifests, and the root manifest last so the tag never points at an incomplete image. The bytes of
 * every manifest are pushed unchanged, so every digest is preserved.
 */
import { mapLimit } from '../builder/pool.js';
import { ModelcarError } from '../errors.js';
import { type ImageIndex, type ImageManifest, isIndex } from '../image/read-image.js';
import { type BlobOutcome, copyBlob } from '../oci/copy-blob.js';
import { LayoutRepository } from '../oci/layout/layout.js';
import type { Descriptor, FetchedManifest, Repository } from '../oci/repository.js';

export interface CopiedBlob {
  readonly digest: string;
  readonly size: number;
  readonly outcome: BlobOutcome;
}

export interface CopyResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly tag?: string;
  readonly manifests: number;
  readonly blobs: readonly CopiedBlob[];
  /** Blob bytes streamed through this process (mounted and present blobs move none). */
  readonly bytesCopied: number;
}

export interface CopyOptions {
  /** Tag at the destination; none pushes by digest only. */
  readonly tag?: string;
  /** Blobs moved at once. @default 3 */
  readonly concurrency?: number;
  readonly onBlob?: (blob: CopiedBlob) => void;
}

/** Makes one blob of `from` present in `to`, moving bytes only when neither a skip nor a mount is possible. */
function parse(fetched: FetchedManifest): Record<string, unknown> {
  try {
    return JSON.parse(fetched.bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ModelcarError('integrity', `manifest ${fetched.digest} is not valid JSON`);
  }
}

export async function copyImage(
  src: Repository,
  srcReference: string,
  dst: Repository,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const concurrency = Math.max(1, opts.concurrency ?? 3);
  const done = new Map<string, Promise<CopiedBlob>>();
  const blob = (desc: Descriptor): Promise<CopiedBlob> => {
    let p = done.get(desc.digest);
    if (!p) {
      p = copyBlob(desc, src, dst).then((outcome) => {
        const b = { digest: desc.digest, size: desc.size, outcome };
        opts.onBlob?.(b);
        return b;
      });
      done.set(desc.digest, p);
    }
    return p;
  };
  let manifests = 0;
  const copyManifestBlobs = async (fetched: FetchedManifest): Promise<void> => {
    const m = parse(fetched) as unknown as ImageManifest;
    if (!m.config || !Array.isArray(m.layers)) {
      throw new ModelcarError('usage', `${src.label}@${fetched.digest} is neither an image nor an index`);
    }
    await mapLimit([m.config, ...m.layers], concurrency, blob);
  };

  const root = await src.fetchManifest(srcReference);
  const parsed = parse(root);
  if (isIndex(root.mediaType, parsed)) {
    for (const child of (parsed as unknown as ImageIndex).manifests) {
      const fetched = await src.fetchManifest(child.digest);
      await copyManifestBlobs(fetched);
      // A layout keeps child manifests as plain blobs: only the root belongs in index.json.
      if (dst instanceof LayoutRepository) {
        await dst.pushBlob({
          size: fetched.bytes.length,
          digest: fetched.digest,
          open: async function* () {
            yield fetched.bytes;
          },
        });
      } else {
        await dst.pushManifest(fetched.bytes, fetched.mediaType || child.mediaType);
      }
      manifests++;
    }
  } else {
    await copyManifestBlobs(root);
  }
  const mediaType = root.mediaType || String(parsed.mediaType ?? '');
  const digest = await dst.pushManifest(root.bytes, mediaType, opts.tag);
  manifests++;
  const blobs = await Promise.all(done.values());
  return {
    digest,
    mediaType,
    ...(opts.tag ? { tag: opts.tag } : {}),
    manifests,
    blobs,
    bytesCopied: blobs.filter((b) => b.outcome === 'copied').reduce((n, b) => n + b.size, 0),
  };
}
