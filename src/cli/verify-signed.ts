/**
 * The trust half of `modelcar verify`: its flags (a key, or a keyless identity under a trust root), a model directory
 * against an OpenSSF model signature, and how trust links are printed. `verify.ts` keeps the byte checks.
 */
import type { Command } from 'commander';
import { ModelcarError } from '../errors.js';
import { formatBytes } from '../plan/plan.js';
import { readBundleFile, verifyModelDirectory } from '../trust/model-signature.js';
import type { PolicyFlags, TrustPolicy } from '../trust/policy.js';
import type { TrustReport } from '../trust/verify-trust.js';

export interface VerifyTrustFlags extends PolicyFlags {
  modelSignature?: string;
  ignoreUnsignedFiles?: boolean;
  json?: boolean;
}

export function addVerifyTrustOptions(cmd: Command): Command {
  return cmd
    .option('--key <file>', 'also check the signature and attestations against this public key (cosign.pub)')
    .option('--certificate-identity <id>', 'keyless: the signer the Fulcio certificate must name (email or URI)')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer that must have vouched for that identity')
    .option('--trusted-root <file>', 'keyless: the Sigstore trusted_root.json (Fulcio CAs, Rekor and CT log keys)')
    .option(
      '--model-signature <bundle>',
      'verify a model directory (the argument) against this OpenSSF model signature (model.sig) instead of an image',
    )
    .option('--ignore-unsigned-files', 'with --model-signature: files the signature does not list are not an error');
}

/** `verify DIR --model-signature BUNDLE`. */
export async function verifyDirectory(dir: string, flags: VerifyTrustFlags, policy?: TrustPolicy): Promise<void> {
  if (!policy) {
    throw new ModelcarError(
      'usage',
      '--model-signature needs the signer to trust',
      'add --key cosign.pub, or --certificate-identity, --certificate-oidc-issuer and --trusted-root',
    );
  }
  const bundlePath = flags.modelSignature as string;
  const report = await verifyModelDirectory(dir, await readBundleFile(bundlePath), policy, {
    bundlePath,
    ...(flags.ignoreUnsignedFiles ? { ignoreUnsigned: true } : {}),
  });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ directory: dir, ...report }, null, 2)}\n`);
  } else if (report.ok) {
    process.stdout.write(
      `ok: ${dir}: ${report.files} files, ${formatBytes(report.bytes)} match the model signature of ${report.model} (signed by ${report.signer})\n`,
    );
  } else {
    const [first, ...rest] = report.differences;
    process.stdout.write(`MISMATCH: ${dir} against ${bundlePath}\n  first: ${first?.message}\n`);
    for (const d of rest) process.stdout.write(`  also: ${d.message}\n`);
  }
  if (!report.ok) process.exitCode = 1;
}

/** One line per trust link: `ok` or `FAILED`, the link's name and what was found. */
export function trustLines(trust: TrustReport): string[] {
  return trust.links.map((l) => `  ${l.ok ? 'ok' : 'FAILED'} ${l.link}: ${l.message}`);
}
