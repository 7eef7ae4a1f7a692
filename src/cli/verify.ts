import type { Command } from 'commander';
import { openRepository } from '../oci/open.js';
import { manifestReference, parseImageLocation } from '../oci/reference.js';
import { parsePlatform } from '../oci/spec.js';
import { formatBytes } from '../plan/plan.js';
import { HF_TOKEN_FILE_HELP, openSource } from '../source/open.js';
import { verifyImage } from '../verify/verify.js';
import { collect } from './arguments.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';

interface VerifyFlags extends RegistryFlags {
  against?: string;
  include: string[];
  exclude: string[];
  keepDuplicateWeights?: boolean;
  hfTokenFile?: string;
  platform?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .summary('stream an image back and check every layer and file (optionally against the source)')
    .argument('<ref>', 'the image: HOST/REPO:TAG, HOST/REPO@sha256:..., docker://..., oci://... or oci:DIR[:TAG]')
    .description(
      'Stream every layer back and check it: each layer digest, and each file under /models against the sha256 in ' +
        'the layer annotations; with --against, also against the model source (missing, extra or different files). ' +
        'Exits 1 at any difference and names the first one precisely. Constant memory.',
    )
    .option('--against <source>', 'the model it was built from: a local directory or hf://ORG/NAME[@REVISION]')
    .option('--include <glob>', 'as given to build: files the default selection skips (repeatable)', collect, [])
    .option('--exclude <glob>', 'as given to build: files left out (repeatable)', collect, [])
    .option('--keep-duplicate-weights', 'as given to build')
    .option('--hf-token-file <file>', HF_TOKEN_FILE_HELP)
    .option('--platform <os/arch>', 'which image of a multi-platform index')
    .option('--json', 'print one JSON object');
  addRegistryOptions(cmd);
  cmd.action(async (refArg: string, flags: VerifyFlags) => {
    const location = parseImageLocation(refArg);
    const repo = await openRepository(location, registryOptions(flags));
    const source = flags.against
      ? openSource(flags.against, flags.hfTokenFile ? { hfTokenFile: flags.hfTokenFile } : {})
      : undefined;
    const progress = !flags.json && process.stderr.isTTY;
    try {
      const report = await verifyImage(repo, manifestReference(location), {
        ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
        ...(source
          ? {
              against: {
                source,
                include: flags.include,
                exclude: flags.exclude,
                keepDuplicateWeights: flags.keepDuplicateWeights === true,
              },
            }
          : {}),
        onLayer: (l) => {
          if (progress) process.stderr.write(`layer ${l.index} ${l.digest} ${l.ok ? 'ok' : 'MISMATCH'}\n`);
        },
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ reference: refArg, ...report }, null, 2)}\n`);
      } else if (report.ok) {
        process.stdout.write(
          `ok: ${refArg} ${report.manifestDigest}: ${report.layers.length} layer${report.layers.length === 1 ? '' : 's'}, ${report.files} files, ${formatBytes(report.bytes)} verified${report.against ? ` against ${report.against}` : ''}\n`,
        );
      } else {
        const [first, ...rest] = report.differences;
        process.stdout.write(`MISMATCH: ${refArg} ${report.manifestDigest}\n  first: ${first?.message}\n`);
        for (const d of rest) process.stdout.write(`  also: ${d.message}\n`);
      }
      if (!report.ok) process.exitCode = 1;
    } finally {
      await Promise.all([repo.close?.(), source?.close?.()]);
    }
  });
}
