/**
 * `modelcar base --busybox` with one busybox per platform: an OCI index of per-platform images, read back by skopeo
 * (`--override-arch`, `copy --all --preserve-digests`), the same digest for the same binaries, a busybox for the wrong
 * CPU refused, and a ModelCar built on the arm64 image whose config says arm64. The arm64 busybox is Debian's
 * busybox-static:arm64 (fetched by test/support/ensure-tools.ts).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireArm64Busybox } from '../support/arm64-busybox.js';
import { assertCleanFailure, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { requireTool, tool } from '../support/tools.js';

type Obj = Record<string, unknown>;

describe('modelcar base: one busybox per platform', () => {
  let work: string;
  let registry: TestRegistry;
  let arm64: string;
  let amd64: string;
  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    arm64 = requireArm64Busybox();
    amd64 = requireTool('busybox');
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  const inspect = async (ref: string, arch?: string): Promise<Obj> =>
    JSON.parse(
      await tool('skopeo', [...(arch ? ['--override-arch', arch] : []), 'inspect', '--tls-verify=false', ref]),
    ) as Obj;
  const raw = async (ref: string): Promise<Obj> =>
    JSON.parse(await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', ref])) as Obj;

  it('writes an index whose arm64 and amd64 images skopeo reads, the same digest for the same binaries', async () => {
    const args = ['--busybox', `linux/arm64=${arm64}`, '--busybox', `linux/amd64=${amd64}`];
    const a = await modelcarOk(['base', ...args, '--to', `oci:${join(work, 'a')}:multi`]);
    const b = await modelcarOk([
      'base',
      '--busybox',
      `linux/amd64=${amd64}`,
      '--busybox',
      `linux/arm64=${arm64}`,
      '--to',
      `oci:${join(work, 'b')}:multi`,
    ]);
    const digest = /(sha256:[a-f0-9]{64})/.exec(a.stdout)?.[1];
    assert.ok(digest, a.stdout);
    assert.match(b.stdout, new RegExp(digest), 'the order of the flags does not change the index');
    const index = await raw(`oci:${join(work, 'a')}:multi`);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      (index.manifests as { platform: Obj }[]).map((m) => m.platform),
      [
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux' },
      ],
    );
    for (const arch of ['amd64', 'arm64']) {
      const got = await inspect(`oci:${join(work, 'a')}:multi`, arch);
      assert.equal(got.Architecture, arch);
    }
  });

  it('pushes the index to the registry, and skopeo copy --all --preserve-digests keeps every digest', async () => {
    const ref = `${registry.host}/bases/busybox:multi`;
    const r = await modelcarOk(['base', '--busybox', amd64, '--busybox', `linux/arm64=${arm64}`, '--to', ref]);
    const digest = /@(sha256:[a-f0-9]{64})/.exec(r.stdout)?.[1] as string;
    assert.equal((await inspect(`docker://${ref}`, 'arm64')).Architecture, 'arm64');
    const copy = join(work, 'copy');
    await tool('skopeo', [
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `oci:${copy}:multi`,
    ]);
    const copied = await raw(`oci:${copy}:multi`);
    const original = await raw(`docker://${ref}`);
    assert.deepEqual(copied, original);
    const indexJson = JSON.parse(await tool('cat', [join(copy, 'index.json')])) as { manifests: { digest: string }[] };
    assert.equal(indexJson.manifests[0]?.digest, digest);
  });

  it('refuses a busybox for another CPU than the platform it is given for', async () => {
    const r = await modelcar(['base', '--busybox', `linux/arm64=${amd64}`, '--to', `oci:${join(work, 'bad')}:x`]);
    assertCleanFailure(r, /is a busybox for amd64, not linux\/arm64/);
    const twice = await modelcar([
      'base',
      '--busybox',
      amd64,
      '--busybox',
      `linux/amd64=${amd64}`,
      '--to',
      `oci:${join(work, 'bad')}:y`,
    ]);
    assertCleanFailure(twice, /--busybox names linux\/amd64 twice/);
  });

  it('gives an arm64 ModelCar from the arm64 image of the base: its config says arm64', async () => {
    const base = `oci:${join(work, 'a')}:multi`;
    const model = join(work, 'model');
    await tool('mkdir', ['-p', model]);
    await writeFile(join(model, 'config.json'), '{"model_type":"llama"}\n');
    const built = await buildJson([
      model,
      '--base',
      base,
      '--platform',
      'linux/arm64',
      '--to',
      `oci:${join(work, 'arm')}:v1`,
    ]);
    assert.ok(built.digest);
    const got = await inspect(`oci:${join(work, 'arm')}:v1`, 'arm64');
    assert.equal(got.Architecture, 'arm64');
    assert.equal(got.Os, 'linux');
  });
});
