/**
 * An account that may pull but not push, as a token service grants it (distribution `auth.token` with the issuer
 * granting only `pull`): the build fails before reading the model, naming a permission problem, not a password one;
 * doctor finds the same before anything runs; nothing is written.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertCleanFailure, modelcar } from '../support/cli.js';
import { removeTemp, tempDir, writeShardedModel } from '../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTokenIssuer, type TokenIssuer } from '../support/token-issuer.js';

describe('push permission', () => {
  let issuer: TokenIssuer;
  let registry: TestRegistry;
  let work: string;
  let readerAuth: string;
  let writerAuth: string;
  let model: string;

  before(async () => {
    issuer = await startTokenIssuer({
      users: { reader: 'r-secret-1', writer: 'w-secret-2' },
      readOnlyUsers: ['reader'],
    });
    registry = await startRegistry({ extraConfig: { auth: issuer.registryAuthConfig() } });
    work = await tempDir();
    const auth = async (name: string, user: string, password: string) => {
      const path = join(work, name);
      const entry = { auth: Buffer.from(`${user}:${password}`).toString('base64') };
      await writeFile(path, JSON.stringify({ auths: { [registry.host]: entry } }));
      return path;
    };
    readerAuth = await auth('reader.json', 'reader', 'r-secret-1');
    writerAuth = await auth('writer.json', 'writer', 'w-secret-2');
    model = join(work, 'model');
    await writeShardedModel(model, 2, 4 * 1024 * 1024);
  });
  after(async () => {
    await registry.stop();
    await issuer.close();
    await removeTemp(work);
  });

  const buildArgs = (authFile: string) => [
    'build',
    model,
    '--to',
    `${registry.host}/team/model:v1`,
    '--base',
    'scratch',
    '--image-volume',
    '--authfile',
    authFile,
  ];

  test('build with a read-only account fails in seconds, as a permission problem, before any layer', async () => {
    const started = Date.now();
    const r = await modelcar(buildArgs(readerAuth));
    assertCleanFailure(r, /valid but not allowed .*push.*insufficient_scope/);
    assert.match(r.stderr, /hint: ask for push access/);
    assert.ok(Date.now() - started < 15_000, 'no retry storm');
    assert.doesNotMatch(r.stderr, /^layer /m, 'no layer was sent');
    assert.doesNotMatch(r.stdout + r.stderr, /r-secret-1/);
    // The token service did log the reader in, and granted it pull only: the refusal is the registry's own.
    const readerTokens = issuer.issued.filter((t) => t.user === 'reader');
    assert.ok(readerTokens.length > 0);
    assert.ok(readerTokens.every((t) => t.scopes.every((s) => !s.includes('push'))));
  });

  test('doctor names the missing push permission; the writer passes and nothing is tagged', async () => {
    const denied = await modelcar([
      'doctor',
      model,
      '--to',
      `${registry.host}/team/model:v1`,
      '--authfile',
      readerAuth,
      '--only',
      'registry',
    ]);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(denied.stdout, /FAIL\s+registry\.push: .*not allowed .*push/);
    assert.doesNotMatch(denied.stdout + denied.stderr, /r-secret-1/);

    const allowed = await modelcar([
      'doctor',
      model,
      '--to',
      `${registry.host}/team/model:v1`,
      '--authfile',
      writerAuth,
      '--only',
      'registry',
    ]);
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
    assert.match(allowed.stdout, /ok\s+registry\.push/);
    const built = await modelcar(buildArgs(writerAuth));
    assert.equal(built.code, 0, built.stderr);
  });
});
