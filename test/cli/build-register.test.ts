/**
 * `build --register` fails before the first model byte when the Model Registry would refuse the registration, and
 * when only the registration fails after the push, the pipeline still learns the digest: stdout, every result file,
 * and exit 3 ("pushed, registration failed"). The image registry is the real one, behind a relay that counts every
 * request and byte; the Model Registry is the double, its auth proxy refusing as kube-rbac-proxy does.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { ExitCode } from '../../src/errors.js';
import { assertCleanFailure, modelcar } from '../support/cli.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { skopeoInspect } from '../support/images.js';
import { ModelRegistryDouble } from '../support/model-registry-double.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const TOKEN = 'sha256~build-register-writer';
const READ_ONLY = 'sha256~build-register-reader';

describe('build --register: fail before the first byte, never lose the digest', () => {
  let work: string;
  let registry: TestRegistry;
  let relay: FaultProxy;
  let mr: ModelRegistryDouble;
  let model: string;
  const tokenFile = (name: string) => join(work, name);

  const args = (repo: string, token: string, ...extra: string[]) => [
    'build',
    model,
    '--base',
    'scratch',
    '--image-volume',
    '--to',
    `${relay.host}/${repo}:v1`,
    '--register',
    '--model-registry',
    mr.url,
    '--model-registry-token-file',
    tokenFile(token),
    ...extra,
  ];

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    relay = await startFaultProxy(registry.port);
    mr = await ModelRegistryDouble.start({ token: TOKEN, readOnlyToken: READ_ONLY });
    await writeFile(tokenFile('good'), `${TOKEN}\n`);
    await writeFile(tokenFile('reader'), `${READ_ONLY}\n`);
    await writeFile(tokenFile('wrong'), 'sha256~not-a-token-this-cluster-knows\n');
    model = (
      await writeFiles(join(work, 'tiny'), {
        'config.json': '{"model_type":"test"}\n',
        'model.safetensors': pseudoRandomBytes('build-register', 2 * MiB),
      })
    ).dir;
  });
  after(async () => {
    await mr?.close();
    await relay?.close();
    await registry?.stop();
    await removeTemp(work);
  });
  afterEach(() => {
    assert.deepEqual(mr.violations, []);
    mr.forbid = undefined;
  });

  it('a token the Model Registry refuses fails the build before any request reaches the image registry', async () => {
    const before = relay.requests.length;
    const r = await modelcar(args('refused/tiny', 'wrong'));
    assertCleanFailure(r, /refused the token from --token-file .*wrong.*401 Unauthorized/);
    assert.equal(r.code, ExitCode.failed);
    assert.equal(relay.requests.length - before, 0, 'nothing was sent to the image registry');
    assert.doesNotMatch(r.stderr + r.stdout, /not-a-token-this-cluster-knows/);
  });

  it('a token that may read but not create fails the build before the push, writing nothing anywhere', async () => {
    const before = relay.requests.length;
    const r = await modelcar(args('reader/tiny', 'reader'));
    assertCleanFailure(r, /may not register models \(403 Forbidden on create\)/);
    assert.match(r.stderr, /hint: .*"create".*services/);
    assert.equal(relay.requests.length - before, 0, 'nothing was sent to the image registry');
    assert.deepEqual(mr.counts(), { registeredModels: 0, modelVersions: 0, modelArtifacts: 0 });
  });

  it('the write probe of a good token creates nothing', async () => {
    const r = await modelcar(args('probe/tiny', 'good', '--dry-run'));
    assert.equal(r.code, 0, r.stderr);
    // A dry run does not check the registration (nothing would be registered); the real build below does.
    const built = await modelcar(args('probe/tiny', 'good', '--json'));
    assert.equal(built.code, 0, built.stderr);
    const probes = mr.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/registered_models'));
    assert.equal(probes.filter((q) => q.status === 400).length, 1, 'one probe, refused by the server');
    assert.deepEqual(mr.counts(), { registeredModels: 1, modelVersions: 1, modelArtifacts: 1 });
  });

  it('a registration that fails after the push exits 3 with the digest on stdout and in every result file', async () => {
    const results = join(work, 'results');
    const r = await modelcar(args('late/tiny', 'good', '--json', '--result-dir', results), {
      // The token is revoked while the layer uploads: the preflight passed, the registration cannot.
      onStderrLine: (line) => {
        if (/^layer 1\/1 .* uploaded$/.test(line)) mr.forbid = { status: 401, style: 'text' };
      },
    });
    assert.equal(r.code, ExitCode.afterPush, r.stderr);
    assertCleanFailure(
      r,
      /^modelcar: error: pushed 127\.0\.0\.1:\d+\/late\/tiny:v1@sha256:[a-f0-9]{64}, but registering it failed: .*401/,
    );
    assert.match(
      r.stderr,
      /hint: .*retry only that step: modelcar register --image 127\.0\.0\.1:\d+\/late\/tiny:v1@sha256:/,
    );
    const out = JSON.parse(r.stdout) as { digest: string; registered: null; failedAfterPush: string };
    assert.match(out.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(out.registered, null);
    assert.match(out.failedAfterPush, /401/);
    assert.equal(await readFile(join(results, 'IMAGE_DIGEST'), 'utf8'), out.digest);
    assert.equal(await readFile(join(results, 'IMAGE_URL'), 'utf8'), `${relay.host}/late/tiny:v1`);
    assert.equal(await readFile(join(results, 'MODEL_VERSION_ID'), 'utf8'), '');
    // The tag is there and names that digest: the retry of just the registration has something to register.
    assert.equal((await skopeoInspect(`${registry.host}/late/tiny:v1`)).Digest, out.digest);
  });
});
