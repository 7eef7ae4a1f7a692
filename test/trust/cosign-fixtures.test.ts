/**
 * The other direction: signatures made by cosign itself, from containers/image's own test fixtures (the library
 * inside CRI-O, podman and skopeo), are accepted and refused by modelcar where containers/image accepts and refuses
 * them: a key signature, a manifest changed after signing, another key, another repository. For the keyless fixture
 * modelcar is stricter, as cosign is: an SCT in the certificate must verify against a CT log of the trust root.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import type { TrustPolicy } from '../../src/trust/policy.js';
import { type AttachedSignature, checkImageSignatures } from '../../src/trust/verify-signature.js';
import { UPSTREAM_FIXTURES } from '../support/json-schema.js';

const DIR = join(UPSTREAM_FIXTURES, 'containers-image');

/** containers/image's `dir:` signature file: "\0sigstore-json\n" then {mimeType, payload, annotations}. */
async function signature(fixture: string): Promise<AttachedSignature> {
  const raw = await readFile(join(DIR, fixture, 'signature-1'));
  const json = JSON.parse(raw.subarray(raw.indexOf(0x0a) + 1).toString());
  return { mediaType: json.mimeType, payload: Buffer.from(json.payload, 'base64'), annotations: json.annotations };
}

async function manifestDigest(fixture: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(join(DIR, fixture, 'manifest.json')))
    .digest('hex')}`;
}

async function keyPolicy(file: string): Promise<TrustPolicy> {
  return { kind: 'key', publicKey: createPublicKey(await readFile(join(DIR, file), 'utf8')), label: file };
}

describe("containers/image's cosign fixtures", () => {
  it('a cosign key signature is accepted with its key, for its repository, and refused with another key', async () => {
    const sig = await signature('dir-img-cosign-valid');
    const image = {
      digest: await manifestDigest('dir-img-cosign-valid'),
      repository: '192.168.64.2:5000/cosign-signed-single-sample',
    };
    const ok = checkImageSignatures([sig], image, await keyPolicy('cosign.pub'));
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const other = checkImageSignatures([sig], image, await keyPolicy('cosign2.pub'));
    assert.equal(other.ok, false);
    assert.match(
      (other as { reasons: readonly string[] }).reasons[0] ?? '',
      /cryptographic signature verification failed/,
    );
    const elsewhere = checkImageSignatures(
      [sig],
      { ...image, repository: '192.168.64.2:5000/other' },
      await keyPolicy('cosign.pub'),
    );
    assert.equal(elsewhere.ok, false);
  });

  it('a manifest changed after signing is refused: the signature names the old digest', async () => {
    const sig = await signature('dir-img-cosign-modified-manifest');
    const image = {
      digest: await manifestDigest('dir-img-cosign-modified-manifest'),
      repository: '192.168.64.2:5000/cosign-signed-single-sample',
    };
    const r = checkImageSignatures([sig], image, await keyPolicy('cosign.pub'));
    assert.equal(r.ok, false);
    assert.match((r as { reasons: readonly string[] }).reasons[0] ?? '', /does not match/);
  });

  it('a cosign keyless signature whose SCT cannot be checked (no CT log key in the trust root) is refused, naming the SCT', async () => {
    const sig = await signature('dir-img-cosign-fulcio-rekor-valid');
    const chain =
      (sig.annotations['dev.sigstore.cosign/chain'] ?? '').match(
        /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
      ) ?? [];
    const rekor = createPublicKey(await readFile(join(DIR, 'rekor.pub'), 'utf8')).export({
      type: 'spki',
      format: 'der',
    });
    const validFor = { start: new Date(0), end: undefined };
    // A trust root as a Sigstore instance publishes it: the Fulcio chain (intermediate and root) and the Rekor key.
    const root = TrustedRoot.fromJSON(
      TrustedRoot.toJSON({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        certificateAuthorities: [
          {
            subject: { organization: 'sigstore.dev', commonName: 'sigstore' },
            uri: 'https://fulcio.example',
            certChain: { certificates: chain.map((pem) => ({ rawBytes: new X509Certificate(pem).raw })) },
            validFor,
            operator: '',
          },
        ],
        tlogs: [
          {
            baseUrl: 'https://rekor.example',
            hashAlgorithm: HashAlgorithm.SHA2_256,
            publicKey: { rawBytes: rekor, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor },
            logId: { keyId: createHash('sha256').update(rekor).digest() },
            checkpointKeyId: undefined,
            operator: '',
          },
        ],
        ctlogs: [],
        timestampAuthorities: [],
      }),
    );
    const policy = (identity: string, issuer: string): TrustPolicy => ({
      kind: 'keyless',
      trust: toTrustMaterial(root),
      identity,
      issuer,
      label: identity,
    });
    const image = {
      digest: await manifestDigest('dir-img-cosign-fulcio-rekor-valid'),
      repository: '192.168.64.2:5000/cosign-signed/fulcio-rekor-1',
    };
    // Stricter than containers/image, as cosign is: the certificate carries an SCT, and without its CT log's key in
    // the trust root (these fixtures ship none) modelcar refuses it rather than skip the check.
    const r = checkImageSignatures([sig], image, policy('mitr@redhat.com', 'https://github.com/login/oauth'));
    assert.equal(r.ok, false);
    assert.match((r as { reasons: readonly string[] }).reasons[0] ?? '', /SCT verification failed/);
    // Without the Rekor SET it never gets that far.
    const noSet = { ...sig, annotations: { ...sig.annotations, 'dev.sigstore.cosign/bundle': '' } };
    const r2 = checkImageSignatures([noSet], image, policy('mitr@redhat.com', 'https://github.com/login/oauth'));
    assert.equal(r2.ok, false);
  });
});
