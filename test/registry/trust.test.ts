/**
 * The CAs registry TLS trusts: system roots always; --ca-file; the pod's service CA when it is mounted (so the
 * OpenShift internal registry works with no flag); NODE_EXTRA_CA_CERTS kept, since Node drops it once `ca` is set.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { ModelcarError } from '../../src/errors.js';
import { trustedCas } from '../../src/oci/registry/trust.js';
import { removeTemp, tempDir } from '../support/fixtures.js';

const PEM = (name: string) => `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`;

describe('registry TLS trust', () => {
  let work: string;
  let service: string;
  let extra: string;
  let given: string;
  const missing = '/nonexistent/service-ca.crt';

  before(async () => {
    work = await tempDir();
    service = join(work, 'service-ca.crt');
    extra = join(work, 'extra.pem');
    given = join(work, 'given.pem');
    await writeFile(service, PEM('service'));
    await writeFile(extra, PEM('extra'));
    await writeFile(given, PEM('given'));
  });
  after(() => removeTemp(work));

  it('leaves the system store alone when there is no extra CA anywhere', () => {
    assert.equal(trustedCas({ serviceCaFile: missing }, {}), undefined);
  });

  it("trusts the pod's service CA when it is mounted, beside every system root", () => {
    const cas = trustedCas({ serviceCaFile: service }, {}) ?? [];
    assert.ok(cas.includes(PEM('service')));
    assert.equal(cas.length, rootCertificates.length + 1);
  });

  it('adds --ca-file, keeps NODE_EXTRA_CA_CERTS, and takes MODELCAR_SERVICE_CA_FILE as the mount', () => {
    const cas = trustedCas({ caFile: given }, { NODE_EXTRA_CA_CERTS: extra, MODELCAR_SERVICE_CA_FILE: service }) ?? [];
    for (const name of ['given', 'extra', 'service']) assert.ok(cas.includes(PEM(name)), name);
  });

  it('names an unreadable --ca-file', () => {
    assert.throws(
      () => trustedCas({ caFile: join(work, 'nope.pem'), serviceCaFile: missing }, {}),
      (e: unknown) => e instanceof ModelcarError && /cannot read --ca-file .*nope\.pem/.test(e.message),
    );
  });
});
