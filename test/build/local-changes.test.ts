/**
 * Only verified bytes count: a local file rewritten in place (same size, same inode) while the build reads it fails
 * the build naming the file, and nothing is tagged. The rewrite happens at a known point: the tampering proxy in
 * front of the real registry holds the layer's upload after 2 MiB (the build's reads stall behind it), the test
 * rewrites the file, then lets the upload go on.
 */
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, buildJson, modelcar } from '../support/cli.js';
import { type FaultProxy, isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { layoutTags } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const SIZE = 24 * MiB;

describe('a local file that changes while it is read', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
    await removeTemp(work);
  });

  it('fails the build naming the file when it is rewritten in place, same size, mid-read; no tag', async () => {
    const model = await writeFiles(join(work, 'm'), {
      'config.json': '{"model_type":"test"}\n',
      'model.safetensors': pseudoRandomBytes('before', SIZE),
    });
    let release!: () => void;
    const until = new Promise<void>((ok) => {
      release = ok;
    });
    let held!: () => void;
    const holding = new Promise<void>((ok) => {
      held = ok;
    });
    proxy.inject((r) => isUploadPatch(r) && Number(r.headers['content-length']) > SIZE / 2, {
      kind: 'hold',
      afterBytes: 2 * MiB,
      until,
      onHold: () => held(),
    });
    const building = modelcar(
      ['build', model.dir, '--base', 'scratch', '--image-volume', '--no-journal', '--to', `${proxy.host}/torn/m:v1`],
      { timeoutMs: 120_000 },
    );
    const timeout = setTimeout(() => release(), 60_000);
    await Promise.race([holding, building]);
    // In place: same inode, same size; only the bytes (and mtime/ctime) change.
    const file = await open(join(model.dir, 'model.safetensors'), 'r+');
    await file.write(pseudoRandomBytes('after', SIZE), 0, SIZE, 0);
    await file.close();
    release();
    clearTimeout(timeout);
    const r = await building;
    assertCleanFailure(r, /model\.safetensors changed while it was read \(its modification time changed/);
    const tag = await fetch(`http://${registry.host}/v2/torn/m/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(tag.status, 404, 'no tag');
  });

  it('a file name that would forge output is refused on one escaped line, and --exclude leaves it out', async () => {
    const model = await writeFiles(join(work, 'named'), { 'config.json': '{"model_type":"test"}\n' });
    const forged = 'notes\nplan: 1 files, 1 B in 1 layer -> oci:forged\x1b[2J';
    await writeFile(join(model.dir, forged), 'x');
    const out = join(work, 'named-out');
    const args = ['build', model.dir, '--base', 'scratch', '--image-volume', '--no-journal', '--to', `oci:${out}:t`];
    const r = await modelcar(args);
    assertCleanFailure(
      r,
      /file path "notes\\nplan: .*\\u001b\[2J" cannot be put in an image: a path with a control character/,
    );
    assert.ok(!r.stderr.includes('\x1b'), 'no raw escape character');
    assert.doesNotMatch(r.stderr, /^plan:/m, 'no forged line');
    assert.match(r.stderr, /hint: rename the file, or leave it out with --exclude/);
    assert.deepEqual(await layoutTags(out), []);
    const built = await buildJson([...args.slice(1), '--exclude', 'notes*']);
    assert.equal(built.files, 1);
  });
});
