/**
 * A real forward proxy for the tests: Debian's squid, started on a free loopback port with everything (config, logs,
 * pid, htpasswd) in a temp dir. Its `hosts_file` maps test names (registry.test, hub.test, ...) to loopback, names
 * the client itself cannot resolve: a request reaches them only through the proxy, which proves the proxy was used.
 * The access log is read back to count what the proxy saw. With `auth`, squid asks for Basic credentials
 * (basic_ncsa_auth with an htpasswd file; it reads crypt and MD5 "$apr1$" hashes, made here by `openssl passwd`).
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './registry.js';
import { startProcess } from './server-process.js';
import { requireTool } from './tools.js';

export interface SquidOptions {
  /** Names squid resolves (to 127.0.0.1 unless given), and nobody else does. */
  readonly hosts: Readonly<Record<string, string>> | readonly string[];
  /** Require Basic proxy credentials. */
  readonly auth?: { readonly username: string; readonly password: string };
}

export interface AccessEntry {
  readonly method: string;
  /** `host:port` for CONNECT, the absolute URL otherwise. */
  readonly url: string;
  /** e.g. TCP_TUNNEL/200, TCP_MISS/200, TCP_DENIED/407 */
  readonly result: string;
  readonly user: string;
}

export interface TestSquid {
  /** `http://127.0.0.1:PORT` without credentials. */
  readonly url: string;
  readonly port: number;
  /** `http://USER:PASSWORD@127.0.0.1:PORT` (URL-encoded). */
  urlWith(username: string, password: string): string;
  /** What the proxy has logged so far. */
  log(): Promise<AccessEntry[]>;
  stop(): Promise<void>;
}

const BASIC_NCSA_AUTH = '/usr/lib/squid/basic_ncsa_auth';

export async function startSquid(opts: SquidOptions): Promise<TestSquid> {
  const squid = requireTool('squid');
  const work = await mkdtemp(join(tmpdir(), 'modelcar-squid-'));
  // squid drops to the `proxy` user when started as root: it must be able to write its logs and read its files.
  await chmod(work, 0o777);
  const port = await freePort();
  const hosts = Array.isArray(opts.hosts)
    ? Object.fromEntries((opts.hosts as string[]).map((h) => [h, '127.0.0.1']))
    : (opts.hosts as Record<string, string>);
  await writeFile(
    join(work, 'hosts'),
    Object.entries(hosts)
      .map(([name, ip]) => `${ip} ${name}\n`)
      .join(''),
  );
  const lines = [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${join(work, 'squid.pid')}`,
    'cache_effective_user proxy',
    `access_log stdio:${join(work, 'access.log')}`,
    `cache_log ${join(work, 'cache.log')}`,
    'cache deny all',
    'cache_mem 8 MB',
    `hosts_file ${join(work, 'hosts')}`,
    // Only what the hosts file names: a request for anything else fails at the proxy, never leaves the machine.
    'dns_nameservers 127.0.0.1',
    'dns_timeout 2 seconds',
    'shutdown_lifetime 0 seconds',
    `coredump_dir ${work}`,
    'forwarded_for delete',
    'via off',
  ];
  if (opts.auth) {
    const hash = execFileSync(requireTool('openssl'), ['passwd', '-apr1', '-stdin'], {
      input: opts.auth.password,
      encoding: 'utf8',
    }).trim();
    await writeFile(join(work, 'htpasswd'), `${opts.auth.username}:${hash}\n`, { mode: 0o644 });
    lines.push(
      `auth_param basic program ${BASIC_NCSA_AUTH} ${join(work, 'htpasswd')}`,
      'auth_param basic realm modelcar-test-proxy',
      'acl authed proxy_auth REQUIRED',
      'http_access allow authed',
      'http_access deny all',
    );
  } else {
    lines.push('http_access allow all');
  }
  await writeFile(join(work, 'squid.conf'), `${lines.join('\n')}\n`);
  for (const log of ['access.log', 'cache.log']) {
    await writeFile(join(work, log), '');
    await chmod(join(work, log), 0o666); // the umask would keep `proxy` out
  }

  const server = startProcess(squid, ['-N', '-f', join(work, 'squid.conf')]);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const cacheLog = await readFile(join(work, 'cache.log'), 'utf8').catch(() => '');
    if (server.exited()) throw new Error(`squid exited at start:\n${server.output()}\n${cacheLog}`);
    if (Date.now() > deadline) {
      server.child.kill('SIGKILL');
      throw new Error(`squid did not listen on port ${port} within 20 s:\n${server.output()}\n${cacheLog}`);
    }
    // "Accepting HTTP Socket connections" is squid's own word that it is ready.
    if (/Accepting HTTP Socket connections/.test(cacheLog) && (await listening(port))) break;
    await sleep(100);
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    port,
    urlWith: (u, p) => `http://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:${port}`,
    async log() {
      const text = await readFile(join(work, 'access.log'), 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          // time elapsed client result/status bytes method url user hierarchy type
          const f = line.trim().split(/\s+/);
          return { result: f[3] ?? '', method: f[5] ?? '', url: f[6] ?? '', user: f[7] ?? '-' };
        });
    },
    async stop() {
      await server.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
