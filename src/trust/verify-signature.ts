/**
 * Checks the signatures in an image's cosign attachment the way containers/image's `sigstoreSigned` policy does
 * (signature/policy_eval_sigstore.go): every simple-signing layer is tried, one accepted signature is enough, and a
 * signature is accepted when (1) it verifies with the key, or its Fulcio certificate chains to the trust root, names
 * the expected identity and is logged in Rekor; (2) its payload names this manifest digest; and (3) its docker
 * reference matches the image as `matchRepoDigestOrExact` does (pulled by digest: same repository; by tag: the exact
 * `REPO:TAG`). Otherwise the reasons of every rejected signature are reported.
 */
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { BUNDLE_V01_MEDIA_TYPE, type Bundle } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { toSignedEntity } from '@sigstore/verify';
import { messageOf } from '../errors.js';
import { digestOf } from '../oci/digest-stream.js';
import { parseRegistryRef } from '../oci/reference.js';
import { CosignAnnotation } from './attachment.js';
import { keylessVerifier, type TrustPolicy } from './policy.js';
import { tlogEntryFromAnnotation } from './rekor-set.js';
import { parseSimpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, type SimpleSigningClaim } from './simple-signing.js';

export interface AttachedSignature {
  readonly mediaType: string;
  readonly payload: Buffer;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The image as it is being verified: its manifest digest and how the user named it. */
export interface SignedImage {
  readonly digest: string;
  /** `HOST/REPO`, normalised as containers/image does. */
  readonly repository: string;
  /** The tag the user named the image by, when not by digest. */
  readonly tag?: string;
}

export type SignatureCheck =
  | { readonly ok: true; readonly claim: SimpleSigningClaim; readonly signer: string; readonly index: number }
  | { readonly ok: false; readonly reasons: readonly string[] };

function certificatePem(pem: string): Buffer {
  return new X509Certificate(pem).raw;
}

/** The signature as a v0.1 Sigstore bundle (what cosign's legacy format amounts to), for @sigstore/verify. */
function keylessBundle(sig: AttachedSignature, signature: Buffer): Bundle {
  const cert = sig.annotations[CosignAnnotation.certificate] as string;
  const chain = (sig.annotations[CosignAnnotation.chain] ?? '').match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
  );
  const rekor = sig.annotations[CosignAnnotation.rekorBundle];
  return {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      content: {
        $case: 'x509CertificateChain',
        x509CertificateChain: {
          certificates: [cert, ...(chain ?? [])].map((pem) => ({ rawBytes: certificatePem(pem) })),
        },
      },
      tlogEntries: rekor ? [tlogEntryFromAnnotation(rekor)] : [],
      timestampVerificationData: undefined,
    },
    content: {
      $case: 'messageSignature',
      messageSignature: {
        messageDigest: {
          algorithm: HashAlgorithm.SHA2_256,
          digest: Buffer.from(digestOf(sig.payload).slice(7), 'hex'),
        },
        signature,
      },
    },
  };
}

/** Verifies one signature's cryptography; returns who signed or throws with the reason. */
function verifySignatureBytes(sig: AttachedSignature, policy: TrustPolicy): string {
  const b64 = sig.annotations[CosignAnnotation.signature];
  if (!b64) throw new Error(`missing ${CosignAnnotation.signature} annotation`);
  const signature = Buffer.from(b64, 'base64');
  if (policy.kind === 'key') {
    if (!cryptoVerify('sha256', sig.payload, policy.publicKey, signature)) {
      throw new Error(`cryptographic signature verification failed with ${policy.label}`);
    }
    return policy.label;
  }
  if (!sig.annotations[CosignAnnotation.certificate]) {
    throw new Error(`missing ${CosignAnnotation.certificate} annotation (a key signature, not a keyless one)`);
  }
  const signer = keylessVerifier(policy).verify(toSignedEntity(keylessBundle(sig, signature), sig.payload), {
    subjectAlternativeName: policy.identity,
    extensions: { issuer: policy.issuer },
  });
  return signer.identity?.subjectAlternativeName ?? policy.identity;
}

function checkClaim(claim: SimpleSigningClaim, image: SignedImage): void {
  if (claim.manifestDigest !== image.digest) {
    throw new Error(`signature for digest ${claim.manifestDigest} does not match ${image.digest}`);
  }
  const signed = parseRegistryRef(claim.dockerReference);
  const signedRepo = `${signed.registry}/${signed.repository}`;
  if (signedRepo !== image.repository) {
    throw new Error(`signature for identity "${claim.dockerReference}" is not accepted for ${image.repository}`);
  }
  if (image.tag !== undefined && signed.tag !== image.tag) {
    throw new Error(
      `signature for identity "${claim.dockerReference}" is not accepted for tag ${image.tag} (pull by digest, or sign that tag)`,
    );
  }
}

export function checkImageSignatures(
  signatures: readonly AttachedSignature[],
  image: SignedImage,
  policy: TrustPolicy,
): SignatureCheck {
  const reasons: string[] = [];
  for (const [index, sig] of signatures.entries()) {
    if (sig.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    try {
      const signer = verifySignatureBytes(sig, policy);
      const claim = parseSimpleSigningPayload(sig.payload);
      checkClaim(claim, image);
      return { ok: true, claim, signer, index };
    } catch (e) {
      reasons.push(messageOf(e));
    }
  }
  return { ok: false, reasons: reasons.length > 0 ? reasons : ['a signature was required, but no signature exists'] };
}
