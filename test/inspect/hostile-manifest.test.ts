/**
 * A registry (the real one, behind a tampering proxy) whose manifest names digests that are not digests: they never
 * become URL paths. `inspect` and `verify` refuse with the blob named, and no request leaves the image's repository.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { type FaultProxy, type ProxiedRequest, startFaultProxy } from '../support/fault-proxy.js';
import { removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const isManifestGet = (r: ProxiedRequest) => r.method === 'GET' && r.path.includes('/manifests/');

function tamper(change: (manifest: { config: { digest: string }; layers: { digest: string }[] }) => void) {
  return {
    kind: 'rewrite' as const,
    body: (original: Buffer) => {
      const manifest = JSON.parse(original.toString('utf8'));
      change(manifest);
      return JSON.stringify(manifest);
    },
  };
}

describe('a manifest naming digests that are not digests', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: string;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
    const model = await writeFiles(join(work, 'm'), { 'config.json': '{"model_type":"test"}\n' });
    image = `${proxy.host}/hostile/m:v1`;
    await modelcarOk(['build', model.dir, '--base', 'scratch', '--image-volume', '--no-journal', '-q', '--to', image]);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
    await removeTemp(work);
  });

  it('is refused before the digest becomes a URL path', async () => {
    const traversal = 'sha256:../../../../v2/_catalog';
    proxy.inject(
      isManifestGet,
      tamper((m) => (m.config.digest = traversal)),
    );
    const inspected = await modelcar(['inspect', image]);

    assertCleanFailure(inspected, /refusing to fetch blob "sha256:\.\.\/\.\.\/\.\.\/\.\.\/v2\/_catalog": not a digest/);

    proxy.inject(
      isManifestGet,
      tamper((m) => ((m.layers[0] as { digest: string }).digest = 'sha256:a/../../b')),
    );
    const verified = await modelcar(['verify', image]);
    assert.equal(verified.code, 1, 'verify fails');
    assert.match(
      verified.stdout,
      /^MISMATCH: .*\n {2}first: layer 1 .*refusing to fetch blob "sha256:a\/\.\.\/\.\.\/b": not a digest/,
    );

    const strays = proxy.requests.filter((r) => !r.path.startsWith('/v2/hostile/m/') && r.path !== '/v2/');
    assert.deepEqual(
      strays.map((r) => `${r.method} ${r.path}`),
      [],
      'no request outside the image repository',
    );
    assert.ok(!proxy.requests.some((r) => r.path.includes('..')), 'no path with ..');
  });
});
