/**
 * `modelcar build` into an OCI layout, end to end through the CLI, read back by independent tools: skopeo, umoci,
 * GNU tar, our own small tar reader, and KServe's sidecar commands run with the image's own busybox shell.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuildJson, buildJson } from '../support/cli.js';
import {
  LONG_PATH,
  type ModelFixture,
  removeTemp,
  sha256Hex,
  tempDir,
  UTF8_PATH,
  writeMultiFileModel,
} from '../support/fixtures.js';
import {
  assertSidecarContract,
  type BusyboxBase,
  busyboxBase,
  INIT_CHECK,
  inRootfs,
  type LayoutImage,
  layoutBlob,
  readLayoutImage,
  unpack,
  walkTree,
} from '../support/images.js';
import { readTar } from '../support/tar-reader.js';
import { tool } from '../support/tools.js';

const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
const EPOCH = '1970-01-01T00:00:00Z';

function parentDirs(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

describe('modelcar build into an OCI layout', () => {
  let work: string;
  let model: ModelFixture;
  let base: BusyboxBase;
  let layout: string;
  let built: BuildJson;
  let image: LayoutImage;
  let baseImage: LayoutImage;
  let modelLayers: LayoutImage['manifest']['layers'];

  before(async () => {
    work = await tempDir();
    base = await busyboxBase(work);
    model = await writeMultiFileModel(work);
    layout = join(work, 'out');
    built = await buildJson([model.dir, '--to', `oci:${layout}:v1`, '--base', base.layout]);
    image = await readLayoutImage(layout, 'v1');
    baseImage = await readLayoutImage(join(work, 'base'), 'busybox');
    modelLayers = image.manifest.layers.slice(baseImage.manifest.layers.length);
  });
  after(() => removeTemp(work));

  it('prints the digest and reference that index.json tags', () => {
    assert.equal(built.digest, image.digest);
    assert.equal(built.reference, `oci:${layout}:v1`);
    assert.equal(built.files, model.files.size);
  });

  it('is read by skopeo inspect and copied by skopeo with the same digest', async () => {
    const inspected = JSON.parse(await tool('skopeo', ['inspect', `oci:${layout}:v1`])) as {
      Digest: string;
      Layers: string[];
      Env: string[];
    };
    assert.equal(inspected.Digest, built.digest);
    assert.deepEqual(
      inspected.Layers,
      image.manifest.layers.map((l) => l.digest),
    );
    const other = join(work, 'copied');
    await tool('skopeo', ['copy', '--preserve-digests', `oci:${layout}:v1`, `oci:${other}:v1`]);
    assert.equal((await readLayoutImage(other, 'v1')).digest, built.digest);
  });

  it('unpacks with umoci: every file under /models has the source bytes, 0644 files, 0755 dirs', async () => {
    const rootfs = await unpack(layout, 'v1', join(work, 'bundle'));
    const tree = await walkTree(join(rootfs, 'models'));
    const files = [...tree].filter(([, v]) => !v.dir);
    assert.deepEqual(files.map(([p]) => p).sort(), [...model.files.keys()].sort());
    for (const [path, v] of files) {
      assert.equal(v.sha256, model.files.get(path)?.sha256, `content of ${path}`);
      assert.equal(v.mode, 0o644, `mode of ${path}`);
    }
    const dirs = [...tree].filter(([, v]) => v.dir);
    const expectedDirs = new Set([...model.files.keys()].flatMap((p) => parentDirs(p)));
    assert.deepEqual(dirs.map(([p]) => p).sort(), [...expectedDirs].sort());
    for (const [path, v] of dirs) assert.equal(v.mode, 0o755, `mode of ${path}/`);
    assert.equal((await stat(join(rootfs, 'models'))).mode & 0o7777, 0o755);
    assert.ok(tree.has(LONG_PATH) && tree.has(UTF8_PATH));
  });

  it('writes layer tars with explicit, root-owned directory entries before their files and a fixed mtime', async () => {
    assert.ok(modelLayers.length >= 1);
    const seenFiles: string[] = [];
    for (const layer of modelLayers) {
      assert.equal(layer.mediaType, LAYER_TAR);
      const blob = await layoutBlob(layout, layer.digest);
      assert.equal(`sha256:${sha256Hex(blob)}`, layer.digest);
      assert.equal(blob.length, layer.size);
      const entries = readTar(blob);
      const names = entries.map((e) => e.name);
      for (const e of entries) {
        assert.equal(e.uid, 0, e.name);
        assert.equal(e.gid, 0, e.name);
        assert.equal(e.mtime, 0, e.name);
        assert.ok(e.name.startsWith('models/'), e.name);
        if (e.type === '5') {
          assert.equal(e.mode, 0o755, e.name);
          assert.ok(e.name.endsWith('/'));
          continue;
        }
        assert.equal(e.type, '0', `${e.name} is a regular file`);
        assert.equal(e.mode, 0o644, e.name);
        const path = e.name.slice('models/'.length);
        assert.equal(e.sha256, model.files.get(path)?.sha256, `bytes of ${path} in the tar`);
        seenFiles.push(path);
        // Every parent directory is an entry of its own, earlier in the same layer.
        for (const dir of ['models', ...parentDirs(path).map((d) => `models/${d}`)]) {
          const at = names.indexOf(`${dir}/`);
          assert.ok(at >= 0 && at < names.indexOf(e.name), `${dir}/ precedes ${e.name}`);
        }
      }
      // GNU tar reads the same names (checksums valid, PAX path applied).
      const listed = (await tool('tar', ['-tf', join(layout, 'blobs', ...layer.digest.split(':'))]))
        .split('\n')
        .filter(Boolean);
      assert.deepEqual(listed, names);
    }
    assert.deepEqual(seenFiles.sort(), [...model.files.keys()].sort());
  });

  it('writes the config: no Entrypoint, User 1001, base Env and platform kept, diff_ids, history, fixed time', () => {
    const { config } = image;
    assert.equal(config.config.Entrypoint, undefined);
    assert.equal(config.config.User, '1001');
    assert.deepEqual(config.config.Env, baseImage.config.config.Env);
    assert.equal(config.architecture, baseImage.config.architecture);
    assert.equal(config.os, baseImage.config.os);
    assert.deepEqual(
      config.rootfs.diff_ids,
      image.manifest.layers.map((l) => l.digest),
    );
    assert.deepEqual(config.history.slice(0, baseImage.config.history.length), baseImage.config.history);
    assert.equal(config.history.length, baseImage.config.history.length + modelLayers.length);
    assert.equal(config.created, EPOCH);
    for (const h of config.history) assert.equal(h.created, EPOCH);
  });

  it('annotates the manifest with title, source, created and the base name and digest', () => {
    const a = image.manifest.annotations ?? {};
    assert.equal(a['org.opencontainers.image.title'], 'model');
    assert.equal(a['org.opencontainers.image.source'], `file:${basename(model.dir)}`);
    assert.equal(a['org.opencontainers.image.created'], EPOCH);
    assert.equal(a['org.opencontainers.image.base.name'], base.layout);
    assert.equal(a['org.opencontainers.image.base.digest'], base.layoutDigest);
    assert.equal(a['org.opencontainers.image.revision'], undefined, 'a local directory has no revision');
    assert.deepEqual(
      image.manifest.layers.slice(0, baseImage.manifest.layers.length).map((l) => l.digest),
      baseImage.manifest.layers.map((l) => l.digest),
    );
  });

  it('annotates every model layer with the files it holds and their sha256, as the source has them', () => {
    const annotated = new Map<string, { size: number; sha256: string }>();
    for (const layer of modelLayers) {
      const files = JSON.parse(layer.annotations?.['dev.modelcar.layer.files'] ?? '[]') as {
        path: string;
        size: number;
        sha256: string;
      }[];
      assert.ok(files.length > 0, `layer ${layer.digest} names its files`);
      for (const f of files) annotated.set(f.path, { size: f.size, sha256: f.sha256 });
      assert.match(layer.annotations?.['dev.modelcar.layer.format'] ?? '', /mtime=0/);
    }
    assert.deepEqual(new Map([...annotated].sort()), new Map([...model.files].sort()));
  });

  it('passes the KServe sidecar contract with the base shell, for root and for UID 1001', async () => {
    const rootfs = await unpack(layout, 'v1', join(work, 'bundle-sidecar'));
    const top = [...new Set([...model.files.keys()].map((p) => p.split('/')[0] as string))];
    const read = await assertSidecarContract(rootfs, top);
    assert.deepEqual(read.sort(), [...model.files.keys()].sort());
  });

  it('the init check fails on the base alone, so the contract check above can fail', async () => {
    const rootfs = await unpack(join(work, 'base'), 'busybox', join(work, 'bundle-base'));
    const init = await inRootfs(rootfs, INIT_CHECK);
    assert.notEqual(init.code, 0);
  });
});
