/**
 * `doctor` before a signing build: the key opens and signs (a wrong password is a FAIL with the fix), the identity
 * token is there, the Sigstore instance (the Sigstore project's doubles) answers, and a stopped one is named.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { type SigstoreDouble, startSigstore } from '../support/sigstore-double.js';

interface Doctor {
  checks: { id: string; status: string; summary: string; fix?: string }[];
}

describe('doctor: signing', () => {
  let work: string;
  let sigstore: SigstoreDouble;
  before(async () => {
    work = await tempDir('modelcar-doctor-sign-');
    sigstore = await startSigstore();
    await modelcarOk(['key', 'generate'], { cwd: work, env: { COSIGN_PASSWORD: 'pw' } });
  });
  after(async () => {
    await sigstore?.stop();
    await removeTemp(work);
  });

  const doctor = async (args: string[], env: Record<string, string> = {}) => {
    const r = await modelcar(['doctor', '--offline', '--only', 'signing', '--json', ...args], { env });
    return { code: r.code, report: JSON.parse(r.stdout) as Doctor };
  };

  it('the key opens and signs with its password, and fails with the fix without it', async () => {
    const ok = await doctor(['--sign-key', join(work, 'cosign.key')], { COSIGN_PASSWORD: 'pw' });
    assert.equal(ok.code, 0);
    assert.equal(ok.report.checks.find((c) => c.id === 'signing.key')?.status, 'ok');
    const wrong = await doctor(['--sign-key', join(work, 'cosign.key')], { COSIGN_PASSWORD: 'nope' });
    assert.equal(wrong.code, 1);
    const check = wrong.report.checks.find((c) => c.id === 'signing.key');
    assert.equal(check?.status, 'fail');
    assert.match(check?.summary ?? '', /wrong password/);
    assert.match(check?.fix ?? '', /--sign-password-file/);
  });

  it('keyless: the token is read and Fulcio and Rekor answer; a stopped instance is named', async () => {
    const token = join(work, 'token');
    await writeFile(token, sigstore.identityToken('https://kubernetes.io/namespaces/m/serviceaccounts/b'));
    const args = sigstore.signingArgs(token);
    const ok = await doctor(args);
    assert.equal(ok.code, 0, JSON.stringify(ok.report));
    assert.deepEqual(
      ok.report.checks.map((c) => `${c.id} ${c.status}`),
      ['signing.token ok', 'signing.fulcio ok', 'signing.rekor ok'],
    );
    assert.ok(sigstore.requests.includes('GET /rekor/api/v1/log'));
    const down = await doctor([
      ...args.slice(0, 2),
      '--fulcio-url',
      'http://127.0.0.1:9',
      '--rekor-url',
      sigstore.rekorUrl,
    ]);
    assert.equal(down.code, 1);
    assert.match(down.report.checks.find((c) => c.id === 'signing.fulcio')?.summary ?? '', /does not answer/);
  });
});
