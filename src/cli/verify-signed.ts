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
  skipAttestations?: boolean;
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
    .option('--ignore-unsigned-files', 'with --model-signature: files the signature does not list are not an error')
    .option(
      '--skip-attestations',
      'with --key or a keyless identity: check the image signature (what CRI-O checks) and every byte, not the ' +
        'provenance and model-signature attestations; for images signed by skopeo, cosign or another pipeline',
    );
}

/** Flag combinations that ask for nothing: refused before any work. */
export function checkTrustFlags(flags: VerifyTrustFlags, policy: TrustPolicy | undefined): void {
  if (!flags.skipAttestations) return;
  if (flags.modelSignature) {
    throw new ModelcarError(
      'usage',
      '--skip-attestations applies to an image, not to a directory checked with --model-signature',
      'drop --skip-attestations: a model signature is the only thing checked in a directory',
    );
  }
  if (!policy) {
    throw new ModelcarError(
      'usage',
      '--skip-attestations leaves the signature to check, and no signer to trust was given',
      'add --key cosign.pub, or --certificate-identity, --certificate-oidc-issuer and --trusted-root',
    );
  }
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

/**
 * One line per trust link: `ok` or `FAILED`, the link's name and what was found; `skipped` for links not checked; and
 * a hint when a valid signature comes without any attestation (an image signed by skopeo, cosign or a pipeline).
 */
export function trustLines(trust: TrustReport): string[] {
  const lines = trust.links.map((l) => `  ${l.ok ? 'ok' : 'FAILED'} ${l.link}: ${l.message}`);
  for (const link of trust.skipped) lines.push(`  skipped ${link}: not checked (--skip-attestations)`);
  const signed = trust.links.some((l) => l.link === 'signature' && l.ok);
  const failed = trust.links.filter((l) => !l.ok);
  if (signed && failed.length > 0 && failed.every((l) => l.absent)) {
    lines.push(
      '  hint: the signature verifies but the image carries no modelcar attestations (signed by skopeo, cosign or ' +
        'another pipeline?): --skip-attestations checks the signature and every byte only',
    );
  }
  return lines;
}
