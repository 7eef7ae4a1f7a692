/**
 * Who signs: a key from a file (ECDSA P-256, signed here with node:crypto) or a Sigstore identity (keyless: a Fulcio
 * certificate for an OIDC token, the signature logged in Rekor, optionally timestamped by a TSA) through the sigstore
 * JS libraries. Both produce the same two things: the annotations of an image signature in cosign's attachment
 * format, and Sigstore bundles (DSSE) over in-toto statements.
 *
 * Network: @sigstore/sign talks to Fulcio, Rekor and the TSA through make-fetch-happen, which takes no custom fetch.
 * It honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment and Node's CA store (NODE_EXTRA_CA_CERTS), not
 * modelcar's registry flags; docs/signing.md says so.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Bundle, bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  MessageSignatureBundleBuilder,
  RekorWitness,
  type Signer,
  TSAWitness,
  type Witness,
} from '@sigstore/sign';
import { ModelcarError, messageOf } from '../errors.js';
import { CosignAnnotation } from './attachment.js';
import { pemBlock } from './cosign-key.js';
import { rekorBundleAnnotation } from './rekor-set.js';
import { keyHint, publicKeyPem } from './signing-key.js';
import { IN_TOTO_PAYLOAD_TYPE } from './statements.js';

export interface KeylessOptions {
  readonly fulcioUrl: string;
  readonly rekorUrl: string;
  readonly tsaUrl?: string;
  /** A file holding the OIDC identity token (e.g. a projected service-account token); read at each signing. */
  readonly identityTokenFile: string;
}

export type SignerChoice =
  | { readonly kind: 'key'; readonly privateKey: KeyObject; readonly publicKey: KeyObject }
  | ({ readonly kind: 'keyless' } & KeylessOptions);

export interface TrustSigner {
  readonly kind: 'key' | 'keyless';
  /** Signs a simple-signing payload; returns the annotations of its layer in the `.sig` attachment. */
  signImage(payload: Buffer): Promise<Record<string, string>>;
  /** Signs an in-toto statement as a DSSE envelope in a Sigstore bundle. */
  attest(statement: Buffer): Promise<SerializedBundle>;
}

/** Fulcio, Rekor and TSA calls: bounded, with the library's own retries on 5xx/429. */
const SIGSTORE_TIMEOUT_MS = 30_000;
const SIGSTORE_RETRY = { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 4_000 };

class KeySigner implements TrustSigner {
  readonly kind = 'key';
  private readonly pem: string;
  private readonly hint: string;

  constructor(
    private readonly privateKey: KeyObject,
    publicKey: KeyObject,
  ) {
    this.pem = publicKeyPem(publicKey);
    this.hint = keyHint(publicKey);
  }

  private readonly signer: Signer = {
    sign: async (data: Buffer) => ({
      signature: cryptoSign('sha256', data, this.privateKey),
      key: { $case: 'publicKey', publicKey: this.pem, hint: this.hint },
    }),
  };

  async signImage(payload: Buffer): Promise<Record<string, string>> {
    return { [CosignAnnotation.signature]: cryptoSign('sha256', payload, this.privateKey).toString('base64') };
  }

  async attest(statement: Buffer): Promise<SerializedBundle> {
    // No transparency log for a key: the public key is the trust root (OMS method `key`, OpenShift `PublicKey`).
    const bundle = await new DSSEBundleBuilder({ signer: this.signer, witnesses: [] }).create({
      data: statement,
      type: IN_TOTO_PAYLOAD_TYPE,
    });
    return bundleToJSON(bundle);
  }
}

function sigstoreFailure(what: string, e: unknown, options: KeylessOptions): ModelcarError {
  if (e instanceof ModelcarError) return e;
  return new ModelcarError(
    'trust',
    `keyless signing failed while ${what}: ${messageOf(e)}`,
    `check that Fulcio (${options.fulcioUrl}) and Rekor (${options.rekorUrl}) answer and accept the identity token in ${options.identityTokenFile}`,
    { cause: e },
  );
}

class KeylessSigner implements TrustSigner {
  readonly kind = 'keyless';
  private readonly fulcio: FulcioSigner;

  constructor(private readonly options: KeylessOptions) {
    this.fulcio = new FulcioSigner({
      fulcioBaseURL: options.fulcioUrl,
      identityProvider: { getToken: () => readIdentityToken(options.identityTokenFile) },
      timeout: SIGSTORE_TIMEOUT_MS,
      retry: SIGSTORE_RETRY,
    });
  }

  private witnesses(entryType?: 'intoto'): Witness[] {
    const common = { timeout: SIGSTORE_TIMEOUT_MS, retry: SIGSTORE_RETRY };
    return [
      new RekorWitness({ rekorBaseURL: this.options.rekorUrl, ...(entryType ? { entryType } : {}), ...common }),
      ...(this.options.tsaUrl ? [new TSAWitness({ tsaBaseURL: this.options.tsaUrl, ...common })] : []),
    ];
  }

  async signImage(payload: Buffer): Promise<Record<string, string>> {
    let bundle: Bundle;
    try {
      bundle = await new MessageSignatureBundleBuilder({ signer: this.fulcio, witnesses: this.witnesses() }).create({
        data: payload,
      });
    } catch (e) {
      throw sigstoreFailure('signing the image', e, this.options);
    }
    if (bundle.content.$case !== 'messageSignature') throw new Error('unexpected bundle content');
    const material = bundle.verificationMaterial.content;
    const leaf =
      material.$case === 'x509CertificateChain'
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : material.$case === 'certificate'
          ? material.certificate.rawBytes
          : undefined;
    const entry = bundle.verificationMaterial.tlogEntries[0];
    if (!leaf || !entry)
      throw sigstoreFailure('signing the image', 'no certificate or Rekor entry came back', this.options);
    return {
      [CosignAnnotation.signature]: bundle.content.messageSignature.signature.toString('base64'),
      [CosignAnnotation.certificate]: pemBlock('CERTIFICATE', leaf),
      [CosignAnnotation.rekorBundle]: rekorBundleAnnotation(entry),
    };
  }

  async attest(statement: Buffer): Promise<SerializedBundle> {
    try {
      // Logged as an `intoto` entry, as `cosign attest` does: every Rekor v1 (public-good, RHTAS) indexes it.
      const bundle = await new DSSEBundleBuilder({ signer: this.fulcio, witnesses: this.witnesses('intoto') }).create({
        data: statement,
        type: IN_TOTO_PAYLOAD_TYPE,
      });
      return bundleToJSON(bundle);
    } catch (e) {
      throw sigstoreFailure('signing an attestation', e, this.options);
    }
  }
}

/** The token is read when it is needed, not at start: a projected token rotates during a long build. */
export async function readIdentityToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new ModelcarError(
      'trust',
      `cannot read the identity token ${file}: ${messageOf(e)}`,
      'mount an OIDC token there (a projected service-account token with audience "sigstore") or fix the path',
    );
  }
  if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
    throw new ModelcarError(
      'trust',
      `${file} does not hold an OIDC identity token (a JWT)`,
      'give the file a token, e.g. a projected service-account token with audience "sigstore"',
    );
  }
  return token;
}

export function createSigner(choice: SignerChoice): TrustSigner {
  return choice.kind === 'key' ? new KeySigner(choice.privateKey, choice.publicKey) : new KeylessSigner(choice);
}
