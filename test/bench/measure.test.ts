import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { measure } from '../../bench/measure.js';
import { limitOf, median, type Summary } from '../../bench/stats.js';

const node = process.execPath;

test('peak RSS counts the whole process tree, grandchildren included', async () => {
  // sh -> node: the memory is in the grandchild.
  const script = 'const b = Buffer.alloc(200e6, 1); setTimeout(() => b.length, 800);';
  const m = await measure([{ label: 'tree', command: 'sh', args: ['-c', `"${node}" -e '${script}'; true`] }]);
  assert.ok(m.peakRss >= 190e6, `peak RSS ${m.peakRss}`);
});

test('CPU seconds include children that already exited', async () => {
  // A fixed amount of work (sha256 of 1 GiB: >= 0.45 s even with SHA-NI), not a wall-clock busy loop: on a loaded
  // machine a busy loop gets fewer CPU seconds than it lasts.
  const script =
    "const h = require('node:crypto').createHash('sha256'); const b = Buffer.alloc(1 << 20); for (let i = 0; i < 1024; i++) h.update(b);";
  const m = await measure([{ label: 'busy', command: 'sh', args: ['-c', `"${node}" -e "${script}"; sleep 0.2`] }]);
  assert.ok(m.cpuSeconds >= 0.4, `cpu ${m.cpuSeconds}`);
  assert.ok(m.seconds >= 0.2, `wall ${m.seconds}`);
});

test('staging disk is the peak a case wrote, even when it cleaned up after itself', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-measure-'));
  try {
    const m = await measure(
      [
        {
          label: 'stage',
          command: 'sh',
          args: ['-c', 'head -c 50000000 /dev/urandom > "$1/f" && sleep 0.4 && rm "$1/f"', 'sh', dir],
        },
      ],
      { stagingDirs: [dir] },
    );
    assert.ok(m.peakDisk >= 45e6, `peak disk ${m.peakDisk}`);
    await assert.rejects(stat(join(dir, 'f')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing step fails the measurement with its stderr', async () => {
  await assert.rejects(
    measure([{ label: 'broken', command: 'sh', args: ['-c', 'echo nope >&2; exit 3'] }]),
    /broken: sh exited with 3\nnope/,
  );
});

test('median, and a case is held to the slowest of its limits', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const s = (id: string, seconds: number): Summary => ({
    id,
    label: id,
    runs: 1,
    seconds,
    peakRss: 0,
    peakDisk: 0,
    cpuSeconds: 0,
    serverCpuSeconds: 0,
    steps: [],
    facts: {},
  });
  const summaries = new Map([
    ['hub', s('hub', 10)],
    ['registry', s('registry', 14)],
  ]);
  const c = { id: 'x', label: 'x', group: 'hf' as const, limits: ['hub', 'registry'] };
  assert.equal(limitOf(c, summaries)?.id, 'registry');
});
