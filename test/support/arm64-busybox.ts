/**
 * Debian's static busybox for arm64, for the multi-platform tests. `ensure-tools` (as root, before the suite) and
 * `.ci/run` fetch it with test/support/fetch-arm64-busybox.sh into the checkout's `.cache/` (git-ignored): a .deb
 * downloaded and unpacked, nothing installed.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `<checkout>/.cache/test-tools/busybox-static-arm64` (from dist/test/support). */
export const ARM64_BUSYBOX_DIR = fileURLToPath(
  new URL('../../../.cache/test-tools/busybox-static-arm64', import.meta.url),
);
export const ARM64_BUSYBOX = `${ARM64_BUSYBOX_DIR}/bin/busybox`;
export const FETCH_SCRIPT = fileURLToPath(new URL('../../../test/support/fetch-arm64-busybox.sh', import.meta.url));

export function requireArm64Busybox(): string {
  if (!existsSync(ARM64_BUSYBOX)) {
    throw new Error(`no arm64 busybox at ${ARM64_BUSYBOX}: run (as root) bash ${FETCH_SCRIPT} ${ARM64_BUSYBOX_DIR}`);
  }
  return ARM64_BUSYBOX;
}
