/**
 * What TLS trusts, as containers tools and curl users expect: the base set (Mozilla roots, SSL_CERT_FILE or the
 * system bundle, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS, the pod's service CA), certs.d lookup per HOST[:PORT] with its
 * roots in order, and a cert directory's files read as containers/image reads them.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { ModelcarError } from '../../src/errors.js';
import { baseCas, certsdDirFor, readCertDir, tlsConfigured, tlsSettings } from '../../src/http/trust.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { issueCert, makeCa } from '../support/pki.js';

const PEM = (name: string) => `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`;

describe('TLS trust', () => {
  let work: string;
  before(async () => {
    work = await tempDir();
  });
  after(() => removeTemp(work));

  it('builds the base set from the Mozilla roots, SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS and the service CA', async () => {
    const dir = join(work, 'ssl-dir');
    await mkdir(dir);
    await writeFile(join(dir, 'a.pem'), PEM('from-dir'));
    await writeFile(join(dir, 'README'), 'not a certificate');
    await writeFile(join(work, 'bundle.pem'), PEM('from-file'));
    await writeFile(join(work, 'extra.pem'), PEM('extra'));
    await writeFile(join(work, 'service.crt'), PEM('service'));
    const cas = baseCas(
      {
        SSL_CERT_FILE: join(work, 'bundle.pem'),
        SSL_CERT_DIR: dir,
        NODE_EXTRA_CA_CERTS: join(work, 'extra.pem'),
        MODELCAR_SERVICE_CA_FILE: join(work, 'service.crt'),
      },
      undefined,
    );
    for (const name of ['from-file', 'from-dir', 'extra', 'service']) assert.ok(cas.includes(PEM(name)), name);
    assert.ok(!cas.includes('not a certificate'));
    assert.equal(cas.filter((c) => rootCertificates.includes(c)).length, rootCertificates.length);
    const none = baseCas({ SSL_CERT_FILE: join(work, 'missing.pem'), MODELCAR_SERVICE_CA_FILE: join(work, 'nope') });
    assert.equal(none.length, rootCertificates.length, 'absent files add nothing');
  });

  it('finds HOST:PORT in the first certs.d root that has it', async () => {
    const [first, second] = [join(work, 'root1'), join(work, 'root2')];
    await mkdir(join(second, 'registry.corp:5000'), { recursive: true });
    await mkdir(join(first, 'registry.corp'), { recursive: true });
    const env = { MODELCAR_CERTS_D: `${first}:${second}` };
    assert.equal(certsdDirFor('registry.corp:5000', env), join(second, 'registry.corp:5000'));
    assert.equal(certsdDirFor('registry.corp', env), join(first, 'registry.corp'));
    assert.equal(certsdDirFor('other:5000', env), undefined);
    assert.equal(tlsConfigured({ certsdHost: 'registry.corp:5000' }, env), true);
    assert.equal(tlsConfigured({ certsdHost: 'other:5000' }, env), false);
  });

  it('reads *.crt as CAs and NAME.cert + NAME.key as the client pair, and refuses half a pair', async () => {
    const ca = makeCa(work, 'dir-ca');
    const client = issueCert(work, ca, 'dir-client');
    const dir = join(work, 'cert-dir');
    await mkdir(dir);
    await writeFile(join(dir, 'ca.crt'), PEM('dir-ca'));
    const { readFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'me.cert'), await readFile(client.cert));
    await writeFile(join(dir, 'me.key'), await readFile(client.key));
    const read = readCertDir(dir, '--cert-dir');
    assert.deepEqual(read.cas, [PEM('dir-ca')]);
    assert.match(read.cert ?? '', /BEGIN CERTIFICATE/);
    assert.match(read.key ?? '', /PRIVATE KEY/);
    const half = join(work, 'half');
    await mkdir(half);
    await writeFile(join(half, 'client.cert'), 'x');
    assert.throws(
      () => readCertDir(half, '--cert-dir'),
      (e: unknown) =>
        e instanceof ModelcarError &&
        /client\.cert is a client certificate without its key client\.key/.test(e.message),
    );
  });

  it('names an unreadable or non-PEM --ca-file, and shares one context per distinct trust', async () => {
    assert.throws(
      () => tlsSettings({ caFile: join(work, 'nope.pem') }, {}),
      (e: unknown) =>
        e instanceof ModelcarError && e.kind === 'usage' && /cannot read --ca-file .*nope\.pem/.test(e.message),
    );
    await writeFile(join(work, 'text.pem'), 'hello');
    assert.throws(
      () => tlsSettings({ caFile: join(work, 'text.pem') }, {}),
      (e: unknown) => e instanceof ModelcarError && /holds no PEM certificate/.test(e.message),
    );
    const ca = makeCa(work, 'shared-ca');
    const a = tlsSettings({ caFile: ca.cert }, {});
    const b = tlsSettings({ caFile: ca.cert }, {});
    assert.equal(a.id, b.id);
    assert.equal(a.secureContext, b.secureContext);
    assert.notEqual(tlsSettings({ caFile: ca.cert, verify: false }, {}).id, a.id);
    assert.deepEqual(a.sources, [`--ca-file ${ca.cert}`]);
  });
});
