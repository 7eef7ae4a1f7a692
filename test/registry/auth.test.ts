/**
 * Token auth against the real registry (distribution 2.8 `auth.token`) with a local issuer of ES256 JWTs (x5c):
 * short-lived tokens refreshed before expiry, a 401 in the middle of a push answered by re-authenticating once,
 * the two-scope token of a cross-repo mount (which moves no layer bytes), the OAuth2 refresh-token grant, and wrong
 * passwords that fail within seconds (token and htpasswd).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { openRepository, type RegistryOptions } from '../../src/oci/open.js';
import { parseImageLocation } from '../../src/oci/reference.js';
import type { RegistryRepository } from '../../src/oci/registry/repository.js';
import { type FaultProxy, isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { blobOf, MiB, pushImage, randomLayers, sha256, verifyWithSkopeo } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startTokenIssuer, type TokenIssuer, tokenAgeS } from '../support/token-issuer.js';

const FAST_RETRY: RegistryOptions['retry'] = { baseDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 20_000 };

interface Setup {
  issuer: TokenIssuer;
  registry: TestRegistry;
  proxy: FaultProxy;
  work: string;
  authFile(entry: Record<string, string>): Promise<string>;
  open(repo: string, authFile: string): Promise<RegistryRepository>;
  close(): Promise<void>;
}

async function setup(issuerOpts: Partial<Parameters<typeof startTokenIssuer>[0]> = {}): Promise<Setup> {
  const issuer = await startTokenIssuer({
    users: { alice: 'wonderland' },
    refreshTokens: { 'refresh-7f3a': 'alice' },
    ...issuerOpts,
  });
  const registry = await startRegistry({ extraConfig: { auth: issuer.registryAuthConfig() } });
  const proxy = await startFaultProxy(registry.port);
  const work = await mkdtemp(join(tmpdir(), 'modelcar-auth-'));
  let files = 0;
  return {
    issuer,
    registry,
    proxy,
    work,
    async authFile(entry) {
      const path = join(work, `auth-${files++}.json`);
      await writeFile(path, JSON.stringify({ auths: { [proxy.host]: entry } }));
      return path;
    },
    async open(repo, authFile) {
      return (await openRepository(parseImageLocation(`${proxy.host}/${repo}`), {
        authFile,
        retry: FAST_RETRY,
      })) as RegistryRepository;
    },
    async close() {
      await proxy.close();
      await registry.stop();
      await issuer.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

const basicEntry = (user: string, password: string) => ({
  auth: Buffer.from(`${user}:${password}`).toString('base64'),
});

/** The 401 an expiring registry sends: its own challenge with error="invalid_token". */
function expired(s: Setup, repo: string) {
  return {
    kind: 'respond' as const,
    status: 401,
    headers: {
      'www-authenticate': `Bearer realm="${s.issuer.realm}",service="${s.issuer.service}",scope="repository:${repo}:pull,push",error="invalid_token"`,
    },
    body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}',
  };
}

describe('token auth (distribution 2.8 + ES256 x5c issuer)', () => {
  let s: Setup;
  before(async () => {
    s = await setup();
  });
  after(async () => {
    await s?.close();
  });

  test('push, then a cross-repo mount with one two-scope token moves no layer bytes', async () => {
    const authFile = await s.authFile(basicEntry('alice', 'wonderland'));
    const layers = randomLayers(1, 4 * MiB);
    const src = await s.open('auth/src', authFile);
    await pushImage(src, layers, 'v1');
    const dst = await s.open('auth/dst', authFile);
    const before = s.proxy.uploaded();
    const desc = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha256(layers[0] as Buffer),
      size: 4 * MiB,
    };
    assert.equal(await dst.mountBlob(desc, src), true);
    assert.equal(s.proxy.uploaded() - before, 0, 'no byte moved for the mount');
    assert.equal(await dst.hasBlob(desc), true);
    const mountToken = s.issuer.issued.find(
      (t) => t.scopes.includes('repository:auth/dst:pull,push') && t.scopes.includes('repository:auth/src:pull'),
    );
    assert.ok(mountToken, `one token carried both scopes: ${JSON.stringify(s.issuer.issued.map((t) => t.scopes))}`);
    await src.close();
    await dst.close();
    await verifyWithSkopeo(`${s.registry.host}/auth/src:v1`, layers, [
      '--src-tls-verify=false',
      '--src-creds',
      'alice:wonderland',
    ]);
  });

  test('a 401 in the middle of a push re-authenticates once and resends nothing the registry had', async () => {
    const authFile = await s.authFile(basicEntry('alice', 'wonderland'));
    const repo = await s.open('auth/reactive', authFile);
    // The registry decides the token has expired: PATCHes carrying a token older than 1 s get its 401.
    let injected = 0;
    s.proxy.inject(
      isUploadPatch,
      (r) => {
        const age = tokenAgeS(r.headers.authorization as string | undefined);
        if (age === undefined || age < 1) return undefined;
        injected++;
        return expired(s, 'auth/reactive');
      },
      1,
    );
    const before = s.proxy.uploaded(isUploadPatch);
    const issuedBefore = s.issuer.issued.length;
    const a = randomLayers(1, 3 * MiB)[0] as Buffer;
    const b = randomLayers(1, 3 * MiB)[0] as Buffer;
    await repo.pushBlob(blobOf(a, { delayMs: 400 })); // ~1.2 s: the cached token is old when the next PATCH starts
    await repo.pushBlob(blobOf(b));
    await repo.close();
    assert.equal(injected, 1, 'the registry asked for a new token once');
    assert.ok(s.issuer.issued.length - issuedBefore >= 2, 'a new token was fetched after the 401');
    assert.equal(s.proxy.uploaded(isUploadPatch) - before, 6 * MiB, 'no layer byte reached the registry twice');
  });

  test('the OAuth2 refresh-token grant (identitytoken)', async () => {
    const authFile = await s.authFile({ identitytoken: 'refresh-7f3a' });
    const repo = await s.open('auth/oauth', authFile);
    const layers = randomLayers(1, MiB);
    await pushImage(repo, layers, 'v1');
    await repo.close();
    assert.ok(
      s.issuer.issued.some((t) => t.grant === 'refresh_token' && t.scopes.includes('repository:auth/oauth:pull,push')),
    );
  });

  test('a wrong password fails within seconds, no retry storm', async () => {
    const authFile = await s.authFile(basicEntry('alice', 'not-the-password'));
    const refusedBefore = s.issuer.refused;
    const repo = await s.open('auth/wrong', authFile);
    const t0 = Date.now();
    await assert.rejects(
      repo.checkWritable(),
      (e: unknown) =>
        e instanceof ModelcarError &&
        e.kind === 'registry-auth' &&
        /refused the credentials from .*auth-\d+\.json/.test(e.message) &&
        !e.message.includes('not-the-password'),
    );
    await repo.close();
    assert.ok(Date.now() - t0 < 3000, `failed in ${Date.now() - t0} ms`);
    assert.equal(s.issuer.refused - refusedBefore, 1, 'the token service was asked once');
  });
});

describe('short-lived tokens are refreshed before they expire', () => {
  test('a push outliving its token never meets a 401', async () => {
    const s = await setup({ lifetimeS: 2 });
    try {
      const repo = await s.open('auth/refresh', await s.authFile(basicEntry('alice', 'wonderland')));
      // As an expiring registry does: a request carrying a token older than its lifetime gets a 401.
      let rejected = 0;
      s.proxy.inject(
        () => true,
        (r) => {
          const age = tokenAgeS(r.headers.authorization as string | undefined);
          if (age === undefined || age <= 2.5) return undefined;
          rejected++;
          return expired(s, 'auth/refresh');
        },
        1000,
      );
      const layers = randomLayers(2, 4 * MiB);
      const t0 = Date.now();
      await pushImage(repo, layers, 'v1', { delayMs: 800 }); // ~3.2 s per layer, longer than the token lives
      await repo.close();
      assert.ok(Date.now() - t0 > 3000);
      assert.equal(rejected, 0, 'every request carried a live token');
      assert.ok(repo.client.tokensIssued > 2, `tokens were refreshed during the push (${repo.client.tokensIssued})`);
      await verifyWithSkopeo(`${s.registry.host}/auth/refresh:v1`, layers, [
        '--src-tls-verify=false',
        '--src-creds',
        'alice:wonderland',
      ]);
    } finally {
      await s.close();
    }
  });
});

describe('htpasswd Basic auth', () => {
  test('a wrong password fails within seconds with a clear message', async () => {
    const registry = await startRegistry({ basicAuth: { username: 'bob', password: 'builder' } });
    const proxy = await startFaultProxy(registry.port);
    const work = await mkdtemp(join(tmpdir(), 'modelcar-basic-'));
    try {
      const authFile = join(work, 'config.json');
      await writeFile(authFile, JSON.stringify({ auths: { [proxy.host]: basicEntry('bob', 'wrong') } }));
      const repo = await openRepository(parseImageLocation(`${proxy.host}/basic/wrong`), {
        authFile,
        retry: FAST_RETRY,
      });
      const t0 = Date.now();
      await assert.rejects(repo.checkWritable(), (e: unknown) => {
        assert.ok(e instanceof ModelcarError && e.kind === 'registry-auth', String(e));
        assert.match(e.hint ?? '', /check the username and password/);
        return true;
      });
      await repo.close?.();
      assert.ok(Date.now() - t0 < 3000);
      assert.ok(proxy.requests.length <= 3, `${proxy.requests.length} requests, expected at most 3`);
    } finally {
      await proxy.close();
      await registry.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
