import type { Command } from 'commander';
import { copyImage } from '../copy/copy.js';
import { ModelcarError } from '../errors.js';
import { openRepository } from '../oci/open.js';
import {
  formatLocation,
  formatWritten,
  type ImageLocation,
  manifestReference,
  parseImageLocation,
  tagOf,
  withTag,
} from '../oci/reference.js';
import type { Descriptor } from '../oci/spec.js';
import { formatBytes } from '../plan/plan.js';
import { closeAll } from '../run/close.js';
import { type ProgressChoice, ProgressRenderer, progressMode, progressOption } from './progress.js';
import {
  addEndOptions,
  addRegistryOptions,
  type EndFlags,
  endRegistryOptions,
  type RegistryFlags,
} from './registry-flags.js';

interface CopyFlags extends RegistryFlags, EndFlags {
  concurrency: string;
  json?: boolean;
  quiet?: boolean;
  progress?: ProgressChoice;
}

function blobLabel(desc: Descriptor): string {
  const kind = /config/.test(desc.mediaType) ? 'config' : /layer/.test(desc.mediaType) ? 'layer' : 'blob';
  return `${kind} ${desc.digest.slice(0, 19)} (${formatBytes(desc.size)})`;
}

/** The destination tag: the one given, else the source's tag; a destination digest must be the source's. */
function destinationTag(src: ImageLocation, dst: ImageLocation): { tag?: string; digest?: string } {
  const srcTag = tagOf(src);
  if (dst.transport === 'layout') {
    const tag = dst.tag ?? srcTag;
    return tag ? { tag } : {};
  }
  const tag = dst.ref.tag ?? srcTag;
  return { ...(tag ? { tag } : {}), ...(dst.ref.digest ? { digest: dst.ref.digest } : {}) };
}

export function register(program: Command): void {
  const cmd = program
    .command('copy')
    .summary('mirror an image between registries and layouts, digests unchanged')
    .argument('<src>', 'the image to mirror: HOST/REPO:TAG, HOST/REPO@sha256:..., or oci:DIR[:TAG]')
    .argument('<dest>', 'where to: HOST/REPO[:TAG] or oci:DIR[:TAG] (default tag: the source tag)')
    .description(
      'Mirror an image (or a multi-platform index with its images) blob by blob: blobs the destination has are ' +
        'skipped, blobs in the same registry are mounted, the rest are streamed; every digest is preserved and the ' +
        'manifest is written last. For disconnected clusters and pre-built catalog ModelCars.',
    )
    .option('--concurrency <n>', 'blobs moved at once', '3')
    .option('--json', 'print one JSON object')
    .option('-q, --quiet', 'no progress output (warnings, retries and errors still print)')
    .addOption(progressOption());
  addRegistryOptions(cmd);
  addEndOptions(cmd);
  cmd.addHelpText(
    'after',
    [
      '',
      'Each end can have its own TLS and credentials, as skopeo copy spells them (a per-end flag wins over the',
      'shared one for its end): --src-tls-verify, --dest-tls-verify, --src-cert-dir, --dest-cert-dir,',
      '--src-authfile, --dest-authfile, --src-creds USER, --dest-creds USER with --src-password-file /',
      '--dest-password-file FILE or MODELCAR_SRC_PASSWORD / MODELCAR_DEST_PASSWORD. USER:PASSWORD in argv works',
      'but is visible to every user in ps: modelcar warns.',
      '',
      'Example: modelcar copy quay.io/acme/m:v1 registry.corp:5000/m:v1 --dest-cert-dir ./corp-certs \\',
      '           --dest-creds robot --dest-password-file /run/secrets/robot-password',
    ].join('\n'),
  );
  cmd.action(async (srcArg: string, dstArg: string, flags: CopyFlags) => {
    const src = parseImageLocation(srcArg);
    const dst = parseImageLocation(dstArg);
    const { tag, digest } = destinationTag(src, dst);
    const from = await openRepository(src, endRegistryOptions(flags, 'src'));
    const to = await openRepository(dst, endRegistryOptions(flags, 'dest'));
    const progress = new ProgressRenderer({ mode: progressMode(flags.progress, { quiet: flags.quiet === true }) });
    const started = new Set<string>();
    try {
      await to.checkWritable();
      const result = await copyImage(from, manifestReference(src), to, {
        ...(tag ? { tag } : {}),
        concurrency: Math.max(1, Number(flags.concurrency) || 3),
        onBlobStart: (desc) => {
          if (started.has(desc.digest)) progress.restart(desc.digest);
          else progress.start(desc.digest, blobLabel(desc), desc.size);
          started.add(desc.digest);
        },
        onBlobBytes: (desc, n) => progress.advance(desc.digest, n),
        onBlob: (b, desc) => progress.finish(b.digest, `${blobLabel(desc)} ${b.outcome}`),
      });
      progress.close();
      if (digest && digest !== result.digest) {
        throw new ModelcarError(
          'integrity',
          `${formatLocation(dst)} names ${digest}, but the source image is ${result.digest}`,
          'drop the digest from the destination or name the source by that digest',
        );
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ source: srcArg, destination: dstArg, ...result }, null, 2)}\n`);
        return;
      }
      const count = (o: string) => result.blobs.filter((b) => b.outcome === o).length;
      process.stderr.write(
        `${result.blobs.length} blobs: ${count('copied')} copied (${formatBytes(result.bytesCopied)}), ${count('mounted')} mounted, ${count('present')} already there; ${result.manifests} manifest${result.manifests === 1 ? '' : 's'}\n`,
      );
      process.stdout.write(`${formatWritten(tag ? withTag(dst, tag) : dst, result.digest)}\n`);
    } finally {
      progress.close();
      await closeAll([from, to]);
    }
  });
}
