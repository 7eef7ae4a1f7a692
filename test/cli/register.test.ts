/** `modelcar register` end to end: the real CLI process against the Model Registry double on loopback. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { ModelRegistryDouble } from '../support/model-registry-double.js';

const TOKEN = 'sha256~cli-test-token';
const DIGEST = `sha256:${'5e'.repeat(32)}`;

describe('modelcar register', () => {
  let mr: ModelRegistryDouble;
  let work: string;
  let tokenFile: string;
  const args = (...extra: string[]) => [
    'register',
    '--image',
    `quay.io/acme/granite:r1@${DIGEST}`,
    '--model-registry',
    mr.url,
    '--model-name',
    'granite',
    '--model-version',
    'r1',
    '--source-uri',
    'hf://ibm-granite/granite-3.1-8b-instruct',
    '--file-count',
    '7',
    '--total-bytes',
    '16000000000',
    ...extra,
  ];

  before(async () => {
    mr = await ModelRegistryDouble.start({ token: TOKEN });
    work = await tempDir();
    tokenFile = join(work, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
  });
  after(async () => {
    await mr.close();
    await removeTemp(work);
  });
  afterEach(() => {
    assert.deepEqual(mr.violations, []);
  });

  it('registers, printing the ids and the InferenceService labels', async () => {
    const r = await modelcarOk(args('--token-file', tokenFile));
    assert.match(
      r.stdout,
      /^registered model "granite" version "r1" \(created: registered model, model version, model artifact\)$/m,
    );
    assert.match(r.stdout, /^registered model id: 1$/m);
    assert.match(r.stdout, /^model version id: {4}2$/m);
    assert.match(r.stdout, new RegExp(`^uri: +oci://quay\\.io/acme/granite@${DIGEST}$`, 'm'));
    assert.match(r.stdout, /^ {2}modelregistry\.opendatahub\.io\/registered-model-id: "1"$/m);
    assert.match(r.stdout, /^ {2}modelregistry\.opendatahub\.io\/model-version-id: "2"$/m);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(TOKEN));
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });
  });

  it('says "already registered, nothing changed" on the second run, with the token from $MODEL_REGISTRY_TOKEN', async () => {
    const writes = mr.writes().length;
    const r = await modelcarOk(args(), { env: { MODEL_REGISTRY_TOKEN: TOKEN } });
    assert.match(r.stdout, /^already registered, nothing changed: model "granite" version "r1"$/m);
    assert.equal(mr.writes().length, writes);
  });

  it('prints one JSON object with --json, reading the pod service-account token by default', async () => {
    const r = await modelcarOk(args('--json'), { env: { MODELCAR_SA_TOKEN_FILE: tokenFile } });
    const out = JSON.parse(r.stdout) as { unchanged: boolean; modelVersionId: string; labels: Record<string, string> };
    assert.equal(out.unchanged, true);
    assert.equal(out.modelVersionId, '2');
    assert.equal(out.labels['modelregistry.opendatahub.io/model-version-id'], '2');
    assert.equal(mr.requests.at(-1)?.authorization, `Bearer ${TOKEN}`);
  });

  it('refuses another digest for an existing version with one error line', async () => {
    const r = await modelcar(
      args('--token-file', tokenFile).map((a) =>
        a.includes(DIGEST) ? `quay.io/acme/granite@sha256:${'0'.repeat(64)}` : a,
      ),
    );
    assertCleanFailure(r, /version r1 of model granite records image sha256:5e5e/);
    assert.equal(r.code, 1);
  });

  it('refuses an image without a digest before any request', async () => {
    const before = mr.requests.length;
    const r = await modelcar(
      [...args('--token-file', tokenFile)].map((a) => (a.includes(DIGEST) ? 'quay.io/acme/granite:r1' : a)),
    );
    assertCleanFailure(r, /not pinned to a digest/);
    assert.equal(mr.requests.length, before);
  });

  it('explains a refused token (plain-text 401) without printing it', async () => {
    const wrong = join(work, 'wrong');
    await writeFile(wrong, 'not-the-token-42\n');
    const r = await modelcar(args('--token-file', wrong));
    assertCleanFailure(r, /refused the token from --token-file .*wrong \(401 Unauthorized/);
    assert.doesNotMatch(r.stderr, /not-the-token-42/);
  });

  it('explains an HTML login page (403) of an auth proxy', async () => {
    mr.forbid = { status: 403, style: 'html' };
    try {
      const r = await modelcar(args('--token-file', tokenFile));
      assertCleanFailure(r, /403 Forbidden .*an HTML page titled "Log In"/);
    } finally {
      mr.forbid = undefined;
    }
  });

  it('reports a server error in one line', async () => {
    mr.failNext = 1;
    const r = await modelcar(args('--token-file', tokenFile));
    assertCleanFailure(r, /500 Internal Server Error/);
  });

  it('rejects a bad URL and a missing token file as usage errors (exit 2)', async () => {
    const badUrl = await modelcar(args().map((a) => (a === mr.url ? 'ftp://models' : a)));
    assertCleanFailure(badUrl, /--model-registry must be an http\(s\) URL/);
    assert.equal(badUrl.code, 2);
    const noFile = await modelcar(args('--token-file', join(work, 'missing')));
    assertCleanFailure(noFile, /cannot read --token-file/);
    assert.equal(noFile.code, 2);
  });

  it('names a missing required flag (exit 2)', async () => {
    const r = await modelcar(['register', '--image', `quay.io/acme/granite@${DIGEST}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '--model-registry <url>' not specified/);
  });
});
