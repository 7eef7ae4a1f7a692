import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryCounter, retryDelay } from '../../src/source/retry-policy.js';

const policy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000, maxStallMs: 60_000 };

describe('retry policy', () => {
  it('doubles the delay per failure, jittered between half and all of it, capped', () => {
    for (let i = 0; i < 50; i++) {
      const d1 = retryDelay(1, policy);
      const d3 = retryDelay(3, policy);
      const d9 = retryDelay(9, policy);
      assert.ok(d1 >= 50 && d1 <= 100, `${d1}`);
      assert.ok(d3 >= 200 && d3 <= 400, `${d3}`);
      assert.ok(d9 >= 500 && d9 <= 1000, `${d9}`);
    }
  });
  it('gives up after the attempts in a row, and progress starts the count again', async () => {
    const fast = { ...policy, baseDelayMs: 1, maxDelayMs: 1 };
    const r = new RetryCounter(fast);
    assert.equal(await r.again(), true);
    assert.equal(await r.again(), true);
    r.progressed();
    assert.equal(await r.again(), true);
    assert.equal(await r.again(), true);
    assert.equal(await r.again(), false);
  });
  it('gives up when no progress came for maxStallMs, however few the tries', async () => {
    const r = new RetryCounter({ ...policy, maxStallMs: 0 });
    assert.equal(await r.again(), false);
  });
});
