/**
 * No spin, no hang, no silent success: a directory Node's own `mkdir -p` loops on forever, and an image whose layer
 * is labelled gzip but is a plain tar (reading it used to leave the registry response undrained; closing the client
 * then waited forever and Node exited 0 with nothing printed).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openRepository } from '../../src/oci/open.js';
import { parseImageLocation } from '../../src/oci/reference.js';
import { pushAndTag } from '../../src/oci/repository.js';
import { assertCleanFailure, modelcar } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { blobOf } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

describe('no spin, no hang', () => {
  let work: string;
  let registry: TestRegistry;
  let model: string;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    model = (
      await writeFiles(join(work, 'model'), {
        'config.json': '{"model_type":"test"}\n',
        'model.safetensors': pseudoRandomBytes('no-hang', 8 * MiB),
      })
    ).dir;
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('--result-dir under /proc fails in seconds, before anything is written', async () => {
    const out = join(work, 'out');
    const started = Date.now();
    const r = await modelcar(
      ['build', model, '--base', 'scratch', '--image-volume', '--to', `oci:${out}:v1`, '--result-dir', '/proc/nope'],
      { timeoutMs: 30_000 },
    );
    assertCleanFailure(r, /--result-dir \/proc\/nope is not writable/);
    assert.ok(Date.now() - started < 20_000, 'no spinning');
    assert.equal(existsSync(out), false, 'no layout was started');
  });

  it('an OCI layout under /proc fails in seconds', async () => {
    const r = await modelcar(['build', model, '--base', 'scratch', '--image-volume', '--to', 'oci:/proc/nope/x:v1'], {
      timeoutMs: 30_000,
    });
    assertCleanFailure(r, /\/proc\/nope\/x/);
  });

  it('inspect and verify say what is wrong with a layer labelled gzip that is a plain tar, and exit non-zero', async () => {
    const tarFile = join(work, 'layer.tar');
    await tool('tar', ['--create', '--file', tarFile, '--directory', work, 'model']);
    const tar = await readFile(tarFile);
    const repo = await openRepository(parseImageLocation(`${registry.host}/mislabelled/m:v1`));
    const layer = await repo.pushBlob(blobOf(tar));
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    );
    const cfg = await repo.pushBlob(blobOf(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    };
    await pushAndTag(repo, Buffer.from(JSON.stringify(manifest)), manifest.mediaType, 'v1');
    await repo.close?.();

    const inspected = await modelcar(['inspect', `${registry.host}/mislabelled/m:v1`], { timeoutMs: 60_000 });
    assertCleanFailure(
      inspected,
      new RegExp(
        `layer ${layer.digest} is labelled application/vnd\\.oci\\.image\\.layer\\.v1\\.tar\\+gzip but is not gzip data`,
      ),
    );
    assert.equal(inspected.stdout, '');

    const verified = await modelcar(['verify', `${registry.host}/mislabelled/m:v1`], { timeoutMs: 60_000 });
    assert.equal(verified.code, 1, verified.stderr);
    assert.match(
      verified.stdout,
      /^MISMATCH: .*\n {2}first: layer 1 \(sha256:[a-f0-9]{64}\): layer .* is not gzip data/,
    );
  });
});
