/**
 * Pushes through a fault-injecting proxy to the real registry (distribution 2.8): cuts, stalls, 503, 429 with
 * Retry-After, a registry restart. Each push must complete, skopeo must read back the right digests, and the bytes
 * the proxy forwarded must show that at most the one interrupted layer was sent again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModelcarError } from '../../src/errors.js';
import { openRepository, type RegistryOptions } from '../../src/oci/open.js';
import { parseImageLocation } from '../../src/oci/reference.js';
import type { RegistryRepository } from '../../src/oci/registry/repository.js';
import { type FaultProxy, isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { blobOf, MiB, pushImage, randomLayers, sha256, verifyWithSkopeo } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const FAST_RETRY: RegistryOptions['retry'] = {
  baseDelayMs: 100,
  maxDelayMs: 2000,
  maxElapsedMs: 30_000,
  stallMs: 1500,
};

async function open(host: string, repo: string, opts: RegistryOptions = {}): Promise<RegistryRepository> {
  return (await openRepository(parseImageLocation(`${host}/${repo}`), {
    retry: FAST_RETRY,
    ...opts,
  })) as RegistryRepository;
}

const layerBytes = (proxy: FaultProxy) => proxy.uploaded(isUploadPatch);
/** The image config is the last blob pushImage() uploads. */
const configBytes = (proxy: FaultProxy) => proxy.requests.filter(isUploadPatch).at(-1)?.sent ?? 0;

describe('registry faults (distribution 2.8 behind a fault proxy)', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;

  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
  });

  test('a connection cut mid-layer restarts that layer only', async () => {
    proxy.clearFaults();
    const start = proxy.requests.length;
    const layers = randomLayers(3, 12 * MiB);
    proxy.inject(isUploadPatch, { kind: 'cut', afterBytes: 5 * MiB });
    const repo = await open(proxy.host, 'faults/cut');
    const t0 = Date.now();
    await pushImage(repo, layers, 'v1');
    const took = Date.now() - t0;
    await repo.close();
    const sent = proxy.requests.slice(start).filter(isUploadPatch);
    const total = sent.reduce((n, r) => n + r.sent, 0);
    const resent = total - 36 * MiB - (sent.at(-1)?.sent ?? 0); // minus the layers and the config
    assert.equal(repo.stats.restarts, 1, 'one layer restarted');
    assert.ok(resent <= 5 * MiB + 64 * 1024, `resent ${resent} bytes, at most the cut part of one layer`);
    assert.ok(resent >= 4 * MiB, `the cut layer was sent again (${resent})`);
    await verifyWithSkopeo(`${registry.host}/faults/cut:v1`, layers);
    console.log(`cut: resent ${(resent / MiB).toFixed(1)} MiB, 1 restart, push took ${took} ms`);
  });

  test('503 and 429 + Retry-After are retried; no layer byte moves twice', async () => {
    proxy.clearFaults();
    const layers = randomLayers(2, 8 * MiB);
    const before = layerBytes(proxy);
    proxy.inject((r) => r.method === 'POST', { kind: 'respond', status: 503 }, 1);
    proxy.inject(isUploadPatch, { kind: 'respond', status: 503 }, 1);
    proxy.inject(isUploadPatch, { kind: 'respond', status: 429, headers: { 'retry-after': '1' } }, 1);
    const repo = await open(proxy.host, 'faults/busy');
    const t0 = Date.now();
    await pushImage(repo, layers, 'v1');
    const took = Date.now() - t0;
    await repo.close();
    const moved = layerBytes(proxy) - before;
    const configSize = configBytes(proxy);
    assert.equal(moved - configSize, 16 * MiB, 'every layer byte reached the registry exactly once');
    assert.ok(took >= 1000, `Retry-After: 1 was honoured (${took} ms)`);
    await verifyWithSkopeo(`${registry.host}/faults/busy:v1`, layers);
    console.log(`503+429: 0 bytes resent, ${repo.stats.resumes} resumes, push took ${took} ms`);
  });

  test('a stalled upload is aborted and that layer restarted', async () => {
    proxy.clearFaults();
    const layers = randomLayers(2, 8 * MiB);
    const before = layerBytes(proxy);
    proxy.inject(isUploadPatch, { kind: 'stall', afterBytes: 3 * MiB });
    const repo = await open(proxy.host, 'faults/stall');
    const t0 = Date.now();
    await pushImage(repo, layers, 'v1');
    const took = Date.now() - t0;
    await repo.close();
    const moved = layerBytes(proxy) - before - configBytes(proxy);
    assert.ok(moved <= 16 * MiB + 3 * MiB, `resent ${moved - 16 * MiB} bytes`);
    assert.ok(took >= 1500 && took < 15_000, `stall detected after stallMs (${took} ms)`);
    await verifyWithSkopeo(`${registry.host}/faults/stall:v1`, layers);
    console.log(`stall: resent ${((moved - 16 * MiB) / MiB).toFixed(1)} MiB, recovered in ${took} ms`);
  });

  test('chunked mode resumes at the Range the registry kept', async () => {
    proxy.clearFaults();
    const data = randomLayers(1, 20 * MiB)[0] as Buffer;
    const before = layerBytes(proxy);
    let patches = 0;
    // The third chunk is refused before a byte reaches the registry: the session lives on with two chunks in it.
    proxy.inject(isUploadPatch, () => (++patches === 3 ? { kind: 'respond', status: 503 } : undefined), 1);
    const repo = await open(proxy.host, 'faults/chunked', { chunkSize: 4 * MiB });
    const blob = blobOf(data, { openAt: true });
    const pushed = await repo.pushBlob(blob);
    await repo.close();
    assert.equal(pushed.digest, sha256(data));
    assert.equal(repo.stats.resumes, 1);
    assert.deepEqual(blob.stats.resumedAt, [8 * MiB], 'resumed from the checkpoint at the registry Range');
    assert.equal(layerBytes(proxy) - before, 20 * MiB, 'no byte sent twice');
  });

  test('chunked mode without openAt re-reads the prefix locally and still sends nothing twice', async () => {
    proxy.clearFaults();
    const data = randomLayers(1, 10 * MiB)[0] as Buffer;
    const before = layerBytes(proxy);
    let patches = 0;
    proxy.inject(isUploadPatch, () => (++patches === 2 ? { kind: 'respond', status: 502 } : undefined), 1);
    const repo = await open(proxy.host, 'faults/chunked2', { chunkSize: 4 * MiB });
    const blob = blobOf(data);
    assert.equal((await repo.pushBlob(blob)).digest, sha256(data));
    await repo.close();
    assert.equal(blob.stats.opens, 2);
    assert.equal(layerBytes(proxy) - before, 10 * MiB);
  });

  test('the registry killed and restarted mid-push: the push completes', async () => {
    const storage = await mkdtemp(join(tmpdir(), 'modelcar-restart-'));
    let reg = await startRegistry({ storageDir: storage });
    const port = reg.port;
    const px = await startFaultProxy(port);
    try {
      const layers = randomLayers(3, 16 * MiB);
      const repo = await open(px.host, 'faults/restart', {
        retry: { ...FAST_RETRY, baseDelayMs: 200, maxDelayMs: 1000 },
      });
      const pushing = pushImage(repo, layers, 'v1', { delayMs: 15 });
      // Kill it once a few MiB have gone through, then bring it back on the same port and storage.
      while (px.uploaded(isUploadPatch) < 6 * MiB) await sleep(20);
      const t0 = Date.now();
      await reg.stop();
      await sleep(300);
      reg = await startRegistry({ storageDir: storage, port });
      await pushing;
      const recovered = Date.now() - t0;
      await repo.close();
      const total = px.uploaded(isUploadPatch);
      const resent = total - 48 * MiB - configBytes(px);
      assert.ok(resent <= 48 * MiB, `resent ${resent}`);
      await verifyWithSkopeo(`${reg.host}/faults/restart:v1`, layers);
      console.log(
        `registry restart: resent ${(resent / MiB).toFixed(1)} MiB (the layers in flight), ${repo.stats.restarts} restarts, recovered ${recovered} ms after the kill`,
      );
    } finally {
      await px.close();
      await reg.stop();
      await rm(storage, { recursive: true, force: true });
    }
  });

  test('a registry lying about Docker-Content-Digest is caught', async () => {
    proxy.clearFaults();
    proxy.inject((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'), {
      kind: 'respond',
      status: 201,
      headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` },
      body: '',
    });
    const repo = await open(proxy.host, 'faults/liar');
    await assert.rejects(
      repo.pushBlob(blobOf(Buffer.from('hello'))),
      (e: unknown) => e instanceof ModelcarError && e.kind === 'integrity' && /stored sha256:0{64}/.test(e.message),
    );
    await repo.close();
  });

  test('Authorization never follows a redirect to another host', async () => {
    const seen: (string | undefined)[] = [];
    const cdn = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob-bytes');
    });
    await new Promise<void>((ok) => cdn.listen(0, '127.0.0.1', ok));
    const cdnPort = (cdn.address() as { port: number }).port;
    const basic = await startRegistry({ basicAuth: { username: 'alice', password: 'wonderland' } });
    const px = await startFaultProxy(basic.port);
    const work = await mkdtemp(join(tmpdir(), 'modelcar-redirect-'));
    try {
      const authFile = join(work, 'auth.json');
      await writeFile(
        authFile,
        JSON.stringify({ auths: { [px.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }),
      );
      const repo = await open(px.host, 'faults/redirect', { authFile });
      await repo.checkWritable(); // learns the Basic challenge
      const digest = `sha256:${'a'.repeat(64)}`;
      px.inject((r) => r.method === 'GET' && r.path.includes(`/blobs/${digest}`), {
        kind: 'respond',
        status: 307,
        headers: { location: `http://127.0.0.1:${cdnPort}/storage/blob` },
        body: '',
      });
      const body = await repo.fetchBlob({ mediaType: 'application/octet-stream', digest, size: 10 });
      assert.ok(body, 'the redirected blob is found');
      let text = '';
      for await (const chunk of body) text += chunk.toString();
      await repo.close();
      assert.equal(text, 'blob-bytes');
      const toRegistry = px.requests.find((r) => r.path.includes(`/blobs/${digest}`));
      assert.match(String(toRegistry?.headers.authorization), /^Basic /, 'the registry itself got the credentials');
      assert.deepEqual(seen, [undefined], 'the other host got no Authorization header');
    } finally {
      cdn.close();
      await px.close();
      await basic.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
