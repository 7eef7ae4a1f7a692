import type { Command } from 'commander';
import { ModelcarError } from '../errors.js';
import { parseBusyboxArg, writeBusyboxBase } from '../image/busybox-base.js';
import { openRepository } from '../oci/open.js';
import { formatWritten, parseImageLocation, tagOf } from '../oci/reference.js';
import { collect } from './arguments.js';
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
      '--busybox <[platform=]path>',
      'a static busybox binary (Debian: apt-get install busybox-static; /bin/busybox), for this machine; ' +
        'or PLATFORM=PATH for another CPU, e.g. linux/arm64=./arm64/bin/busybox (repeatable: several make a multi-platform index)',
      collect,
      [],
    )
    .requiredOption('--to <dest>', 'where the base goes, with a tag: oci:DIR:TAG or HOST/REPO:TAG');
  addRegistryOptions(cmd);
  cmd.action(async (flags: RegistryFlags & { busybox: string[]; to: string }) => {
    if (flags.busybox.length === 0) {
      throw new ModelcarError(
        'usage',
        'no --busybox given',
        'pass --busybox /bin/busybox (apt-get install busybox-static), repeatable as --busybox linux/arm64=PATH',
      );
    }
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
      const digest = await writeBusyboxBase(flags.busybox.map(parseBusyboxArg), target, tag);
      process.stdout.write(`${formatWritten(location, digest)}\n`);
    } finally {
      await target.close?.();
    }
  });
}
