/**
 * inspect, verify and copy through the CLI against images built by the CLI, in an OCI layout and in the real
 * distribution registry. Corruption is real: one byte flipped in the blob file the registry (or layout) serves.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuildJson, buildJson, modelcar, modelcarOk } from '../support/cli.js';
import {
  MiB,
  type ModelFixture,
  removeTemp,
  sha256Hex,
  tempDir,
  writeFiles,
  writeMultiFileModel,
} from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { type BusyboxBase, busyboxBase, layoutBlob } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const REF = 'org.opencontainers.image.ref.name';

interface InspectJson {
  manifestDigest: string;
  base: { name?: string; layers: number };
  totalBytes: number;
  modelBytes: number;
  layers: { index: number; digest: string; kind: string; files: number; filesFrom: string }[];
  files: { path: string; size: number; sha256: string; layer: number }[];
}

interface VerifyJson {
  ok: boolean;
  differences: {
    kind: string;
    layer?: number;
    path?: string;
    fileOffset?: number;
    expected?: string;
    got?: string;
    message: string;
  }[];
}

interface CopyJson {
  digest: string;
  bytesCopied: number;
  blobs: { digest: string; outcome: string }[];
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  await writeFile(path, bytes);
}

function registryBlobPath(reg: TestRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(reg.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** The model layer holding `path`, from the build's own report. */
function layerOf(build: BuildJson, path: string): { digest: string; offsetOfFile: number } {
  const layer = build.layers.find((l) => l.files.some((f) => f.path === path));
  assert.ok(layer?.digest, `no layer holds ${path}`);
  // One file per large layer: its content starts after the headers of `models/`, `models/big/` and the file.
  return { digest: layer.digest, offsetOfFile: 3 * 512 };
}

describe('inspect, verify and copy', () => {
  let work: string;
  let model: ModelFixture;
  let base: BusyboxBase;
  let reg: TestRegistry;
  let reg2: TestRegistry;
  const BIG = 'big/tensor-data.bin.txt';

  before(async () => {
    work = await tempDir();
    model = await writeMultiFileModel(work);
    // One large file, so it sits alone in its layer at a known offset.
    await writeFiles(model.dir, { [BIG]: pseudoRandomBytes('big', 40 * MiB) });
    model = { ...model, files: new Map([...model.files, [BIG, { size: 40 * MiB, sha256: '' }]]) };
    [reg, reg2] = await Promise.all([startRegistry(), startRegistry()]);
    base = await busyboxBase(work, reg);
  });
  after(async () => {
    await Promise.all([reg?.stop(), reg2?.stop()]);
    await removeTemp(work);
  });

  it('inspect lists every file with the sha256 the build reported, in a layout and in a registry', async () => {
    const layoutDir = join(work, 'out');
    const built = await buildJson([model.dir, '--to', `oci:${layoutDir}:v1`, '--base', base.layout]);
    const pushed = await buildJson([
      model.dir,
      '--to',
      `${reg.host}/models/multi:v1`,
      '--base',
      base.registry as string,
    ]);
    for (const [ref, build] of [
      [`oci:${layoutDir}:v1`, built],
      [`${reg.host}/models/multi:v1`, pushed],
    ] as const) {
      const r = await modelcarOk(['inspect', ref, '--json']);
      const report = JSON.parse(r.stdout) as InspectJson;
      assert.equal(report.manifestDigest, build.digest);
      const expected = build.layers.flatMap((l) => l.files.map((f) => [`/models/${f.path}`, f.sha256]));
      assert.deepEqual(
        report.files.map((f) => [f.path, f.sha256]).sort(),
        expected.sort(),
        'inspect must show the files and sha256 of every model layer',
      );
      assert.equal(report.base.layers, 1);
      assert.equal(report.layers.filter((l) => l.kind === 'model').length, build.layers.length);
      assert.ok(report.layers.every((l) => l.kind === 'base' || l.filesFrom === 'annotation'));
    }
  });

  it('inspect reads the layers when an image has no modelcar annotations', async () => {
    // The same image with the layer annotations removed, as another tool would have built it.
    const dir = join(work, 'out');
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests: Record<string, unknown>[];
    };
    const desc = index.manifests.find((m) => (m.annotations as Record<string, string>)[REF] === 'v1');
    const manifest = JSON.parse((await layoutBlob(dir, String(desc?.digest))).toString()) as {
      layers: { annotations?: Record<string, string> }[];
    };
    for (const l of manifest.layers) delete l.annotations;
    const bytes = Buffer.from(JSON.stringify(manifest));
    await writeFile(join(dir, 'blobs/sha256', sha256Hex(bytes)), bytes);
    index.manifests.push({
      ...desc,
      digest: `sha256:${sha256Hex(bytes)}`,
      size: bytes.length,
      annotations: { [REF]: 'bare' },
    });
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));

    const report = JSON.parse((await modelcarOk(['inspect', `oci:${dir}:bare`, '--json'])).stdout) as InspectJson;
    const big = report.files.find((f) => f.path === `/models/${BIG}`);
    assert.ok(big, 'the model file must be found by reading the layer');
    assert.equal(big.size, 40 * MiB);
    assert.equal(big.sha256, sha256Hex(await readFile(join(model.dir, BIG))));
    assert.ok(report.layers.some((l) => l.filesFrom === 'layer'));
    // verify of such an image still checks every layer digest.
    assert.equal((await modelcar(['verify', `oci:${dir}:bare`])).code, 0);
  });

  it('verify passes a good image and catches one flipped byte in a layout blob, naming the file', async () => {
    const layoutDir = join(work, 'flip');
    const build = await buildJson([model.dir, '--to', `oci:${layoutDir}:v1`, '--base', base.layout]);
    const ok = await modelcar(['verify', `oci:${layoutDir}:v1`, '--against', model.dir]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok: /);
    const { digest, offsetOfFile } = layerOf(build, BIG);
    await flipByte(join(layoutDir, 'blobs/sha256', digest.slice(7)), offsetOfFile + 123_456);
    const bad = await modelcar(['verify', `oci:${layoutDir}:v1`, '--json', '--against', model.dir]);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout) as VerifyJson;
    assert.equal(report.ok, false);
    const first = report.differences[0];
    assert.equal(first?.kind, 'file-sha256');
    assert.equal(first?.path, BIG);
    assert.ok(report.differences.some((d) => d.kind === 'layer-digest' && d.expected === digest));
    const located = report.differences.find((d) => d.kind === 'source-sha256');
    assert.equal(located?.fileOffset, 123_456, 'the first differing byte of the file must be located');
  });

  it('verify --against reports missing and extra files', async () => {
    const layoutDir = join(work, 'against');
    await buildJson([model.dir, '--to', `oci:${layoutDir}:v1`, '--base', base.layout]);
    const other = join(work, 'other-model');
    await writeFiles(other, { 'config.json': '{}', 'new.safetensors': 'x' });
    const r = await modelcar(['verify', `oci:${layoutDir}:v1`, '--against', other, '--json']);
    assert.equal(r.code, 1);
    const kinds = new Set((JSON.parse(r.stdout) as VerifyJson).differences.map((d) => d.kind));
    assert.ok(kinds.has('source-missing'), 'new.safetensors is in the source but not in the image');
    assert.ok(kinds.has('source-extra'), 'the image holds files the source does not');
  });

  it('copy keeps the digest, mounts within a registry and moves no bytes for blobs already there', async () => {
    const src = `${reg.host}/models/multi:v1`;
    const srcDigest = (JSON.parse((await modelcarOk(['inspect', src, '--json'])).stdout) as InspectJson).manifestDigest;

    const same = JSON.parse(
      (await modelcarOk(['copy', src, `${reg.host}/mirror/multi:v1`, '--json'])).stdout,
    ) as CopyJson;
    assert.equal(same.digest, srcDigest);
    assert.equal(same.bytesCopied, 0, 'within one registry every blob is mounted');
    assert.ok(same.blobs.every((b) => b.outcome === 'mounted' || b.outcome === 'present'));

    const first = JSON.parse(
      (await modelcarOk(['copy', src, `${reg2.host}/mirror/multi:v1`, '--json'])).stdout,
    ) as CopyJson;
    assert.equal(first.digest, srcDigest);
    assert.ok(first.bytesCopied > 40 * MiB);
    const again = JSON.parse(
      (await modelcarOk(['copy', src, `${reg2.host}/mirror/multi:v1`, '--json'])).stdout,
    ) as CopyJson;
    assert.equal(again.digest, srcDigest);
    assert.equal(again.bytesCopied, 0);
    assert.ok(again.blobs.every((b) => b.outcome === 'present'));

    // An independent reader agrees, and the copy verifies.
    const raw = await tool('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg2.host}/mirror/multi:v1`,
    ]);
    assert.equal(`sha256:${sha256Hex(raw)}`, srcDigest);
    assert.equal((await modelcar(['verify', `${reg2.host}/mirror/multi:v1`])).code, 0);

    // Registry -> layout -> registry keeps it too.
    const layoutDir = join(work, 'mirror');
    const toLayout = JSON.parse((await modelcarOk(['copy', src, `oci:${layoutDir}:v1`, '--json'])).stdout) as CopyJson;
    assert.equal(toLayout.digest, srcDigest);
    const back = JSON.parse(
      (await modelcarOk(['copy', `oci:${layoutDir}:v1`, `${reg2.host}/back/multi:v1`, '--json'])).stdout,
    ) as CopyJson;
    assert.equal(back.digest, srcDigest);
  });

  it('verify catches one flipped byte in the registry storage directory', async () => {
    // Its own content: registry blobs are shared by every repository, and this one gets corrupted.
    const own = join(work, 'flip-model');
    await writeFiles(own, { 'config.json': '{}', [BIG]: pseudoRandomBytes('flip', 40 * MiB) });
    const ref = `${reg.host}/models/flip:v1`;
    const build = await buildJson([own, '--to', ref, '--base', base.registry as string]);
    assert.equal((await modelcar(['verify', ref])).code, 0);
    const { digest } = layerOf(build, BIG);
    const { offsetOfFile } = layerOf(build, BIG);
    await flipByte(registryBlobPath(reg, digest), offsetOfFile + 7);
    const bad = await modelcar(['verify', ref]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^MISMATCH: /);
    assert.match(bad.stdout, new RegExp(`first: layer \\d+ \\(${digest}\\): /models/${BIG.replace(/[.]/g, '\\.')}`));
  });
});
