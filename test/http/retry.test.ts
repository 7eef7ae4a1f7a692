/** The one retry policy: backoff, tries in a row, time without progress, and the bound on Retry-After. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { type NetworkEvent, setNetworkListener } from '../../src/http/events.js';
import { backoffMs, DEFAULT_RETRY, Retrier, retryAfterMs } from '../../src/http/retry.js';

const policy = { ...DEFAULT_RETRY, attempts: 3, baseDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 60_000 };

function listen(): { events: NetworkEvent[]; stop: () => void } {
  const events: NetworkEvent[] = [];
  const previous = setNetworkListener((e) => events.push(e));
  return { events, stop: () => setNetworkListener(previous) };
}

describe('retry policy', () => {
  it('doubles the delay per failure, jittered between half and all of it, capped', () => {
    for (let i = 0; i < 50; i++) {
      const d1 = backoffMs(1, policy);
      const d3 = backoffMs(3, policy);
      const d9 = backoffMs(9, policy);
      assert.ok(d1 >= 50 && d1 <= 100, `${d1}`);
      assert.ok(d3 >= 200 && d3 <= 400, `${d3}`);
      assert.ok(d9 >= 500 && d9 <= 1000, `${d9}`);
    }
  });

  it('gives up after the attempts in a row, progress starts the count again, and each wait is announced', async () => {
    const { events, stop } = listen();
    try {
      const r = new Retrier('registry example', { ...policy, baseDelayMs: 1, maxDelayMs: 1 });
      assert.equal(await r.again('HTTP 503'), true);
      assert.equal(await r.again('HTTP 503'), true);
      r.progressed();
      assert.equal(await r.again('reset'), true);
      assert.equal(await r.again('reset'), true);
      assert.equal(await r.again('reset'), false);
      assert.equal(events.length, 4);
      assert.deepEqual(
        events.map((e) => e.type === 'retry' && [e.endpoint, e.reason, e.attempt]),
        [
          ['registry example', 'HTTP 503', 1],
          ['registry example', 'HTTP 503', 2],
          ['registry example', 'reset', 1],
          ['registry example', 'reset', 2],
        ],
      );
    } finally {
      stop();
    }
  });

  it('gives up when no progress came for maxElapsedMs, however few the tries', async () => {
    let now = 0;
    const r = new Retrier('x', { ...policy, attempts: 100, maxElapsedMs: 1000 }, () => now);
    now = 950;
    assert.equal(await r.again('reset', { retryAfterMs: 100 }), false);
  });

  it('waits a short Retry-After (announced) and refuses a long one, saying when to come back', async () => {
    const { events, stop } = listen();
    try {
      const r = new Retrier('registry example', { ...policy, maxRetryAfterMs: 50 });
      assert.equal(await r.again('HTTP 429', { retryAfterMs: 20 }), true);
      assert.equal(events[0]?.type === 'retry' && events[0].delayMs, 20);
      await assert.rejects(
        r.again('HTTP 429', { retryAfterMs: 299_000 }),
        (e: unknown) =>
          e instanceof ModelcarError &&
          /asks to retry after 299\.0 s \(at \d{4}-\d\d-\d\dT/.test(e.message) &&
          /run again after/.test(e.hint ?? ''),
      );
    } finally {
      stop();
    }
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('7'), 7000);
    assert.equal(retryAfterMs(new Date(61_000).toUTCString(), 1000), 60_000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });
});
