/**
 * What a verifier trusts: one public key (cosign.pub), or a Sigstore identity (the certificate's subject and OIDC
 * issuer) under a trust root (Fulcio CAs, Rekor and CT log keys, TSAs: a Sigstore `trusted_root.json`, as
 * `cosign verify --trusted-root` reads it). Loading is I/O; the policy itself is a plain value.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial, Verifier } from '@sigstore/verify';
import { ModelcarError, messageOf } from '../errors.js';
import { loadPublicKey } from './signing-key.js';

export type TrustPolicy =
  | { readonly kind: 'key'; readonly publicKey: KeyObject; readonly label: string }
  | {
      readonly kind: 'keyless';
      readonly trust: TrustMaterial;
      /** The certificate's subject alternative name (an email, a URI such as a service account's). */
      readonly identity: string;
      readonly issuer: string;
      readonly label: string;
    };

export interface PolicyFlags {
  readonly key?: string;
  readonly certificateIdentity?: string;
  readonly certificateOidcIssuer?: string;
  readonly trustedRoot?: string;
}

export async function loadTrustedRoot(path: string): Promise<TrustMaterial> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelcarError('trust', `cannot read the trust root ${path}: ${messageOf(e)}`, 'check --trusted-root');
  }
  try {
    return toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(text)));
  } catch (e) {
    throw new ModelcarError(
      'trust',
      `${path} is not a Sigstore trusted root: ${messageOf(e)}`,
      'give a trusted_root.json (from your Sigstore instance, e.g. RHTAS, or `cosign trusted-root create`)',
    );
  }
}

/** The policy the flags describe, or undefined when they name none (then only the bytes are verified). */
export async function policyFromFlags(flags: PolicyFlags): Promise<TrustPolicy | undefined> {
  const keyless = [flags.certificateIdentity, flags.certificateOidcIssuer, flags.trustedRoot];
  if (flags.key) {
    if (keyless.some((v) => v !== undefined)) {
      throw new ModelcarError(
        'usage',
        '--key and --certificate-identity/--certificate-oidc-issuer/--trusted-root exclude each other',
        'verify a key signature with --key PUB, or a keyless one with the three certificate flags',
      );
    }
    return { kind: 'key', publicKey: await loadPublicKey(flags.key), label: `key ${flags.key}` };
  }
  if (keyless.every((v) => v === undefined)) return undefined;
  if (!flags.certificateIdentity || !flags.certificateOidcIssuer || !flags.trustedRoot) {
    throw new ModelcarError(
      'usage',
      'keyless verification needs --certificate-identity, --certificate-oidc-issuer and --trusted-root together',
      'name who signed (the certificate identity), which OIDC issuer vouched for it, and the Sigstore trust root',
    );
  }
  return {
    kind: 'keyless',
    trust: await loadTrustedRoot(flags.trustedRoot),
    identity: flags.certificateIdentity,
    issuer: flags.certificateOidcIssuer,
    label: `${flags.certificateIdentity} (issuer ${flags.certificateOidcIssuer})`,
  };
}

/**
 * A @sigstore/verify verifier for a keyless policy: the certificate must chain to the trust root, be logged in Rekor
 * and, when the trust root names CT logs, carry a valid SCT (containers/image checks no SCTs; a trust root without CT
 * logs, such as a private Fulcio without one, is verified the way CRI-O verifies it).
 */
export function keylessVerifier(policy: Extract<TrustPolicy, { kind: 'keyless' }>): Verifier {
  return new Verifier(policy.trust, { ctlogThreshold: policy.trust.ctlogs.length > 0 ? 1 : 0 });
}
