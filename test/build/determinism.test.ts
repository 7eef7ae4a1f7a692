/**
 * The same input gives the same image digest: across processes, output directories, file times on disk and
 * concurrency; SOURCE_DATE_EPOCH changes it, deterministically.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, stat, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildJson, modelcarOk } from '../support/cli.js';
import { MiB, type ModelFixture, removeTemp, tempDir, writeFiles, writeMultiFileModel } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { busyboxBase, layoutBlob, readLayoutImage } from '../support/images.js';
import { readTar } from '../support/tar-reader.js';

/**
 * The model layer of `modelcar example` at mtime 0. It changes only when the tar format or the example model changes
 * on purpose; any other change means the same input no longer gives the same bytes on every machine.
 */
const EXAMPLE_LAYER = 'sha256:5c02747e128f79de052722ec64430a686de4b451d56a2b7a7f5b5b5d2a8ed4f0';

async function touchAll(dir: string, when: Date): Promise<void> {
  for (const entry of await readdir(dir, { recursive: true })) await utimes(join(dir, entry), when, when);
  await utimes(dir, when, when);
}

describe('build determinism', () => {
  let work: string;
  let model: ModelFixture;
  let baseLayout: string;
  let first: Awaited<ReturnType<typeof buildJson>>;

  before(async () => {
    work = await tempDir();
    baseLayout = (await busyboxBase(work)).layout;
    model = await writeMultiFileModel(work);
    // Three files over the 32 MiB large-file threshold, so several layers move at once with --concurrency.
    await writeFiles(model.dir, {
      'big/a.safetensors': pseudoRandomBytes('a', 32 * MiB),
      'big/b.safetensors': pseudoRandomBytes('b', 32 * MiB + 1),
      'big/c.safetensors': pseudoRandomBytes('c', 33 * MiB),
    });
    first = await buildJson([model.dir, '--to', `oci:${join(work, 'one')}:t`, '--base', baseLayout]);
  });
  after(() => removeTemp(work));

  it('gives the same digest from another process, output directory, file times and concurrency', async () => {
    assert.ok(first.layers.length >= 4, `expected several layers, got ${first.layers.length}`);
    const before = (await stat(join(model.dir, 'config.json'))).mtimeMs;
    await touchAll(model.dir, new Date('2031-02-03T04:05:06Z'));
    assert.notEqual((await stat(join(model.dir, 'config.json'))).mtimeMs, before);
    const second = await buildJson([
      model.dir,
      '--to',
      `oci:${join(work, 'two')}:other-tag`,
      '--base',
      baseLayout,
      '--concurrency',
      '1',
    ]);
    assert.equal(second.digest, first.digest);
    const third = await buildJson([
      model.dir,
      '--to',
      `oci:${join(work, 'three')}:t`,
      '--base',
      baseLayout,
      '--concurrency',
      '8',
    ]);
    assert.equal(third.digest, first.digest);
  });

  it('gives the same digest for the same files in another directory (no absolute path in the image)', async () => {
    const elsewhere = join(work, 'somewhere', 'else');
    await mkdir(elsewhere, { recursive: true });
    await cp(model.dir, join(elsewhere, basename(model.dir)), { recursive: true });
    const moved = await buildJson([
      join(elsewhere, basename(model.dir)),
      '--to',
      `oci:${join(work, 'moved')}:t`,
      '--base',
      baseLayout,
    ]);
    assert.equal(moved.digest, first.digest);
  });

  it('SOURCE_DATE_EPOCH sets every timestamp and changes the digest, the same way each time', async () => {
    const epoch = 1_700_000_000;
    const iso = '2023-11-14T22:13:20Z';
    const a = await buildJson([model.dir, '--to', `oci:${join(work, 'sde-a')}:t`, '--base', baseLayout], {
      env: { SOURCE_DATE_EPOCH: String(epoch) },
    });
    const b = await buildJson([
      model.dir,
      '--to',
      `oci:${join(work, 'sde-b')}:t`,
      '--base',
      baseLayout,
      '--source-date-epoch',
      String(epoch),
    ]);
    assert.notEqual(a.digest, first.digest);
    assert.equal(b.digest, a.digest);

    const layout = join(work, 'sde-a');
    const image = await readLayoutImage(layout, 't');
    assert.equal(image.config.created, iso);
    assert.equal(image.manifest.annotations?.['org.opencontainers.image.created'], iso);
    const baseHistory = image.config.history.length - a.layers.length;
    for (const h of image.config.history.slice(baseHistory)) assert.equal(h.created, iso);
    for (const layer of a.layers) {
      for (const entry of readTar(await layoutBlob(layout, layer.digest as string))) {
        assert.equal(entry.mtime, epoch, entry.name);
      }
    }
  });

  it('never packs its own output: a second build into a layout inside the model directory gives the same digest', async () => {
    const dir = (await writeFiles(join(work, 'self'), { 'config.json': '{}\n', 'w.safetensors': 'w' })).dir;
    const args = ['.', '--base', 'scratch', '--image-volume'];
    const once = await buildJson(args, { cwd: dir });
    assert.equal(once.destination.startsWith('oci:modelcar-out:'), true, once.destination);
    const twice = await buildJson(args, { cwd: dir });
    assert.equal(twice.digest, once.digest);
    assert.ok(twice.skipped.some((s) => s.path === 'modelcar-out/index.json'));
  });

  it('frames the example model into the same layer bytes as on every other machine', async () => {
    const example = join(work, 'example');
    await modelcarOk(['example', example]);
    const built = await buildJson([
      example,
      '--to',
      `oci:${join(work, 'ex')}:t`,
      '--base',
      'scratch',
      '--image-volume',
    ]);
    assert.deepEqual(
      built.layers.map((l) => l.digest),
      [EXAMPLE_LAYER],
    );
  });
});
