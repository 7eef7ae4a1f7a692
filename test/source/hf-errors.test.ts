import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hubError } from '../../src/source/hf-errors.js';

const ctx = { endpoint: 'https://huggingface.co', repo: 'meta-llama/Llama-3.1-8B' };
const url = 'https://huggingface.co/api/models/meta-llama/Llama-3.1-8B';

describe('hubError', () => {
  it('tells a gated repo without a token to accept the license on the repo page and pass a token', () => {
    const e = hubError(ctx, { status: 401, code: 'GatedRepo', url, path: 'model.safetensors' });
    assert.equal(e.message, 'hf://meta-llama/Llama-3.1-8B is a gated repository and no Hugging Face token was given');
    assert.match(e.hint ?? '', /accept its license on https:\/\/huggingface\.co\/meta-llama\/Llama-3\.1-8B/);
    assert.match(e.hint ?? '', /HF_TOKEN or --hf-token-file/);
  });
  it('names the file for EntryNotFound and the revision for RevisionNotFound', () => {
    assert.match(
      hubError(ctx, { status: 404, code: 'EntryNotFound', url, path: 'a/b.json' }).message,
      /a\/b\.json not found/,
    );
    const rev = hubError({ ...ctx, revision: 'v9' }, { status: 404, code: 'RevisionNotFound', url });
    assert.equal(rev.message, 'hf://meta-llama/Llama-3.1-8B@v9: revision "v9" not found');
  });
  it('calls a 401 with a token a rejected token, naming only where the token came from', () => {
    const e = hubError({ ...ctx, tokenSource: 'HF_TOKEN' }, { status: 401, url, message: 'Invalid credentials' });
    assert.equal(e.message, 'the Hugging Face token from HF_TOKEN was rejected (HTTP 401: Invalid credentials)');
  });
  it('marks server failures as network errors to run again', () => {
    assert.equal(hubError(ctx, { status: 503, url }).kind, 'network');
  });
});
