/**
 * The external tools the tests use as independent readers and real servers. A missing tool is a failure that says
 * how to install it, never a skipped test.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  umoci: 'umoci',
  busybox: 'busybox-static',
  squid: 'squid',
};

/** Absolute path of a tool, or a thrown error naming the Debian package to install. */
export function requireTool(name: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    const pkg = PACKAGES[name] ?? name;
    throw new Error(`${name} is not installed: run "apt-get update && apt-get install -y ${pkg}" (or bash .ci/run)`);
  }
  return path;
}

/** Runs a tool and returns stdout; a non-zero exit throws with its stderr. */
export async function tool(name: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<string> {
  const bin = requireTool(name);
  try {
    const { stdout } = await run(bin, [...args], { maxBuffer: 64 * 1024 * 1024, ...opts });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}
