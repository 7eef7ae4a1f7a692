/**
 * A hostile or broken Model Registry (the double's `hostile` switch replaces the answer of one operation): every
 * answer is checked before an id in it is used, so `{}`, `[1,2,3]`, an object without `id`, an id like `../..` or
 * an object for another name is that server's fault, named with the request, exit 1, never "id: undefined". A token
 * the server echoes back never reaches the output.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertCleanFailure, type CliResult, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { type HostileAnswer, ModelRegistryDouble } from '../support/model-registry-double.js';

const TOKEN = 'sha256~hostile-mr-4b1d7e-token';
const DIGEST = `sha256:${'5e'.repeat(32)}`;

describe('a hostile Model Registry', () => {
  let mr: ModelRegistryDouble;
  let work: string;
  let tokenFile: string;
  let n = 0;
  const args = (model: string) => [
    'register',
    '--image',
    `quay.io/acme/granite:r1@${DIGEST}`,
    '--model-registry',
    mr.url,
    '--model-name',
    model,
    '--model-version',
    'r1',
    '--token-file',
    tokenFile,
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
    mr.hostile = {};
  });

  function assertNamed(r: CliResult, message: RegExp): void {
    assertCleanFailure(r, message);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stdout + r.stderr, /undefined/);
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN), 'the token is never printed');
  }

  async function registerWith(operation: string, answer: (real: { status: number; body: unknown }) => HostileAnswer) {
    mr.hostile = { [operation]: answer };
    return modelcar(args(`model-${++n}`));
  }

  it('{} from a find: named, nothing used', async () => {
    const r = await registerWith('findRegisteredModel', () => ({ status: 200, body: {} }));
    assertNamed(
      r,
      /^modelcar: error: the Model Registry at http:\/\/127\.0\.0\.1:\d+ answered GET \/api\/model_registry\/v1alpha3\/registered_model with a registered model that has no id: \{\}$/,
    );
    assert.equal(mr.writes().length, 0, 'nothing was created from that answer');
  });

  it('[1,2,3] from a create', async () => {
    const r = await registerWith('createRegisteredModel', () => ({ status: 201, body: [1, 2, 3] }));
    assertNamed(
      r,
      /answered POST \/api\/model_registry\/v1alpha3\/registered_models with a registered model that is a list, not an object: \[1,2,3\]/,
    );
  });

  it('an object without id from the version create', async () => {
    const r = await registerWith('createModelVersion', (real) => {
      const { id: _, ...rest } = real.body as Record<string, unknown>;
      return { body: rest };
    });
    assertNamed(r, /answered POST \/api\/model_registry\/v1alpha3\/model_versions with a model version that has no id/);
  });

  it('an id like ../.. from the artifact create, with the token echoed back in the body', async () => {
    const r = await registerWith('upsertModelVersionArtifact', (real) => ({
      body: { description: `seen ${TOKEN}`, ...(real.body as Record<string, unknown>), id: '../..' },
    }));
    assertNamed(r, /with a model artifact that has the id "\.\.\/\.\.", which is not a plain identifier/);
    assert.match(r.stderr, /"seen <redacted>"/, 'the echoed token is replaced');
  });

  it('another model than the one asked for', async () => {
    await modelcarOk(args('someone-elses'));
    const theirs = mr.snapshot().registeredModels.find((m) => m.name === 'someone-elses');
    const r = await registerWith('findRegisteredModel', () => ({ status: 200, body: theirs }));
    assertNamed(r, /with a registered model named "someone-elses", not "model-\d+" as asked/);
  });

  it('an artifact list without items, from an existing version', async () => {
    const model = `model-${++n}`;
    await modelcarOk(args(model));
    mr.hostile = { getModelVersionArtifacts: () => ({ body: {} }) };
    const r = await modelcar(args(model));
    assertNamed(
      r,
      /answered GET \/api\/model_registry\/v1alpha3\/model_versions\/\d+\/artifacts with an artifact list without an items list: \{\}/,
    );
  });

  it('HTML and invalid JSON with a 200 are named too', async () => {
    const html = await registerWith('findRegisteredModel', () => ({
      status: 200,
      contentType: 'text/html',
      body: '<html><head><title>Sign in</title></head></html>',
    }));
    assertNamed(
      html,
      /answered GET .*registered_model with an HTML page titled "Sign in", not the JSON of the Model Registry API/,
    );
    const broken = await registerWith('findRegisteredModel', () => ({ status: 200, body: '{"id": "1", ' }));
    assertNamed(broken, /answered GET .*registered_model with body "\{"id": "1","?, not the JSON/);
  });
});
