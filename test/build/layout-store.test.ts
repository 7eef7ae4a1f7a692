/**
 * The OCI layout as a shared store: concurrent builds and writers keep every tag (index.json.lock), an abandoned lock
 * is broken, the temporary files of killed runs are removed by the next run (and a live writer's are kept), and a
 * full disk is named with the path and the space needed. Full disks are real: a tmpfs of an exact size mounted in a
 * private mount namespace (`unshare -rm`), so nothing outside the test changes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isModelcarError } from '../../src/errors.js';
import { IndexLock, LOCK_FILE } from '../../src/oci/layout/index-lock.js';
import { assertCleanFailure, MODELCAR_BIN, modelcar, modelcarOk, run } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { layoutTags, readLayoutImage } from '../support/images.js';
import { requireTool, tool } from '../support/tools.js';

const PUSH_TAGS = fileURLToPath(new URL('../support/push-tags.js', import.meta.url));
const SCRATCH = ['--base', 'scratch', '--image-volume', '--no-journal', '-q'];
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** A process id that is certainly not running: one that just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((ok) => child.once('exit', ok));
  return child.pid as number;
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((ok) => child.once('exit', (code, signal) => ok(code ?? (signal ? 128 : 1))));
}

async function partials(layout: string): Promise<string[]> {
  return (await readdir(join(layout, 'blobs', 'sha256'))).filter((n) => n.startsWith('.partial-'));
}

/** Waits (bounded) until `layout` holds a temporary blob with bytes in it: the build is writing a layer. */
async function untilWriting(layout: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    assert.equal(child.exitCode, null, 'the build ended before it wrote a layer');
    assert.ok(Date.now() < deadline, 'no .partial blob appeared within 30 s');
    const dir = join(layout, 'blobs', 'sha256');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.partial-') && (await stat(join(dir, name)).catch(() => undefined))?.size) return;
    }
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

describe('the OCI layout store', () => {
  let work: string;
  let small: string;
  before(async () => {
    work = await tempDir();
    small = (
      await writeFiles(join(work, 'small'), {
        'config.json': '{"model_type":"test"}\n',
        'model.safetensors': Buffer.alloc(100_000, 3),
      })
    ).dir;
  });
  after(() => removeTemp(work));

  it('keeps every tag when many builds write into one layout at once', async () => {
    const layout = join(work, 'shared');
    const tags = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const models = await Promise.all(
      tags.map(async (t) => (await writeFiles(join(work, `m-${t}`), { 'config.json': `{"tag":"${t}"}\n` })).dir),
    );
    const results = await Promise.all(
      tags.map((t, i) => modelcar(['build', models[i] as string, ...SCRATCH, '--to', `oci:${layout}:${t}`])),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await layoutTags(layout)).sort(), tags);
    for (const t of tags) {
      const image = await readLayoutImage(layout, t);
      assert.equal(image.manifest.layers.length, 1);
    }
    // An independent reader agrees.
    assert.deepEqual(
      (await tool('umoci', ['ls', '--layout', layout])).trim().split('\n').sort(),
      tags,
      'umoci lists every tag',
    );
    assert.equal(await stat(join(layout, LOCK_FILE)).catch(() => undefined), undefined, 'the lock is released');
  });

  it('keeps every tag when several processes update the index as fast as they can', async () => {
    const layout = join(work, 'stress');
    const writers = ['a', 'b', 'c', 'd'];
    const codes = await Promise.all(
      writers.map(async (w) => {
        const r = await run([process.execPath, PUSH_TAGS, layout, w, '25']);
        assert.equal(r.code, 0, r.stderr);
      }),
    );
    assert.equal(codes.length, 4);
    const expected = writers.flatMap((w) => Array.from({ length: 25 }, (_, i) => `${w}-${i}`)).sort();
    assert.deepEqual((await layoutTags(layout)).sort(), expected);
  });

  it('breaks the lock of a process that is gone, and waits (bounded, naming it) for one that is not', async () => {
    const layout = join(work, 'locked');
    await modelcarOk(['build', small, ...SCRATCH, '--to', `oci:${layout}:first`]);
    const pid = await deadPid();
    await writeFile(
      join(layout, LOCK_FILE),
      JSON.stringify({ pid, host: hostname(), token: 'crashed', since: Date.now() }),
    );
    await modelcarOk(['build', small, ...SCRATCH, '--to', `oci:${layout}:second`]);
    assert.deepEqual((await layoutTags(layout)).sort(), ['first', 'second']);

    const held = await IndexLock.acquire(layout, `oci:${layout}`);
    try {
      await assert.rejects(IndexLock.acquire(layout, `oci:${layout}`, { waitMs: 300 }), (e: unknown) => {
        assert.ok(isModelcarError(e));
        assert.match(e.message, new RegExp(`is locked by process ${process.pid} on ${hostname()}.*waited 0 s`));
        assert.match(e.hint ?? '', /remove .*index\.json\.lock/);
        return true;
      });
    } finally {
      await held.release();
    }
  });

  it('removes the temporary blobs of runs that are gone, and keeps those of a run still writing', async () => {
    const layout = join(work, 'leftovers');
    await modelcarOk(['build', small, ...SCRATCH, '--to', `oci:${layout}:v1`]);
    const blobs = join(layout, 'blobs', 'sha256');
    const dead = `.partial-${HOST}-${await deadPid()}-0a0b`;
    const live = `.partial-${HOST}-${process.pid}-0c0d`;
    const oldUnnamed = '.partial-00112233aabbccdd';
    const newUnnamed = '.partial-44556677aabbccdd';
    for (const name of [dead, live, oldUnnamed, newUnnamed]) await writeFile(join(blobs, name), Buffer.alloc(4096));
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(join(blobs, oldUnnamed), twoDaysAgo, twoDaysAgo);
    await modelcarOk(['build', small, ...SCRATCH, '--to', `oci:${layout}:v2`]);
    assert.deepEqual((await partials(layout)).sort(), [live, newUnnamed].sort());
  });

  it('a build killed while writing a layer leaves a temporary blob that the next run removes', async () => {
    const model = join(work, 'big');
    await mkdir(model);
    await writeFile(join(model, 'config.json'), '{"model_type":"test"}\n');
    for (const i of [1, 2, 3, 4]) {
      await writeFile(join(model, `model-0000${i}.safetensors`), '');
      await truncate(join(model, `model-0000${i}.safetensors`), 40 * MiB);
    }
    const layout = join(work, 'killed');
    const args = ['build', model, ...SCRATCH, '--concurrency', '1', '--to', `oci:${layout}:v1`];
    const child = spawn(process.execPath, [MODELCAR_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: work },
      stdio: 'ignore',
    });
    const done = exited(child);
    await untilWriting(layout, child);
    child.kill('SIGKILL');
    await done;
    assert.ok((await partials(layout)).length > 0, 'the killed run left its temporary blob');
    assert.deepEqual(await layoutTags(layout), [], 'and no tag');
    await modelcarOk(args);
    assert.deepEqual(await partials(layout), []);
    assert.deepEqual(await layoutTags(layout), ['v1']);
  });

  describe('a full disk', () => {
    /**
     * `modelcar ARGS` with `dir` a fresh tmpfs of `bytes`, in a mount namespace of its own; `files` are the files
     * left on that tmpfs afterwards (it vanishes with the namespace).
     */
    async function onTmpfs(dir: string, bytes: number, args: readonly string[]) {
      const script =
        'mount -t tmpfs -o size="$1" tmpfs "$0" || exit 99; shift; "$@"; rc=$?; echo "--- files"; find "$0" -type f | sort; exit $rc';
      const r = await run([
        requireTool('unshare'),
        '-rm',
        'sh',
        '-c',
        script,
        dir,
        String(bytes),
        process.execPath,
        MODELCAR_BIN,
        ...args,
      ]);
      const [stdout = '', listing = ''] = r.stdout.split('--- files\n');
      const files = listing
        .split('\n')
        .filter(Boolean)
        .map((f) => f.slice(dir.length + 1));
      return { ...r, stdout, files };
    }

    /** The pages a layout's files take on tmpfs, measured from a build of the same input into an ordinary directory. */
    async function layoutPages(args: readonly string[], dir: string): Promise<number> {
      await modelcarOk([...args, '--to', `oci:${dir}:t`]);
      let pages = 0;
      for (const sub of ['', 'blobs/sha256']) {
        for (const name of await readdir(join(dir, sub))) {
          const st = await stat(join(dir, sub, name));
          if (st.isFile() && name !== 'index.json') pages += Math.ceil(st.size / 4096);
        }
      }
      return pages;
    }

    it('while writing a blob: names the path and the space needed, leaves no partial file and no tag', async () => {
      const mnt = join(work, 'full-blob');
      await mkdir(mnt);
      const r = await onTmpfs(mnt, 64 * 1024, ['build', small, ...SCRATCH, '--to', `oci:${mnt}/layout:t`]);
      assertCleanFailure(
        r,
        /^modelcar: error: disk full at .*\/full-blob\/layout\/blobs\/sha256: the blob needs 101 KiB, \d+(\.\d+)? KiB free$/,
      );
      assert.equal(r.code, 1);
      assert.deepEqual(
        r.files.filter((f) => f.includes('.partial-') || f.endsWith('index.json')),
        [],
        'no partial blob, no index',
      );
    });

    it('while writing index.json: names index.json, leaves no temporary file and no lock', async () => {
      const build = ['build', small, ...SCRATCH];
      // Room for every blob and the lock, not for the new index beside it.
      const pages = (await layoutPages(build, join(work, 'measure'))) + 1;
      const mnt = join(work, 'full-index');
      await mkdir(mnt);
      const r = await onTmpfs(mnt, pages * 4096, [...build, '--to', `oci:${mnt}/layout:t`]);
      assertCleanFailure(
        r,
        /^modelcar: error: disk full at .*\/full-index\/layout\/index\.json: the new index needs \d+ B/,
      );
    });
  });
});
