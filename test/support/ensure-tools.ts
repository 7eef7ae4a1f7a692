/**
 * Run once before the test files (see `npm test`): the suite reads back what modelcar writes with real tools. When a
 * tool is missing and we are root (as CI is), install its Debian package; otherwise fail with the command to run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ARM64_BUSYBOX, ARM64_BUSYBOX_DIR, FETCH_SCRIPT } from './arm64-busybox.js';
import { requireTrixieSkopeo, TRIXIE_FETCH_SCRIPT, TRIXIE_SKOPEO_DIR } from './trixie-skopeo.js';

const NEEDED: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  umoci: 'umoci',
  busybox: 'busybox-static',
  squid: 'squid',
  // fetch-trixie-skopeo.sh: the download, and (when a pin is gone) the signed index's signature and decompression
  curl: 'curl',
  gpgv: 'gpgv',
  xz: 'xz-utils',
};

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = Object.entries(NEEDED).filter(([cmd]) => !has(cmd));
if (missing.length > 0) {
  const packages = missing.map(([, pkg]) => pkg);
  if (process.getuid?.() !== 0) {
    console.error(
      `missing test tools: ${missing.map(([c]) => c).join(', ')}; install them: sudo apt-get install -y ${packages.join(' ')}`,
    );
    process.exit(1);
  }
  console.error(`installing ${packages.join(' ')} (apt-get) for the tests`);
  // RUNLEVEL=1: invoke-rc.d starts no service (squid's package would start a system proxy on :3128 otherwise).
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed; install by hand: apt-get install -y ${packages.join(' ')}`);
      process.exit(1);
    }
  }
  const still = missing.filter(([cmd]) => !has(cmd));
  if (still.length > 0) {
    console.error(`still missing after install: ${still.map(([c]) => c).join(', ')}`);
    process.exit(1);
  }
}

// The multi-platform tests build an arm64 base from Debian's arm64 busybox-static (a .deb unpacked, not installed).
if (!existsSync(ARM64_BUSYBOX)) {
  if (process.getuid?.() !== 0) {
    console.error(`missing the arm64 busybox for the tests; as root run: bash ${FETCH_SCRIPT} ${ARM64_BUSYBOX_DIR}`);
    process.exit(1);
  }
  console.error('fetching busybox-static:arm64 (apt-get download) for the tests');
  const r = spawnSync('bash', [FETCH_SCRIPT, ARM64_BUSYBOX_DIR], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(ARM64_BUSYBOX)) {
    console.error(`fetching the arm64 busybox failed; by hand: bash ${FETCH_SCRIPT} ${ARM64_BUSYBOX_DIR}`);
    process.exit(1);
  }
}

// containers/image's sigstore policy needs trixie's skopeo (bookworm's has sigstore patched out): .debs from the Debian
// archive, checked against pinned sha256s and unpacked into .cache/; any user can fetch it, nothing is installed. The
// script returns at once when the same pins are already unpacked.
{
  const r = spawnSync('bash', [TRIXIE_FETCH_SCRIPT, TRIXIE_SKOPEO_DIR], { stdio: 'inherit' });
  try {
    if (r.status !== 0) throw new Error(`exit ${r.status}`);
    requireTrixieSkopeo();
  } catch (e) {
    console.error(
      `fetching trixie's skopeo failed (${(e as Error).message}); by hand: bash ${TRIXIE_FETCH_SCRIPT} ${TRIXIE_SKOPEO_DIR}`,
    );
    process.exit(1);
  }
}
