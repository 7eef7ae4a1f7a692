/**
 * The layer planner: pure unit tests of planLayers, and the plan as `modelcar build --dry-run` shows it. Large files
 * here are sparse: a dry run must never read them, and they cost no disk.
 */
import assert from 'node:assert/strict';
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeHeader, TRAILER_SIZE } from '../../src/image/tar.js';
import { type PlanOptions, planLayers } from '../../src/plan/plan.js';
import type { SourceEntry } from '../../src/source/source.js';
import { assertCleanFailure, buildJson, modelcar } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { busyboxBase } from '../support/images.js';

const GiB = 1024 * MiB;
const OPTS: PlanOptions = {
  maxLayers: 100,
  baseLayers: 1,
  largeFileThreshold: 32 * MiB,
  smallGroupBytes: 512 * MiB,
  mtime: 0,
};
const f = (path: string, size: number): SourceEntry => ({ path, size });

async function sparse(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  await fh.truncate(size);
  await fh.close();
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('planLayers', () => {
  it('gives each large file its own layer and groups small files', () => {
    const plan = planLayers(
      [f('config.json', 300), f('b.safetensors', 40 * MiB), f('a.safetensors', 5 * GiB), f('tok.json', 2000)],
      OPTS,
    );
    assert.deepEqual(
      plan.layers.map((l) => l.files.map((x) => x.path)),
      [['a.safetensors'], ['b.safetensors'], ['config.json', 'tok.json']],
    );
    assert.equal(plan.fileCount, 4);
    assert.equal(plan.contentBytes, 300 + 40 * MiB + 5 * GiB + 2000);
  });

  it('is the same plan whatever order the files are listed in', () => {
    const files = Array.from({ length: 30 }, (_, i) => f(`d${i % 3}/f${i}.bin`, (i * 7919) % (64 * MiB)));
    const a = planLayers(files, OPTS);
    const b = planLayers([...files].reverse(), OPTS);
    assert.deepEqual(
      a.layers.map((l) => l.entries.map((e) => e.header.path)),
      b.layers.map((l) => l.entries.map((e) => e.header.path)),
    );
  });

  it('keeps the whole image, base included, within maxLayers by merging the smallest neighbours', () => {
    const files = Array.from({ length: 12 }, (_, i) => f(`shard-${String(i).padStart(2, '0')}`, (40 + i) * MiB));
    const plan = planLayers(files, { ...OPTS, maxLayers: 6, baseLayers: 1 });
    assert.equal(plan.layers.length, 5);
    assert.deepEqual(plan.layers.flatMap((l) => l.files.map((x) => x.path)).sort(), files.map((x) => x.path).sort());
  });

  it('refuses a file over maxLayerBytes, naming the file and the limit', () => {
    assert.throws(
      () => planLayers([f('big.safetensors', 11 * GiB)], { ...OPTS, maxLayerBytes: 10 * GiB }),
      /big\.safetensors is 11\.0 GiB, over the destination's layer limit of 10\.0 GiB/,
    );
  });

  it('fails when merging would break maxLayerBytes, and when the base leaves no layer', () => {
    const files = Array.from({ length: 4 }, (_, i) => f(`s${i}`, 6 * GiB));
    assert.throws(
      () => planLayers(files, { ...OPTS, maxLayers: 3, maxLayerBytes: 10 * GiB }),
      /do not fit in 2 layers/,
    );
    assert.throws(() => planLayers([f('a', 1)], { ...OPTS, maxLayers: 2, baseLayers: 2 }), /already has 2 layers/);
  });

  it('puts explicit parent directories before their files and sizes each layer exactly', () => {
    const plan = planLayers([f('a/b/c.txt', 5), f('a/d.txt', 600), f('e.txt', 0)], OPTS);
    const [layer] = plan.layers;
    assert.ok(layer);
    assert.deepEqual(
      layer.entries.map((e) => `${e.header.path}${e.kind === 'dir' ? '/' : ''}`),
      ['models/', 'models/a/', 'models/a/b/', 'models/a/b/c.txt', 'models/a/d.txt', 'models/e.txt'],
    );
    const bytes = layer.entries.reduce(
      (n, e) => n + encodeHeader(e.header).length + Math.ceil(e.header.size / 512) * 512,
      TRAILER_SIZE,
    );
    assert.equal(layer.size, bytes);
  });

  it('refuses paths that cannot be put in an image', () => {
    for (const bad of ['../x', 'a/./b', '.wh.secret', 'a//b']) {
      assert.throws(() => planLayers([f(bad, 1)], OPTS), /cannot be put in an image/, bad);
    }
  });
});

describe('modelcar build --dry-run and layer limits', () => {
  let work: string;
  let model: string;
  let baseLayout: string;

  before(async () => {
    work = await tempDir();
    baseLayout = (await busyboxBase(work)).layout;
    model = join(work, 'model');
    await writeFiles(model, { 'config.json': '{}\n', 'tokenizer.json': '{"v":1}\n' });
    for (let i = 0; i < 12; i++) await sparse(join(model, `model-${String(i).padStart(5, '0')}.safetensors`), 40 * MiB);
  });
  after(() => removeTemp(work));

  it('prints one layer per large file and one for the small files, and writes nothing', async () => {
    const dest = join(work, 'never');
    const r = await modelcar(['build', model, '--to', `oci:${dest}:t`, '--base', baseLayout, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^14 files, 480 MiB, 13 model layers:$/m);
    assert.match(
      r.stdout,
      /^ {2}layer 1: 3\.5 KiB, 2 files\n {4}\/models\/config\.json \(3 B\)\n {4}\/models\/tokenizer\.json/m,
    );
    for (let i = 0; i < 12; i++) {
      const name = `model-${String(i).padStart(5, '0')}.safetensors`;
      assert.ok(r.stdout.includes(`  layer ${i + 2}: 40.0 MiB, 1 file\n    /models/${name} (40.0 MiB)\n`), name);
    }
    assert.doesNotMatch(r.stdout, /sha256:[a-f0-9]{64}\n?$/);
    assert.equal(await exists(dest), false, 'a dry run must not create the destination');
  });

  it('keeps base plus model layers within --max-layers (12 large files, --max-layers 6)', async () => {
    const dest = join(work, 'never2');
    const plan = await buildJson([
      model,
      '--to',
      `oci:${dest}:t`,
      '--base',
      baseLayout,
      '--max-layers',
      '6',
      '--dry-run',
    ]);
    assert.equal(plan.base.layers, 1);
    assert.equal(plan.layers.length, 5);
    assert.equal(plan.layers.flatMap((l) => l.files).length, 14);
    assert.equal(plan.digest, null);
    assert.equal(await exists(dest), false);
  });

  it('builds within --max-layers for real: the image has exactly that many layers', async () => {
    const built = await buildJson([
      model,
      '--to',
      `oci:${join(work, 'capped')}:t`,
      '--base',
      'scratch',
      '--image-volume',
      '--max-layers',
      '3',
    ]);
    assert.equal(built.layers.length, 3);
  });

  it('fails within a second when a file is over --max-layer-size, naming the file and the limit', async () => {
    const huge = join(work, 'huge');
    await writeFiles(huge, { 'config.json': '{}\n' });
    await sparse(join(huge, 'model.safetensors'), 12 * GiB);
    const dest = join(work, 'never3');
    // Node's own start-up is not the build's doing: measure it on this machine, now, and allow one second more.
    const startup = Date.now();
    await modelcar(['--version']);
    const baseline = Date.now() - startup;
    const started = Date.now();
    const r = await modelcar([
      'build',
      huge,
      '--to',
      `oci:${dest}:t`,
      '--base',
      baseLayout,
      '--max-layer-size',
      '10GB',
    ]);
    const elapsed = Date.now() - started;
    assertCleanFailure(
      r,
      /model\.safetensors is 12\.0 GiB, over the destination's layer limit of 9\.3 GiB \(set by --max-layer-size\)/,
    );
    assert.ok(elapsed < baseline + 1000, `took ${elapsed} ms (node starts in ${baseline} ms)`);
    assert.equal(await exists(dest), false);
  });
});
