/**
 * Registries behind a private CA and with client certificates, as containers tools set them up: the real
 * distribution registry over TLS with a test CA, found through a certs.d directory (MODELCAR_CERTS_D points the
 * lookup at a temp root, as /etc/containers/certs.d would be) or --cert-dir; and the same registry requiring a
 * client certificate (http.tls.clientcas). build, copy, inspect, verify and doctor all work, skopeo reads the
 * result back through the same directory, and a missing client certificate or a wrong CA is named alike by build
 * and doctor.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DoctorJson, result } from '../doctor/doctor-json.js';
import { assertCleanFailure, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import { type ModelFixture, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { type CertFiles, issueCert, makeCa } from '../support/pki.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const MiB = 1024 * 1024;
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('modelcar: error: '));
const NOT_BUILT = ['--base', 'scratch', '--image-volume'];

describe('registries with a private CA and client certificates', () => {
  let work: string;
  let ca: CertFiles;
  let otherCa: CertFiles;
  let client: CertFiles;
  let tls: TestRegistry;
  let mtls: TestRegistry;
  let model: ModelFixture;
  /** certs.d root: HOST:PORT/ca.crt (+ client.cert/client.key for the mTLS registry). */
  let certsd: string;
  /** A --cert-dir for the mTLS registry. */
  let certDir: string;
  /** certs.d with a CA that did not sign the registry. */
  let wrongCertsd: string;
  /** certs.d for the mTLS registry without a client pair. */
  let noClientCertsd: string;

  const dirWith = async (dir: string, files: Record<string, string>) => {
    await mkdir(dir, { recursive: true });
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(dir, name));
  };

  before(async () => {
    work = await tempDir();
    ca = makeCa(work, 'private-registry-ca');
    otherCa = makeCa(work, 'some-other-ca');
    const clientCa = makeCa(work, 'client-ca');
    client = issueCert(work, clientCa, 'modelcar-client');
    const server = issueCert(work, ca, 'registry', ['IP:127.0.0.1', 'DNS:localhost']);
    [tls, mtls] = await Promise.all([
      startRegistry({ tls: { certificate: server.cert, key: server.key } }),
      startRegistry({
        tls: { certificate: server.cert, key: server.key },
        extraConfig: { http: { tls: { clientcas: [clientCa.cert] } } },
      }),
    ]);
    certsd = join(work, 'certs.d');
    await dirWith(join(certsd, tls.host), { 'ca.crt': ca.cert });
    await dirWith(join(certsd, mtls.host), { 'ca.crt': ca.cert, 'client.cert': client.cert, 'client.key': client.key });
    certDir = join(work, 'cert-dir');
    await dirWith(certDir, { 'ca.crt': ca.cert, 'me.cert': client.cert, 'me.key': client.key });
    wrongCertsd = join(work, 'wrong-certs.d');
    await dirWith(join(wrongCertsd, tls.host), { 'ca.crt': otherCa.cert });
    noClientCertsd = join(work, 'no-client-certs.d');
    await dirWith(join(noClientCertsd, mtls.host), { 'ca.crt': ca.cert });
    model = await writeFiles(join(work, 'model'), {
      'config.json': '{"model_type":"t"}',
      'model.safetensors': pseudoRandomBytes('private-ca', MiB),
    });
  });
  after(async () => {
    await Promise.all([tls?.stop(), mtls?.stop()]);
    await removeTemp(work);
  });

  it('builds over TLS into a loopback registry whose CA is in certs.d, and skopeo reads it through the same directory', async () => {
    const ref = `${tls.host}/private/m:v1`;
    const built = await buildJson([model.dir, '--to', ref, ...NOT_BUILT], { env: { MODELCAR_CERTS_D: certsd } });
    const inspected = JSON.parse(
      await tool('skopeo', ['inspect', '--cert-dir', join(certsd, tls.host), `docker://${ref}`]),
    ) as { Digest: string };
    assert.equal(inspected.Digest, built.digest);
  });

  it('names the host, the issuer and the certs.d directory when the CA is wrong; doctor says the same', async () => {
    const env = { MODELCAR_CERTS_D: wrongCertsd };
    const to = `${tls.host}/private/wrong:v1`;
    const r = await modelcar(['build', model.dir, '--to', to, ...NOT_BUILT], { env });
    assertCleanFailure(r, /the TLS certificate of 127\.0\.0\.1:\d+ is not trusted: issued by "private-registry-ca"/);
    assert.match(
      r.stderr,
      new RegExp(`hint: save the registry's CA as /etc/containers/certs\\.d/${tls.host}/ca\\.crt`),
    );
    const doctor = JSON.parse(
      (await modelcar(['doctor', model.dir, '--to', to, '--offline', '--json', '--only', 'registry'], { env })).stdout,
    ) as DoctorJson;
    const t = result(doctor, 'registry.tls');
    assert.equal(t.status, 'fail');
    assert.equal(`modelcar: error: ${t.summary}`, errorLine(r.stderr));
    assert.match(String(t.fix), new RegExp(`/etc/containers/certs\\.d/${tls.host}/ca\\.crt`));
  });

  it('presents the client certificate from certs.d: build, copy, inspect, verify and doctor all pass', async () => {
    const env = { MODELCAR_CERTS_D: certsd };
    const ref = `${mtls.host}/mtls/m:v1`;
    const built = await buildJson([model.dir, '--to', ref, ...NOT_BUILT], { env });
    const copied = await modelcarOk(['copy', ref, `${mtls.host}/mtls/copy:v1`], { env });
    assert.match(copied.stdout, new RegExp(`${mtls.host}/mtls/copy:v1@${built.digest}`));
    const inspected = await modelcarOk(['inspect', `${mtls.host}/mtls/copy:v1`, '--json'], { env });
    assert.equal((JSON.parse(inspected.stdout) as { manifestDigest: string }).manifestDigest, built.digest);
    const verified = await modelcarOk(['verify', ref, '--against', model.dir], { env });
    assert.match(verified.stdout, /^ok: /);
    const doctor = JSON.parse(
      (await modelcar(['doctor', model.dir, '--to', ref, '--offline', '--json', '--only', 'registry'], { env })).stdout,
    ) as DoctorJson;
    const reach = result(doctor, 'registry.reachable');
    assert.equal(reach.status, 'ok');
    assert.match(reach.summary, /TLS trusted \(.*certs\.d.*\), client certificate presented; direct/);
    assert.equal(result(doctor, 'registry.push').status, 'ok');
    // skopeo, with the same directory, sees the copy.
    const viaSkopeo = JSON.parse(
      await tool('skopeo', ['inspect', '--cert-dir', join(certsd, mtls.host), `docker://${mtls.host}/mtls/copy:v1`]),
    ) as { Digest: string };
    assert.equal(viaSkopeo.Digest, built.digest);
  });

  it('takes the same files from --cert-dir DIR', async () => {
    const ref = `${mtls.host}/mtls/certdir:v1`;
    await buildJson([model.dir, '--to', ref, '--cert-dir', certDir, ...NOT_BUILT]);
    await modelcarOk(['inspect', ref, '--cert-dir', certDir]);
  });

  it('fails without a client certificate with one line saying so; doctor names the same cause', async () => {
    const env = { MODELCAR_CERTS_D: noClientCertsd };
    const to = `${mtls.host}/mtls/none:v1`;
    const r = await modelcar(['build', model.dir, '--to', to, ...NOT_BUILT], { env });
    assertCleanFailure(r, /127\.0\.0\.1:\d+ refused the TLS handshake: it wants a client certificate it trusts/);
    assert.match(r.stderr, /hint: put the client certificate and key as \/etc\/containers\/certs\.d\//);
    const doctor = JSON.parse(
      (await modelcar(['doctor', model.dir, '--to', to, '--offline', '--json', '--only', 'registry'], { env })).stdout,
    ) as DoctorJson;
    const reach = result(doctor, 'registry.reachable');
    assert.equal(reach.status, 'fail');
    assert.equal(`modelcar: error: ${reach.summary}`, errorLine(r.stderr));
  });

  it('--tls-verify=false reaches a registry it cannot verify, with one warning line', async () => {
    const r = await modelcar(
      ['build', model.dir, '--to', `${tls.host}/private/insecure:v1`, '--tls-verify=false', '--json', ...NOT_BUILT],
      { env: { MODELCAR_CERTS_D: wrongCertsd } },
    );
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => /TLS verification is off/.test(l));
    assert.equal(warnings.length, 1, r.stderr);
  });
});
