/**
 * The one progress renderer, driven by a manual clock: what a terminal and a CI log see at each instant. The CLI
 * tests (progress.test.ts) prove the same lines appear while real bytes move.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEta, formatRate, ProgressRenderer, progressMode } from '../../src/cli/progress.js';
import { emitNetworkEvent } from '../../src/http/events.js';

const MiB = 1024 * 1024;
/** Cursor up N rows and clear to the end of the screen: how the live frame is taken down. */
const CLEAR = /ESC\[\d+FESC\[J/g;

function harness(mode: 'tty' | 'plain' | 'none', columns = 80) {
  let now = 1_000_000;
  let out = '';
  let width = columns;
  const r = new ProgressRenderer({
    mode,
    write: (s) => {
      out += s;
    },
    now: () => now,
    columns: () => width,
    timer: false,
  });
  return {
    r,
    advanceClock: (ms: number) => {
      now += ms;
    },
    resize: (w: number) => {
      width = w;
    },
    /** What was written since the last take, the escape character spelled ESC. */
    take: () => {
      const s = out.split(String.fromCharCode(27)).join('ESC');
      out = '';
      return s;
    },
  };
}

describe('progress renderer', () => {
  it('auto is tty on a terminal and plain in a pipe; -q is none unless --progress says otherwise', () => {
    assert.equal(progressMode(undefined, { isTTY: true }), 'tty');
    assert.equal(progressMode(undefined, { isTTY: false }), 'plain');
    assert.equal(progressMode('auto', { isTTY: false }), 'plain');
    assert.equal(progressMode(undefined, { quiet: true, isTTY: true }), 'none');
    assert.equal(progressMode('plain', { quiet: true, isTTY: true }), 'plain');
  });

  it('shows no rate or ETA before a second has passed, and rounds what it shows', () => {
    assert.equal(formatRate(146, 5), undefined);
    assert.equal(formatEta(1000, 146, 5), undefined);
    assert.equal(formatRate(146, 1000), '146 B/s');
    assert.equal(formatRate(150 * MiB, 2000), '75.0 MiB/s');
    assert.equal(formatEta(90 * MiB, 10 * MiB, 1000), 'ETA 9s');
    assert.equal(formatEta(3 * 3600 * MiB + 120 * MiB, MiB, 1000), 'ETA 3h02m');
    assert.equal(formatEta(1e15, 1, 1000), undefined, 'days away is no estimate');

    const h = harness('tty');
    h.r.expect(100 * MiB);
    h.r.start('1', 'layer 1/1 (model.safetensors)', 100 * MiB);
    h.advanceClock(5);
    h.r.advance('1', 146);
    h.r.tick();
    const first = h.take();
    assert.doesNotMatch(first, /B\/s|ETA/, first);
    assert.doesNotMatch(first, /\d\.\d{3,}/, `no long fractions: ${first}`);
  });

  it('in plain mode prints a line at 25, 50 and 75% and then every interval, with bytes, rate and ETA', () => {
    const h = harness('plain');
    h.r.start('1', 'layer 1/2 (a.safetensors)', 100 * MiB);
    h.advanceClock(2000);
    h.r.advance('1', 20 * MiB);
    assert.equal(h.take(), '', 'below 25%: nothing yet');
    h.r.advance('1', 10 * MiB);
    assert.equal(h.take(), 'layer 1/2 (a.safetensors): 30.0 MiB / 100 MiB (30%), 15.0 MiB/s, ETA 5s\n');
    h.r.advance('1', 50 * MiB);
    assert.match(h.take(), /^layer 1\/2 \(a\.safetensors\): 80\.0 MiB \/ 100 MiB \(80%\)/, 'one line for 50 and 75%');
    h.advanceClock(9000);
    h.r.tick();
    assert.equal(h.take(), '', 'the interval is counted from the last line');
    h.advanceClock(1000);
    h.r.tick();
    assert.match(h.take(), /^layer 1\/2 \(a\.safetensors\): 80\.0 MiB \/ 100 MiB \(80%\), no bytes for 10\.0 s\n$/);
    h.r.finish('1', 'layer 1/2 (a.safetensors) sha256:0123 uploaded');
    assert.equal(h.take(), 'layer 1/2 (a.safetensors) sha256:0123 uploaded\n');
    h.advanceClock(20_000);
    h.r.tick();
    assert.equal(h.take(), '', 'a finished transfer gets no more lines');
  });

  it('a restarted transfer counts from zero again and earns its quarter lines again', () => {
    const h = harness('plain');
    h.r.start('1', 'layer 1/1 (x)', 100);
    h.r.advance('1', 60);
    h.take();
    h.r.restart('1');
    h.r.advance('1', 30);
    assert.match(h.take(), /30 B \/ 100 B \(30%\)/);
  });

  it('prints every retry and wait as a line of its own, in every mode, with secrets redacted', () => {
    for (const mode of ['tty', 'plain', 'none'] as const) {
      const h = harness(mode);
      h.r.start('1', 'layer 1/1 (x)', 100);
      h.r.advance('1', 10);
      h.take();
      emitNetworkEvent({
        type: 'retry',
        endpoint: 'PATCH https://quay.io/v2/acme/x/blobs/uploads/1',
        reason: 'HTTP 503 (Bearer abc.def)',
        attempt: 2,
        delayMs: 1500,
      });
      emitNetworkEvent({ type: 'wait', endpoint: 'quay.io', reason: 'Retry-After', delayMs: 30_000 });
      const out = h.take().replace(CLEAR, '');
      assert.match(
        out,
        /^modelcar: PATCH https:\/\/quay\.io\/v2\/acme\/x\/blobs\/uploads\/1: HTTP 503 .*; retry 2 in 1\.5 s$/m,
      );
      assert.match(out, /^modelcar: quay\.io: Retry-After; waiting 30\.0 s$/m);
      assert.doesNotMatch(out, /abc\.def/);
      h.r.close();
    }
  });

  it('in none mode prints warnings and retries but no progress', () => {
    const h = harness('none');
    h.r.start('1', 'layer', 100);
    h.r.advance('1', 100);
    h.r.finish('1', 'layer done');
    h.r.line('plan: ...');
    h.r.warn('careful');
    assert.equal(h.take(), 'modelcar: warning: careful\n');
  });

  it('on a TTY keeps every row within the width and clears exactly what it drew, also after a resize', () => {
    const h = harness('tty', 60);
    h.r.expect(300 * MiB);
    h.r.start('1', 'layer 1/3 (a-very-long-file-name-of-a-shard-00001-of-00003.safetensors)', 100 * MiB);
    h.r.start('2', 'layer 2/3 (b.safetensors)', 100 * MiB);
    h.advanceClock(2000);
    h.r.advance('1', 10 * MiB);
    h.r.advance('2', 10 * MiB);
    h.take();
    h.r.tick();
    const frame = h.take();
    const rows = frame.replace(CLEAR, '').split('\n').filter(Boolean);
    assert.equal(rows.length, 3, frame);
    for (const row of rows) assert.ok(row.length <= 59, `row within the width: ${JSON.stringify(row)}`);
    assert.match(rows[0] as string, /…\s+10\.0 MiB \/ 100 MiB/, 'the label is cut, not the numbers');
    h.r.tick();
    assert.match(h.take(), /^ESC\[3FESC\[J/, 'moves up over the three rows it drew');
    // Narrowed to 20 columns: a row of up to 59 characters now takes several rows on a terminal that re-wraps.
    h.resize(20);
    h.r.line('layer 3/3 reused');
    const out = h.take();
    assert.match(out, /^ESC\[(\d+)FESC\[J/);
    const up = Number(/^ESC\[(\d+)F/.exec(out)?.[1]);
    assert.ok(up > 3, `moved up over the re-wrapped rows too (${up})`);
    assert.match(out, /ESC\[Jlayer 3\/3 reused\n/);
    h.r.close();
    assert.match(h.take(), /^ESC\[\d+FESC\[J$/, 'close() leaves no frame behind');
  });
});
