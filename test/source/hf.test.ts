import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { listFiles } from '@huggingface/hub';
import { isModelcarError, type ModelcarError } from '../../src/errors.js';
import { readIndexFiles, selectFiles } from '../../src/plan/select.js';
import { ByteBudget } from '../../src/source/byte-budget.js';
import { HfSource, type HfSourceOptions } from '../../src/source/hf.js';
import type { SourceEntry } from '../../src/source/source.js';
import { type HubDouble, type RepoSpec, startHubDouble } from '../support/hub-double.js';

const MiB = 1024 * 1024;
const FAST_RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 10_000 };
const GRANTED = 'hf_granted_reader';

const index = {
  metadata: { total_size: 3 * MiB },
  weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' },
};

const TINY: RepoSpec = {
  id: 'acme/Tiny-Chat-7B',
  license: 'apache-2.0',
  commits: [
    {
      files: [
        { path: '.gitattributes', content: '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' },
        { path: 'config.json', content: '{"architectures":["MistralForCausalLM"]}\n' },
        { path: 'tokenizer.json', size: 300_000 },
        { path: 'model.safetensors.index.json', content: JSON.stringify(index) },
        { path: 'model-00001-of-00002.safetensors', size: 2 * MiB + 17 },
        { path: 'model-00002-of-00002.safetensors', size: MiB - 17 },
        { path: 'consolidated.safetensors', size: 3 * MiB },
        { path: 'docs/usage.md', content: '# usage\n' },
        { path: 'empty.txt', content: '' },
      ],
    },
    { files: [{ path: 'config.json', content: '{"old":true}\n' }] },
  ],
  refs: { dev: 1, 'v1.0': 0, 'refs/pr/1': 1 },
};

const BIG: RepoSpec = {
  id: 'acme/big',
  commits: [{ files: [{ path: 'big.safetensors', size: 64 * MiB }] }],
};

const GATED: RepoSpec = {
  id: 'meta/Gated-3B',
  gated: 'manual',
  license: 'llama3',
  grantedTokens: [GRANTED],
  commits: [
    {
      files: [
        { path: 'config.json', content: '{}' },
        { path: 'w.safetensors', size: 200_000 },
      ],
    },
  ],
};

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads until the stream fails; reports what arrived and whether it ever ended. */
async function readUntilError(stream: Readable): Promise<{ error: unknown; bytes: number; ended: boolean }> {
  let ended = false;
  let bytes = 0;
  stream.on('end', () => {
    ended = true;
  });
  try {
    for await (const c of stream) bytes += (c as Buffer).length;
  } catch (error) {
    return { error, bytes, ended };
  }
  return { error: undefined, bytes, ended };
}

function entry(list: SourceEntry[], path: string): SourceEntry {
  const e = list.find((x) => x.path === path);
  assert.ok(e, `no ${path} in the listing`);
  return e;
}

describe('HfSource against the Hub double', () => {
  let hub: HubDouble;
  const sources: HfSource[] = [];
  const source = (ref: string, opts: HfSourceOptions = {}) => {
    const s = new HfSource(ref, { endpoint: hub.url, retry: FAST_RETRY, ...opts });
    sources.push(s);
    return s;
  };

  before(async () => {
    hub = await startHubDouble({ repos: [TINY, BIG, GATED], pageSize: 3, knownTokens: [GRANTED] });
  });
  after(async () => {
    for (const s of sources) await s.close();
    await hub.close();
  });
  beforeEach(() => {
    hub.resetCounters();
    hub.faults.clear();
    hub.rateLimit = 0;
  });

  it('lets @huggingface/hub itself page through the tree listing', async () => {
    const files = [];
    for await (const f of listFiles({ repo: TINY.id, recursive: true, hubUrl: hub.url })) files.push(f);
    assert.equal(files.filter((f) => f.type === 'file').length, 9);
    assert.ok(hub.requests.filter((r) => r.url.includes('/tree/')).length >= 3, 'the listing came in pages');
  });

  it('pins the default branch to its commit and lists sizes with LFS sha256s, sorted', async () => {
    const src = source(`hf://${TINY.id}`);
    const id = await src.identity();
    const sha = hub.shaOf(TINY.id, 'main');
    assert.equal(id.revision, sha);
    assert.equal(id.uri, `hf://${TINY.id}@${sha}`);
    assert.equal(id.ref, 'main');
    assert.equal(id.title, 'Tiny-Chat-7B');
    assert.equal(id.license, 'apache-2.0');
    assert.equal(id.committedAt?.toISOString(), '2024-05-01T12:00:00.000Z');
    const list = await src.list();
    assert.deepEqual(
      list.map((e) => e.path),
      list.map((e) => e.path).sort(),
    );
    assert.equal(list.length, 9);
    const shard = entry(list, 'model-00001-of-00002.safetensors');
    assert.equal(shard.size, 2 * MiB + 17);
    assert.equal(shard.sha256, hub.fileInfo(TINY.id, shard.path).sha256);
    assert.equal(entry(list, 'config.json').sha256, undefined, 'small files have only a git oid');
  });

  it('streams every file byte for byte, small files from the Hub and LFS files from the CDN', async () => {
    const src = source(`hf://${TINY.id}`);
    for (const e of await src.list()) {
      assert.deepEqual(await readAll(await src.open(e)), hub.content(TINY.id, e.path), e.path);
    }
    assert.ok(hub.requests.some((r) => r.origin === 'cdn' && r.file === 'consolidated.safetensors'));
    assert.ok(!hub.requests.some((r) => r.origin === 'cdn' && r.file === 'config.json'));
    assert.ok(!hub.requests.some((r) => r.origin === 'cdn' && r.method !== 'GET'), 'the CDN only sees range GETs');
    assert.equal(hub.bytesServed.get('empty.txt'), undefined, 'an empty file needs no request');
  });

  it('serves small files through the Hub’s relative 307 to /api/resolve-cache', async () => {
    const other = await startHubDouble({ repos: [TINY], smallFilesVia307: true });
    try {
      const src = source(`hf://${TINY.id}`, { endpoint: other.url });
      const e = entry(await src.list(), 'tokenizer.json');
      assert.deepEqual(await readAll(await src.open(e)), other.content(TINY.id, e.path));
      assert.ok(other.requests.some((r) => r.url.startsWith('/api/resolve-cache/')));
    } finally {
      await other.close();
    }
  });

  it('resolves a branch to its commit once and asks for that sha in every later request', async () => {
    const src = source(`hf://${TINY.id}@dev`);
    const sha = hub.shaOf(TINY.id, 'dev');
    assert.equal(await src.commit(), sha);
    const list = await src.list();
    assert.deepEqual(
      list.map((e) => e.path),
      ['config.json'],
    );
    assert.deepEqual(await readAll(await src.open(entry(list, 'config.json'))), Buffer.from('{"old":true}\n'));
    const [first, ...rest] = hub.requests.filter((r) => r.origin === 'hub');
    assert.match(first?.url ?? '', /\/api\/models\/acme\/Tiny-Chat-7B\/revision\/dev\?/);
    assert.ok(rest.length >= 3);
    for (const r of rest) {
      assert.ok(r.url.includes(sha), `${r.url} is pinned to ${sha}`);
      assert.ok(!/[/=]dev\b/.test(r.url), `${r.url} does not name the branch`);
    }
  });

  it('pins refs/pr/N and tags too, and names the tag from the ref', async () => {
    const pr = source(`hf://${TINY.id}@refs/pr/1`);
    assert.equal(await pr.commit(), hub.shaOf(TINY.id, 'refs/pr/1'));
    const tag = source(`hf://${TINY.id}@v1.0`);
    assert.equal((await tag.identity()).ref, 'v1.0');
    assert.equal(await tag.commit(), hub.shaOf(TINY.id, 'main'));
  });

  it('resumes dropped connections from the byte where they stopped, fetching nothing twice', async () => {
    const src = source(`hf://${TINY.id}`, { partSize: MiB, connections: 2 });
    const e = entry(await src.list(), 'consolidated.safetensors');
    hub.faults.set(e.path, { dropAfterBytes: 300_000, dropTimes: 3 });
    hub.resetCounters();
    assert.deepEqual(await readAll(await src.open(e)), hub.content(TINY.id, e.path));
    assert.equal(hub.bytesServed.get(e.path), e.size, 'exactly the file size was served, drops included');
    const ranges = hub.requests.filter((r) => r.origin === 'cdn' && r.method === 'GET').map((r) => r.range);
    assert.equal(ranges.length, 3 + 3, 'three parts plus one resume per drop');
    const starts = ranges.map((r) => Number(/^bytes=(\d+)-/.exec(r ?? '')?.[1]));
    const resumed = starts.filter((from) => from % MiB !== 0);
    assert.equal(resumed.length, 3);
    // Each drop cut a response after 300000 bytes; its resume starts right there, in the same part.
    for (const from of resumed) assert.equal((from % MiB) % 300_000, 0, `resumed at ${from}`);
  });

  it('resumes after a stalled body once the body timeout fires', async () => {
    const src = source(`hf://${TINY.id}`, { bodyTimeoutMs: 300 });
    const e = entry(await src.list(), 'model-00002-of-00002.safetensors');
    hub.faults.set(e.path, { stallAfterBytes: 100_000, stallMs: 3_000 });
    assert.deepEqual(await readAll(await src.open(e)), hub.content(TINY.id, e.path));
    const gets = hub.requests.filter((r) => r.origin === 'cdn' && r.method === 'GET' && r.file === e.path);
    assert.equal(gets.at(-1)?.range, `bytes=100000-${e.size - 1}`);
  });

  it('asks the Hub again when a signed CDN URL has expired mid-file', async () => {
    const src = source(`hf://${TINY.id}`, { partSize: MiB, connections: 1 });
    const e = entry(await src.list(), 'consolidated.safetensors');
    const stream = await src.open(e);
    const chunks: Buffer[] = [];
    for await (const c of stream) {
      if (chunks.length === 0) hub.expireCdnUrls();
      chunks.push(c as Buffer);
    }
    assert.deepEqual(Buffer.concat(chunks), hub.content(TINY.id, e.path));
    const resolves = hub.requests.filter((r) => r.origin === 'hub' && r.url.includes('/resolve/') && r.file === e.path);
    assert.equal(resolves.length, 2, 'resolved once at open and once after the CDN refused the old URL');
  });

  it('gives up after the retry budget, with an error and never an early end', async () => {
    const src = source(`hf://${TINY.id}`);
    const e = entry(await src.list(), 'model-00002-of-00002.safetensors');
    hub.faults.set(e.path, { dropAfterBytes: 0, dropTimes: Number.POSITIVE_INFINITY });
    const { error, ended } = await readUntilError(await src.open(e));
    assert.equal(ended, false);
    assert.ok(isModelcarError(error));
    assert.equal(error.kind, 'network');
    assert.match(error.message, /model-00002-of-00002\.safetensors: download failed 4 times in a row at byte 0/);
  });

  it('fails a corrupt file with both hashes named, before the stream ends', async () => {
    const src = source(`hf://${TINY.id}`, { partSize: MiB });
    const e = entry(await src.list(), 'model-00001-of-00002.safetensors');
    hub.faults.set(e.path, { corruptAt: 1234 });
    const { error, bytes, ended } = await readUntilError(await src.open(e));
    assert.equal(ended, false, 'the stream never ends');
    assert.ok(bytes < e.size, 'the last bytes are held back until the hash is checked');
    assert.ok(isModelcarError(error));
    assert.equal(error.kind, 'integrity');
    const content = Buffer.from(hub.content(TINY.id, e.path));
    content[1234] = (content[1234] as number) ^ 0xff;
    const { createHash } = await import('node:crypto');
    const got = createHash('sha256').update(content).digest('hex');
    assert.equal(error.message, `model-00001-of-00002.safetensors: sha256 mismatch: expected ${e.sha256}, got ${got}`);
  });

  it('checks small files against their git blob sha1', async () => {
    const src = source(`hf://${TINY.id}`);
    const e = entry(await src.list(), 'tokenizer.json');
    hub.faults.set(e.path, { corruptAt: 10 });
    const { error, ended } = await readUntilError(await src.open(e));
    assert.equal(ended, false);
    assert.match((error as Error).message, /^tokenizer\.json: git blob sha1 mismatch: expected [0-9a-f]{40}, got/);
  });

  it('tells how to get into a gated repo without a token: accept the license, pass a token', async () => {
    const src = source(`hf://${GATED.id}`);
    const e = entry(await src.list(), 'w.safetensors');
    const err = await src.open(e).then(
      () => assert.fail('opened a gated file'),
      (x: ModelcarError) => x,
    );
    assert.equal(err.kind, 'hub');
    assert.equal(err.message, `hf://${GATED.id} is a gated repository and no Hugging Face token was given`);
    assert.equal(
      err.hint,
      `accept its license on ${hub.url}/${GATED.id} with your account, then pass a token with HF_TOKEN or --hf-token-file`,
    );
  });

  it('says when a token was not granted access to a gated repo', async () => {
    const other = await startHubDouble({ repos: [GATED] });
    try {
      const src = source(`hf://${GATED.id}`, {
        endpoint: other.url,
        token: { value: 'hf_someone', source: 'HF_TOKEN' },
      });
      const e = entry(await src.list(), 'w.safetensors');
      await assert.rejects(src.open(e), (x: ModelcarError) => {
        assert.match(x.message, /gated repository and the token from HF_TOKEN has not been granted access/);
        assert.match(x.hint ?? '', new RegExp(`accept its license on ${other.url}/${GATED.id}`));
        return true;
      });
    } finally {
      await other.close();
    }
  });

  it('downloads a gated repo with a granted token, which never reaches the CDN host', async () => {
    const src = source(`hf://${GATED.id}`, { token: { value: GRANTED, source: '--hf-token-file /run/t' } });
    assert.equal((await src.identity()).license, 'llama3');
    for (const e of await src.list()) assert.deepEqual(await readAll(await src.open(e)), hub.content(GATED.id, e.path));
    assert.ok(
      hub.requests.some((r) => r.origin === 'cdn'),
      'the LFS file came from the CDN',
    );
    assert.ok(hub.requests.filter((r) => r.origin === 'hub').every((r) => r.authorization));
    assert.equal(hub.cdnSawAuthorization, false);
  });

  it('names a rejected token by where it came from, never by its value', async () => {
    const src = source(`hf://${TINY.id}`, { token: { value: 'hf_revoked_123', source: 'HF_TOKEN' } });
    const err = await src.identity().then(
      () => assert.fail('accepted a bad token'),
      (x: ModelcarError) => x,
    );
    assert.match(err.message, /^the Hugging Face token from HF_TOKEN was rejected \(HTTP 401/);
    assert.match(err.hint ?? '', /settings\/tokens/);
    assert.ok(!`${err.message} ${err.hint}`.includes('hf_revoked_123'));
  });

  it('reports a missing repository and a missing revision', async () => {
    await assert.rejects(source('hf://acme/nope').identity(), (x: ModelcarError) => {
      assert.equal(x.message, `hf://acme/nope: repository not found on ${hub.url}`);
      assert.match(x.hint ?? '', /if the repository is private, pass a token/);
      return true;
    });
    await assert.rejects(source(`hf://${TINY.id}@nope`).identity(), (x: ModelcarError) => {
      assert.equal(x.message, `hf://${TINY.id}@nope: revision "nope" not found`);
      return true;
    });
  });

  it('fetches a large file over parallel ranges: several rate-capped connections busy at once', async (t) => {
    const src1 = source(`hf://${BIG.id}`, { connections: 1 });
    const src4 = source(`hf://${BIG.id}`, { connections: 4 });
    const [e] = await src1.list();
    assert.ok(e);
    await src4.list();
    hub.rateLimit = 24 * MiB;
    const time = async (src: HfSource) => {
      const t0 = performance.now();
      const bytes = await readAll(await src.open(e));
      assert.equal(bytes.length, e.size);
      return performance.now() - t0;
    };
    const one = await time(src1);
    hub.resetCounters();
    const four = await time(src4);
    t.diagnostic(
      `64 MiB at 24 MiB/s per connection: 1 connection ${one.toFixed(0)} ms, 4 connections ${four.toFixed(0)} ms`,
    );
    // Concurrency is counted by the Hub double; the times above are a diagnostic, not an assertion (a loaded
    // machine stretches them).
    assert.ok(hub.maxActiveBodies >= 3, `${hub.maxActiveBodies} connections were busy at once`);
  });

  it('keeps the bytes held in memory under the shared budget, with several files open at once', async () => {
    const budget = new ByteBudget(12 * MiB);
    const src = source(`hf://${BIG.id}`, { connections: 4, partSize: 4 * MiB, budget });
    const tiny = source(`hf://${TINY.id}`, { connections: 4, partSize: 4 * MiB, budget });
    const [e] = await src.list();
    assert.ok(e);
    const t = entry(await tiny.list(), 'consolidated.safetensors');
    const [a, b] = await Promise.all([readAll(await src.open(e)), readAll(await tiny.open(t))]);
    assert.equal(a.length, e.size);
    assert.deepEqual(b, hub.content(TINY.id, t.path));
    assert.ok(budget.maxHeld <= 12 * MiB, `held ${budget.maxHeld}`);
    assert.ok(budget.maxHeld >= 8 * MiB, 'parts were fetched ahead in parallel');
    assert.equal(budget.held, 0, 'everything was handed back');
  });

  it('releases its share of the budget when the consumer gives up early', async () => {
    const budget = new ByteBudget(8 * MiB);
    const src = source(`hf://${BIG.id}`, { partSize: 2 * MiB, budget });
    const [e] = await src.list();
    assert.ok(e);
    const stream = await src.open(e);
    for await (const _ of stream) break;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(budget.held, 0);
  });

  it('builds from --cache the second time without downloading a byte, in the Hugging Face cache layout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelcar-hf-cache-'));
    try {
      const first = source(`hf://${TINY.id}`, { cacheDir: dir });
      const list = await first.list();
      for (const e of list) await readAll(await first.open(e));
      const repoDir = join(dir, 'models--acme--Tiny-Chat-7B');
      const sha = hub.shaOf(TINY.id);
      assert.equal(await readFile(join(repoDir, 'refs', 'main'), 'utf8'), sha);
      const shard = entry(list, 'model-00001-of-00002.safetensors');
      assert.equal(
        await readlink(join(repoDir, 'snapshots', sha, shard.path)),
        join('..', '..', 'blobs', shard.sha256 ?? ''),
      );
      assert.equal(
        await readlink(join(repoDir, 'snapshots', sha, 'docs', 'usage.md')),
        join('..', '..', '..', 'blobs', hub.fileInfo(TINY.id, 'docs/usage.md').gitOid),
      );
      assert.ok(!(await readdir(join(repoDir, 'blobs'))).some((n) => n.endsWith('.incomplete')));

      hub.resetCounters();
      const second = source(`hf://${TINY.id}`, { cacheDir: dir });
      for (const e of await second.list()) {
        assert.deepEqual(await readAll(await second.open(e)), hub.content(TINY.id, e.path));
      }
      assert.equal(
        [...hub.bytesServed.values()].reduce((a, b) => a + b, 0),
        0,
      );
      assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/')), 'no download was even resolved');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves no cache entry for a file that failed its check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelcar-hf-cache-'));
    try {
      const src = source(`hf://${TINY.id}`, { cacheDir: dir });
      const e = entry(await src.list(), 'model-00002-of-00002.safetensors');
      hub.faults.set(e.path, { corruptAt: 5 });
      const { error } = await readUntilError(await src.open(e));
      assert.equal((error as ModelcarError).kind, 'integrity');
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await readdir(join(dir, 'models--acme--Tiny-Chat-7B', 'blobs')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('feeds the default file selection: duplicate Mistral-style weights are packaged once', async () => {
    const src = source(`hf://${TINY.id}`);
    const list = await src.list();
    const sel = selectFiles(list, { indexFiles: await readIndexFiles(src, list) });
    const skipped = new Map(sel.skipped.map((s) => [s.path, s.reason]));
    assert.ok(skipped.has('consolidated.safetensors'), 'the consolidated duplicate is left out');
    assert.ok(skipped.has('.gitattributes'));
    assert.ok(sel.selected.some((e) => e.path === 'model-00001-of-00002.safetensors'));
    assert.ok(sel.selected.some((e) => e.path === 'model-00002-of-00002.safetensors'));
    assert.ok(sel.selected.some((e) => e.path === 'model.safetensors.index.json'));
  });
});
