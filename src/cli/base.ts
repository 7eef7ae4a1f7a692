import type { Command } from 'commander';
import { ModelcarError } from '../errors.js';
import { writeBusyboxBase } from '../image/busybox-base.js';
import { openRepository } from '../oci/open.js';
import { formatWritten, parseImageLocation, tagOf } from '../oci/reference.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';

export function register(program: Command): void {
  const cmd = program
    .command('base')
    .summary('make a minimal shell base image from a static busybox (offline, air-gapped)')
    .description(
      'Make a minimal ModelCar base image from a static busybox binary, for air-gapped clusters and offline ' +
        "builds where ubi-micro cannot be pulled. It has the shell and tools KServe's sidecar runs.",
    )
    .requiredOption(
      '--busybox <path>',
      'a static busybox binary (Debian: apt-get install busybox-static; /bin/busybox)',
    )
    .requiredOption('--to <dest>', 'where the base goes, with a tag: oci:DIR:TAG or HOST/REPO:TAG');
  addRegistryOptions(cmd);
  cmd.action(async (flags: RegistryFlags & { busybox: string; to: string }) => {
    const location = parseImageLocation(flags.to);
    const tag = tagOf(location);
    if (!tag)
      throw new ModelcarError(
        'usage',
        `--to ${flags.to} has no tag`,
        'name one, e.g. oci:bases:busybox or localhost:5000/bases/busybox:1',
      );
    const target = await openRepository(location, registryOptions(flags));
    try {
      const digest = await writeBusyboxBase(flags.busybox, target, tag);
      process.stdout.write(`${formatWritten(location, digest)}\n`);
    } finally {
      await target.close?.();
    }
  });
}
