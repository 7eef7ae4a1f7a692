/**
 * Keyless signing against a private Sigstore instance made of the Sigstore project's own doubles (Fulcio, Rekor,
 * TSA on loopback): what modelcar signs is checked by @sigstore/verify directly, independently of our verifier, and
 * by our verifier with the right and a wrong identity.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import type { TrustPolicy } from '../../src/trust/policy.js';
import { createSigner } from '../../src/trust/signer.js';
import { simpleSigningPayload } from '../../src/trust/simple-signing.js';
import { modelSigningStatement, statementBytes } from '../../src/trust/statements.js';
import { verifyStatementBundle } from '../../src/trust/verify-bundle.js';
import { checkImageSignatures } from '../../src/trust/verify-signature.js';
import { type SigstoreDouble, startSigstore } from '../support/sigstore-double.js';

const SUBJECT = 'https://kubernetes.io/namespaces/models/serviceaccounts/modelcar';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('keyless signing (Fulcio + Rekor + TSA doubles)', () => {
  let sigstore: SigstoreDouble;
  let tokenFile: string;
  let policy: Extract<TrustPolicy, { kind: 'keyless' }>;
  before(async () => {
    sigstore = await startSigstore();
    const dir = await mkdtemp(join(tmpdir(), 'modelcar-keyless-'));
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, sigstore.identityToken(SUBJECT));
    policy = {
      kind: 'keyless',
      trust: toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(sigstore.trustedRoot))),
      identity: SUBJECT,
      issuer: sigstore.issuer,
      label: SUBJECT,
    };
  });
  after(() => sigstore.stop());

  const signer = () =>
    createSigner({
      kind: 'keyless',
      fulcioUrl: sigstore.fulcioUrl,
      rekorUrl: sigstore.rekorUrl,
      tsaUrl: sigstore.tsaUrl,
      identityTokenFile: tokenFile,
    });

  it('an attestation bundle verifies with @sigstore/verify itself: certificate, Rekor entry, SCT, timestamp, identity', async () => {
    const statement = statementBytes(modelSigningStatement('m', [{ path: 'config.json', sha256: 'cd'.repeat(32) }]));
    const json = await signer().attest(statement);
    const bundle = bundleFromJSON(json);
    const trust = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(sigstore.trustedRoot)));
    const who = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 2 }).verify(
      toSignedEntity(bundle),
      { subjectAlternativeName: SUBJECT, extensions: { issuer: sigstore.issuer } },
    );
    assert.equal(who.identity?.subjectAlternativeName, SUBJECT);
    assert.equal(bundle.verificationMaterial.tlogEntries.length, 1);
    assert.ok(sigstore.requests.some((r) => r === 'POST /fulcio/api/v2/signingCert'));
    assert.ok(sigstore.requests.some((r) => r === 'POST /rekor/api/v1/log/entries'));
    assert.ok(sigstore.requests.some((r) => r === 'POST /tsa/api/v1/timestamp'));
    // and our own verifier returns the statement it vouches for
    const verified = verifyStatementBundle(json, policy, 'the model signature');
    assert.equal(verified.statement.predicateType, 'https://model_signing/signature/v1.0');
    assert.throws(
      () =>
        verifyStatementBundle(
          json,
          { ...policy, identity: 'https://kubernetes.io/namespaces/x/serviceaccounts/y' },
          'it',
        ),
      /does not verify/,
    );
  });

  it('an image signature in the cosign format carries the certificate and the Rekor SET, and verifies only for its identity', async () => {
    const payload = simpleSigningPayload({ dockerReference: 'quay.io/acme/m:v1', manifestDigest: DIGEST });
    const annotations = await signer().signImage(payload);
    assert.match(annotations['dev.sigstore.cosign/certificate'] ?? '', /^-----BEGIN CERTIFICATE-----/);
    const set = JSON.parse(annotations['dev.sigstore.cosign/bundle'] ?? '{}');
    assert.equal(typeof set.SignedEntryTimestamp, 'string');
    assert.equal(typeof set.Payload.logIndex, 'number');
    const sig = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', payload, annotations };
    const image = { digest: DIGEST, repository: 'quay.io/acme/m', tag: 'v1' };
    const ok = checkImageSignatures([sig], image, policy);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const wrong = checkImageSignatures([sig], image, { ...policy, issuer: 'https://other.example' });
    assert.equal(wrong.ok, false);
    const tampered = checkImageSignatures(
      [
        {
          ...sig,
          payload: simpleSigningPayload({
            dockerReference: 'quay.io/acme/m:v1',
            manifestDigest: `sha256:${'cd'.repeat(32)}`,
          }),
        },
      ],
      image,
      policy,
    );
    assert.equal(tampered.ok, false);
  });
});
