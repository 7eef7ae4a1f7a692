/**
 * `modelcar doctor hf://...` against the Hub double: a healthy repo, a gated repo whose license the token's account
 * has not accepted (the listing works, the download is refused: the doctor must open a file to find out), a token
 * that was granted, and a revision that does not exist.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { modelcar } from '../support/cli.js';
import { type HubDouble, startHubDouble } from '../support/hub-double.js';
import { type DoctorJson, result } from './doctor-json.js';

const FILES = [
  { path: 'config.json', content: '{"model_type":"llama"}' },
  { path: 'model.safetensors', size: 2 * 1024 * 1024 },
];

describe('doctor: Hugging Face source', () => {
  let hub: HubDouble;
  before(async () => {
    hub = await startHubDouble({
      repos: [
        { id: 'acme/open', commits: [{ files: FILES }] },
        { id: 'acme/gated', commits: [{ files: FILES }], gated: 'manual', grantedTokens: ['hf_granted'] },
      ],
    });
  });
  after(async () => {
    await hub?.close();
  });

  const doctor = async (source: string, token?: string): Promise<DoctorJson & { code: number }> => {
    const r = await modelcar(['doctor', source, '--json', '--offline'], {
      env: { HF_ENDPOINT: hub.url, ...(token ? { HF_TOKEN: token } : {}) },
    });
    assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
    return { ...(JSON.parse(r.stdout) as DoctorJson), code: r.code };
  };

  it('passes an open repository: revision pinned, files listed, download allowed', async () => {
    const report = await doctor('hf://acme/open');
    assert.equal(report.code, 0, JSON.stringify(report, null, 2));
    assert.match(result(report, 'source.revision').summary, new RegExp(`hf://acme/open@${hub.shaOf('acme/open')}`));
    assert.match(result(report, 'source.files').summary, /^2 files, 2\.0 MiB to package/);
    assert.equal(result(report, 'source.access').status, 'ok');
  });

  it('fails on a gated repository whose license the token has not been granted', async () => {
    const report = await doctor('hf://acme/gated', 'hf_not_granted');
    assert.equal(report.code, 1);
    assert.equal(result(report, 'source.files').status, 'ok', 'the listing of a gated repo works');
    const access = result(report, 'source.access');
    assert.equal(access.status, 'fail');
    assert.match(access.summary, /gated/);
    assert.match(access.summary, /HF_TOKEN/);
    assert.match(String(access.cause), /accept its license/);
    assert.match(String(access.fix), /acme\/gated/);
  });

  it('fails on a gated repository without any token, and passes with a granted one', async () => {
    const none = await doctor('hf://acme/gated');
    assert.equal(result(none, 'source.access').status, 'fail');
    assert.match(result(none, 'source.access').summary, /no Hugging Face token/);
    const granted = await doctor('hf://acme/gated', 'hf_granted');
    assert.equal(granted.code, 0, JSON.stringify(granted, null, 2));
  });

  it('fails on a revision that does not exist', async () => {
    const report = await doctor('hf://acme/open@v9.9');
    assert.equal(report.code, 1);
    const rev = result(report, 'source.revision');
    assert.equal(rev.status, 'fail');
    assert.match(rev.summary, /v9\.9/);
    assert.match(String(rev.fix), /branch, tag, commit/);
  });
});
