/**
 * Debian trixie's skopeo 1.18, for the tests that need containers/image's sigstore code: signing with
 * `--sign-by-sigstore-private-key` and a `sigstoreSigned` policy. Debian bookworm's skopeo (the `skopeo` every other
 * test uses) has sigstore patched out. `ensure-tools` and `.ci/run` unpack trixie's .debs with
 * test/support/fetch-trixie-skopeo.sh into the checkout's `.cache/` (git-ignored); this runs that skopeo through
 * trixie's own dynamic loader and libraries, so the machine's older glibc is never involved.
 *
 * Every run gets a HOME and a registries.conf of its own: nothing of the machine's containers configuration or
 * credentials is read, and nothing is written outside the caller's directory.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `<checkout>/.cache/test-tools/skopeo-trixie` (from dist/test/support). */
export const TRIXIE_SKOPEO_DIR = fileURLToPath(new URL('../../../.cache/test-tools/skopeo-trixie', import.meta.url));
export const TRIXIE_FETCH_SCRIPT = fileURLToPath(
  new URL('../../../test/support/fetch-trixie-skopeo.sh', import.meta.url),
);

const ROOT = join(TRIXIE_SKOPEO_DIR, 'root');
const LOADER = join(ROOT, 'usr/lib64/ld-linux-x86-64.so.2');
const LIBRARIES = join(ROOT, 'usr/lib/x86_64-linux-gnu');
const SKOPEO = join(ROOT, 'usr/bin/skopeo');

/** A bound on every run: a copy of a test image takes well under a second. */
const TIMEOUT_MS = 120_000;

export function requireTrixieSkopeo(): void {
  if (!existsSync(SKOPEO) || !existsSync(LOADER)) {
    throw new Error(
      `no trixie skopeo at ${SKOPEO}: run bash ${TRIXIE_FETCH_SCRIPT} ${TRIXIE_SKOPEO_DIR} (or npm test, or bash .ci/run)`,
    );
  }
}

export interface SkopeoResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs trixie's skopeo in `home` (a test's temporary directory: its HOME, an empty registries.conf, temporary files).
 * Resolves with the exit code instead of throwing: a policy rejection is an expected result.
 */
export async function trixieSkopeo(args: readonly string[], home: string): Promise<SkopeoResult> {
  requireTrixieSkopeo();
  const registriesConf = join(home, 'registries.conf');
  const tmp = join(home, 'tmp');
  await mkdir(tmp, { recursive: true });
  await writeFile(registriesConf, '');
  return new Promise((resolve, reject) => {
    execFile(
      LOADER,
      ['--library-path', LIBRARIES, SKOPEO, '--tmpdir', tmp, ...args],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CONTAINERS_REGISTRIES_CONF: registriesConf },
        timeout: TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`trixie skopeo ${args.join(' ')}: ${error.message} (bounded at ${TIMEOUT_MS / 1000} s)`));
          return;
        }
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** The message of skopeo's fatal log line (`level=fatal msg="..."`), unquoted: what a user reads. */
export function skopeoMessage(stderr: string): string {
  const quoted = /level=fatal msg="((?:[^"\\]|\\.)*)"/.exec(stderr)?.[1];
  return quoted === undefined ? stderr : (JSON.parse(`"${quoted}"`) as string);
}
