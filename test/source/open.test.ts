import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HfSource } from '../../src/source/hf.js';
import { LocalSource } from '../../src/source/local.js';
import { openSource, parseConnections } from '../../src/source/open.js';

describe('openSource', () => {
  it('opens hf:// on the Hub named by HF_ENDPOINT, and anything else as a directory', () => {
    const hf = openSource('hf://acme/model@dev', { env: { HF_ENDPOINT: 'http://127.0.0.1:9/' } });
    assert.ok(hf instanceof HfSource);
    assert.equal(hf.endpoint, 'http://127.0.0.1:9');
    assert.equal(hf.ref.revision, 'dev');
    const flagWins = openSource('hf://acme/model', {
      hfEndpoint: 'http://127.0.0.1:8',
      env: { HF_ENDPOINT: 'http://x' },
    });
    assert.equal((flagWins as HfSource).endpoint, 'http://127.0.0.1:8');
    assert.equal((openSource('hf://acme/model', { env: {} }) as HfSource).endpoint, 'https://huggingface.co');
    assert.ok(openSource('./models/x') instanceof LocalSource);
  });
  it('rejects a bad hf:// reference and a bad connection count with usage errors', () => {
    assert.throws(() => openSource('hf://just-a-name', { env: {} }), /expected exactly ORG\/NAME/);
    assert.equal(parseConnections('8'), 8);
    assert.throws(() => parseConnections('0'), /from 1 to 16/);
  });
});
