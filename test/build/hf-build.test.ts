/**
 * `modelcar build hf://ORG/NAME[@REV]` end to end through the CLI: the Hub double on loopback as the source, the real
 * docker-registry and OCI layouts as destinations, read back with skopeo and umoci and compared byte for byte with
 * what the double serves. Faults (drops, corrupt bytes, gated repos, rate caps) are in hf-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuildJson, buildJson, modelcarOk } from '../support/cli.js';
import { MiB, removeTemp, sha256Hex, tempDir } from '../support/fixtures.js';
import { type FileSpec, type HubDouble, type RepoSpec, startHubDouble } from '../support/hub-double.js';
import {
  assertSidecarContract,
  type BusyboxBase,
  busyboxBase,
  copyToLayout,
  layoutTags,
  readLayoutImage,
  skopeoInspect,
  unpack,
  walkTree,
} from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const CHAT_TEMPLATE =
  "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}<|assistant|>\n";

/** A small chat model laid out as on the Hub: LFS shards of a few MiB, json/tokenizer files, a sub-directory. */
function chatModelFiles(version: string): FileSpec[] {
  const shard1 = 3 * MiB + 17;
  const shard2 = 2 * MiB;
  return [
    { path: '.gitattributes', content: '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' },
    { path: 'README.md', content: `---\nlicense: apache-2.0\n---\n# Tiny chat ${version}\n` },
    { path: 'config.json', content: `{"model_type":"llama","hidden_size":64,"version":"${version}"}\n` },
    { path: 'generation_config.json', content: '{"max_new_tokens":64}\n' },
    { path: 'tokenizer.json', size: 300_000, seed: `tokenizer-${version}`, lfs: false },
    { path: 'tokenizer_config.json', content: JSON.stringify({ chat_template: CHAT_TEMPLATE }) },
    { path: 'special_tokens_map.json', content: '{"eos_token":"<|end|>"}\n' },
    { path: 'chat_template.jinja', content: CHAT_TEMPLATE },
    { path: 'model-00001-of-00002.safetensors', size: shard1, seed: `shard-1-${version}` },
    { path: 'model-00002-of-00002.safetensors', size: shard2, seed: `shard-2-${version}` },
    {
      path: 'model.safetensors.index.json',
      content: JSON.stringify({
        metadata: { total_size: shard1 + shard2 },
        weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' },
      }),
    },
    { path: 'tokenizer/vocab/merges.txt', content: 'a b\nc d\n' },
    { path: 'tokenizer/vocab/vocab.json', content: '{"a":0,"b":1}\n' },
    // PyTorch copy of the same weights: the default selection leaves it out, so no byte of it may be fetched.
    { path: 'pytorch_model.bin', size: MiB, seed: `bin-${version}` },
  ];
}

const CHAT: RepoSpec = {
  id: 'acme/Tiny-Chat',
  license: 'apache-2.0',
  commits: [{ files: chatModelFiles('2'), date: '2024-06-03T10:20:30.000Z' }, { files: chatModelFiles('1') }],
  refs: { dev: 1 },
};
const DEFAULT_SKIPPED = ['.gitattributes', 'pytorch_model.bin'];

const MISTRAL: RepoSpec = {
  id: 'mistral-like/Mini-Instruct',
  license: 'apache-2.0',
  commits: [
    {
      files: [
        { path: 'config.json', content: '{"model_type":"mistral"}\n' },
        { path: 'params.json', content: '{"dim":64,"n_layers":2}\n' },
        { path: 'tokenizer.json', content: '{"model":{}}\n' },
        { path: 'consolidated.safetensors', size: 4 * MiB, seed: 'consolidated' },
        { path: 'model-00001-of-00002.safetensors', size: 2 * MiB, seed: 'm1' },
        { path: 'model-00002-of-00002.safetensors', size: 2 * MiB, seed: 'm2' },
        {
          path: 'model.safetensors.index.json',
          content: JSON.stringify({
            metadata: { total_size: 4 * MiB },
            weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
          }),
        },
      ],
    },
  ],
};

/** Model bytes the double sent for the files of a commit (hub and CDN), by path; absent = not one byte. */
function served(hub: HubDouble): Record<string, number> {
  return Object.fromEntries(hub.bytesServed);
}

const layerFiles = (b: BuildJson) => b.layers.flatMap((l) => l.files.map((f) => f.path)).sort();

describe('modelcar build hf:// from the Hub double', () => {
  let work: string;
  let hub: HubDouble;
  let registry: TestRegistry;
  let base: BusyboxBase;
  let env: Record<string, string>;
  let commit: string;
  let selected: string[];

  before(async () => {
    work = await tempDir();
    hub = await startHubDouble({ repos: [CHAT, MISTRAL], smallFilesVia307: true });
    registry = await startRegistry();
    base = await busyboxBase(work, registry);
    env = { HF_ENDPOINT: hub.url };
    commit = hub.shaOf(CHAT.id);
    selected = chatModelFiles('2')
      .map((f) => f.path)
      .filter((p) => !DEFAULT_SKIPPED.includes(p))
      .sort();
  });
  after(async () => {
    await hub?.close();
    await registry?.stop();
    await removeTemp(work);
  });

  /** Every file under rootfs/models is exactly the double's file at `rev`, and nothing else is there. */
  async function assertModelTree(rootfs: string, rev: string): Promise<void> {
    const tree = await walkTree(join(rootfs, 'models'));
    const files = [...tree].filter(([, v]) => !v.dir);
    assert.deepEqual(files.map(([p]) => p).sort(), selected);
    for (const [path, v] of files) assert.equal(v.sha256, sha256Hex(hub.content(CHAT.id, path, rev)), path);
  }

  function assertHubAnnotations(annotations: Record<string, string> | undefined): void {
    const a = annotations ?? {};
    assert.equal(a['org.opencontainers.image.source'], `hf://${CHAT.id}@${commit}`);
    assert.equal(a['org.opencontainers.image.revision'], commit);
    assert.equal(a['org.opencontainers.image.created'], '2024-06-03T10:20:30Z');
    assert.equal(a['org.opencontainers.image.licenses'], 'apache-2.0');
    assert.equal(a['org.opencontainers.image.title'], 'Tiny-Chat');
  }

  it('streams a multi-file repo into the registry: derived name and tag, skopeo digest, bytes as on the Hub', async () => {
    hub.resetCounters();
    const built = await buildJson([`hf://${CHAT.id}`, '--to', registry.host, '--base', base.registry as string], {
      env,
    });
    const tag = `main-${commit.slice(0, 7)}`;
    assert.equal(built.reference, `${registry.host}/tiny-chat:${tag}@${built.digest}`);
    assert.deepEqual(layerFiles(built), selected);
    assert.deepEqual(built.skipped.map((s) => s.path).sort(), DEFAULT_SKIPPED);
    assert.equal(served(hub)['pytorch_model.bin'], undefined, 'a skipped LFS file was downloaded');
    // Each selected file crossed the wire exactly once (the index is read for the selection, then packed).
    for (const path of selected) {
      const size = hub.content(CHAT.id, path).length;
      const expected = path === 'model.safetensors.index.json' ? 2 * size : size;
      assert.equal(served(hub)[path], expected, `bytes served for ${path}`);
    }

    const ref = `${registry.host}/tiny-chat:${tag}`;
    assert.equal((await skopeoInspect(ref)).Digest, built.digest);
    const layout = join(work, 'pulled');
    await copyToLayout(ref, layout, 'pulled');
    const image = await readLayoutImage(layout, 'pulled');
    assert.equal(image.digest, built.digest);
    assertHubAnnotations(image.manifest.annotations);
    const rootfs = await unpack(layout, 'pulled', join(work, 'bundle-registry'));
    await assertModelTree(rootfs, 'main');
  });

  it('streams the same repo into an OCI layout with a tag from the source; it passes the sidecar contract', async () => {
    const layout = join(work, 'layout');
    const built = await buildJson([`hf://${CHAT.id}`, '--to', `oci:${layout}`, '--base', base.layout], { env });
    const tag = `main-${commit.slice(0, 7)}`;
    assert.equal(built.reference, `oci:${layout}:${tag}`);
    assert.deepEqual(await layoutTags(layout), [tag]);
    const image = await readLayoutImage(layout, tag);
    assert.equal(image.digest, built.digest);
    assertHubAnnotations(image.manifest.annotations);
    const rootfs = await unpack(layout, tag, join(work, 'bundle-layout'));
    await assertModelTree(rootfs, 'main');
    const top = [...new Set(selected.map((p) => p.split('/')[0] as string))];
    assert.deepEqual((await assertSidecarContract(rootfs, top)).sort(), selected);
  });

  it('pins a branch to its commit: every request after the first names the sha; moving the branch changes nothing', async () => {
    const dev = hub.shaOf(CHAT.id, 'dev');
    hub.resetCounters();
    const fromBranch = await buildJson(
      [`hf://${CHAT.id}@dev`, '--to', `${registry.host}/pinned/chat`, '--base', base.registry as string],
      { env },
    );
    const hubRequests = hub.requests.filter((r) => r.origin === 'hub');
    assert.match(hubRequests[0]?.url ?? '', /\/api\/models\/acme\/Tiny-Chat\/revision\/dev\b/);
    assert.ok(hubRequests.length > 3, 'listing and downloads went through the Hub');
    for (const r of hubRequests.slice(1)) assert.ok(r.url.includes(dev), `not pinned to ${dev}: ${r.method} ${r.url}`);
    assert.equal(fromBranch.reference, `${registry.host}/pinned/chat:dev-${dev.slice(0, 7)}@${fromBranch.digest}`);

    const args = [`hf://${CHAT.id}@${dev}`, '--to', `oci:${join(work, 'pinned')}`, '--base', base.layout];
    const first = await buildJson(args, { env });
    // The branch moves to the newest commit between two builds of the same commit.
    hub.addRepo({ ...CHAT, refs: { dev: 0 } });
    assert.equal(hub.shaOf(CHAT.id, 'dev'), commit);
    const second = await buildJson(args, { env });
    hub.addRepo(CHAT);
    assert.equal(second.digest, first.digest);
    assert.equal(first.reference, `oci:${join(work, 'pinned')}:${dev.slice(0, 12)}`);
    const image = await readLayoutImage(join(work, 'pinned'), dev.slice(0, 12));
    assert.equal(image.manifest.annotations?.['org.opencontainers.image.revision'], dev);
    const rootfs = await unpack(join(work, 'pinned'), dev.slice(0, 12), join(work, 'bundle-pinned'));
    const v1 = await walkTree(join(rootfs, 'models'));
    assert.equal(v1.get('config.json')?.sha256, sha256Hex(hub.content(CHAT.id, 'config.json', 'dev')));
    assert.notEqual(v1.get('config.json')?.sha256, sha256Hex(hub.content(CHAT.id, 'config.json', 'main')));
  });

  it('re-runs a finished build without downloading a model byte: every layer is reused', async () => {
    const args = [`hf://${CHAT.id}`, '--to', `${registry.host}/rerun/chat`, '--base', base.registry as string];
    const first = await buildJson(args, { env });
    assert.ok(first.layers.every((l) => l.outcome === 'uploaded'));
    hub.resetCounters();
    const started = Date.now();
    const again = await buildJson(args, { env });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(again.digest, first.digest);
    assert.deepEqual(
      again.layers.map((l) => l.outcome),
      first.layers.map(() => 'reused'),
    );
    // The index file is read again for the selection; no other file, and no LFS byte at all.
    assert.deepEqual(Object.keys(served(hub)), ['model.safetensors.index.json']);
    assert.equal(hub.requests.filter((r) => r.origin === 'cdn').length, 0, 'the re-run went to the CDN');
    process.stdout.write(`# re-run: ${seconds.toFixed(2)} s, served ${JSON.stringify(served(hub))}\n`);
  });

  it('with --cache DIR, a second build into another destination downloads nothing', async () => {
    const cache = join(work, 'hf-cache');
    hub.resetCounters();
    const first = await buildJson(
      [`hf://${CHAT.id}`, '--cache', cache, '--to', `${registry.host}/cached/chat`, '--base', base.registry as string],
      { env },
    );
    const fetched = served(hub);
    assert.ok((fetched['model-00001-of-00002.safetensors'] ?? 0) >= 3 * MiB, 'the first build downloaded');
    hub.resetCounters();
    const other = join(work, 'from-cache');
    const second = await buildJson(
      [`hf://${CHAT.id}`, '--cache', cache, '--to', `oci:${other}`, '--base', base.layout],
      {
        env,
      },
    );
    assert.deepEqual(served(hub), {}, 'the build from the cache downloaded model bytes');
    assert.ok(
      second.layers.every((l) => l.outcome === 'uploaded'),
      'the layout was written from the cache',
    );
    assert.deepEqual(
      second.layers.map((l) => l.digest),
      first.layers.map((l) => l.digest),
    );
    const rootfs = await unpack(other, `main-${commit.slice(0, 7)}`, join(work, 'bundle-cache'));
    await assertModelTree(rootfs, 'main');
  });

  it('--include re-adds what the defaults skip, --exclude leaves out what they keep; the plan moves no LFS byte', async () => {
    hub.resetCounters();
    const r = await modelcarOk(
      [
        'build',
        `hf://${CHAT.id}`,
        '--include',
        '*.bin',
        '--exclude',
        'tokenizer/',
        '--dry-run',
        '--json',
        '--to',
        `oci:${join(work, 'filtered')}`,
        '--base',
        base.layout,
      ],
      { env },
    );
    const plan = JSON.parse(r.stdout) as BuildJson & { dryRun: boolean };
    assert.equal(plan.dryRun, true);
    const expected = [...selected.filter((p) => !p.startsWith('tokenizer/')), 'pytorch_model.bin'].sort();
    assert.deepEqual(layerFiles(plan), expected);
    assert.deepEqual(
      plan.skipped.map((s) => [s.path, s.reason]),
      [
        ['.gitattributes', 'git metadata, not part of the model'],
        ['tokenizer/vocab/merges.txt', 'excluded by --exclude tokenizer/'],
        ['tokenizer/vocab/vocab.json', 'excluded by --exclude tokenizer/'],
      ],
    );
    assert.deepEqual(Object.keys(served(hub)), ['model.safetensors.index.json']);
    assert.deepEqual(await layoutTags(join(work, 'filtered')), []);
  });

  describe('a repo with the same weights twice (Mistral-style consolidated.safetensors beside the shards)', () => {
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];

    it('packages the indexed shards once by default and reports the duplicate and its bytes', async () => {
      hub.resetCounters();
      const built = await buildJson(
        [`hf://${MISTRAL.id}`, '--to', `oci:${join(work, 'mistral')}`, '--base', base.layout],
        {
          env,
        },
      );
      assert.deepEqual(layerFiles(built), [
        'config.json',
        ...shards,
        'model.safetensors.index.json',
        'params.json',
        'tokenizer.json',
      ]);
      assert.deepEqual(
        built.skipped.map((s) => [s.path, (s as { size?: number }).size]),
        [['consolidated.safetensors', 4 * MiB]],
      );
      assert.match(built.skipped[0]?.reason ?? '', /duplicate weights.*model\.safetensors\.index\.json/);
      assert.equal(served(hub)['consolidated.safetensors'], undefined, 'the duplicate was downloaded');
      const packed = layerFiles(built).reduce((n, p) => n + hub.content(MISTRAL.id, p).length, 0);
      assert.equal(built.bytes, packed);
    });

    it('keeps both copies with --keep-duplicate-weights', async () => {
      const built = await buildJson(
        [
          `hf://${MISTRAL.id}`,
          '--keep-duplicate-weights',
          '--to',
          `oci:${join(work, 'mistral-both')}`,
          '--base',
          base.layout,
        ],
        { env },
      );
      assert.ok(layerFiles(built).includes('consolidated.safetensors'));
      for (const s of shards) assert.ok(layerFiles(built).includes(s), s);
      assert.deepEqual(built.skipped, []);
    });

    it('--dry-run prints the plan and what was skipped and why, and downloads no LFS byte', async () => {
      hub.resetCounters();
      const out = join(work, 'mistral-dry');
      const r = await modelcarOk(
        ['build', `hf://${MISTRAL.id}`, '--dry-run', '--to', `oci:${out}`, '--base', base.layout],
        {
          env,
        },
      );
      assert.match(r.stdout, /^destination: oci:.*mistral-dry:main-[0-9a-f]{7}$/m);
      for (const s of shards) assert.match(r.stdout, new RegExp(`/models/${s} \\(2(\\.0)? MiB\\)`));
      assert.match(r.stdout, /^skipped 1 files, 4(\.0)? MiB/m);
      assert.match(
        r.stdout,
        /^ {2}consolidated\.safetensors \(4(\.0)? MiB\): duplicate weights: not in model\.safetensors\.index\.json/m,
      );
      assert.deepEqual(Object.keys(served(hub)), ['model.safetensors.index.json']);
      assert.deepEqual(
        hub.requests.filter((q) => q.origin === 'cdn'),
        [],
      );
      assert.deepEqual(await layoutTags(out), []);
    });
  });
});
