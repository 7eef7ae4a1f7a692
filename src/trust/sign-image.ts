/**
 * Signs an image that is already in its registry, and attaches what is known about it: the signature in cosign's
 * attachment format (tag `sha256-<hex>.sig`, what CRI-O and skopeo check), then two signed in-toto statements as OCI
 * 1.1 referrers (SLSA provenance and the OpenSSF model signature over the files), through the referrers API where the
 * registry has one and the `sha256-<hex>` tag schema where it does not. `build --sign-key` calls it right after the
 * manifest is written; `modelcar sign REF` calls it for an image built elsewhere (a pipeline, a sharded build).
 */

import { MediaType } from '../oci/media-types.js';
import { formatRef, type RegistryRef } from '../oci/reference.js';
import type { Descriptor } from '../oci/spec.js';
import { VERSION } from '../version.js';
import { attachmentManifest, signatureTag } from './attachment.js';
import { bundleReferrer, type ReferrerArtifact, referrersIndex, referrersTag } from './referrer.js';
import type { TrustSigner } from './signer.js';
import { simpleSigningPayload } from './simple-signing.js';
import {
  MODEL_SIGNING_V1,
  modelSigningStatement,
  type ProvenanceInput,
  type SignedFile,
  SLSA_PROVENANCE_V1,
  slsaProvenance,
  statementBytes,
} from './statements.js';
import type { TrustStore } from './store.js';

export interface SignRequest {
  readonly store: TrustStore;
  /** The image: where it is (a tag when it has one) and its manifest's descriptor. */
  readonly ref: RegistryRef;
  readonly manifest: Descriptor;
  readonly files: readonly SignedFile[];
  readonly provenance: Omit<ProvenanceInput, 'image' | 'files' | 'builderVersion'>;
  /** The model's name for the OMS statement (informational), and the source files the build left out. */
  readonly modelName: string;
  readonly ignorePaths?: readonly string[];
  readonly signer: TrustSigner;
  /** When this signing happens: SOURCE_DATE_EPOCH when set, else now. */
  readonly time: Date;
}

export type AttachedVia = 'referrers-api' | 'tag-schema';

export interface Attached {
  readonly predicateType: string;
  /** The referrer manifest's digest. */
  readonly digest: string;
  readonly via: AttachedVia;
}

export interface SignResult {
  readonly signature: { readonly tag: string; readonly digest: string };
  readonly provenance: Attached;
  readonly modelSignature: Attached;
  /** The OMS bundle itself, to keep beside a model copy (`verify DIR --model-signature`). */
  readonly modelSignatureBundle: unknown;
}

/** `HOST/REPO[:TAG]`, the identity the signature claims (skopeo signs the destination reference the same way). */
export function dockerReference(ref: RegistryRef): string {
  return formatRef({ registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) });
}

async function putSignature(req: SignRequest): Promise<SignResult['signature']> {
  const { store } = req;
  const payload = simpleSigningPayload({
    dockerReference: dockerReference(req.ref),
    manifestDigest: req.manifest.digest,
    creator: `modelcar ${VERSION}`,
    timestamp: Math.floor(req.time.getTime() / 1000),
  });
  const annotations = await req.signer.signImage(payload);
  const tag = signatureTag(req.manifest.digest);
  const existing = await store.manifest(tag);
  let previous: Parameters<typeof attachmentManifest>[1];
  if (existing) {
    const m = JSON.parse(existing.bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    previous = { layers: m.layers ?? [], config: JSON.parse((await store.blob(m.config)).toString('utf8')) };
  }
  const built = attachmentManifest([{ payload, annotations }], previous);
  for (const blob of built.blobs) await store.putBlob(blob);
  const digest = await store.putManifest(built.manifest, MediaType.ociManifest, tag);
  return { tag, digest };
}

/** Stores a referrer and makes it findable: by the registry's own index where it has one, else under the fallback tag. */
async function attach(store: TrustStore, artifact: ReferrerArtifact, subject: Descriptor): Promise<AttachedVia> {
  for (const blob of artifact.blobs) await store.putBlob(blob);
  await store.putManifest(artifact.manifest, MediaType.ociManifest);
  const listed = await store.referrers(subject);
  if (listed?.some((d) => d.digest === artifact.descriptor.digest)) return 'referrers-api';
  const tag = referrersTag(subject.digest);
  const current = await store.manifest(tag);
  const existing = current
    ? (JSON.parse(current.bytes.toString('utf8')) as { manifests?: (typeof artifact.descriptor)[] })
    : undefined;
  const index = referrersIndex(artifact.descriptor, { manifests: existing?.manifests ?? [] });
  await store.putManifest(index, MediaType.ociIndex, tag);
  return 'tag-schema';
}

export async function signImage(req: SignRequest): Promise<SignResult> {
  const signature = await putSignature(req);
  const subject: Descriptor = {
    mediaType: req.manifest.mediaType,
    digest: req.manifest.digest,
    size: req.manifest.size,
  };
  const provenance = slsaProvenance({
    ...req.provenance,
    image: {
      name: formatRef({ registry: req.ref.registry, repository: req.ref.repository }),
      digest: req.manifest.digest,
    },
    files: req.files,
    builderVersion: VERSION,
  });
  const oms = modelSigningStatement(req.modelName, req.files, req.ignorePaths ?? []);
  const results: Attached[] = [];
  let omsBundle: unknown;
  for (const [statement, type] of [
    [provenance, SLSA_PROVENANCE_V1],
    [oms, MODEL_SIGNING_V1],
  ] as const) {
    const bundle = await req.signer.attest(statementBytes(statement));
    if (type === MODEL_SIGNING_V1) omsBundle = bundle;
    const artifact = bundleReferrer(Buffer.from(JSON.stringify(bundle)), subject, type, req.time);
    const via = await attach(req.store, artifact, subject);
    results.push({ predicateType: type, digest: artifact.descriptor.digest, via });
  }
  return {
    signature,
    provenance: results[0] as Attached,
    modelSignature: results[1] as Attached,
    modelSignatureBundle: omsBundle,
  };
}
