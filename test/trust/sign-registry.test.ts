/**
 * The trust chain through the CLI against the real CNCF distribution registry (2.8: no referrers API, so the
 * `sha256-<hex>` tag schema): `key generate`, `build --sign-key`, `sign`, `verify --key`, keyless against the Sigstore
 * project's own Fulcio/Rekor/TSA doubles, and `verify DIR --model-signature`. What we write is read back by others:
 * skopeo reads our signature attachment; @sigstore/verify checks the attestation bundles on its own; the statements
 * are validated against the upstream schemas. Every tamper case of the attestations fails naming the link that broke.
 *
 * The image signature's cases (unsigned, another key, re-tagged, changed after signing) are judged by containers/image's
 * own sigstore policy and by modelcar side by side in skopeo-policy.test.ts.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { assertCleanFailure, type BuildJson, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import { type ModelFixture, removeTemp, tempDir, writeFiles, writeMultiFileModel } from '../support/fixtures.js';
import { SchemaId, validateJson } from '../support/json-schema.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { type SigstoreDouble, startSigstore } from '../support/sigstore-double.js';
import { tool } from '../support/tools.js';

const PASSWORD = { COSIGN_PASSWORD: 'correct horse battery staple' };
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

interface Manifest {
  mediaType?: string;
  artifactType?: string;
  config: { digest: string };
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  subject?: { digest: string };
  manifests?: { digest: string; artifactType?: string; annotations?: Record<string, string> }[];
}

describe('signed and attested images in a registry', () => {
  let work: string;
  let registry: TestRegistry;
  let model: ModelFixture;
  let key: string;
  let pub: string;
  let built: BuildJson & {
    signed: {
      signature: { tag: string; digest: string };
      provenance: { digest: string };
      modelSignature: { digest: string };
    };
  };
  let ref: string;

  /** Reads from the registry with plain HTTP, independently of our client. */
  const get = async (
    path: string,
    accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
  ) => {
    const res = await fetch(`http://${registry.host}${path}`, { headers: { accept } });
    assert.equal(res.status, 200, `GET ${path}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const manifest = async (repo: string, reference: string) =>
    JSON.parse((await get(`/v2/${repo}/manifests/${reference}`)).toString()) as Manifest;
  const blob = (repo: string, digest: string) => get(`/v2/${repo}/blobs/${digest}`, '*/*');
  const put = async (path: string, body: Buffer, type: string) => {
    const res = await fetch(`http://${registry.host}${path}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': type },
    });
    assert.equal(res.status, 201, `PUT ${path}: ${res.status} ${await res.text()}`);
  };

  before(async () => {
    work = await tempDir('modelcar-sign-');
    registry = await startRegistry();
    model = await writeMultiFileModel(work);
    await modelcarOk(['key', 'generate'], { cwd: work, env: PASSWORD });
    key = join(work, 'cosign.key');
    pub = join(work, 'cosign.pub');
    ref = `${registry.host}/models/tiny:v1`;
    built = (await buildJson([model.dir, '--to', ref, '--base', 'scratch', '--image-volume', '--sign-key', key], {
      env: PASSWORD,
    })) as unknown as typeof built;
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('key generate writes cosign.key (0600, encrypted) and cosign.pub, never over existing files, and needs a password', async () => {
    const text = await readFile(key, 'utf8');
    assert.match(text, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
    assert.doesNotMatch(text, /correct horse/);
    const { stat } = await import('node:fs/promises');
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    assert.match(await readFile(pub, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
    assertCleanFailure(await modelcar(['key', 'generate'], { cwd: work, env: PASSWORD }), /cosign\.key already exists/);
    const noPassword = await modelcar(['key', 'generate', '--output-key-prefix', 'other'], { cwd: work });
    assertCleanFailure(noPassword, /needs a password and there is no terminal/);
    assert.equal(noPassword.code, 2);
  });

  it('build --sign-key writes the cosign attachment containers/image reads: simple-signing payload naming the tag and digest', async () => {
    assert.equal(built.signed.signature.tag, `${built.digest.replace(':', '-')}.sig`);
    const raw = await tool('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${registry.host}/models/tiny:${built.signed.signature.tag}`,
    ]);
    const attachment = JSON.parse(raw) as Manifest;
    assert.equal(attachment.layers.length, 1);
    const layer = attachment.layers[0] as Manifest['layers'][number];
    assert.equal(layer.mediaType, SIMPLE_SIGNING);
    const payload = JSON.parse((await blob('models/tiny', layer.digest)).toString());
    assert.deepEqual(payload.critical, {
      identity: { 'docker-reference': ref },
      image: { 'docker-manifest-digest': built.digest },
      type: 'cosign container image signature',
    });
    const signature = Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64');
    const { verify } = await import('node:crypto');
    const payloadBytes = await blob('models/tiny', layer.digest);
    assert.ok(verify('sha256', payloadBytes, createPublicKey(await readFile(pub, 'utf8')), signature));
  });

  it('the provenance and the model signature are OCI 1.1 referrers under the fallback tag, each verified by @sigstore/verify itself', async () => {
    const index = await manifest('models/tiny', built.digest.replace(':', '-'));
    const byType = new Map(index.manifests?.map((d) => [d.annotations?.['dev.sigstore.bundle.predicateType'], d]));
    assert.equal(byType.get('https://slsa.dev/provenance/v1')?.digest, built.signed.provenance.digest);
    assert.equal(byType.get('https://model_signing/signature/v1.0')?.digest, built.signed.modelSignature.digest);
    const publicKey = createPublicKey(await readFile(pub, 'utf8'));
    const trust = toTrustMaterial(
      { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
      () => ({ publicKey, validFor: () => true }),
    );
    for (const d of index.manifests ?? []) {
      assert.equal(d.artifactType, BUNDLE);
      const m = await manifest('models/tiny', d.digest);
      assert.equal(m.subject?.digest, built.digest);
      assert.equal(m.artifactType, BUNDLE);
      const bundleJson = JSON.parse((await blob('models/tiny', (m.layers[0] as { digest: string }).digest)).toString());
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
        toSignedEntity(bundleFromJSON(bundleJson)),
      );
      const statement = JSON.parse(Buffer.from(bundleJson.dsseEnvelope.payload, 'base64').toString());
      if (statement.predicateType === 'https://slsa.dev/provenance/v1') {
        assert.deepEqual(validateJson(SchemaId.slsa, statement), []);
        assert.equal(statement.subject[0].digest.sha256, built.digest.slice(7));
        const files = statement.predicate.buildDefinition.resolvedDependencies.filter(
          (r: { digest?: { sha256?: string } }) => r.digest?.sha256,
        );
        assert.equal(files.length, model.files.size);
        for (const r of files) {
          assert.equal(r.digest.sha256, model.files.get(r.name)?.sha256, r.name);
          assert.equal(r.uri, `file:model/${encodeURI(r.name)}`);
        }
      } else {
        assert.deepEqual(validateJson(SchemaId.omsBundle, bundleJson), []);
        assert.deepEqual(validateJson(SchemaId.omsStatement, statement), []);
        assert.equal(statement.predicate.resources.length, model.files.size);
      }
    }
  });

  it('verify --key checks every link and every byte', async () => {
    const r = await modelcarOk(['verify', ref, '--key', pub]);
    assert.match(r.stdout, /^ok: /);
    assert.match(r.stdout, /ok signature: signed by key .* as .*\/models\/tiny:v1/);
    assert.match(r.stdout, /ok provenance: https:\/\/slsa\.dev\/provenance\/v1/);
    assert.match(r.stdout, /ok model-signature: /);
    const json = JSON.parse(
      (await modelcarOk(['verify', `${registry.host}/models/tiny@${built.digest}`, '--key', pub, '--json'])).stdout,
    );
    assert.equal(json.ok, true);
    assert.deepEqual(
      json.trust.links.map((l: { link: string; ok: boolean }) => `${l.link} ${l.ok}`),
      ['signature true', 'provenance true', 'model-signature true'],
    );
  });

  it('another key fails the signature and both attestation links, each naming the key', async () => {
    await modelcarOk(['key', 'generate', '--output-key-prefix', 'other'], { cwd: work, env: PASSWORD });
    const wrong = await modelcar(['verify', ref, '--key', join(work, 'other.pub')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /FAILED signature: .*cryptographic signature verification failed/);
    assert.match(wrong.stdout, /FAILED provenance: .*signed by another key/);
    assert.match(wrong.stdout, /FAILED model-signature: .*signed by another key/);
  });

  it('a provenance statement whose subject is another digest fails the provenance link', async () => {
    const changed = await writeFiles(join(work, 'changed2'), { 'config.json': '{"other": 1}\n' });
    const b = await buildJson(
      [
        changed.dir,
        '--to',
        `${registry.host}/models/tiny:v3`,
        '--base',
        'scratch',
        '--image-volume',
        '--sign-key',
        key,
      ],
      { env: PASSWORD },
    );
    // Point B's referrers at A's provenance (validly signed, about A): a referrer manifest for B carrying it.
    const aProvenance = await manifest('models/tiny', built.signed.provenance.digest);
    const bManifest = await get(`/v2/models/tiny/manifests/${b.digest}`);
    const forged = Buffer.from(
      JSON.stringify({
        ...aProvenance,
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: b.digest, size: bManifest.length },
      }),
    );
    const { createHash } = await import('node:crypto');
    const forgedDigest = `sha256:${createHash('sha256').update(forged).digest('hex')}`;
    await put(`/v2/models/tiny/manifests/${forgedDigest}`, forged, 'application/vnd.oci.image.manifest.v1+json');
    const bIndex = await manifest('models/tiny', b.digest.replace(':', '-'));
    const onlyForged = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        ...(bIndex.manifests ?? []).filter(
          (d) => d.annotations?.['dev.sigstore.bundle.predicateType'] !== 'https://slsa.dev/provenance/v1',
        ),
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: forgedDigest,
          size: forged.length,
          artifactType: BUNDLE,
          annotations: JSON.parse(forged.toString()).annotations,
        },
      ],
    };
    await put(
      `/v2/models/tiny/manifests/${b.digest.replace(':', '-')}`,
      Buffer.from(JSON.stringify(onlyForged)),
      'application/vnd.oci.image.index.v1+json',
    );
    const r = await modelcar(['verify', `${registry.host}/models/tiny:v3`, '--key', pub]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /ok signature/);
    assert.match(r.stdout, new RegExp(`FAILED provenance: the provenance is about ${built.digest}, not ${b.digest}`));
    assert.match(r.stdout, /ok model-signature/);
  });

  it('sign writes the model signature to a file that verifies the model directory, and a changed file fails by name', async () => {
    const bundlePath = join(work, 'model.sig');
    const signedJson = JSON.parse(
      (
        await modelcarOk(['sign', ref, '--sign-key', key, '--model-signature-output', bundlePath, '--json'], {
          env: PASSWORD,
        })
      ).stdout,
    );
    assert.equal(signedJson.digest, built.digest);
    const ok = await modelcarOk(['verify', model.dir, '--model-signature', bundlePath, '--key', pub]);
    assert.match(ok.stdout, new RegExp(`^ok: .*: ${model.files.size} files`));
    await writeFile(join(model.dir, 'config.json'), '{"tampered": true}\n');
    const bad = await modelcar(['verify', model.dir, '--model-signature', bundlePath, '--key', pub]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /first: config\.json has sha256 [a-f0-9]{64}, the signature says [a-f0-9]{64}/);
    assertCleanFailure(
      await modelcar(['verify', model.dir, '--model-signature', bundlePath]),
      /needs the signer to trust/,
    );
  });

  it('signing an OCI layout is refused before any work, with where to sign instead', async () => {
    const r = await modelcar(
      [
        'build',
        model.dir,
        '--to',
        `oci:${join(work, 'layout')}:v1`,
        '--base',
        'scratch',
        '--image-volume',
        '--sign-key',
        key,
      ],
      { env: PASSWORD },
    );
    assertCleanFailure(r, /signing needs a registry destination/);
    assert.equal(r.code, 2);
  });
});

describe('keyless signing through the CLI (Fulcio, Rekor and TSA doubles)', () => {
  let work: string;
  let registry: TestRegistry;
  let sigstore: SigstoreDouble;
  const subject = 'https://kubernetes.io/namespaces/models/serviceaccounts/modelcar';

  before(async () => {
    work = await tempDir('modelcar-keyless-');
    registry = await startRegistry();
    sigstore = await startSigstore();
  });
  after(async () => {
    await sigstore?.stop();
    await registry?.stop();
    await removeTemp(work);
  });

  it('sign --sign-identity-token-file signs with a Fulcio certificate logged in Rekor; verify checks the identity', async () => {
    const model = await writeMultiFileModel(work);
    const ref = `${registry.host}/models/keyless:v1`;
    const b = await buildJson([model.dir, '--to', ref, '--base', 'scratch', '--image-volume']);
    const token = join(work, 'token');
    await writeFile(token, sigstore.identityToken(subject));
    const root = join(work, 'trusted_root.json');
    await writeFile(root, sigstore.trustedRoot);
    await modelcarOk(['sign', ref, ...sigstore.signingArgs(token), '--tsa-url', sigstore.tsaUrl]);
    const verify = (identity: string) =>
      modelcar([
        'verify',
        ref,
        '--certificate-identity',
        identity,
        '--certificate-oidc-issuer',
        sigstore.issuer,
        '--trusted-root',
        root,
      ]);
    const ok = await verify(subject);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok signature: signed by ${subject} \\(Fulcio certificate, Rekor entry\\)`));
    const wrong = await verify('https://kubernetes.io/namespaces/other/serviceaccounts/x');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /FAILED signature/);
    assert.match(wrong.stdout, /FAILED provenance/);
    assert.match(b.digest, /^sha256:/);
  });
});
