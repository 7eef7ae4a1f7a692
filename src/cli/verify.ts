import type { Command } from 'commander';
import { openRepository } from '../oci/open.js';
import { manifestReference, parseImageLocation } from '../oci/reference.js';
import { parsePlatform } from '../oci/spec.js';
import { formatBytes } from '../plan/plan.js';
import { printable } from '../printable.js';
import { closeAll } from '../run/close.js';
import { HF_TOKEN_FILE_HELP, openSource } from '../source/open.js';
import { policyFromFlags } from '../trust/policy.js';
import { TrustStore } from '../trust/store.js';
import { verifySignedImage } from '../trust/verify-trust.js';
import { type VerifyOptions, type VerifyReport, verifyImage } from '../verify/verify.js';
import { collect } from './arguments.js';
import { addHubOptions, type HubFlags, hubOptions } from './hub-flags.js';
import { type ProgressChoice, ProgressRenderer, progressMode, progressOption } from './progress.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';
import {
  addVerifyTrustOptions,
  checkTrustFlags,
  trustLines,
  type VerifyTrustFlags,
  verifyDirectory,
} from './verify-signed.js';

interface VerifyFlags extends RegistryFlags, VerifyTrustFlags, HubFlags {
  against?: string;
  include: string[];
  exclude: string[];
  keepDuplicateWeights?: boolean;
  hfTokenFile?: string;
  platform?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: ProgressChoice;
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .summary('stream an image back and check every layer and file (optionally against the source)')
    .argument(
      '<ref>',
      'the image: HOST/REPO:TAG, HOST/REPO@sha256:..., docker://..., oci://... or oci:DIR[:TAG] (a directory with --model-signature)',
    )
    .description(
      'Stream every layer back and check it: each layer digest, and each file under /models against the sha256 in ' +
        'the layer annotations; with --against, also against the model source (missing, extra or different files). ' +
        'With --key (or a keyless identity), also the trust chain: the signature CRI-O checks, the SLSA provenance ' +
        'and the OpenSSF model signature, each signed, about this digest and listing exactly these files ' +
        '(--skip-attestations: the signature alone, for images signed by skopeo or cosign). With ' +
        '--model-signature, a model directory against its OpenSSF model signature. Exits 1 at any difference and ' +
        'names the first one (or the link that broke) precisely. Constant memory.',
    )
    .option('--against <source>', 'the model it was built from: a local directory or hf://ORG/NAME[@REVISION]')
    .option('--include <glob>', 'as given to build: files the default selection skips (repeatable)', collect, [])
    .option('--exclude <glob>', 'as given to build: files left out (repeatable)', collect, [])
    .option('--keep-duplicate-weights', 'as given to build')
    .option('--hf-token-file <file>', HF_TOKEN_FILE_HELP)
    .option('--platform <os/arch>', 'which image of a multi-platform index')
    .option('--json', 'print one JSON object')
    .option('-q, --quiet', 'no progress output (warnings, retries and errors still print)')
    .addOption(progressOption());
  addVerifyTrustOptions(cmd);
  addRegistryOptions(cmd);
  addHubOptions(cmd);
  cmd.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  modelcar verify quay.io/acme/granite@sha256:... --key cosign.pub',
      '  modelcar verify quay.io/acme/granite@sha256:... --key cosign.pub --skip-attestations   # signed by skopeo/cosign',
      '  modelcar verify $IMG --certificate-identity https://kubernetes.io/namespaces/models/serviceaccounts/modelcar \\',
      '      --certificate-oidc-issuer https://kubernetes.default.svc --trusted-root trusted_root.json',
      '  modelcar verify /mnt/models --model-signature model.sig --key cosign.pub',
    ].join('\n'),
  );
  cmd.action(async (refArg: string, flags: VerifyFlags) => {
    const policy = await policyFromFlags(flags);
    checkTrustFlags(flags, policy);
    if (flags.modelSignature) return verifyDirectory(refArg, flags, policy);
    const location = parseImageLocation(refArg);
    const repo = await openRepository(location, registryOptions(flags));
    const source = flags.against
      ? openSource(flags.against, {
          ...(flags.hfTokenFile ? { hfTokenFile: flags.hfTokenFile } : {}),
          ...hubOptions(flags),
        })
      : undefined;
    const progress = new ProgressRenderer({ mode: progressMode(flags.progress, { quiet: flags.quiet === true }) });
    try {
      const options: VerifyOptions = {
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
        onLayerStart: (index, desc) =>
          progress.start(String(index), `layer ${index} ${desc.digest.slice(0, 19)}`, desc.size),
        onBytes: (index, n) => progress.advance(String(index), n),
        onLayer: (l) =>
          progress.finish(String(l.index), `layer ${l.index} ${l.digest.slice(0, 19)} ${l.ok ? 'ok' : 'MISMATCH'}`),
      };
      let report: VerifyReport;
      let trust: Awaited<ReturnType<typeof verifySignedImage>>['trust'] | undefined;
      if (policy) {
        TrustStore.of(repo, 'verifying signatures');
        if (location.transport !== 'registry') throw new Error('unreachable: layouts hold no signatures');
        const signed = await verifySignedImage(repo, location.ref, manifestReference(location), policy, options, {
          skipAttestations: flags.skipAttestations === true,
        });
        report = signed.bytes;
        trust = signed.trust;
      } else {
        report = await verifyImage(repo, manifestReference(location), options);
      }
      progress.close();
      const ok = report.ok && (trust?.ok ?? true);
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ reference: refArg, ...report, ok, ...(trust ? { trust } : {}) }, null, 2)}\n`,
        );
      } else if (!report.ok) {
        const [first, ...rest] = report.differences;
        process.stdout.write(
          `MISMATCH: ${printable(refArg)} ${report.manifestDigest}\n  first: ${printable(first?.message ?? '')}\n`,
        );
        for (const d of rest) process.stdout.write(`  also: ${printable(d.message)}\n`);
        if (trust) process.stdout.write(`${trustLines(trust).join('\n')}\n`);
      } else if (trust && !trust.ok) {
        const broken = trust.links.filter((l) => !l.ok).map((l) => l.link);
        process.stdout.write(
          `FAILED: ${refArg} ${report.manifestDigest}: ${broken.join(', ')} did not verify (the bytes did)\n`,
        );
        process.stdout.write(`${trustLines(trust).join('\n')}\n`);
      } else {
        process.stdout.write(
          `ok: ${refArg} ${report.manifestDigest}: ${report.layers.length} layer${report.layers.length === 1 ? '' : 's'}, ${report.files} files, ${formatBytes(report.bytes)} verified${report.against ? ` against ${report.against}` : ''}\n`,
        );
        if (trust) process.stdout.write(`${trustLines(trust).join('\n')}\n`);
      }
      if (!ok) process.exitCode = 1;
    } finally {
      progress.close();
      await closeAll([repo, source]);
    }
  });
}
