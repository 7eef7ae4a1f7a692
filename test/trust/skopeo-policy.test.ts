/**
 * containers/image's own sigstore policy (the code inside CRI-O, podman and skopeo, and so OpenShift's node-level
 * image verification) judges what modelcar signs, and modelcar judges what containers/image signs.
 *
 * The policy is the one an OpenShift node gets: `modelcar deploy --image-policy-only` writes an ImagePolicy per
 * repository, test/support/node-policy.ts turns them into policy.json and registries.d as the Machine Config Operator
 * does, and Debian trixie's skopeo 1.18 (test/support/trixie-skopeo.ts; bookworm's skopeo has sigstore patched out)
 * copies each image under that policy. Every case is also given to `modelcar verify --key --skip-attestations`, which
 * must reach the same verdict: modelcar's signature rules are containers/image's.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { assertCleanFailure, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { nodePolicy, writeNodePolicy } from '../support/node-policy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { skopeoMessage, trixieSkopeo } from '../support/trixie-skopeo.js';

const PASSWORD = 'correct horse battery staple';
const ENV = { COSIGN_PASSWORD: PASSWORD };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe("containers/image's sigstore policy (trixie skopeo 1.18) and modelcar verify agree", () => {
  let work: string;
  let registry: TestRegistry;
  let pub: string;
  let key: string;
  /** registries.d that makes skopeo read and write sigstore attachments everywhere (for copies outside the policy). */
  let attachments: string;
  let acceptAnything: string;
  /** The node's policy: an ImagePolicy for every repository below, all trusting cosign.pub. */
  let node: { policy: string; registriesD: string };
  const digests = new Map<string, string>();

  const image = (repo: string, tag = 'v1') => `${registry.host}/models/${repo}:${tag}`;
  const byDigest = (repo: string) => `${registry.host}/models/${repo}@${digests.get(repo)}`;
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

  /** Builds a small model (different bytes per repository) to REPO:v1; returns its digest. */
  const build = async (repo: string, ...sign: string[]) => {
    const model = await writeFiles(join(work, 'models', repo), { 'config.json': `{"repo": "${repo}"}\n` });
    const b = await buildJson([model.dir, '--to', image(repo), '--base', 'scratch', '--image-volume', ...sign], {
      env: ENV,
    });
    digests.set(repo, b.digest);
    return b.digest;
  };

  /** A copy outside the node policy that keeps (or adds) sigstore signatures, as a user moving images would. */
  const copyKeepingSignatures = async (from: string, to: string, ...extra: string[]) => {
    const r = await trixieSkopeo(
      [
        '--policy',
        acceptAnything,
        '--registries.d',
        attachments,
        'copy',
        ...tls,
        ...extra,
        `docker://${from}`,
        `docker://${to}`,
      ],
      work,
    );
    assert.equal(r.code, 0, r.stderr);
  };

  /** What a node pulling REF does: skopeo copies it under the node policy (a pull is a copy into storage). */
  const nodePull = async (ref: string) => {
    const dest = await tempDir('modelcar-pulled-');
    try {
      return await trixieSkopeo(
        [
          '--policy',
          node.policy,
          '--registries.d',
          node.registriesD,
          'copy',
          '--src-tls-verify=false',
          `docker://${ref}`,
          `dir:${dest}`,
        ],
        work,
      );
    } finally {
      await removeTemp(dest);
    }
  };

  /** Both verdicts for one image: skopeo's under the node policy, and modelcar's signature link. */
  const judge = async (ref: string) => {
    const skopeo = await nodePull(ref);
    const verify = await modelcar(['verify', ref, '--key', pub, '--skip-attestations']);
    return { skopeo, verify };
  };

  const assertAccepted = async (ref: string) => {
    const { skopeo, verify } = await judge(ref);
    assert.equal(skopeo.code, 0, `skopeo refused ${ref}: ${skopeo.stderr}`);
    assert.equal(verify.code, 0, `modelcar refused ${ref}: ${verify.stdout}${verify.stderr}`);
    assert.match(verify.stdout, /\n {2}ok signature: signed by key /);
  };

  const assertRejected = async (ref: string, skopeoReason: RegExp, modelcarReason: RegExp) => {
    const { skopeo, verify } = await judge(ref);
    assert.notEqual(skopeo.code, 0, `skopeo accepted ${ref}`);
    const message = skopeoMessage(skopeo.stderr);
    assert.match(message, /^Source image rejected: /, skopeo.stderr);
    assert.match(message, skopeoReason);
    assert.equal(verify.code, 1, `modelcar accepted ${ref}: ${verify.stdout}`);
    assert.match(verify.stdout, /\n {2}FAILED signature: /);
    assert.match(verify.stdout, modelcarReason);
  };

  before(async () => {
    work = await tempDir('modelcar-skopeo-policy-');
    registry = await startRegistry();
    await modelcarOk(['key', 'generate'], { cwd: work, env: ENV });
    await modelcarOk(['key', 'generate', '--output-key-prefix', 'other'], { cwd: work, env: ENV });
    key = join(work, 'cosign.key');
    pub = join(work, 'cosign.pub');
    await writeFiles(join(work, 'any'), {
      'registries.d/default.yaml': 'default-docker:\n  use-sigstore-attachments: true\n',
      'policy.json': JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
    });
    attachments = join(work, 'any/registries.d');
    acceptAnything = join(work, 'any/policy.json');

    await build('built-signed', '--sign-key', key);
    await build('signed-later');
    await modelcarOk(['sign', image('signed-later'), '--sign-key', key], { env: ENV });
    await build('unsigned');
    await build('other-key', '--sign-key', join(work, 'other.key'));
    await build('changed', '--sign-key', key);
    // containers/image carries our signature along to another repository: the payload still names built-signed.
    await copyKeepingSignatures(image('built-signed'), image('copied'));
    digests.set('copied', digests.get('built-signed') as string);

    const policies = [];
    for (const repo of ['built-signed', 'signed-later', 'unsigned', 'other-key', 'copied', 'changed']) {
      const r = await modelcarOk([
        'deploy',
        '--image',
        `${registry.host}/models/${repo}@sha256:${'0'.repeat(64)}`,
        '--image-policy-only',
        '--key',
        pub,
        '-n',
        'models',
      ]);
      policies.push(...parseAllDocuments(r.stdout).map((d) => d.toJS()));
    }
    node = await writeNodePolicy(join(work, 'node'), nodePolicy(policies));
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('the node policy is what the ImagePolicy says: our key (as keyData) and matchRepoDigestOrExact per repository', async () => {
    const policy = JSON.parse(await readFile(node.policy, 'utf8'));
    const scope = policy.transports.docker[`${registry.host}/models/built-signed`];
    assert.equal(scope.length, 1);
    assert.equal(scope[0].type, 'sigstoreSigned');
    assert.equal(Buffer.from(scope[0].keyData, 'base64').toString(), await readFile(pub, 'utf8'));
    assert.deepEqual(scope[0].signedIdentity, { type: 'matchRepoDigestOrExact' });
    assert.deepEqual(policy.default, [{ type: 'reject' }]);
  });

  it('accepts an image signed by build --sign-key, named by its tag or by digest', async () => {
    await assertAccepted(image('built-signed'));
    await assertAccepted(byDigest('built-signed'));
  });

  it('accepts an image signed afterwards by modelcar sign', async () => {
    await assertAccepted(image('signed-later'));
  });

  it('rejects an unsigned image', async () => {
    await assertRejected(
      image('unsigned'),
      /A signature was required, but no signature exists/,
      /FAILED signature: no signature: /,
    );
  });

  it('rejects an image signed with another key', async () => {
    await assertRejected(
      image('other-key'),
      /cryptographic signature verification failed/,
      /FAILED signature: no accepted signature: cryptographic signature verification failed/,
    );
  });

  it('rejects our signed image re-tagged into another repository (the signature names built-signed)', async () => {
    const signed = `${registry.host}/models/built-signed:v1`;
    await assertRejected(
      image('copied'),
      new RegExp(`Signature for identity "${signed}" is not accepted`),
      new RegExp(`signature for identity "${signed}" is not accepted for ${registry.host}/models/copied`),
    );
    // By digest the repository still differs: matchRepoDigestOrExact compares repositories then.
    await assertRejected(byDigest('copied'), /is not accepted/, /is not accepted/);
  });

  it('rejects another tag of the signed image in its own repository, and accepts it by digest', async () => {
    await copyKeepingSignatures(image('built-signed'), image('built-signed', 'latest'));
    await assertRejected(
      image('built-signed', 'latest'),
      /Signature for identity ".*\/models\/built-signed:v1" is not accepted/,
      /is not accepted for tag latest/,
    );
    await assertAccepted(byDigest('built-signed'));
  });

  it('rejects an image whose manifest changed after signing, the signature moved along to the new digest', async () => {
    const manifests = `http://${registry.host}/v2/models/changed/manifests`;
    const get = async (reference: string) =>
      (await fetch(`${manifests}/${reference}`, { headers: { accept: OCI_MANIFEST } })).text();
    const put = async (reference: string, body: string) => {
      const res = await fetch(`${manifests}/${reference}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': OCI_MANIFEST },
      });
      assert.equal(res.status, 201, await res.text());
      return res.headers.get('docker-content-digest') as string;
    };
    const signedDigest = digests.get('changed') as string;
    const changed = JSON.stringify({ ...JSON.parse(await get('v1')), annotations: { 'org.example.changed': 'yes' } });
    // Same repository and tag as signed, so the identity matches and only the digest can differ.
    const digest = await put('v1', changed);
    await put(`${digest.replace(':', '-')}.sig`, await get(`${signedDigest.replace(':', '-')}.sig`));
    await assertRejected(
      image('changed'),
      new RegExp(`Signature for digest ${signedDigest} does not match`),
      new RegExp(`signature for digest ${signedDigest} does not match ${digest}`),
    );
  });

  it('modelcar verify --key accepts the signature trixie skopeo makes with a key from modelcar key generate', async () => {
    await build('plain');
    const passwordFile = join(work, 'password');
    await writeFile(passwordFile, PASSWORD);
    await copyKeepingSignatures(
      image('plain'),
      image('skopeo-signed'),
      '--sign-by-sigstore-private-key',
      key,
      '--sign-passphrase-file',
      passwordFile,
    );
    const signed = await modelcar(['verify', image('skopeo-signed'), '--key', pub]);
    // The signature verifies; the attestations skopeo does not make are missing, and that fails the full chain.
    assert.equal(signed.code, 1, signed.stdout + signed.stderr);
    assert.match(signed.stdout, /\n {2}ok signature: signed by key .* as .*\/models\/skopeo-signed:v1\n/);
    assert.match(
      signed.stdout,
      /\n {2}FAILED provenance: no https:\/\/slsa\.dev\/provenance\/v1 attestation refers to/,
    );
    assert.match(
      signed.stdout,
      /\n {2}FAILED model-signature: no https:\/\/model_signing\/signature\/v1\.0 attestation/,
    );
    assert.match(signed.stdout, /\n {2}hint: .*--skip-attestations/);
    const only = await modelcar(['verify', image('skopeo-signed'), '--key', pub, '--skip-attestations']);
    assert.equal(only.code, 0, only.stdout + only.stderr);
    assert.match(only.stdout, /^ok: /);
    assert.doesNotMatch(only.stdout, /FAILED/);
    const wrong = await modelcar([
      'verify',
      image('skopeo-signed'),
      '--key',
      join(work, 'other.pub'),
      '--skip-attestations',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /FAILED signature: .*cryptographic signature verification failed/);
  });

  it('refuses --skip-attestations where it would check nothing', async () => {
    const alone = await modelcar(['verify', image('built-signed'), '--skip-attestations']);
    assertCleanFailure(alone, /--skip-attestations leaves the signature to check, and no signer to trust was given/);
    assert.equal(alone.code, 2);
    const directory = await modelcar(['verify', work, '--model-signature', pub, '--key', pub, '--skip-attestations']);
    assertCleanFailure(directory, /--skip-attestations applies to an image/);
    assert.equal(directory.code, 2);
  });
});
