import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { ModelRegistryClient } from '../../src/registry-model/client.js';
import { LABEL, PROPERTY, type RegisterInput, registerModel } from '../../src/registry-model/register.js';
import { filesSha256, registerBuild } from '../../src/registry-model/register-build.js';
import { staticToken, tokenSource } from '../../src/registry-model/token.js';
import { ModelRegistryDouble } from '../support/model-registry-double.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER_DIGEST = `sha256:${'cd'.repeat(32)}`;
const TOKEN = 'sha256~s3cr3t-token-value';

const input = (over: Partial<RegisterInput> = {}): RegisterInput => ({
  modelName: 'granite-3.1-8b-instruct',
  versionName: '1.0.0',
  image: `oci://quay.io/acme/granite:1.0.0@${DIGEST}`,
  files: ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
  fileCount: 3,
  totalBytes: 16_000_000_000,
  sourceUri: 'hf://ibm-granite/granite-3.1-8b-instruct',
  sourceRevision: 'f'.repeat(40),
  registryUrl: 'https://models-rest.apps.example.com',
  ...over,
});

/** The registry error a call throws, for assertions on message and hint. */
async function rejection(p: Promise<unknown>): Promise<ModelcarError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ModelcarError, `expected a ModelcarError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('registerModel against the Model Registry double', () => {
  let mr: ModelRegistryDouble;
  let client: ModelRegistryClient;

  before(async () => {
    mr = await ModelRegistryDouble.start({ token: TOKEN });
  });
  after(async () => {
    await mr.close();
  });
  beforeEach(async () => {
    // a fresh registry per test: the double keeps state in memory, so restart it on a new port
    await mr.close();
    mr = await ModelRegistryDouble.start({ token: TOKEN });
    client = new ModelRegistryClient({ url: mr.url, token: staticToken(TOKEN) });
  });
  afterEach(async () => {
    await client.close();
    assert.deepEqual(mr.violations, [], 'every request and response must match the OpenAPI schema');
  });

  it('creates model, version and artifact on the first run, with typed provenance and a pinned uri', async () => {
    const r = await registerModel(client, input());
    assert.deepEqual(r.created, { registeredModel: true, modelVersion: true, modelArtifact: true });
    assert.equal(r.unchanged, false);
    assert.equal(r.uri, `oci://quay.io/acme/granite@${DIGEST}`);
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });

    const { modelVersions, artifacts } = mr.snapshot();
    const props = modelVersions[0]?.customProperties as Record<string, Record<string, unknown>>;
    assert.deepEqual(props[PROPERTY.imageDigest], { metadataType: 'MetadataStringValue', string_value: DIGEST });
    assert.deepEqual(props[PROPERTY.imageTag], { metadataType: 'MetadataStringValue', string_value: '1.0.0' });
    assert.deepEqual(props[PROPERTY.fileCount], { metadataType: 'MetadataIntValue', int_value: '3' });
    // 16 GB overflows the API's int32: it travels as an exact decimal string
    assert.deepEqual(props[PROPERTY.totalBytes], {
      metadataType: 'MetadataStringValue',
      string_value: '16000000000',
    });
    assert.equal(props[PROPERTY.sourceRevision]?.string_value, 'f'.repeat(40));
    assert.ok(props[PROPERTY.toolVersion]);
    assert.equal(artifacts[0]?.uri, `oci://quay.io/acme/granite@${DIGEST}`);
    assert.equal(artifacts[0]?.modelFormatName, 'safetensors');
    assert.equal(artifacts[0]?.modelFormatVersion, '1');
    assert.deepEqual(r.labels, {
      [LABEL.registeredModelId]: r.registeredModelId,
      [LABEL.modelVersionId]: r.modelVersionId,
      [LABEL.registryName]: 'models',
    });
    assert.ok(mr.requests.every((q) => q.authorization === `Bearer ${TOKEN}`));
  });

  it('changes nothing on the second run and says so', async () => {
    const first = await registerModel(client, input());
    const writes = mr.writes().length;
    const second = await registerModel(client, input());
    assert.equal(second.unchanged, true);
    assert.deepEqual(second.created, { registeredModel: false, modelVersion: false, modelArtifact: false });
    assert.equal(mr.writes().length, writes, 'no POST or PATCH on the second run');
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });
    assert.equal(second.modelVersionId, first.modelVersionId);
    assert.equal(second.modelArtifactId, first.modelArtifactId);
    assert.deepEqual(second.differences, []);
  });

  it('adds a second version under the same registered model, never a duplicate model', async () => {
    const a = await registerModel(client, input());
    const b = await registerModel(
      client,
      input({ versionName: '1.1.0', image: `quay.io/acme/granite@${OTHER_DIGEST}` }),
    );
    assert.equal(b.registeredModelId, a.registeredModelId);
    assert.notEqual(b.modelVersionId, a.modelVersionId);
    assert.deepEqual(b.created, { registeredModel: false, modelVersion: true, modelArtifact: true });
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 2, modelArtifacts: 2 });
  });

  for (const kind of ['registered-model', 'model-version', 'model-artifact'] as const) {
    it(`resolves a 409 race on the ${kind} create by reading what the other client made`, async () => {
      mr.raceNextCreate(kind);
      const r = await registerModel(client, input());
      assert.equal(r.conflictsResolved, 1);
      assert.equal(mr.requests.filter((q) => q.status === 409).length, 1, 'the double answered exactly one 409');
      assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });
      const again = await registerModel(client, input());
      assert.equal(again.unchanged, true);
      assert.equal(again.modelArtifactId, r.modelArtifactId);
    });
  }

  it('refuses a version the racing client registered with other bytes', async () => {
    mr.raceNextCreate('model-version', (body) => ({
      ...body,
      customProperties: {
        [PROPERTY.imageDigest]: { metadataType: 'MetadataStringValue', string_value: OTHER_DIGEST },
      },
    }));
    const e = await rejection(registerModel(client, input()));
    assert.match(e.message, /version 1\.0\.0 of model granite-3\.1-8b-instruct records image sha256:cdcd/);
    assert.match(e.hint ?? '', /new --model-version/);
    assert.equal(mr.counts().modelArtifacts, 0, 'no artifact was attached to the foreign version');
  });

  it('refuses to point an existing version at another digest, and writes nothing', async () => {
    await registerModel(client, input());
    const writes = mr.writes().length;
    const e = await rejection(registerModel(client, input({ image: `oci://quay.io/acme/granite@${OTHER_DIGEST}` })));
    assert.match(e.message, /records image sha256:abab/);
    assert.equal(mr.writes().length, writes);
  });

  it('reports (and keeps) differing provenance of an existing version', async () => {
    await registerModel(client, input());
    const r = await registerModel(client, input({ sourceRevision: 'e'.repeat(40) }));
    assert.equal(r.unchanged, true);
    assert.equal(r.differences.length, 1);
    assert.match(r.differences[0] ?? '', /source_revision is "f{40}", not "e{40}"/);
  });

  it('turns a server error into one line with a hint, and a rerun completes the registration', async () => {
    mr.failNext = 1;
    const e = await rejection(registerModel(client, input()));
    assert.equal(e.kind, 'model-registry');
    assert.match(e.message, /refused GET \/api\/model_registry\/v1alpha3\/registered_model: 500 Internal Server Error/);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.hint ?? '', /pod logs/);
    const r = await registerModel(client, input());
    assert.equal(r.created.registeredModel, true);
  });

  it('explains a plain-text 401 from the auth proxy without echoing the token', async () => {
    await client.close();
    client = new ModelRegistryClient({ url: mr.url, token: staticToken('wrong-token-123', '--token-file t') });
    const e = await rejection(registerModel(client, input()));
    assert.equal(e.kind, 'model-registry');
    assert.match(e.message, /refused the token from --token-file t \(401 Unauthorized/);
    assert.match(e.message, /body "Unauthorized"/);
    assert.match(e.hint ?? '', /invalid or expired/);
    assert.doesNotMatch(`${e.message} ${e.hint}`, /wrong-token-123/);
  });

  it('says no token was sent when none is configured', async () => {
    await client.close();
    client = new ModelRegistryClient({
      url: mr.url,
      token: tokenSource({ env: { MODELCAR_SA_TOKEN_FILE: '/nonexistent/token' } }),
    });
    const e = await rejection(registerModel(client, input()));
    assert.match(e.message, /no token was sent/);
    assert.match(e.hint ?? '', /--token-file/);
    assert.equal(mr.requests[0]?.authorization, undefined);
  });

  it('explains a JSON 401 in the API error shape', async () => {
    mr.forbid = { status: 401, style: 'json' };
    const e = await rejection(registerModel(client, input()));
    assert.match(e.message, /401 Unauthorized: Unauthorized: access denied/);
    assert.match(e.hint ?? '', /invalid or expired/);
  });

  it('explains an HTML 403 login page of an oauth-proxy', async () => {
    mr.forbid = { status: 403, style: 'html' };
    const e = await rejection(registerModel(client, input()));
    assert.match(e.message, /403 Forbidden/);
    assert.match(e.message, /an HTML page titled "Log In"/);
    assert.match(e.hint ?? '', /lacks access: it needs "get" on services/);
    assert.doesNotMatch(e.message, /<html|<form/);
  });

  it('explains a plain-text 403 from kube-rbac-proxy', async () => {
    mr.forbid = { status: 403, style: 'text' };
    const e = await rejection(registerModel(client, input()));
    assert.match(e.message, /Forbidden \(user=system:serviceaccount:ci:builder/);
  });

  it('names a wrong address (no API there) rather than a registry error', async () => {
    await client.close();
    client = new ModelRegistryClient({ url: `${mr.url}/not-here`, token: staticToken(TOKEN) });
    const e = await rejection(registerModel(client, input()));
    assert.match(e.hint ?? '', /no Model Registry API at that address/);
  });

  it('follows nextPageToken when a version holds more artifacts than a page', async () => {
    mr.maxPageSize = 1;
    const first = await registerModel(client, input());
    const extra = await fetch(
      `${mr.url}/api/model_registry/v1alpha3/model_versions/${first.modelVersionId}/artifacts`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ artifactType: 'model-artifact', name: 'copy', uri: first.uri }),
      },
    );
    assert.equal(extra.status, 201);
    const r = await registerModel(client, input());
    assert.equal(r.unchanged, true);
    assert.ok(mr.requests.some((q) => q.path.endsWith('/artifacts') && q.query.nextPageToken));
  });

  it('has a double that rejects unknown and read-only fields as the Go server does', async () => {
    const post = (body: unknown) =>
      fetch(`${mr.url}/api/model_registry/v1alpha3/registered_models`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const unknown = await post({ name: 'x', framework: 'pytorch' });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { message: string }).message, /unknown field "framework"/);
    const readOnly = await post({ name: 'x', id: '7' });
    assert.equal(readOnly.status, 400);
    const untyped = await post({ name: 'x', customProperties: { a: { string_value: 'no metadataType' } } });
    assert.equal(untyped.status, 400);
    assert.deepEqual(mr.counts().registeredModels, 0);
  });
});

describe('registerBuild (what build --register calls)', () => {
  let mr: ModelRegistryDouble;
  let dir: string;
  before(async () => {
    mr = await ModelRegistryDouble.start({ token: TOKEN });
    dir = await mkdtemp(join(tmpdir(), 'modelcar-register-'));
  });
  after(async () => {
    await mr.close();
    await rm(dir, { recursive: true, force: true });
  });

  const files = [
    { path: 'config.json', size: 700, sha256: '1'.repeat(64) },
    { path: 'model.safetensors', size: 5000, sha256: '2'.repeat(64) },
  ];

  it('registers with defaults derived from the build, reading the token from a file', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const r = await registerBuild(
      {
        image: `127.0.0.1:5000/models/tiny:r1@${DIGEST}`,
        tag: 'r1',
        source: { uri: 'hf://acme/tiny-llm@main', revision: 'a'.repeat(40) },
        files,
        totalBytes: 5700,
      },
      { modelRegistry: mr.url, tokenFile, env: {} },
    );
    assert.deepEqual(r.created, { registeredModel: true, modelVersion: true, modelArtifact: true });
    const { registeredModels, modelVersions } = mr.snapshot();
    assert.equal(registeredModels[0]?.name, 'acme/tiny-llm');
    assert.equal(modelVersions[0]?.name, 'r1');
    const props = modelVersions[0]?.customProperties as Record<string, Record<string, unknown>>;
    assert.equal(props[PROPERTY.filesSha256]?.string_value, filesSha256(files));
    assert.equal(props[PROPERTY.sourceUri]?.string_value, 'hf://acme/tiny-llm@main');
    assert.equal(props[PROPERTY.fileCount]?.int_value, '2');
    assert.equal(r.uri, `oci://127.0.0.1:5000/models/tiny@${DIGEST}`);
    assert.deepEqual(mr.violations, []);
  });

  it('uses $MODEL_REGISTRY_TOKEN and is idempotent', async () => {
    const build = {
      image: `oci://127.0.0.1:5000/models/tiny@${DIGEST}`,
      tag: 'r1',
      source: { uri: 'hf://acme/tiny-llm@main', revision: 'a'.repeat(40) },
      files,
      totalBytes: 5700,
    };
    const r = await registerBuild(build, { modelRegistry: mr.url, env: { MODEL_REGISTRY_TOKEN: TOKEN } });
    assert.equal(r.unchanged, true);
    assert.equal(mr.requests.at(-1)?.authorization, `Bearer ${TOKEN}`);
  });

  it('refuses an image without a digest before any request', async () => {
    const before = mr.requests.length;
    const e = await rejection(
      registerBuild(
        { image: '127.0.0.1:5000/models/tiny:r1', source: { uri: '/models/tiny' }, files, totalBytes: 1 },
        { modelRegistry: mr.url, env: {} },
      ),
    );
    assert.match(e.message, /not pinned to a digest/);
    assert.equal(mr.requests.length, before);
  });

  it('hashes the file listing independently of order, and only when every file has a hash', () => {
    assert.equal(filesSha256(files), filesSha256([...files].reverse()));
    assert.match(filesSha256(files) ?? '', /^sha256:[a-f0-9]{64}$/);
    assert.equal(filesSha256([{ path: 'a', size: 1 }]), undefined);
  });
});
