/**
 * The journal: a re-run of a local build hashes and sends nothing it already has, and a build killed mid-push
 * (SIGKILL: no cleanup at all) sends again only what was not committed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildJson, MODELCAR_BIN } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeShardedModel } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

describe('journal', () => {
  let work: string;
  let registry: TestRegistry;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
  });
  after(async () => {
    await registry.stop();
    await removeTemp(work);
  });

  it('a re-run reuses every layer, and a changed file costs only its own layer', async () => {
    const home = join(work, 'home-rerun');
    const model = join(work, 'rerun-model');
    await writeShardedModel(model, 3, 33 * MiB);
    const args = [model, '--to', `${registry.host}/journal/rerun:v1`, '--base', 'scratch', '--image-volume'];
    const first = await buildJson(args, { env: { HOME: home } });
    assert.deepEqual(
      first.layers.map((l) => l.outcome),
      ['uploaded', 'uploaded', 'uploaded', 'uploaded'],
    );

    const second = await buildJson(args, { env: { HOME: home } });
    assert.equal(second.digest, first.digest);
    assert.deepEqual(
      second.layers.map((l) => l.outcome),
      ['reused', 'reused', 'reused', 'reused'],
      'no layer read or sent again',
    );

    // Same size, new bytes: the journal's inode/size/times key no longer matches, so the file is hashed again.
    await writeFile(join(model, 'shard-01.safetensors'), pseudoRandomBytes('changed', 33 * MiB));
    const third = await buildJson(args, { env: { HOME: home } });
    assert.notEqual(third.digest, first.digest);
    const byFile = new Map(third.layers.map((l) => [l.files.map((f) => f.path).join(','), l.outcome]));
    assert.equal(byFile.get('shard-01.safetensors'), 'uploaded');
    assert.equal(byFile.get('shard-00.safetensors'), 'reused');
    assert.equal(byFile.get('shard-02.safetensors'), 'reused');

    // Without the journal nothing is vouched for: every layer is read again.
    const fresh = await buildJson([...args, '--no-journal'], { env: { HOME: home } });
    assert.equal(fresh.digest, third.digest);
    assert.ok(fresh.layers.every((l) => l.outcome === 'uploaded' || l.outcome === 'present'));
  });

  it('after a SIGKILL mid-push, the re-run sends only the layers that were not committed', async () => {
    const home = join(work, 'home-crash');
    const model = join(work, 'crash-model');
    await writeShardedModel(model, 3, 64 * MiB);
    const args = [
      'build',
      model,
      '--to',
      `${registry.host}/journal/crash:v1`,
      '--base',
      'scratch',
      '--image-volume',
      '--concurrency',
      '1',
    ];
    const child = spawn(process.execPath, [MODELCAR_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const killed = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Layers go one at a time: config.json's, then shard-00's. Once shard-00 is committed, kill.
        if (/^layer 2\/\d+ \(.*\) sha256:\S+ uploaded$/m.test(stderr) && child.exitCode === null) child.kill('SIGKILL');
      });
      child.once('close', () => resolve());
    });
    await killed;
    assert.equal(child.signalCode, 'SIGKILL', `the build ended before it could be killed:\n${stderr}`);

    const rerun = await buildJson(args.slice(1), { env: { HOME: home } });
    const outcomes = rerun.layers.map((l) => l.outcome);
    assert.deepEqual(
      outcomes.slice(0, 2),
      ['reused', 'reused'],
      `committed layers are skipped: ${outcomes.join(', ')}`,
    );
    assert.ok(outcomes.includes('uploaded'), `the layers cut off are sent: ${outcomes.join(', ')}`);

    // The image is the one an uninterrupted build makes.
    const clean = await buildJson([...args.slice(1, 2), '--to', `oci:${join(work, 'clean')}:v1`, ...args.slice(4)], {
      env: { HOME: join(work, 'home-clean') },
    });
    assert.equal(rerun.digest, clean.digest);
  });
});
