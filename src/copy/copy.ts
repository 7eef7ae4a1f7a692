/**
 * `copy`: mirror an image between registries and layouts as oras-go's copy does: walk the graph from the root
 * manifest, move each blob at most once (skip what the destination has, mount within one registry, else stream it),
 * push child manifests, and the root manifest last so the tag never points at an incomplete image. The bytes of
 * every manifest are pushed unchanged, so every digest is preserved.
 */
import { mapLimit } from '../builder/pool.js';
import { ModelcarError } from '../errors.js';
import { type BlobOutcome, copyBlob } from '../oci/copy-blob.js';
import { MediaType } from '../oci/media-types.js';
import { pushAndTag, type Repository, requireManifest } from '../oci/repository.js';
import { type Descriptor, type ManifestBytes, parseManifest } from '../oci/spec.js';

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
  /** A blob's bytes start to stream (again, after a restart). */
  readonly onBlobStart?: (desc: Descriptor) => void;
  readonly onBlobBytes?: (desc: Descriptor, bytes: number) => void;
  readonly onBlob?: (blob: CopiedBlob, desc: Descriptor) => void;
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
      p = copyBlob(desc, src, dst, {
        onOpen: () => opts.onBlobStart?.(desc),
        onBytes: (n) => opts.onBlobBytes?.(desc, n),
      }).then((outcome) => {
        const b = { digest: desc.digest, size: desc.size, outcome };
        opts.onBlob?.(b, desc);
        return b;
      });
      done.set(desc.digest, p);
    }
    return p;
  };
  let manifests = 0;
  const copyImageBlobs = async (fetched: ManifestBytes): Promise<void> => {
    const parsed = parseManifest(fetched, `${src.label}@${fetched.digest}`);
    if (parsed.kind !== 'image') {
      throw new ModelcarError(
        'usage',
        `${src.label}@${fetched.digest} is an index inside an index`,
        'nested indexes are not supported; copy the inner index by its digest',
      );
    }
    await mapLimit([parsed.manifest.config, ...parsed.manifest.layers], concurrency, blob);
  };

  const root = await requireManifest(src, srcReference);
  const parsed = parseManifest(root, `${src.label}@${root.digest}`);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      const fetched = await requireManifest(src, child.digest, `image of index ${root.digest}`);
      await copyImageBlobs(fetched);
      // Stored by digest: a layout keeps it as the index's child, out of its tag list.
      await dst.pushManifest(fetched.bytes, fetched.mediaType || child.mediaType);
      manifests++;
    }
  } else {
    await copyImageBlobs(root);
  }
  const mediaType = root.mediaType || (parsed.kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest);
  // The root last, then its tag: the tag never names an image whose parts are not all there.
  const { digest } = await pushAndTag(dst, root.bytes, mediaType, opts.tag);
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
