/**
 * Registry limits known before any byte moves: the profiles of known hosts, the planner refusing a file over the
 * layer cap with a message naming file, limit and fix, and the upload engine keeping to chunk caps and to one PATCH
 * per session where a registry needs that (checked on the wire through the proxy, against the real registry).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { parseImageLocation } from '../../src/oci/reference.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { limitsFor } from '../../src/oci/registry/profiles.js';
import { RegistryRepository, type UploadOptions } from '../../src/oci/registry/repository.js';
import { DEFAULT_PLAN_OPTIONS, planLayers } from '../../src/plan/plan.js';
import { type FaultProxy, isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { blobOf, MiB, randomLayers, sha256 } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

describe('registry profiles', () => {
  test('known hosts have their limits; others none', () => {
    assert.equal(limitsFor('ghcr.io').maxLayerBytes, 10_000_000_000);
    assert.equal(limitsFor('ghcr.io').maxChunkBytes, 4 * MiB);
    assert.equal(limitsFor('quay.io').maxLayerBytes, 20_000_000_000);
    const ecr = limitsFor('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    assert.equal(ecr.maxLayerBytes, 52_000 * MiB);
    assert.equal(ecr.monolithicOnly, true);
    assert.match(limitsFor('image-registry.openshift-image-registry.svc:5000').reason, /OpenShift/);
    assert.match(limitsFor('docker.io').reason, /Docker Hub/);
    assert.equal(limitsFor('registry.example.com:5000').maxLayerBytes, undefined);
  });

  test('a file over the layer cap fails the plan, before any byte moves, naming file, limit and fix', () => {
    const limits = limitsFor('ghcr.io');
    const entries = [
      { path: 'config.json', size: 700 },
      { path: 'model-00001-of-00002.safetensors', size: 9_000_000_000 },
      { path: 'model-00002-of-00002.safetensors', size: 10_500_000_000 },
    ];
    assert.throws(
      () =>
        planLayers(entries, {
          ...DEFAULT_PLAN_OPTIONS,
          baseLayers: 0,
          mtime: 0,
          ...(limits.maxLayerBytes !== undefined ? { maxLayerBytes: limits.maxLayerBytes } : {}),
          maxLayerBytesReason: limits.reason,
        }),
      (e: unknown) => {
        assert.ok(e instanceof ModelcarError && e.kind === 'limit', String(e));
        assert.match(e.message, /model-00002-of-00002\.safetensors/);
        assert.match(e.message, /GHCR accepts at most 10 GB per layer/);
        assert.match(e.hint ?? '', /--max-layer-size|re-shard/);
        return true;
      },
    );
  });
});

describe('chunk rules on the wire (distribution 2.8 behind the proxy)', () => {
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

  function repo(name: string, upload: UploadOptions): RegistryRepository {
    const loc = parseImageLocation(`${proxy.host}/${name}`);
    assert.equal(loc.transport, 'registry');
    const client = new RegistryClient(
      proxy.host,
      { kind: 'anonymous', source: 'test' },
      { retry: { baseDelayMs: 50 } },
    );
    return new RegistryRepository(client, loc.ref, upload);
  }

  test('a chunk cap (GHCR: 4 MiB) wins over a larger --chunk-size', async () => {
    const data = randomLayers(1, 10 * MiB)[0] as Buffer;
    const start = proxy.requests.length;
    const r = repo('limits/capped', { chunkSize: 16 * MiB, maxChunkBytes: 4 * MiB });
    assert.equal((await r.pushBlob(blobOf(data))).digest, sha256(data));
    await r.close();
    const sizes = proxy.requests
      .slice(start)
      .filter(isUploadPatch)
      .map((p) => p.sent);
    assert.deepEqual(sizes, [4 * MiB, 4 * MiB, 2 * MiB]);
  });

  test('a monolithic-only registry (ECR) gets one PATCH, and a cut restarts the blob instead of resuming', async () => {
    const data = randomLayers(1, 6 * MiB)[0] as Buffer;
    const start = proxy.requests.length;
    proxy.inject(isUploadPatch, { kind: 'cut', afterBytes: 2 * MiB });
    const r = repo('limits/mono', { chunkSize: 1 * MiB, monolithicOnly: true });
    assert.equal((await r.pushBlob(blobOf(data))).digest, sha256(data));
    await r.close();
    const patches = proxy.requests.slice(start).filter(isUploadPatch);
    assert.equal(patches.length, 2, 'one cut PATCH, one whole PATCH in a new session');
    assert.equal(patches[1]?.sent, 6 * MiB);
    assert.notEqual(patches[0]?.path.split('?')[0], patches[1]?.path.split('?')[0], 'a new session');
    assert.equal(r.stats.restarts, 1);
    const statusQueries = proxy.requests.slice(start).filter((q) => q.method === 'GET' && q.path.includes('/uploads/'));
    assert.equal(statusQueries.length, 0, 'no resume attempted');
  });
});
