/**
 * `copy` with skopeo's per-end flags: a source registry that wants a client certificate from its own CA, and a
 * destination with another CA and a password, each end given its own files. The password comes from a file or an
 * environment variable, never only argv (where ps shows it: modelcar warns when it is there), and is never printed.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { issueCert, makeCa } from '../support/pki.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const USER = 'robot';
const PASSWORD = 'dest-Pa55word-c0py-91ab';

describe('copy with per-end TLS and credentials', () => {
  let work: string;
  let src: TestRegistry;
  let dest: TestRegistry;
  let srcDir: string;
  let destDir: string;
  let passwordFile: string;
  let digest: string;
  const srcRef = () => `${src.host}/models/m:v1`;

  before(async () => {
    work = await tempDir();
    const srcCa = makeCa(work, 'source-ca');
    const destCa = makeCa(work, 'destination-ca');
    const clientCa = makeCa(work, 'client-ca');
    const client = issueCert(work, clientCa, 'copier');
    const srcCert = issueCert(work, srcCa, 'source', ['IP:127.0.0.1']);
    const destCert = issueCert(work, destCa, 'destination', ['IP:127.0.0.1']);
    [src, dest] = await Promise.all([
      startRegistry({
        tls: { certificate: srcCert.cert, key: srcCert.key },
        extraConfig: { http: { tls: { clientcas: [clientCa.cert] } } },
      }),
      startRegistry({
        tls: { certificate: destCert.cert, key: destCert.key },
        basicAuth: { username: USER, password: PASSWORD },
      }),
    ]);
    srcDir = join(work, 'src-certs');
    destDir = join(work, 'dest-certs');
    await mkdir(srcDir);
    await mkdir(destDir);
    await copyFile(srcCa.cert, join(srcDir, 'ca.crt'));
    await copyFile(client.cert, join(srcDir, 'client.cert'));
    await copyFile(client.key, join(srcDir, 'client.key'));
    await copyFile(destCa.cert, join(destDir, 'ca.crt'));
    passwordFile = join(work, 'password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const model = await writeFiles(join(work, 'model'), {
      'config.json': '{"model_type":"t"}',
      'model.safetensors': pseudoRandomBytes('copy-ends', 512 * 1024),
    });
    digest = (
      await buildJson([model.dir, '--to', srcRef(), '--cert-dir', srcDir, '--base', 'scratch', '--image-volume'])
    ).digest;
  });
  after(async () => {
    await Promise.all([src?.stop(), dest?.stop()]);
    await removeTemp(work);
  });

  const noPassword = (r: { stdout: string; stderr: string }) =>
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD), `the password was printed:\n${r.stderr}`);

  it('copies with each end its own cert dir, the password from a file; skopeo sees the same digest', async () => {
    const r = await modelcarOk([
      'copy',
      srcRef(),
      `${dest.host}/mirror/m:v1`,
      '--src-cert-dir',
      srcDir,
      '--dest-cert-dir',
      destDir,
      '--dest-creds',
      USER,
      '--dest-password-file',
      passwordFile,
    ]);
    noPassword(r);
    assert.match(r.stdout, new RegExp(`${dest.host}/mirror/m:v1@${digest}`));
    const inspected = JSON.parse(
      await tool('skopeo', [
        'inspect',
        '--cert-dir',
        destDir,
        '--creds',
        `${USER}:${PASSWORD}`,
        `docker://${dest.host}/mirror/m:v1`,
      ]),
    ) as { Digest: string };
    assert.equal(inspected.Digest, digest);
  });

  it('takes the password from MODELCAR_DEST_PASSWORD, and warns when it is in argv', async () => {
    const fromEnv = await modelcarOk(
      [
        'copy',
        srcRef(),
        `${dest.host}/mirror/env:v1`,
        '--src-cert-dir',
        srcDir,
        '--dest-cert-dir',
        destDir,
        '--dest-creds',
        USER,
      ],
      { env: { MODELCAR_DEST_PASSWORD: PASSWORD } },
    );
    noPassword(fromEnv);
    const inArgv = await modelcarOk([
      'copy',
      srcRef(),
      `${dest.host}/mirror/argv:v1`,
      '--src-cert-dir',
      srcDir,
      '--dest-cert-dir',
      destDir,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
    ]);
    assert.match(inArgv.stderr, /warning: the password given in --dest-creds is visible to every user/);
    noPassword(inArgv);
  });

  it('refuses --dest-creds USER without a password, and keeps each end to its own files', async () => {
    const none = await modelcar([
      'copy',
      srcRef(),
      `${dest.host}/mirror/x:v1`,
      '--src-cert-dir',
      srcDir,
      '--dest-creds',
      USER,
    ]);
    assert.equal(none.code, 2);
    assertCleanFailure(none, /--dest-creds robot needs a user and a password/);
    // The source's directory does not make the destination trusted: its CA is another one.
    const crossed = await modelcar([
      'copy',
      srcRef(),
      `${dest.host}/mirror/y:v1`,
      '--src-cert-dir',
      srcDir,
      '--dest-cert-dir',
      srcDir,
      '--dest-creds',
      USER,
      '--dest-password-file',
      passwordFile,
    ]);
    assertCleanFailure(crossed, /the TLS certificate of 127\.0\.0\.1:\d+ is not trusted: issued by "destination-ca"/);
    // --dest-tls-verify=false turns verification off for that end only, with a warning line.
    const insecure = await modelcarOk([
      'copy',
      srcRef(),
      `${dest.host}/mirror/z:v1`,
      '--src-cert-dir',
      srcDir,
      '--dest-cert-dir',
      srcDir,
      '--dest-tls-verify=false',
      '--dest-creds',
      USER,
      '--dest-password-file',
      passwordFile,
    ]);
    assert.match(insecure.stderr, /TLS verification is off for registry 127\.0\.0\.1:\d+/);
  });
});
