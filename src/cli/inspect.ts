import type { Command } from 'commander';
import { inspectImage } from '../inspect/inspect.js';
import { openRepository } from '../oci/open.js';
import { manifestReference, parseImageLocation } from '../oci/reference.js';
import { parsePlatform } from '../oci/spec.js';
import { formatBytes } from '../plan/plan.js';
import { printable } from '../printable.js';
import { closeAll } from '../run/close.js';
import { type ProgressChoice, ProgressRenderer, progressMode, progressOption } from './progress.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';

interface InspectFlags extends RegistryFlags {
  platform?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: ProgressChoice;
}

export function register(program: Command): void {
  const cmd = program
    .command('inspect')
    .summary('show the files, sizes, sha256 and layers of an image')
    .argument('<ref>', 'the image: HOST/REPO:TAG, HOST/REPO@sha256:..., docker://..., oci://... or oci:DIR[:TAG]')
    .description(
      'Show what a ModelCar holds without pulling it: files under /models with sizes and sha256 (from the layer ' +
        'annotations, or read from the layers), base image, annotations, total size and the layer plan.',
    )
    .option('--platform <os/arch>', 'which image of a multi-platform index (default: its only one, else linux/amd64)')
    .option('--json', 'print one JSON object')
    .option('-q, --quiet', 'no progress output (warnings, retries and errors still print)')
    .addOption(progressOption());
  addRegistryOptions(cmd);
  cmd.action(async (refArg: string, flags: InspectFlags) => {
    const location = parseImageLocation(refArg);
    const repo = await openRepository(location, registryOptions(flags));
    const progress = new ProgressRenderer({ mode: progressMode(flags.progress, { quiet: flags.quiet === true }) });
    try {
      const report = await inspectImage(
        repo,
        manifestReference(location),
        flags.platform ? parsePlatform(flags.platform) : undefined,
        {
          onLayerStart: (i, desc) =>
            progress.start(String(i), `reading layer ${i} ${desc.digest.slice(0, 19)}`, desc.size),
          onBytes: (i, n) => progress.advance(String(i), n),
          onLayerDone: (i, desc, files) =>
            progress.finish(
              String(i),
              `layer ${i} ${desc.digest.slice(0, 19)}: ${files} model file${files === 1 ? '' : 's'}`,
            ),
        },
      );
      progress.close();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ reference: refArg, ...report }, null, 2)}\n`);
        return;
      }
      const out: string[] = [];
      out.push(`image: ${refArg}`, `digest: ${report.manifestDigest}`);
      if (report.index) out.push(`index: ${report.index.digest} (${report.index.platforms.join(', ')})`);
      out.push(`platform: ${report.platform}`);
      out.push(
        `base: ${report.base.name ?? 'unknown'}${report.base.digest ? `@${report.base.digest}` : ''} (${report.base.layers} layers)`,
      );
      out.push(`user: ${report.config.user ?? '(root)'}`);
      if (report.config.entrypoint) out.push(`entrypoint: ${JSON.stringify(report.config.entrypoint)}`);
      out.push(
        `size: ${formatBytes(report.totalBytes)} in total, ${formatBytes(report.modelBytes)} of model in ${report.files.length} files`,
      );
      out.push('layers:');
      for (const l of report.layers) {
        out.push(
          `  ${String(l.index).padStart(2)} ${l.kind.padEnd(5)} ${l.digest} ${formatBytes(l.size).padStart(9)}${l.kind === 'model' ? `  ${l.files} file${l.files === 1 ? '' : 's'} (from ${l.filesFrom})` : ''}`,
        );
      }
      out.push('files:');
      for (const f of report.files) {
        out.push(`  ${f.path}  ${formatBytes(f.size)}  sha256:${f.sha256}  (layer ${f.layer})`);
      }
      const annotations = Object.entries(report.annotations);
      if (annotations.length > 0) {
        out.push('annotations:');
        for (const [k, v] of annotations) out.push(`  ${k}: ${v}`);
      }
      process.stdout.write(`${out.map(printable).join('\n')}\n`);
    } finally {
      progress.close();
      await closeAll([repo]);
    }
  });
}
