/**
 * Every wait on the Hub has a floor and a deadline: a CDN that drips bytes is cut and, since a drip is no progress,
 * given up on after the retry budget; a tree listing that pages without end stops at the page cap; a file's overall
 * deadline grows with its size at the minimum rate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isModelcarError } from '../../src/errors.js';
import { DEFAULT_RATE_FLOOR, downloadDeadlineMs } from '../../src/http/body.js';
import { HfSource } from '../../src/source/hf.js';
import { type HubDouble, startHubDouble } from '../support/hub-double.js';

const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 10_000 };
const KiB = 1024;

describe('bounded waits on the Hub', () => {
  let hub: HubDouble;
  before(async () => {
    hub = await startHubDouble({
      pageSize: 1,
      repos: [
        {
          id: 'acme/drip',
          commits: [
            {
              files: [
                { path: 'a.json', content: '{}' },
                { path: 'b.json', content: '{}' },
                { path: 'c.json', content: '{}' },
                { path: 'd.json', content: '{}' },
                { path: 'w.safetensors', size: 256 * KiB },
              ],
            },
          ],
        },
      ],
    });
  });
  after(() => hub.close());

  it('cuts a connection below the minimum rate and gives up once the drip has used the retry budget', async () => {
    const src = new HfSource('hf://acme/drip', {
      endpoint: hub.url,
      retry: FAST_RETRY,
      floor: { minBytesPerSec: 64 * KiB, windowMs: 300 },
    });
    const [w] = (await src.list()).filter((e) => e.path === 'w.safetensors');
    assert.ok(w);
    hub.rateLimit = 4 * KiB; // bytes keep coming, far below the floor
    hub.resetCounters();
    const started = Date.now();
    let error: unknown;
    let bytes = 0;
    try {
      for await (const c of await src.open(w)) bytes += (c as Buffer).length;
    } catch (e) {
      error = e;
    } finally {
      hub.rateLimit = 0;
    }
    assert.ok(isModelcarError(error), String(error));
    assert.match(error.message, /w\.safetensors: download failed 3 times in a row .*fell below the minimum rate/);
    assert.ok(bytes < w.size, 'the stream never ended as if complete');
    const gets = hub.requests.filter((r) => r.origin === 'cdn' && r.method === 'GET');
    assert.equal(gets.length, 3, 'one connection per try');
    assert.ok(Date.now() - started < 10_000, `bounded (${Date.now() - started} ms)`);
  });

  it('stops a tree listing at the page cap', async () => {
    const src = new HfSource('hf://acme/drip', { endpoint: hub.url, retry: FAST_RETRY, maxPages: 3 });
    await assert.rejects(
      src.list(),
      (e: unknown) => isModelcarError(e) && /goes on past 3 pages; stopping/.test(e.message),
    );
  });

  it('gives each file ten minutes plus its size at the minimum rate', () => {
    assert.equal(downloadDeadlineMs(0), 10 * 60_000);
    assert.equal(downloadDeadlineMs(64 * KiB * 100), 10 * 60_000 + 100_000);
    assert.equal(DEFAULT_RATE_FLOOR.minBytesPerSec, 64 * KiB);
    assert.equal(downloadDeadlineMs(1, { minBytesPerSec: 0, windowMs: 1 }), Number.POSITIVE_INFINITY);
  });
});
