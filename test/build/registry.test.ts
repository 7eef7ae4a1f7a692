/**
 * `modelcar build` into the real CNCF distribution registry (Debian's docker-registry on a loopback port), read back
 * with skopeo and umoci and run with KServe's sidecar commands.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuildJson, buildJson } from '../support/cli.js';
import { type ModelFixture, removeTemp, sha256Hex, tempDir, writeMultiFileModel } from '../support/fixtures.js';
import {
  assertSidecarContract,
  type BusyboxBase,
  busyboxBase,
  copyToLayout,
  readLayoutImage,
  type SkopeoInspected,
  skopeoInspect,
  unpack,
} from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

describe('modelcar build into a registry', () => {
  let work: string;
  let registry: TestRegistry;
  let base: BusyboxBase;
  let model: ModelFixture;
  let built: BuildJson & { stderr: string };
  let ref: string;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    base = await busyboxBase(work, registry);
    model = await writeMultiFileModel(work);
    ref = `${registry.host}/models/tiny:v1`;
    built = await buildJson([model.dir, '--to', ref, '--base', base.registry as string]);
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('prints the pushed digest, which the registry serves under the tag', async () => {
    assert.match(built.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(built.reference, `${ref}@${built.digest}`);
    assert.equal(built.storageUri, `oci://${registry.host}/models/tiny@${built.digest}`);
    const inspected = await skopeoInspect(ref);
    assert.equal(inspected.Digest, built.digest);
    assert.equal(inspected.Layers.length, 1 + built.layers.length);
  });

  it('mounts the base layers from the base repository instead of uploading them', async () => {
    const baseLayers = (await skopeoInspect(base.registry as string)).Layers;
    for (const digest of baseLayers) {
      assert.match(built.stderr, new RegExp(`base layer ${digest.slice(0, 19)} mounted`), built.stderr);
    }
    assert.equal(built.base.digest, base.registryDigest);
    // The base's blobs are stored once; the model repository only links to them.
    const link = join(
      registry.storageDir,
      'docker/registry/v2/repositories/models/tiny/_layers',
      ...(baseLayers[0] as string).split(':'),
      'link',
    );
    assert.equal(await readFile(link, 'utf8'), baseLayers[0]);
  });

  it('copies the layers of a base from an OCI layout blob by blob', async () => {
    const copied = await buildJson([
      model.dir,
      '--to',
      `${registry.host}/models/from-layout:v1`,
      '--base',
      base.layout,
    ]);
    const baseLayers = (await skopeoInspect(base.registry as string)).Layers;
    assert.match(copied.stderr, new RegExp(`base layer ${(baseLayers[0] as string).slice(0, 19)} copied`));
    assert.deepEqual((await skopeoInspect(`${registry.host}/models/from-layout:v1`)).Layers.slice(0, 1), baseLayers);
    assert.equal(copied.base.digest, base.layoutDigest);
  });

  it('is copied by skopeo --preserve-digests into a layout with the same digest and unpacks to the source bytes', async () => {
    const layout = join(work, 'pulled');
    await copyToLayout(ref, layout, 'v1');
    const image = await readLayoutImage(layout, 'v1');
    assert.equal(image.digest, built.digest);
    const rootfs = await unpack(layout, 'v1', join(work, 'bundle'));
    for (const [path, f] of model.files) {
      assert.equal(sha256Hex(await readFile(join(rootfs, 'models', path))), f.sha256, path);
    }
    const top = [...new Set([...model.files.keys()].map((p) => p.split('/')[0] as string))];
    const read = await assertSidecarContract(rootfs, top);
    assert.deepEqual(read.sort(), [...model.files.keys()].sort());
  });

  it('rebuilds to the same digest in another process', async () => {
    const again = await buildJson([model.dir, '--to', ref, '--base', base.registry as string]);
    assert.equal(again.digest, built.digest);
    assert.deepEqual(
      again.layers.map((l) => l.digest),
      built.layers.map((l) => l.digest),
    );
  });

  it('derives repository and tag from the model when only the host is given', async () => {
    const derived = await buildJson([model.dir, '--to', registry.host, '--base', base.registry as string]);
    const tag = `sha-${derived.digest.slice(7, 19)}`;
    assert.equal(derived.reference, `${registry.host}/model:${tag}@${derived.digest}`);
    assert.equal((await skopeoInspect(`${registry.host}/model:${tag}`)).Digest, derived.digest);
  });
});

describe('modelcar build into a registry with Basic auth', () => {
  let work: string;
  let registry: TestRegistry;
  const password = 'pa55-w0rd-for-tests';

  before(async () => {
    work = await tempDir();
    registry = await startRegistry({ basicAuth: { username: 'tester', password } });
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('pushes with credentials from --authfile and never prints the password', async () => {
    const model = await writeMultiFileModel(work);
    const authfile = join(work, 'auth.json');
    const auth = Buffer.from(`tester:${password}`).toString('base64');
    await writeFile(authfile, JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const ref = `${registry.host}/models/private:v1`;
    const built = await buildJson([
      model.dir,
      '--to',
      ref,
      '--base',
      'scratch',
      '--image-volume',
      '--authfile',
      authfile,
    ]);
    const inspected = JSON.parse(
      await tool('skopeo', ['inspect', '--tls-verify=false', '--authfile', authfile, `docker://${ref}`]),
    ) as SkopeoInspected;
    assert.equal(inspected.Digest, built.digest);
    assert.ok(!`${built.stdout}${built.stderr}`.includes(password));
    assert.ok(!`${built.stdout}${built.stderr}`.includes(auth));
  });
});
