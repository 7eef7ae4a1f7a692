/**
 * The real CNCF distribution registry (Debian's docker-registry), started on a free loopback port with filesystem
 * storage in a temporary directory. Variants: anonymous, htpasswd Basic auth, and any extra config the caller merges
 * in (token auth, TLS) through `extraConfig`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { startProcess } from './server-process.js';
import { requireTool } from './tools.js';

export interface RegistryOptions {
  /** Require Basic auth with this user and password (htpasswd, bcrypt). */
  readonly basicAuth?: { readonly username: string; readonly password: string };
  /** Merged over the generated config (e.g. `auth: {token: ...}` or `http: {tls: ...}`). */
  readonly extraConfig?: Record<string, unknown>;
  /** Reuse this storage directory (to restart a registry over the same data). */
  readonly storageDir?: string;
  /** Use this port (to restart on the same address). */
  readonly port?: number;
  /** Serve TLS: http.tls is set from these PEM files. */
  readonly tls?: { readonly certificate: string; readonly key: string };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  readonly storageDir: string;
  /** The registry's log (stdout + stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const bothObjects = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object';
    out[k] = bothObjects ? merge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const bin = requireTool('docker-registry');
  const work = await mkdtemp(join(tmpdir(), 'modelcar-registry-'));
  const storageDir = opts.storageDir ?? join(work, 'storage');
  const port = opts.port ?? (await freePort());
  let config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: 'modelcar-tests' },
  };
  if (opts.basicAuth) {
    const hash = bcrypt.hashSync(opts.basicAuth.password, 4);
    await writeFile(join(work, 'htpasswd'), `${opts.basicAuth.username}:${hash}\n`);
    config.auth = { htpasswd: { realm: 'modelcar-test', path: join(work, 'htpasswd') } };
  }
  if (opts.tls) config = merge(config, { http: { tls: { certificate: opts.tls.certificate, key: opts.tls.key } } });
  if (opts.extraConfig) config = merge(config, opts.extraConfig);
  const configPath = join(work, 'config.yml');
  await writeFile(configPath, stringify(config));

  const server = startProcess(bin, ['serve', configPath]);

  const scheme = opts.tls ? 'https' : 'http';
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (server.exited()) throw new Error(`docker-registry exited at start:\n${server.output()}`);
    if (Date.now() > deadline) {
      server.child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer on port ${port} within 15 s:\n${server.output()}`);
    }
    try {
      // Any HTTP answer (200 or 401) means it listens; TLS errors too, for a self-signed certificate.
      await fetch(`${scheme}://127.0.0.1:${port}/v2/`);
      break;
    } catch (e) {
      const code = (e as { cause?: { code?: string } }).cause?.code ?? '';
      if (code && !code.startsWith('ECONN')) break;
      await sleep(50);
    }
  }

  return {
    host: `127.0.0.1:${port}`,
    port,
    storageDir,
    log: () => server.output(),
    async stop() {
      await server.stop();
      if (!opts.storageDir) await rm(work, { recursive: true, force: true });
    },
  };
}
