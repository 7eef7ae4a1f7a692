/**
 * Verifies a Sigstore bundle holding a DSSE envelope over an in-toto statement, against a trust policy, and returns
 * the statement it vouches for. Keyless bundles go through @sigstore/verify (certificate chain to the trust root,
 * transparency log, SCTs, identity). Key bundles are checked here with node:crypto: @sigstore/verify hashes every
 * ECDSA signature with SHA-256, while OpenSSF Model Signing signs with the curve's own hash (P-384: SHA-384), so a
 * conformant P-384 model signature would fail there.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { toSignedEntity } from '@sigstore/verify';
import { ModelcarError, messageOf } from '../errors.js';
import { keylessVerifier, type TrustPolicy } from './policy.js';
import { keyHint } from './signing-key.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, type Statement } from './statements.js';

export interface VerifiedStatement {
  readonly statement: Statement<Record<string, unknown>>;
  /** Who signed, in words: the key's hint or the certificate identity. */
  readonly signer: string;
}

/** Thrown when a bundle does not verify; `link` names what broke for the report. */
export class TrustFailure extends ModelcarError {
  constructor(
    readonly link: string,
    message: string,
    hint: string,
  ) {
    super('trust', message, hint);
  }
}

function curveHash(key: KeyObject): string {
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'secp384r1':
      return 'sha384';
    case 'secp521r1':
      return 'sha512';
    default:
      return 'sha256';
  }
}

export function parseBundle(json: unknown, what: string): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (e) {
    throw new TrustFailure(what, `${what} is not a valid Sigstore bundle: ${messageOf(e)}`, 'sign again');
  }
}

function verifyWithKey(bundle: Bundle, key: KeyObject, what: string): string {
  const material = bundle.verificationMaterial.content;
  if (material.$case !== 'publicKey') {
    throw new TrustFailure(
      what,
      `${what} was signed with a certificate, not a key`,
      'verify it with --certificate-identity, --certificate-oidc-issuer and --trusted-root',
    );
  }
  const hint = keyHint(key);
  if (material.publicKey.hint && material.publicKey.hint !== hint) {
    throw new TrustFailure(
      what,
      `${what} was signed by another key (key hint ${material.publicKey.hint}, the given key is ${hint})`,
      'verify with the public key that matches the signing key, or sign again with yours',
    );
  }
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new TrustFailure(what, `${what} holds no DSSE envelope`, 'sign again');
  const env = bundle.content.dsseEnvelope;
  const sig = env.signatures[0]?.sig ?? Buffer.alloc(0);
  if (!cryptoVerify(curveHash(key), dsse.preAuthEncoding(env.payloadType, env.payload), key, sig)) {
    throw new TrustFailure(
      what,
      `${what}: the signature does not match the given key`,
      'the statement was changed after signing, or another key signed it',
    );
  }
  return `key ${hint.slice(0, 16)}`;
}

function verifyKeyless(bundle: Bundle, policy: Extract<TrustPolicy, { kind: 'keyless' }>, what: string): string {
  try {
    const signer = keylessVerifier(policy).verify(toSignedEntity(bundle), {
      subjectAlternativeName: policy.identity,
      extensions: { issuer: policy.issuer },
    });
    return signer.identity?.subjectAlternativeName ?? policy.identity;
  } catch (e) {
    throw new TrustFailure(
      what,
      `${what} does not verify for ${policy.label}: ${messageOf(e)}`,
      'check the identity and issuer of the signer and that --trusted-root is the Sigstore instance that signed',
    );
  }
}

/** Verifies `json` (a parsed bundle) and returns its statement; `what` names it in messages. */
export function verifyStatementBundle(json: unknown, policy: TrustPolicy, what: string): VerifiedStatement {
  const bundle = parseBundle(json, what);
  if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new TrustFailure(what, `${what} does not hold an in-toto statement`, 'sign the statement again');
  }
  const signer =
    policy.kind === 'key' ? verifyWithKey(bundle, policy.publicKey, what) : verifyKeyless(bundle, policy, what);
  let statement: Statement<Record<string, unknown>>;
  try {
    statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
  } catch {
    throw new TrustFailure(what, `${what}: the signed payload is not JSON`, 'sign the statement again');
  }
  if (statement?._type !== IN_TOTO_STATEMENT_V1 || !Array.isArray(statement.subject)) {
    throw new TrustFailure(what, `${what}: the signed payload is not an in-toto Statement v1`, 'sign again');
  }
  return { statement, signer };
}
