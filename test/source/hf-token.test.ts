import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ModelcarError } from '../../src/errors.js';
import { findHfToken } from '../../src/source/hf-token.js';

describe('findHfToken', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelcar-token-'));
    await writeFile(join(dir, 'flag'), 'hf_from_flag\n');
    await writeFile(join(dir, 'path'), 'hf_from_token_path\n');
    await writeFile(join(dir, 'token'), 'hf_from_hf_home\n');
    await writeFile(join(dir, 'empty'), '\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prefers --hf-token-file over HF_TOKEN, and HF_TOKEN over token files', () => {
    const env = { HF_TOKEN: 'hf_from_env', HF_TOKEN_PATH: join(dir, 'path') };
    assert.deepEqual(findHfToken({ env, tokenFile: join(dir, 'flag') }), {
      value: 'hf_from_flag',
      source: `--hf-token-file ${join(dir, 'flag')}`,
    });
    assert.deepEqual(findHfToken({ env }), { value: 'hf_from_env', source: 'HF_TOKEN' });
  });
  it('reads HF_TOKEN_PATH, then $HF_HOME/token, as huggingface_hub does', () => {
    assert.equal(findHfToken({ env: { HF_TOKEN_PATH: join(dir, 'path'), HF_HOME: dir } })?.value, 'hf_from_token_path');
    assert.deepEqual(findHfToken({ env: { HF_HOME: dir } }), { value: 'hf_from_hf_home', source: join(dir, 'token') });
  });
  it('finds none when nothing is set, and fails for a named file that is missing or empty', () => {
    assert.equal(findHfToken({ env: { HOME: dir, HF_HOME: join(dir, 'nowhere') } }), undefined);
    assert.throws(
      () => findHfToken({ env: {}, tokenFile: join(dir, 'missing') }),
      (e: ModelcarError) => e.kind === 'usage' && /cannot read Hugging Face token file/.test(e.message),
    );
    assert.throws(() => findHfToken({ env: {}, tokenFile: join(dir, 'empty') }), /is empty/);
  });
});
