/**
 * Attestations as OCI 1.1 referrers (image-spec manifest.md `subject` / `artifactType`; distribution-spec "Listing
 * Referrers"), in the shape cosign uses for Sigstore bundles: an artifact manifest with artifactType
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config, one layer holding the bundle JSON, and the
 * annotations `dev.sigstore.bundle.content` / `dev.sigstore.bundle.predicateType` that let a reader pick one from the
 * referrers list without fetching it. Where a registry has no referrers API (distribution 2.8, GHCR), the distribution
 * spec's tag schema stands in: an image index tagged `sha256-<hex>` lists the referrers' descriptors. Pure.
 */
import { digestOf } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';

export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export const BundleAnnotation = {
  content: 'dev.sigstore.bundle.content',
  predicateType: 'dev.sigstore.bundle.predicateType',
  created: 'org.opencontainers.image.created',
} as const;

/** image-spec's empty descriptor: `{}`, for artifacts that have no config. */
export const EMPTY_CONFIG = Buffer.from('{}');
export const EMPTY_DESCRIPTOR = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;

export interface SubjectDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface ReferrerDescriptor extends SubjectDescriptor {
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ReferrerArtifact {
  readonly manifest: Buffer;
  /** What the referrers list says about it: the manifest's descriptor with its artifactType and annotations. */
  readonly descriptor: ReferrerDescriptor;
  /** Blobs to store before the manifest. */
  readonly blobs: readonly Buffer[];
}

/** The tag the distribution spec's fallback uses for the referrers of `digest`. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** A referrer manifest carrying one Sigstore bundle (DSSE over an in-toto statement of `predicateType`). */
export function bundleReferrer(
  bundle: Buffer,
  subject: SubjectDescriptor,
  predicateType: string,
  created: Date,
): ReferrerArtifact {
  const annotations = {
    [BundleAnnotation.content]: 'dsse-envelope',
    [BundleAnnotation.predicateType]: predicateType,
    [BundleAnnotation.created]: created.toISOString(),
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      config: EMPTY_DESCRIPTOR,
      layers: [{ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, digest: digestOf(bundle), size: bundle.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
  return {
    manifest,
    descriptor: {
      mediaType: MediaType.ociManifest,
      digest: digestOf(manifest),
      size: manifest.length,
      artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      annotations,
    },
    blobs: [EMPTY_CONFIG, bundle],
  };
}

/** The fallback index with `added` listed (once); `existing` is the index the tag held, if any. */
export function referrersIndex(
  added: ReferrerDescriptor,
  existing?: { readonly manifests: readonly ReferrerDescriptor[] },
): Buffer {
  const manifests = (existing?.manifests ?? []).filter((d) => d.digest !== added.digest);
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...manifests, added] }),
  );
}
