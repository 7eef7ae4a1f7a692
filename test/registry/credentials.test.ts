/**
 * Credentials from every source users have, each proven against the real registry (htpasswd Basic auth); their
 * order; TLS with a self-signed CA; plain HTTP only where allowed; and no secret in any output, even with
 * MODELCAR_DEBUG=1 and retries being logged.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { parseImageLocation, type RegistryRef } from '../../src/oci/reference.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { type Credential, resolveCredential } from '../../src/oci/registry/credentials.js';
import { RegistryRepository } from '../../src/oci/registry/repository.js';
import { modelcar, modelcarOk } from '../support/cli.js';
import { isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { issueCert, makeCa } from '../support/pki.js';
import { pushImage, randomLayers, verifyWithSkopeo } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const USER = 'bob';
const PASSWORD = 'S3cr3t-pa55-Zq9';
const auth = (user = USER, password = PASSWORD) => ({ auth: Buffer.from(`${user}:${password}`).toString('base64') });

function refOf(host: string, repository: string): RegistryRef {
  const loc = parseImageLocation(`${host}/${repository}`);
  assert.equal(loc.transport, 'registry');
  return loc.ref;
}

async function provesPush(host: string, credential: Credential, opts = {}): Promise<void> {
  const repo = new RegistryRepository(new RegistryClient(host, credential, opts), refOf(host, 'creds/check'));
  try {
    await repo.checkWritable();
  } finally {
    await repo.close();
  }
}

describe('credential sources, each against the real registry', () => {
  let registry: TestRegistry;
  let work: string;
  let host: string;
  let home: string;
  const savedPath = process.env.PATH;

  before(async () => {
    registry = await startRegistry({ basicAuth: { username: USER, password: PASSWORD } });
    host = registry.host;
    work = await mkdtemp(join(tmpdir(), 'modelcar-creds-'));
    home = join(work, 'home');
    await mkdir(home);
    // A docker credential helper, as docker-credential-pass or -ecr-login are: `get` reads the host on stdin.
    const bin = join(work, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'docker-credential-test'),
      `#!/bin/sh\nread -r server\nif [ "$1" = get ] && [ "$server" = "${host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\nelse\n  echo "credentials not found in native keychain"; exit 1\nfi\n`,
    );
    await chmod(join(bin, 'docker-credential-test'), 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
  });
  after(async () => {
    process.env.PATH = savedPath;
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function file(rel: string, content: unknown): Promise<string> {
    const path = join(work, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, JSON.stringify(content));
    return path;
  }

  const cases: [string, () => Promise<{ env?: NodeJS.ProcessEnv; authFile?: string; expect: RegExp }>][] = [
    [
      '--authfile (containers auth.json)',
      async () => ({
        authFile: await file('a/auth.json', { auths: { [host]: auth() } }),
        expect: /a\/auth\.json$/,
      }),
    ],
    [
      'REGISTRY_AUTH_FILE',
      async () => ({
        env: { REGISTRY_AUTH_FILE: await file('b/auth.json', { auths: { [`http://${host}/v2/`]: auth() } }) },
        expect: /b\/auth\.json$/,
      }),
    ],
    [
      '$XDG_RUNTIME_DIR/containers/auth.json',
      async () => {
        await file('run/containers/auth.json', { auths: { [`${host}/creds`]: auth() } });
        return { env: { XDG_RUNTIME_DIR: join(work, 'run') }, expect: /run\/containers\/auth\.json$/ };
      },
    ],
    [
      '~/.config/containers/auth.json',
      async () => {
        await file('home/.config/containers/auth.json', { auths: { [host]: auth() } });
        return { env: {}, expect: /home\/\.config\/containers\/auth\.json$/ };
      },
    ],
    [
      '$DOCKER_CONFIG/config.json auths',
      async () => {
        await file('d/config.json', { auths: { [host]: { username: USER, password: PASSWORD } } });
        return { env: { DOCKER_CONFIG: join(work, 'd') }, expect: /d\/config\.json$/ };
      },
    ],
    [
      'docker config credHelpers -> docker-credential-test',
      async () => {
        await file('e/config.json', { credHelpers: { [host]: 'test' }, auths: { [host]: auth(USER, 'stale') } });
        return {
          env: { DOCKER_CONFIG: join(work, 'e') },
          expect: /^docker-credential-test \(from .*e\/config\.json\)$/,
        };
      },
    ],
    [
      'docker config credsStore -> docker-credential-test',
      async () => {
        await file('f/config.json', { credsStore: 'test' });
        return { env: { DOCKER_CONFIG: join(work, 'f') }, expect: /^docker-credential-test/ };
      },
    ],
    [
      'a mounted dockerconfigjson Secret directory (.dockerconfigjson)',
      async () => {
        await file('secret/.dockerconfigjson', { auths: { [host]: auth() } });
        return { authFile: join(work, 'secret'), expect: /secret\/\.dockerconfigjson$/ };
      },
    ],
    [
      'a legacy .dockercfg (no "auths" wrapper)',
      async () => {
        await file('legacy/.dockercfg', { [`https://${host}`]: { ...auth(), email: 'x@example.com' } });
        return { authFile: join(work, 'legacy'), expect: /legacy\/\.dockercfg$/ };
      },
    ],
  ];

  for (const [name, make] of cases) {
    test(name, async () => {
      await rm(join(home, '.config'), { recursive: true, force: true });
      const c = await make();
      const credential = await resolveCredential(host, 'creds/check', {
        env: { ...c.env },
        home,
        ...(c.authFile ? { authFile: c.authFile } : {}),
      });
      assert.equal(credential.kind, 'basic');
      assert.match(credential.source, c.expect);
      await provesPush(host, credential);
    });
  }

  test('order: --authfile, then REGISTRY_AUTH_FILE, then containers, then docker', async () => {
    const wrong = { auths: { [host]: auth(USER, 'wrong') } };
    const env = {
      REGISTRY_AUTH_FILE: await file('o/registry-auth.json', { auths: { [host]: auth() } }),
      XDG_RUNTIME_DIR: join(work, 'o/run'),
      DOCKER_CONFIG: join(work, 'o/docker'),
    };
    await file('o/run/containers/auth.json', wrong);
    await file('o/docker/config.json', wrong);
    const first = await resolveCredential(host, 'creds/check', { env, home });
    assert.match(first.source, /registry-auth\.json$/);
    const explicit = await file('o/explicit.json', { auths: { [host]: auth() } });
    assert.match((await resolveCredential(host, 'creds/check', { env, home, authFile: explicit })).source, /explicit/);
    const none = await resolveCredential('127.0.0.1:1', 'x', { env: {}, home: join(work, 'nohome') });
    assert.equal(none.kind, 'anonymous');
  });

  test('the service-account token for --sa-token hosts, read fresh on each use', async () => {
    const tokenFile = join(work, 'sa-token');
    await writeFile(tokenFile, 'token-one\n');
    const saRegistry = await startRegistry({ basicAuth: { username: 'serviceaccount', password: 'token-two' } });
    try {
      const credential = await resolveCredential(saRegistry.host, 'ns/model', {
        env: { MODELCAR_SA_TOKEN_FILE: tokenFile },
        home,
        saTokenHosts: [saRegistry.host],
      });
      assert.equal(credential.kind === 'basic' && credential.password, 'token-one');
      await writeFile(tokenFile, 'token-two\n'); // the kubelet rotated it
      await provesPush(saRegistry.host, credential);
      const elsewhere = await resolveCredential(host, 'ns/model', { env: { MODELCAR_SA_TOKEN_FILE: tokenFile }, home });
      assert.equal(elsewhere.kind, 'anonymous', 'only for the hosts named');
    } finally {
      await saRegistry.stop();
    }
  });
});

describe('TLS', () => {
  test('a self-signed CA with --ca-file; an untrusted certificate and plain HTTP fail with the fix', async () => {
    const work = await mkdtemp(join(tmpdir(), 'modelcar-tls-'));
    const ca = makeCa(work);
    const server = issueCert(work, ca, 'registry', ['IP:127.0.0.1', 'DNS:localhost']);
    const other = makeCa(work, 'other-ca');
    const registry = await startRegistry({ tls: { certificate: server.cert, key: server.key } });
    const plain = await startRegistry();
    const anonymous: Credential = { kind: 'anonymous', source: 'test' };
    try {
      const repo = new RegistryRepository(
        new RegistryClient(registry.host, anonymous, { caFile: ca.cert }),
        refOf(registry.host, 'tls/model'),
      );
      const layers = randomLayers(1, 1024 * 1024);
      await pushImage(repo, layers, 'v1');
      await repo.close();
      const certDir = join(work, 'certs');
      await mkdir(certDir);
      await copyFile(ca.cert, join(certDir, 'ca.crt'));
      await verifyWithSkopeo(`${registry.host}/tls/model:v1`, layers, ['--src-cert-dir', certDir]);

      await assert.rejects(provesPush(registry.host, anonymous, { caFile: other.cert }), (e: unknown) => {
        assert.ok(e instanceof ModelcarError && e.kind === 'network', String(e));
        assert.match(e.message, /TLS certificate of .* is not trusted/);
        assert.match(e.hint ?? '', /--ca-file/);
        return true;
      });
      // A registry that speaks plain HTTP where TLS is expected: the hint names --plain-http.
      await assert.rejects(provesPush(plain.host, anonymous, { caFile: ca.cert }), (e: unknown) => {
        assert.ok(e instanceof ModelcarError, String(e));
        assert.match(e.message, /did not answer the TLS handshake/);
        assert.match(e.hint ?? '', /--plain-http/);
        return true;
      });
      // Never plain HTTP to a non-loopback name unless asked (no connection is made here).
      assert.match(new RegistryClient('registry.example.com:5000', anonymous).origin, /^https:\/\//);
      assert.match(
        new RegistryClient('registry.example.com:5000', anonymous, { plainHttp: true }).origin,
        /^http:\/\//,
      );
    } finally {
      await registry.stop();
      await plain.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('no secret in any output', () => {
  test('modelcar build with MODELCAR_DEBUG=1, retries and a wrong password never prints the password', async () => {
    const registry = await startRegistry({ basicAuth: { username: USER, password: PASSWORD } });
    const proxy = await startFaultProxy(registry.port);
    const work = await mkdtemp(join(tmpdir(), 'modelcar-secret-'));
    try {
      const model = join(work, 'model');
      await modelcarOk(['example', model]);
      const good = join(work, 'good.json');
      const bad = join(work, 'bad.json');
      await writeFile(good, JSON.stringify({ auths: { [proxy.host]: auth() } }));
      await writeFile(bad, JSON.stringify({ auths: { [proxy.host]: auth(USER, `${PASSWORD}-old`) } }));
      proxy.inject(isUploadPatch, { kind: 'respond', status: 503 }, 1);
      const env = { MODELCAR_DEBUG: '1' };
      const ok = await modelcar(
        [
          'build',
          model,
          '--to',
          `${proxy.host}/secret/model:v1`,
          '--base',
          'scratch',
          '--image-volume',
          '--json',
          '--authfile',
          good,
        ],
        { env },
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /HTTP 503|retry/, 'the retry was logged');
      const failed = await modelcar(
        [
          'build',
          model,
          '--to',
          `${proxy.host}/secret/model:v2`,
          '--base',
          'scratch',
          '--image-volume',
          '--authfile',
          bad,
        ],
        { env },
      );
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /refused the credentials/);
      const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
      for (const text of [ok.stdout, ok.stderr, failed.stdout, failed.stderr]) {
        assert.ok(!text.includes(PASSWORD), 'the password leaked');
        assert.ok(!text.includes(basic), 'the Basic header value leaked');
      }
      const sentAuth = proxy.requests.some((r) => r.headers.authorization === `Basic ${basic}`);
      assert.ok(sentAuth, 'the credentials were used');
    } finally {
      await proxy.close();
      await registry.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
