/**
 * The statements modelcar signs, against the upstream schemas (in-toto Statement v1, SLSA Provenance v1, OpenSSF
 * Model Signing v1.0, vendored in test/schemas), and OMS directory verification against the upstream conformance
 * example (sigstore/model-transparency, a P-384 key): it passes as published and fails, naming the file, when a file
 * is changed, removed or added.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { verifyModelDirectory } from '../../src/trust/model-signature.js';
import { createSigner } from '../../src/trust/signer.js';
import { parsePublicKey } from '../../src/trust/signing-key.js';
import { byCodePoint, modelSigningStatement, slsaProvenance, statementBytes } from '../../src/trust/statements.js';
import { tempDir } from '../support/fixtures.js';
import { SchemaId, UPSTREAM_FIXTURES, validateJson } from '../support/json-schema.js';

const FILES = [
  { path: 'config.json', sha256: '11'.repeat(32) },
  { path: 'model-00002-of-00002.safetensors', sha256: '22'.repeat(32) },
  { path: 'model-00001-of-00002.safetensors', sha256: '33'.repeat(32) },
  { path: 'tokenizer/ünïcode.json', sha256: '44'.repeat(32) },
];

const provenance = () =>
  slsaProvenance({
    image: { name: 'quay.io/acme/granite', digest: `sha256:${'ab'.repeat(32)}` },
    source: {
      uri: 'hf://ibm-granite/granite-3.1-8b-instruct@0123456789abcdef0123456789abcdef01234567',
      revision: '0123456789abcdef0123456789abcdef01234567',
    },
    files: FILES,
    base: { name: 'registry.access.redhat.com/ubi9/ubi-micro:9.8', digest: `sha256:${'cd'.repeat(32)}` },
    externalParameters: { source: 'hf://ibm-granite/granite-3.1-8b-instruct@main', include: ['*.md'], exclude: [] },
    internalParameters: { mtime: 0 },
    builderVersion: '0.1.0',
    startedOn: new Date(0),
    finishedOn: new Date(1000),
  });

describe('statements', () => {
  it('SLSA provenance validates against the in-toto Statement v1 and SLSA Provenance v1 schemas', () => {
    const s = JSON.parse(statementBytes(provenance()).toString());
    assert.deepEqual(validateJson(SchemaId.statement, s), []);
    assert.deepEqual(validateJson(SchemaId.slsa, s), []);
    assert.equal(s.subject[0].digest.sha256, 'ab'.repeat(32));
    assert.equal(s.predicate.runDetails.metadata.startedOn, '1970-01-01T00:00:00Z');
    const deps = s.predicate.buildDefinition.resolvedDependencies;
    assert.deepEqual(deps[0].digest, { gitCommit: '0123456789abcdef0123456789abcdef01234567' });
    assert.equal(deps[1].uri, 'docker://registry.access.redhat.com/ubi9/ubi-micro:9.8');
    assert.equal(deps.length, 2 + FILES.length);
    // the schema check has teeth: a subject without a digest, or a timestamp with an offset, is refused
    assert.notDeepEqual(validateJson(SchemaId.slsa, { ...s, subject: [{ name: 'x' }] }), []);
    const badTime = structuredClone(s);
    badTime.predicate.runDetails.metadata.startedOn = '1970-01-01T01:00:00+01:00';
    assert.notDeepEqual(validateJson(SchemaId.slsa, badTime), []);
  });

  it('the OMS statement validates against the OMS v1.0 schemas, resources sorted by code point', () => {
    const s = JSON.parse(statementBytes(modelSigningStatement('granite', FILES, ['README.md'])).toString());
    assert.deepEqual(validateJson(SchemaId.omsStatement, s), []);
    const names = s.predicate.resources.map((r: { name: string }) => r.name);
    assert.deepEqual(names, [...names].sort(byCodePoint));
    assert.ok(s.predicate.serialization.ignore_paths.includes('.git'));
    assert.ok(s.predicate.serialization.ignore_paths.includes('README.md'));
    // code point order puts an astral character after U+FFFD, where JS string order would not
    assert.ok(byCodePoint('\u{1F600}', '\uFFFD') > 0);
    assert.ok('\u{1F600}' < '\uFFFD');
  });

  it('a key-signed OMS bundle validates against the OMS bundle schema and verifies with @sigstore/verify on its own', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const json = await createSigner({ kind: 'key', privateKey, publicKey }).attest(
      statementBytes(modelSigningStatement('granite', FILES)),
    );
    assert.deepEqual(validateJson(SchemaId.omsBundle, json), []);
    const trust = toTrustMaterial(
      { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
      () => ({ publicKey, validFor: () => true }),
    );
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
      toSignedEntity(bundleFromJSON(json)),
    );
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const trustOther = toTrustMaterial(
      { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
      () => ({ publicKey: other, validFor: () => true }),
    );
    assert.throws(() =>
      new Verifier(trustOther, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
        toSignedEntity(bundleFromJSON(json)),
      ),
    );
  });
});

describe('OpenSSF Model Signing conformance example (model-transparency v1.1.0, P-384 key)', () => {
  const example = join(UPSTREAM_FIXTURES, 'oms-v1.1.0-elliptic-key');
  const policy = async () => ({
    kind: 'key' as const,
    publicKey: parsePublicKey(
      (await readFile(join(UPSTREAM_FIXTURES, 'oms-v1.1.0-elliptic-key.pub.pem'), 'utf8')).replace(
        /^[\s\S]*?(?=-----BEGIN)/,
        '',
      ),
      'signing-key-pub.pem',
    ),
    label: 'signing-key-pub.pem',
  });
  const bundle = async () => JSON.parse(await readFile(join(example, 'model.sig'), 'utf8'));

  it('the published bundle is valid against the OMS bundle schema and the model verifies as published', async () => {
    assert.deepEqual(validateJson(SchemaId.omsBundle, await bundle()), []);
    const report = await verifyModelDirectory(example, await bundle(), await policy(), {
      bundlePath: join(example, 'model.sig'),
    });
    assert.deepEqual(report.differences, []);
    assert.equal(report.ok, true);
    assert.equal(report.files, 2);
  });

  it('a changed, a removed and an added file each fail, named', async () => {
    const dir = await tempDir('modelcar-oms-');
    try {
      await cp(example, dir, { recursive: true });
      await writeFile(join(dir, 'signme-1'), 'tampered\n');
      await rm(join(dir, 'signme-2'));
      await writeFile(join(dir, 'extra.bin'), 'x');
      const report = await verifyModelDirectory(dir, await bundle(), await policy(), {
        bundlePath: join(dir, 'model.sig'),
      });
      assert.equal(report.ok, false);
      assert.deepEqual(
        report.differences.map((d) => `${d.kind} ${d.path}`),
        ['file-changed signme-1', 'file-missing signme-2', 'file-unsigned extra.bin'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('another key fails before any file is read', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    await assert.rejects(
      verifyModelDirectory(example, await bundle(), { kind: 'key', publicKey: other, label: 'other' }),
      /signed by another key/,
    );
  });
});
