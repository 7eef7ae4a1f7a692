import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteBudget } from '../../src/source/byte-budget.js';

describe('ByteBudget', () => {
  it('makes a reservation wait until enough is released, first come first served', async () => {
    const b = new ByteBudget(10);
    await b.acquire(6);
    const order: string[] = [];
    const big = b.acquire(8).then(() => order.push('big'));
    const small = b.acquire(2).then(() => order.push('small'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'the small one does not overtake the waiting big one');
    b.release(6);
    await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(b.held, 10);
    assert.equal(b.maxHeld, 10);
  });
  it('drops a waiter whose signal aborts', async () => {
    const b = new ByteBudget(4);
    await b.acquire(4);
    const ac = new AbortController();
    const waiting = b.acquire(4, ac.signal);
    ac.abort(new Error('gone'));
    await assert.rejects(waiting, /gone/);
    b.release(4);
    assert.equal(b.held, 0);
  });
});
