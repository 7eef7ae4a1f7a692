/**
 * `deploy --image-policy`: the OpenShift ImagePolicy / ClusterImagePolicy (config.openshift.io/v1) and the sigstore
 * policy-controller ClusterImagePolicy, validated against their upstream CRDs (vendored in test/schemas), and the
 * CRDs' CEL rules that a JSON Schema cannot express checked by hand (keyData is base64 PEM, scopes are host/repo).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { validateManifest } from '../support/crd-schema.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { startSigstore } from '../support/sigstore-double.js';

const IMAGE = `quay.io/acme/granite@sha256:${'ab'.repeat(32)}`;

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by the field names each assertion names
type Doc = Record<string, any>;

describe('deploy --image-policy', () => {
  let work: string;
  let pub: string;
  before(async () => {
    work = await tempDir('modelcar-policy-');
    await modelcarOk(['key', 'generate'], { cwd: work, env: { COSIGN_PASSWORD: '' } });
    pub = join(work, 'cosign.pub');
  });
  after(() => removeTemp(work));

  const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Doc);

  it('writes an ImagePolicy, a ClusterImagePolicy and the policy-controller variant that validate against upstream CRDs', async () => {
    const render = async (...extra: string[]) =>
      docs((await modelcarOk(['deploy', '--image', IMAGE, '--image-policy-only', '--key', pub, ...extra])).stdout);
    const ns = await render('-n', 'models', '--image-policy-for', 'both');
    const cluster = await render('--image-policy-scope', 'cluster');
    const all = [...ns, ...cluster];
    assert.deepEqual(
      all.map((d) => `${d.apiVersion} ${d.kind}`),
      [
        'config.openshift.io/v1 ImagePolicy',
        'policy.sigstore.dev/v1beta1 ClusterImagePolicy',
        'config.openshift.io/v1 ClusterImagePolicy',
      ],
    );
    for (const d of all) assert.deepEqual(validateManifest(d), [], `${d.kind}`);
    const policy = ns[0] as Doc;
    assert.equal(policy.metadata.namespace, 'models');
    assert.deepEqual(policy.spec.scopes, ['quay.io/acme/granite']);
    const keyData = Buffer.from(policy.spec.policy.rootOfTrust.publicKey.keyData, 'base64').toString();
    assert.equal(keyData, await readFile(pub, 'utf8'));
    assert.ok(
      policy.spec.policy.rootOfTrust.publicKey.keyData.startsWith(
        Buffer.from('-----BEGIN PUBLIC KEY-----').toString('base64').slice(0, 32),
      ),
    );
    assert.equal(policy.spec.policy.signedIdentity.matchPolicy, 'MatchRepoDigestOrExact');
    assert.equal(cluster[0]?.metadata.namespace, undefined);
    assert.deepEqual(ns[1]?.spec.images, [{ glob: 'quay.io/acme/granite*' }]);
    // The validator has teeth: a misspelt field is refused.
    const broken = structuredClone(policy);
    broken.spec.policy.rootOfTrust.publickey = broken.spec.policy.rootOfTrust.publicKey;
    assert.notDeepEqual(validateManifest(broken), []);
  });

  it('keyless: FulcioCAWithRekor for an email identity; a URI identity only for policy-controller', async () => {
    const sigstore = await startSigstore();
    try {
      const root = JSON.parse(sigstore.trustedRoot);
      const pem = (der: string, type: string) =>
        `-----BEGIN ${type}-----\n${der.match(/.{1,64}/g)?.join('\n')}\n-----END ${type}-----\n`;
      const ca = join(work, 'fulcio.pem');
      const rekor = join(work, 'rekor.pub');
      await writeFile(ca, pem(root.certificateAuthorities[0].certChain.certificates[0].rawBytes, 'CERTIFICATE'));
      await writeFile(rekor, pem(root.tlogs[0].publicKey.rawBytes, 'PUBLIC KEY'));
      const args = (identity: string) => [
        'deploy',
        '--image',
        IMAGE,
        '--image-policy-only',
        '--certificate-identity',
        identity,
        '--certificate-oidc-issuer',
        sigstore.issuer,
        '--fulcio-ca',
        ca,
        '--rekor-key',
        rekor,
      ];
      const [email] = docs((await modelcarOk(args('builder@example.com'))).stdout);
      assert.deepEqual(validateManifest(email), []);
      assert.equal(email?.spec.policy.rootOfTrust.policyType, 'FulcioCAWithRekor');
      assert.deepEqual(email?.spec.policy.rootOfTrust.fulcioCAWithRekor.fulcioSubject, {
        oidcIssuer: sigstore.issuer,
        signedEmail: 'builder@example.com',
      });
      const sa = 'https://kubernetes.io/namespaces/models/serviceaccounts/modelcar';
      assertCleanFailure(await modelcar(args(sa)), /matches keyless signers by email/);
      const [pc] = docs((await modelcarOk([...args(sa), '--image-policy-for', 'policy-controller'])).stdout);
      assert.deepEqual(validateManifest(pc), []);
      assert.deepEqual(pc?.spec.authorities[0].keyless.identities, [{ issuer: sigstore.issuer, subject: sa }]);
    } finally {
      await sigstore.stop();
    }
  });

  it('without a root of trust, or with a scope the CRD refuses, fails with a hint', async () => {
    assertCleanFailure(
      await modelcar(['deploy', '--image', IMAGE, '--image-policy-only']),
      /--image-policy needs --key/,
    );
    assertCleanFailure(
      await modelcar([
        'deploy',
        '--image',
        `myregistry:5000/acme/x@sha256:${'ab'.repeat(32)}`,
        '--image-policy-only',
        '--key',
        pub,
      ]),
      /not a fully qualified host name/,
    );
  });
});
