/**
 * `modelcar doctor` against the real distribution registry: a healthy setup, wrong credentials, an untrusted
 * self-signed certificate (and the same registry trusted through --ca-file), a file over a configured layer limit.
 * Push permission is proven by an upload session that is cancelled: the test asserts nothing was written.
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { modelcar } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';
import { type DoctorJson, result } from './doctor-json.js';

const USER = 'pusher';
const PASSWORD = 'right-password';

function authFile(host: string, user: string, password: string): string {
  return JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });
}

async function doctor(args: string[]): Promise<DoctorJson & { code: number; stdout: string }> {
  const r = await modelcar(['doctor', ...args, '--json', '--offline']);
  assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
  return { ...(JSON.parse(r.stdout) as DoctorJson), code: r.code, stdout: r.stdout };
}

describe('doctor: destination registry', () => {
  let work: string;
  let model: string;
  let authed: TestRegistry;
  let tls: TestRegistry;
  let good: string;
  let bad: string;
  let cert: string;

  before(async () => {
    work = await tempDir();
    model = join(work, 'model');
    await writeFiles(model, {
      'config.json': '{"model_type":"t"}',
      'model.safetensors': pseudoRandomBytes('w', 3 * MiB),
    });
    cert = join(work, 'cert.pem');
    const key = join(work, 'key.pem');
    await tool('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=modelcar-test-registry',
      // "127.1" is 127.0.0.1 to the resolver but not a loopback spelling to modelcar, so TLS is used.
      '-addext',
      'subjectAltName=DNS:127.1,IP:127.0.0.1',
    ]);
    [authed, tls] = await Promise.all([
      startRegistry({ basicAuth: { username: USER, password: PASSWORD } }),
      startRegistry({ tls: { certificate: cert, key } }),
    ]);
    good = join(work, 'good.json');
    bad = join(work, 'bad.json');
    await writeFile(good, authFile(authed.host, USER, PASSWORD));
    await writeFile(bad, authFile(authed.host, USER, 'wrong-password'));
  });
  after(async () => {
    await Promise.all([authed?.stop(), tls?.stop()]);
    await removeTemp(work);
  });

  it('passes a healthy setup, and writes nothing to the registry', async () => {
    const report = await doctor([model, '--to', `${authed.host}/models/m:v1`, '--authfile', good, '--base', 'scratch']);
    assert.equal(report.code, 0, report.stdout);
    assert.equal(result(report, 'registry.reachable').status, 'ok');
    assert.match(result(report, 'registry.credentials').summary, new RegExp(`user ${USER} from ${good}`));
    assert.equal(result(report, 'registry.push').status, 'ok');
    assert.match(result(report, 'disk').summary, /stream mode/);
    const repos = join(authed.storageDir, 'docker/registry/v2/repositories/models/m');
    // distribution keeps an empty `hashstates` directory of a cancelled session; a live one has `data` and `startedat`.
    for (const id of await readdir(join(repos, '_uploads')).catch(() => [])) {
      const left = await readdir(join(repos, '_uploads', id));
      assert.ok(!left.includes('data') && !left.includes('startedat'), `upload ${id} was not cancelled: ${left}`);
    }
    const tags = await readdir(join(repos, '_manifests/tags')).catch(() => []);
    assert.deepEqual(tags, [], 'doctor must write no tag');
  });

  it('fails on wrong credentials, naming where they came from', async () => {
    const report = await doctor([model, '--to', `${authed.host}/models/m:v1`, '--authfile', bad, '--base', 'scratch']);
    assert.equal(report.code, 1);
    const push = result(report, 'registry.push');
    assert.equal(push.status, 'fail');
    assert.match(push.summary, new RegExp(`refused the credentials from ${bad.replace(/[.]/g, '\\.')} \\(HTTP 401\\)`));
    assert.match(String(push.symptom), /unauthorized: authentication required/);
    assert.match(String(push.fix), /log in|podman login/);
  });

  it('warns when no credential would be sent', async () => {
    const report = await doctor([model, '--to', `${authed.host}/models/m:v1`, '--base', 'scratch']);
    assert.equal(result(report, 'registry.credentials').status, 'warn');
    assert.equal(result(report, 'registry.push').status, 'fail');
  });

  it('fails on an untrusted self-signed certificate and says which CA to pass; --ca-file fixes it', async () => {
    const host = `127.1:${tls.port}`;
    const report = await doctor([model, '--to', `${host}/models/m:v1`, '--base', 'scratch']);
    assert.equal(report.code, 1);
    const t = result(report, 'registry.tls');
    assert.equal(t.status, 'fail');
    assert.match(t.summary, /not trusted/);
    assert.match(t.summary, /self-signed certificate \(CN=modelcar-test-registry\)/);
    assert.match(String(t.fix), /--ca-file/);
    assert.match(String(t.symptom), /x509: certificate signed by unknown authority/);

    const trusted = await doctor([model, '--to', `${host}/models/m:v1`, '--base', 'scratch', '--ca-file', cert]);
    assert.equal(trusted.code, 0, trusted.stdout);
    assert.match(result(trusted, 'registry.reachable').summary, /TLS trusted/);
    assert.equal(result(trusted, 'registry.push').status, 'ok');
  });

  it('fails on a file over the configured layer limit, before any byte moves', async () => {
    const report = await doctor([
      model,
      '--to',
      `${authed.host}/models/m:v1`,
      '--authfile',
      good,
      '--base',
      'scratch',
      '--max-layer-size',
      '2MiB',
    ]);
    assert.equal(report.code, 1);
    const limits = result(report, 'source.limits');
    assert.equal(limits.status, 'fail');
    assert.match(limits.summary, /model\.safetensors \(3\.0 MiB\)/);
    assert.match(limits.summary, /2\.0 MiB \(set by --max-layer-size\)/);
    assert.equal(result(report, 'registry.limits').status, 'fail');
  });
});
