/**
 * Behind a proxy, as in a cluster with an egress proxy: a real squid that alone resolves the test names
 * (registry.test, hub.test, cdn.test), so a build succeeds only through it. The proxy's own access log counts the
 * requests; credentials in the proxy URL are sent to it and appear in no output. A proxy that is down or refuses our
 * credentials fails the build with one line naming the proxy (never its password), and doctor says the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DoctorJson, result } from '../doctor/doctor-json.js';
import { assertCleanFailure, buildJson, modelcar } from '../support/cli.js';
import { type ModelFixture, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { type HubDouble, pseudoRandomBytes, startHubDouble } from '../support/hub-double.js';
import { freePort, startRegistry, type TestRegistry } from '../support/registry.js';
import { startSquid, type TestSquid } from '../support/squid.js';
import { tool } from '../support/tools.js';

const PROXY_USER = 'egress';
const PROXY_SECRET = 'pr0xy-Secret-7f3a9c';
const MiB = 1024 * 1024;

describe('behind an authenticating proxy', () => {
  let work: string;
  let squid: TestSquid;
  let registry: TestRegistry;
  let hub: HubDouble;
  let model: ModelFixture;
  let registryHost: string;
  let env: Record<string, string>;

  before(async () => {
    work = await tempDir();
    squid = await startSquid({
      hosts: ['registry.test', 'hub.test', 'cdn.test'],
      auth: { username: PROXY_USER, password: PROXY_SECRET },
    });
    registry = await startRegistry();
    registryHost = `registry.test:${registry.port}`;
    hub = await startHubDouble({
      hubHost: 'hub.test',
      cdnHost: 'cdn.test',
      repos: [
        {
          id: 'acme/proxied-model',
          commits: [
            {
              files: [
                { path: 'config.json', content: '{"model_type":"llama"}' },
                { path: 'model.safetensors', size: 2 * MiB },
              ],
            },
          ],
        },
      ],
    });
    model = await writeFiles(`${work}/model`, {
      'config.json': '{"model_type":"t"}',
      'model.safetensors': pseudoRandomBytes('proxied', MiB),
    });
    env = { HTTP_PROXY: squid.urlWith(PROXY_USER, PROXY_SECRET), HTTPS_PROXY: squid.urlWith(PROXY_USER, PROXY_SECRET) };
  });
  after(async () => {
    await Promise.all([squid?.stop(), registry?.stop(), hub?.close()]);
    await removeTemp(work);
  });

  const noSecret = (r: { stdout: string; stderr: string }) =>
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PROXY_SECRET), `the proxy password was printed:\n${r.stderr}`);

  it('builds a local directory into a registry only the proxy can reach, and says so in no output', async () => {
    const ref = `${registryHost}/proxied/dir:v1`;
    const built = await buildJson([model.dir, '--to', ref, '--plain-http', '--base', 'scratch', '--image-volume'], {
      env,
    });
    noSecret(built);
    const seen = (await squid.log()).filter((e) => e.url.includes('registry.test'));
    assert.ok(seen.length > 0, 'the proxy saw the registry requests');
    assert.ok(
      seen.every((e) => e.user === PROXY_USER && !e.result.includes('DENIED')),
      JSON.stringify(seen),
    );
    assert.ok(
      seen.some((e) => e.method === 'PATCH' || e.method === 'PUT'),
      'the upload itself went through the proxy',
    );
    // An independent reader finds the image at the registry's real address.
    const inspected = JSON.parse(
      await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/proxied/dir:v1`]),
    ) as { Digest: string };
    assert.equal(inspected.Digest, built.digest);
  });

  it('builds hf:// from a Hub and CDN only the proxy can reach', async () => {
    hub.resetCounters();
    const built = await buildJson(
      ['hf://acme/proxied-model', '--to', `oci:${work}/hf-layout:v1`, '--base', 'scratch', '--image-volume'],
      { env: { ...env, HF_ENDPOINT: hub.url } },
    );
    noSecret(built);
    const log = await squid.log();
    assert.ok(
      log.some((e) => e.url.includes('hub.test')),
      'the Hub API went through the proxy',
    );
    assert.ok(
      log.some((e) => e.url.includes('cdn.test')),
      'the CDN download went through the proxy',
    );
    assert.ok(
      hub.requests.some((r) => r.origin === 'cdn'),
      'the weights came from the CDN',
    );
    assert.equal(built.files, 2);
  });

  it('fails with one line naming the proxy when it is down', async () => {
    const dead = `http://${PROXY_USER}:${PROXY_SECRET}@127.0.0.1:${await freePort()}`;
    const r = await modelcar(
      [
        'build',
        model.dir,
        '--to',
        `${registryHost}/proxied/down:v1`,
        '--plain-http',
        '--base',
        'scratch',
        '--image-volume',
      ],
      { env: { HTTP_PROXY: dead } },
    );
    assertCleanFailure(r, /the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\) does not answer/);
    assert.match(r.stderr, /hint: check that the proxy is running and that HTTP_PROXY names it/);
    noSecret(r);
    const hf = await modelcar(['build', 'hf://acme/proxied-model', '--to', `oci:${work}/down`], {
      env: { HTTP_PROXY: dead, HF_ENDPOINT: hub.url },
    });
    assertCleanFailure(hf, /the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\) does not answer/);
    noSecret(hf);
  });

  it('names the proxy, never the password, when it wants credentials or refuses them', async () => {
    const args = [
      'build',
      model.dir,
      '--to',
      `${registryHost}/proxied/auth:v1`,
      '--plain-http',
      '--base',
      'scratch',
      '--image-volume',
    ];
    const none = await modelcar(args, { env: { HTTP_PROXY: squid.url } });
    assertCleanFailure(
      none,
      /proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\) demands credentials for registry registry\.test:\d+ \(HTTP 407/,
    );
    assert.match(none.stderr, /hint: put the proxy's user and password in HTTP_PROXY/);
    const wrong = 'not-the-Pr0xy-password';
    const bad = await modelcar(args, { env: { HTTP_PROXY: squid.urlWith(PROXY_USER, wrong) } });
    assertCleanFailure(bad, /proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\) refused our credentials/);
    assert.ok(!`${bad.stdout}${bad.stderr}`.includes(wrong), bad.stderr);
  });

  it('goes direct for a NO_PROXY host (which only the proxy could resolve)', async () => {
    const r = await modelcar(
      [
        'build',
        model.dir,
        '--to',
        `${registryHost}/proxied/np:v1`,
        '--plain-http',
        '--base',
        'scratch',
        '--image-volume',
      ],
      { env: { ...env, NO_PROXY: '.test' } },
    );
    assertCleanFailure(
      r,
      /cannot reach registry registry\.test:\d+ \(direct\): the name registry\.test does not resolve/,
    );
  });

  it('doctor shows the route per endpoint without the password, and the same cause as build', async () => {
    const doctor = async (extra: Record<string, string>) => {
      const r = await modelcar(
        [
          'doctor',
          model.dir,
          '--to',
          `${registryHost}/proxied/doc:v1`,
          '--plain-http',
          '--offline',
          '--json',
          '--only',
          'registry',
        ],
        { env: extra },
      );
      noSecret(r);
      return JSON.parse(r.stdout) as DoctorJson;
    };
    const ok = result(await doctor(env), 'registry.reachable');
    assert.equal(ok.status, 'ok');
    assert.match(ok.summary, /via proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\)/);
    const hubRun = await modelcar(['doctor', 'hf://acme/proxied-model', '--offline', '--json', '--only', 'source'], {
      env: { ...env, HF_ENDPOINT: hub.url },
    });
    noSecret(hubRun);
    const rev = result(JSON.parse(hubRun.stdout) as DoctorJson, 'source.revision');
    assert.match(rev.summary, /http:\/\/hub\.test:\d+ via proxy http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\)/);

    // The same broken endpoint, seen by doctor and by build: the same one-line cause.
    const broken: [string, Record<string, string>][] = [
      ['proxy down', { HTTP_PROXY: `http://127.0.0.1:${await freePort()}` }],
      ['407', { HTTP_PROXY: squid.url }],
      ['no route', { ...env, NO_PROXY: 'registry.test' }],
    ];
    for (const [what, extra] of broken) {
      const found = result(await doctor(extra), 'registry.reachable');
      const build = await modelcar(
        [
          'build',
          model.dir,
          '--to',
          `${registryHost}/proxied/doc:v1`,
          '--plain-http',
          '--base',
          'scratch',
          '--image-volume',
        ],
        { env: extra },
      );
      assert.equal(found.status, 'fail', what);
      assert.equal(
        `modelcar: error: ${found.summary}`,
        build.stderr.split('\n').find((l) => l.startsWith('modelcar: error:')),
        what,
      );
    }
  });
});
