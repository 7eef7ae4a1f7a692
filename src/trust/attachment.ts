/**
 * cosign's "sigstore attachment" for image signatures, as containers/image reads and writes it
 * (docker/docker_image_dest.go putSignaturesToSigstoreAttachments): an OCI image manifest tagged `sha256-<hex>.sig`
 * in the image's own repository, one layer per signature (the simple-signing payload, its signature and any
 * certificate and Rekor bundle in the layer's annotations) and a config whose rootfs.diff_ids list the layers. A new
 * signature is appended to the signatures already there, as skopeo and cosign do, so signing twice (another key, a
 * keyless identity) keeps both. Pure: builds bytes; the caller stores them.
 */
import { digestOf } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/spec.js';
import { SIMPLE_SIGNING_MEDIA_TYPE } from './simple-signing.js';

/** Annotation keys of a signature layer (sigstore/cosign pkg/oci/static). */
export const CosignAnnotation = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  /** The Rekor SignedEntryTimestamp and entry ("bundle" in cosign's words; not a Sigstore bundle). */
  rekorBundle: 'dev.sigstore.cosign/bundle',
} as const;

/** The tag the signatures of `manifestDigest` live under, in the same repository. */
export function signatureTag(manifestDigest: string): string {
  return `${manifestDigest.replace(':', '-')}.sig`;
}

export interface SignatureLayer {
  readonly payload: Buffer;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface AttachmentManifest {
  readonly manifest: Buffer;
  readonly config: Buffer;
  /** Blobs the manifest names that must be stored before it (payloads and config). */
  readonly blobs: readonly Buffer[];
  /** The descriptors of the signature layers, the new one last. */
  readonly layers: readonly Descriptor[];
}

interface ExistingAttachment {
  readonly layers: readonly Descriptor[];
  readonly config: Record<string, unknown>;
}

function sameSignature(layer: Descriptor, digest: string, annotations: Readonly<Record<string, string>>): boolean {
  if (layer.digest !== digest || layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) return false;
  const a = layer.annotations ?? {};
  const keys = Object.keys(annotations);
  return keys.length === Object.keys(a).length && keys.every((k) => a[k] === annotations[k]);
}

/**
 * The attachment manifest with `added` appended to what `existing` holds (an exact duplicate is not added twice).
 * `existing` is the current manifest's layers and parsed config, or undefined for the first signature.
 */
export function attachmentManifest(
  added: readonly SignatureLayer[],
  existing?: ExistingAttachment,
): AttachmentManifest {
  const layers: Descriptor[] = [...(existing?.layers ?? [])];
  const blobs: Buffer[] = [];
  for (const sig of added) {
    const digest = digestOf(sig.payload);
    if (layers.some((l) => sameSignature(l, digest, sig.annotations))) continue;
    layers.push({
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest,
      size: sig.payload.length,
      annotations: { ...sig.annotations },
    });
    blobs.push(sig.payload);
  }
  const base = existing?.config ?? { architecture: '', os: '', config: {} };
  const config = Buffer.from(
    JSON.stringify({ ...base, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: digestOf(config), size: config.length },
      layers,
    }),
  );
  return { manifest, config, blobs: [...blobs, config], layers };
}
