/**
 * What the bench runs on and with: Debian packages installed when missing (as root; otherwise peers are skipped with
 * a note), tool versions, and the machine facts BENCHMARKS.md records.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';

/** Tool -> Debian package. */
const REQUIRED: Record<string, string> = {
  'docker-registry': 'docker-registry',
  curl: 'curl',
  busybox: 'busybox-static',
};
const PEERS: Record<string, string> = { buildah: 'buildah', skopeo: 'skopeo', umoci: 'umoci' };

export function toolPath(name: string): string | undefined {
  // busybox-static installs /bin/busybox, which is not always on PATH under that name.
  const found = spawnSync('sh', ['-c', `command -v ${name} || { [ -x /bin/${name} ] && echo /bin/${name}; }`], {
    encoding: 'utf8',
  });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

export interface Tools {
  readonly paths: Readonly<Record<string, string>>;
  /** Peers that could not be installed, with the reason. */
  readonly notes: readonly string[];
}

export function ensureTools(log: (line: string) => void): Tools {
  const wanted = { ...REQUIRED, ...PEERS };
  const missing = Object.keys(wanted).filter((t) => !toolPath(t));
  const notes: string[] = [];
  if (missing.length > 0 && process.getuid?.() === 0) {
    const packages = missing.map((t) => wanted[t] as string);
    log(`installing ${packages.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'ignore', env });
  }
  const paths: Record<string, string> = {};
  for (const [tool, pkg] of Object.entries(wanted)) {
    const path = toolPath(tool);
    if (path) paths[tool] = path;
    else if (tool in REQUIRED) {
      throw new Error(`${tool} is not installed: run "apt-get update && apt-get install -y ${pkg}" (or run as root)`);
    } else notes.push(`${tool} not installed (not root): its rows are skipped; apt-get install -y ${pkg}`);
  }
  return { paths, notes };
}

/** The version line without the binary's path (docker-registry prints it) or curl's list of linked libraries. */
function firstLine(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  const line = `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() || 'unknown';
  return line.replace(/^\/\S+\s+/, '').replace(/^(curl \S+).*/, '$1');
}

export function versions(tools: Tools, modelcarBin: string): Record<string, string> {
  const out: Record<string, string> = {
    node: process.version,
    modelcar: firstLine(process.execPath, [modelcarBin, '--version']),
  };
  const flags: Record<string, string[]> = {
    'docker-registry': ['--version'],
    curl: ['--version'],
    buildah: ['--version'],
    skopeo: ['--version'],
  };
  for (const [tool, args] of Object.entries(flags)) {
    const path = tools.paths[tool];
    if (path) out[tool] = firstLine(path, args);
  }
  return out;
}

export interface MachineFacts {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly disk: string;
  readonly kernel: string;
  readonly load: string;
}

export function machineFacts(workDir: string): MachineFacts {
  const fs = spawnSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,SIZE,AVAIL', '--target', workDir], { encoding: 'utf8' });
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    disk: fs.stdout.trim().replace(/\s+/g, ' ') || 'unknown',
    kernel: release(),
    load: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}
