/**
 * The trust links of an image in its registry, each checked against a policy and against the bytes: the signature
 * (cosign attachment, as CRI-O checks it), the SLSA provenance (signed, about this digest, listing exactly the files
 * the image holds) and the OpenSSF model signature (signed, its files equal to the image's). Each link is reported on
 * its own, so a failure names the link that broke.
 */

import { messageOf } from '../errors.js';
import type { RegistryRef } from '../oci/reference.js';
import { type Repository, requireManifest } from '../oci/repository.js';
import type { Descriptor } from '../oci/spec.js';
import { type VerifyOptions, type VerifyReport, verifyImage } from '../verify/verify.js';
import { CosignAnnotation, signatureTag } from './attachment.js';
import type { TrustPolicy } from './policy.js';
import { BundleAnnotation, type ReferrerDescriptor, referrersTag, SIGSTORE_BUNDLE_MEDIA_TYPE } from './referrer.js';
import {
  MODEL_SIGNING_V1,
  provenanceFiles,
  type SignedFile,
  SLSA_PROVENANCE_V1,
  type SlsaPredicate,
  type Statement,
} from './statements.js';
import { TrustStore } from './store.js';
import { type VerifiedStatement, verifyStatementBundle } from './verify-bundle.js';
import { type AttachedSignature, checkImageSignatures, type SignedImage } from './verify-signature.js';

export type TrustLinkName = 'signature' | 'provenance' | 'model-signature';

export interface TrustLink {
  readonly link: TrustLinkName;
  readonly ok: boolean;
  /** One line: what was verified, or what broke. */
  readonly message: string;
  /** The signature manifest or referrer manifest that was checked. */
  readonly digest?: string;
  readonly signer?: string;
  /** Failed because the image carries nothing of this kind (not because what it carries is wrong). */
  readonly absent?: true;
}

export interface TrustReport {
  readonly ok: boolean;
  readonly links: readonly TrustLink[];
  /** Links not checked, at the user's request (the attestations with `--skip-attestations`). */
  readonly skipped: readonly TrustLinkName[];
}

export interface TrustOptions {
  /**
   * Check the image signature only, as CRI-O does: for images signed by skopeo, cosign or a pipeline that attaches no
   * modelcar attestations. cosign keeps the same split (`verify` / `verify-attestation`).
   */
  readonly skipAttestations?: boolean;
}

/** The first difference between two file lists, in words; undefined when they are the same set of path+sha256. */
export function compareFiles(signed: readonly SignedFile[], image: readonly SignedFile[]): string | undefined {
  const want = new Map(image.map((f) => [f.path, f.sha256]));
  const have = new Map(signed.map((f) => [f.path, f.sha256]));
  for (const [path, sha] of want) {
    const s = have.get(path);
    if (s === undefined) return `/models/${path} is in the image but not in the statement`;
    if (s !== sha) return `/models/${path} has sha256 ${sha} in the image, the statement says ${s}`;
  }
  for (const path of have.keys()) {
    if (!want.has(path)) return `the statement lists ${path}, which the image does not hold`;
  }
  return undefined;
}

async function signatureLink(store: TrustStore, image: SignedImage, policy: TrustPolicy): Promise<TrustLink> {
  const tag = signatureTag(image.digest);
  const found = await store.manifest(tag);
  if (!found) {
    return {
      link: 'signature',
      ok: false,
      absent: true,
      message: `no signature: ${store.label}:${tag} does not exist`,
    };
  }
  const manifest = JSON.parse(found.bytes.toString('utf8')) as { layers?: Descriptor[] };
  const signatures: AttachedSignature[] = [];
  for (const layer of manifest.layers ?? []) {
    signatures.push({
      mediaType: layer.mediaType,
      payload: await store.blob(layer),
      annotations: layer.annotations ?? {},
    });
  }
  const check = checkImageSignatures(signatures, image, policy);
  if (!check.ok) {
    return {
      link: 'signature',
      ok: false,
      digest: found.digest,
      message: `no accepted signature: ${check.reasons.join('; ')}`,
    };
  }
  const keyless = signatures[check.index]?.annotations[CosignAnnotation.certificate] !== undefined;
  return {
    link: 'signature',
    ok: true,
    digest: found.digest,
    signer: check.signer,
    message: `signed by ${check.signer}${keyless ? ' (Fulcio certificate, Rekor entry)' : ''} as ${check.claim.dockerReference}`,
  };
}

/** The image's referrers of one predicate type, from the referrers API or the fallback tag. */
async function referrersOf(store: TrustStore, subject: Descriptor): Promise<ReferrerDescriptor[]> {
  const digest = subject.digest;
  const listed = await store.referrers(subject);
  const fromApi = listed ?? [];
  const index = await store.manifest(referrersTag(digest));
  const fromTag = index
    ? ((JSON.parse(index.bytes.toString('utf8')) as { manifests?: ReferrerDescriptor[] }).manifests ?? [])
    : [];
  const seen = new Set<string>();
  return [...fromApi, ...fromTag].filter((d) => !seen.has(d.digest) && seen.add(d.digest));
}

async function attestationLink(
  store: TrustStore,
  image: SignedImage,
  policy: TrustPolicy,
  files: readonly SignedFile[],
  candidates: readonly ReferrerDescriptor[],
  link: Exclude<TrustLinkName, 'signature'>,
): Promise<TrustLink> {
  const type = link === 'provenance' ? SLSA_PROVENANCE_V1 : MODEL_SIGNING_V1;
  const mine = candidates.filter(
    (d) => d.artifactType === SIGSTORE_BUNDLE_MEDIA_TYPE && d.annotations?.[BundleAnnotation.predicateType] === type,
  );
  if (mine.length === 0) {
    return { link, ok: false, absent: true, message: `no ${type} attestation refers to ${image.digest}` };
  }
  const reasons: string[] = [];
  // The newest first: re-signing adds one; any one that passes every check is enough.
  for (const desc of [...mine].reverse()) {
    try {
      const found = await store.manifest(desc.digest);
      if (!found) throw new Error(`referrer ${desc.digest} is listed but missing`);
      const m = JSON.parse(found.bytes.toString('utf8')) as { subject?: Descriptor; layers?: Descriptor[] };
      if (m.subject?.digest !== image.digest) throw new Error(`referrer ${desc.digest} is about ${m.subject?.digest}`);
      const layer = m.layers?.[0];
      if (!layer) throw new Error(`referrer ${desc.digest} holds no bundle`);
      const bundle = JSON.parse((await store.blob(layer)).toString('utf8'));
      const verified: VerifiedStatement = verifyStatementBundle(bundle, policy, `the ${link} attestation`);
      const problem = link === 'provenance' ? provenanceProblem(verified, image, files) : modelProblem(verified, files);
      if (problem) throw new Error(problem);
      return {
        link,
        ok: true,
        digest: desc.digest,
        signer: verified.signer,
        message: `${type} signed by ${verified.signer}, ${files.length} files match the image`,
      };
    } catch (e) {
      reasons.push(messageOf(e));
    }
  }
  return { link, ok: false, digest: mine[mine.length - 1]?.digest, message: reasons.join('; ') };
}

function provenanceProblem(v: VerifiedStatement, image: SignedImage, files: readonly SignedFile[]): string | undefined {
  const s = v.statement as unknown as Statement<SlsaPredicate>;
  if (s.predicateType !== SLSA_PROVENANCE_V1) return `the statement is ${s.predicateType}, not SLSA provenance`;
  const hex = image.digest.replace(/^sha256:/, '');
  if (!s.subject.some((x) => x.digest?.sha256 === hex)) {
    return `the provenance is about ${s.subject.map((x) => `sha256:${x.digest?.sha256}`).join(', ')}, not ${image.digest}`;
  }
  const listed = provenanceFiles(s);
  if (!listed) return 'the provenance lists no source and files';
  return compareFiles(listed, files);
}

function modelProblem(v: VerifiedStatement, files: readonly SignedFile[]): string | undefined {
  const s = v.statement;
  if (s.predicateType !== MODEL_SIGNING_V1) return `the statement is ${s.predicateType}, not a model signature`;
  const resources = (s.predicate as { resources?: { name: string; digest: string }[] }).resources ?? [];
  return compareFiles(
    resources.map((r) => ({ path: r.name, sha256: r.digest })),
    files,
  );
}

/** Checks every link; `files` are the image's files as its bytes were just verified. */
export async function verifyTrust(
  store: TrustStore,
  image: SignedImage & { readonly mediaType: string; readonly size: number },
  policy: TrustPolicy,
  files: readonly SignedFile[],
  options: TrustOptions = {},
): Promise<TrustReport> {
  const signature = await signatureLink(store, image, policy);
  if (options.skipAttestations) {
    return { ok: signature.ok, links: [signature], skipped: ['provenance', 'model-signature'] };
  }
  const candidates = await referrersOf(store, { mediaType: image.mediaType, digest: image.digest, size: image.size });
  const provenance = await attestationLink(store, image, policy, files, candidates, 'provenance');
  const model = await attestationLink(store, image, policy, files, candidates, 'model-signature');
  const links = [signature, provenance, model];
  return { ok: links.every((l) => l.ok), links, skipped: [] };
}

export interface SignedImageReport {
  readonly bytes: VerifyReport;
  readonly trust: TrustReport;
  readonly ok: boolean;
}

/**
 * `verify REF` with a policy: every byte as `verify` checks it, then every trust link, the statements compared with
 * the files as the bytes were just read (not as the annotations claim them).
 */
export async function verifySignedImage(
  repo: Repository,
  ref: RegistryRef,
  reference: string,
  policy: TrustPolicy,
  opts: VerifyOptions = {},
  trustOptions: TrustOptions = {},
): Promise<SignedImageReport> {
  const store = TrustStore.of(repo, 'verifying signatures');
  const top = await requireManifest(repo, reference);
  const files: SignedFile[] = [];
  const bytes = await verifyImage(repo, top.digest, {
    ...opts,
    onFile: (f) => {
      files.push({ path: f.path, sha256: f.sha256 });
      opts.onFile?.(f);
    },
  });
  const image = {
    digest: top.digest,
    mediaType: top.mediaType,
    size: top.bytes.length,
    repository: `${ref.registry}/${ref.repository}`,
    // Named by digest (or tag and digest) matches the repository; named by tag alone, the exact tag (CRI-O's rule).
    ...(ref.tag && !ref.digest ? { tag: ref.tag } : {}),
  };
  const trust = await verifyTrust(store, image, policy, files, trustOptions);
  return { bytes, trust, ok: bytes.ok && trust.ok };
}
