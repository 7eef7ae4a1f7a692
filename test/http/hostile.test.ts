/**
 * Hostile servers against the credential and wait rules of the HTTP layer (issue 13 §1, §4). The real registry
 * (Basic auth) sits behind a tampering proxy (plain http, and https with a test CA) that rewrites or replaces its
 * answers; "another host" is a recorder on 127.0.0.2, a different origin on the same machine. The secrets are
 * unique strings searched for in every output, the registry's log and every request the other host received.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, buildJson, type CliResult, modelcar } from '../support/cli.js';
import { type FaultProxy, type ProxiedRequest, startFaultProxy } from '../support/fault-proxy.js';
import { removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { type HubDouble, pseudoRandomBytes, startHubDouble } from '../support/hub-double.js';
import { issueCert, makeCa } from '../support/pki.js';
import { type Recorder, startRecorder } from '../support/recorder.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const USER = 'pusher';
const SECRET = 'Hostile-Test-Secret-5c1e9b';
const HELPER_SECRET = 'helper-held-Secret-77d0aa';
const HF_SECRET = 'hf-endpoint-Secret-4e2f10';
const MR_TOKEN = 'model-registry-Token-0f3c2a';
const SCRATCH = ['--base', 'scratch', '--image-volume'];
const basic = Buffer.from(`${USER}:${SECRET}`).toString('base64');

const isUploadStart = (r: ProxiedRequest) => r.method === 'POST' && r.path.includes('/blobs/uploads/');

describe('hostile servers: credentials stay on their origin, waits stay bounded', () => {
  let work: string;
  let registry: TestRegistry;
  let plain: FaultProxy;
  let tls: FaultProxy;
  let other: Recorder;
  let hub: HubDouble;
  let model: string;
  let authfile: string;
  let certsd: string;
  const outputs: string[] = [];

  const run = async (args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await modelcar(args, { env: { MODELCAR_CERTS_D: certsd, ...env } });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const build = (to: string, env: Record<string, string> = {}) =>
    run(['build', model, '--to', to, '--authfile', authfile, ...SCRATCH], env);
  const noSecretAtOtherHost = () => {
    const seen = other.everything();
    for (const s of [SECRET, basic, encodeURIComponent(SECRET)])
      assert.ok(!seen.includes(s), 'a secret reached the other host');
    assert.ok(
      other.requests.every((r) => r.headers.authorization === undefined),
      'Authorization reached the other host',
    );
  };

  before(async () => {
    work = await tempDir();
    registry = await startRegistry({ basicAuth: { username: USER, password: SECRET } });
    const ca = makeCa(work, 'hostile-ca');
    const cert = issueCert(work, ca, 'front', ['IP:127.0.0.1']);
    [plain, tls, other, hub] = await Promise.all([
      startFaultProxy(registry.port),
      startFaultProxy(registry.port, { tls: cert }),
      startRecorder('127.0.0.2'),
      startHubDouble({ repos: [] }),
    ]);
    certsd = join(work, 'certs.d');
    await mkdir(join(certsd, tls.host), { recursive: true });
    await copyFile(ca.cert, join(certsd, tls.host, 'ca.crt'));
    authfile = join(work, 'auth.json');
    await writeFile(
      authfile,
      JSON.stringify({ auths: { [plain.host]: { auth: basic }, [tls.host]: { auth: basic } } }),
    );
    model = (
      await writeFiles(join(work, 'model'), {
        'config.json': '{"model_type":"t"}',
        'model.safetensors': pseudoRandomBytes('hostile', 256 * 1024),
      })
    ).dir;
  });
  after(async () => {
    // Nothing any run printed, and nothing the registry logged, holds a secret.
    const all = `${outputs.join('\n')}\n${registry?.log() ?? ''}`;
    for (const s of [SECRET, basic, HELPER_SECRET, HF_SECRET, MR_TOKEN])
      assert.ok(!all.includes(s), `a secret was printed or logged`);
    await Promise.all([registry?.stop(), plain?.close(), tls?.close(), other?.close(), hub?.close()]);
    await removeTemp(work);
  });

  it('sends no Authorization to an upload Location on another host', async () => {
    plain.clearFaults();
    other.requests.length = 0;
    plain.inject(
      isUploadStart,
      {
        kind: 'rewrite',
        headers: (h) => ({ ...h, location: `${other.url}/v2/hostile/m/blobs/uploads/abc?_state=xyz` }),
      },
      10,
    );
    const r = await build(`${plain.host}/hostile/m:v1`);
    assertCleanFailure(r, /./);
    assert.ok(other.requests.length > 0, 'the upload did go to the other host');
    noSecretAtOtherHost();
  });

  it('refuses an upload Location that drops from https to plain http', async () => {
    tls.clearFaults();
    other.requests.length = 0;
    tls.inject(isUploadStart, { kind: 'rewrite', headers: (h) => ({ ...h, location: `${other.url}/v2/up` }) }, 10);
    const r = await build(`${tls.host}/hostile/down:v1`);
    assertCleanFailure(r, /sent us on to http:\/\/127\.0\.0\.2:\d+\/v2\/up; refusing to go from https to plain http/);
    assert.equal(other.requests.length, 0, 'nothing was sent to the plain-http URL');
  });

  it('refuses to send credentials to a token realm over plain http for an https registry', async () => {
    tls.clearFaults();
    other.requests.length = 0;
    tls.inject(
      (q) => q.headers.authorization === undefined,
      {
        kind: 'respond',
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="${other.url}/token",service="hostile"` },
        body: '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
      },
      10,
    );
    const r = await build(`${tls.host}/hostile/realm:v1`);
    assertCleanFailure(
      r,
      /token service http:\/\/127\.0\.0\.2:\d+\/token over plain http; refusing to send the credentials/,
    );
    assert.equal(other.requests.length, 0, 'the realm was never asked');
  });

  it('follows a blob redirect to another host without Authorization', async () => {
    plain.clearFaults();
    tls.clearFaults();
    const ref = `${plain.host}/hostile/redirect:v1`;
    const built = await buildJson([model, '--to', ref, '--authfile', authfile, ...SCRATCH]);
    outputs.push(built.stdout, built.stderr);
    // The "CDN" serves each blob's bytes, fetched here from the registry itself with the right credentials.
    const blobs = new Map<string, Buffer>();
    other.requests.length = 0;
    other.answer = (q) => ({ status: 200, body: blobs.get(q.url.split('/').pop() ?? '') ?? Buffer.alloc(0) });
    plain.inject(
      (q) => q.method === 'GET' && q.path.includes('/blobs/sha256:'),
      (q) => ({
        kind: 'respond',
        status: 307,
        headers: { location: `${other.url}/cdn/${q.path.split('/').pop()}` },
        body: '',
      }),
      100,
    );
    for (const layer of built.layers) {
      const res = await fetch(`http://${registry.host}/v2/hostile/redirect/blobs/${layer.digest}`, {
        headers: { authorization: `Basic ${basic}` },
      });
      blobs.set(layer.digest as string, Buffer.from(await res.arrayBuffer()));
    }
    const config = await fetch(`http://${registry.host}/v2/hostile/redirect/manifests/v1`, {
      headers: { authorization: `Basic ${basic}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const manifest = (await config.json()) as { config: { digest: string } };
    const cfg = await fetch(`http://${registry.host}/v2/hostile/redirect/blobs/${manifest.config.digest}`, {
      headers: { authorization: `Basic ${basic}` },
    });
    blobs.set(manifest.config.digest, Buffer.from(await cfg.arrayBuffer()));
    const verified = await modelcar(['verify', ref, '--authfile', authfile]);
    outputs.push(verified.stdout, verified.stderr);
    assert.equal(verified.code, 0, verified.stderr);
    assert.ok(other.requests.length > 0, 'the blobs came from the other host');
    noSecretAtOtherHost();
    other.answer = () => ({ status: 400 });
  });

  it('redacts a secret a server echoes in its error body', async () => {
    plain.clearFaults();
    plain.inject(
      isUploadStart,
      {
        kind: 'respond',
        status: 403,
        body: JSON.stringify({
          errors: [{ code: 'DENIED', message: `denied for ${USER}:${SECRET} (Basic ${basic})` }],
        }),
      },
      10,
    );
    const r = await build(`${plain.host}/hostile/echo:v1`);
    assertCleanFailure(r, /denied/);
    assert.ok(!r.stderr.includes(SECRET) && !r.stderr.includes(basic), r.stderr);
  });

  it('never repeats what a failing credential helper printed', async () => {
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-leaky');
    await writeFile(helper, `#!/bin/sh\necho "error: the stored secret ${HELPER_SECRET} has expired" >&2\nexit 3\n`);
    await chmod(helper, 0o755);
    const file = join(work, 'helper-auth.json');
    await writeFile(file, JSON.stringify({ credHelpers: { [plain.host]: 'leaky' } }));
    plain.clearFaults();
    const r = await run(['build', model, '--to', `${plain.host}/hostile/helper:v1`, '--authfile', file, ...SCRATCH], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    assertCleanFailure(
      r,
      /credential helper docker-credential-leaky failed for 127\.0\.0\.1:\d+: exited with status 3/,
    );
    assert.match(r.stderr, /hint: run it by hand/);
  });

  it('strips and never prints credentials written into HF_ENDPOINT', async () => {
    const endpoint = hub.url.replace('http://', `http://hfuser:${HF_SECRET}@`);
    const r = await run(['build', 'hf://acme/absent', '--to', `oci:${join(work, 'hf')}`], { HF_ENDPOINT: endpoint });
    assertCleanFailure(r, /hf:\/\/acme\/absent: repository not found on http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(
      hub.requests.every((q) => !q.authorization),
      'the userinfo was not turned into credentials',
    );
  });

  it('waits out a short Retry-After (announced) and refuses a long one, saying when to come back', async () => {
    plain.clearFaults();
    plain.inject(isUploadStart, { kind: 'respond', status: 429, headers: { 'retry-after': '1' } }, 1);
    const ok = await build(`${plain.host}/hostile/short:v1`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /HTTP 429 .*; retry 1 in 1\.0 s/);
    plain.clearFaults();
    plain.inject(isUploadStart, { kind: 'respond', status: 429, headers: { 'retry-after': '299' } }, 10);
    const started = Date.now();
    const long = await build(`${plain.host}/hostile/long:v1`);
    assertCleanFailure(
      long,
      /the server asks to retry after 299\.0 s \(at \d{4}-\d\d-\d\dT[\d:.]+Z\), longer than modelcar waits/,
    );
    assert.match(long.stderr, /hint: run again after \d{4}-/);
    assert.ok(Date.now() - started < 60_000, 'it did not wait the 299 s');
  });

  it('caps what it reads into memory: a token answer and a manifest', async () => {
    plain.clearFaults();
    other.requests.length = 0;
    other.answer = () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    plain.inject(
      (q) => q.headers.authorization === undefined,
      {
        kind: 'respond',
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="${other.url}/token",service="hostile"` },
      },
      10,
    );
    const token = await run(['build', model, '--to', `${plain.host}/hostile/big:v1`, ...SCRATCH]);
    assertCleanFailure(token, /the answer of the token service of 127\.0\.0\.1:\d+ is larger than 1 MiB/);
    other.answer = () => ({ status: 400 });
    plain.clearFaults();
    plain.inject(
      (q) => q.method === 'GET' && q.path.includes('/manifests/'),
      {
        kind: 'respond',
        status: 200,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.alloc(5 * 1024 * 1024, 0x20),
      },
      10,
    );
    const manifest = await run(['inspect', `${plain.host}/hostile/short:v1`, '--authfile', authfile]);
    assertCleanFailure(manifest, /the manifest is larger than 4 MiB/);
    plain.clearFaults();
    // A Model Registry that answers with megabytes: refused at its cap, before any id is used.
    other.answer = () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(5 * 1024 * 1024, 0x20),
    });
    const tokenFile = join(work, 'mr-token');
    await writeFile(tokenFile, `${MR_TOKEN}\n`);
    const mr = await run([
      'register',
      '--image',
      `${plain.host}/hostile/short:v1@sha256:${'a'.repeat(64)}`,
      '--model-registry',
      other.url,
      '--model-name',
      'hostile',
      '--model-version',
      'v1',
      '--token-file',
      tokenFile,
    ]);
    assertCleanFailure(mr, /the answer of http:\/\/127\.0\.0\.2:\d+ to GET .* is larger than 4 MiB/);
    other.answer = () => ({ status: 400 });
  });
});
