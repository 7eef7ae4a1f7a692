import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ModelcarError } from '../errors.js';
import { openRepository } from '../oci/open.js';
import { formatRef, manifestReference, parseImageLocation } from '../oci/reference.js';
import { parsePlatform } from '../oci/spec.js';
import { imageFacts } from '../trust/image-facts.js';
import { type SignResult, signImage } from '../trust/sign-image.js';
import { TrustStore } from '../trust/store.js';
import { wholeNumber } from './arguments.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';
import { addSignOptions, SIGN_ENV_HELP, type SignFlags, signerFromFlags, signingTime } from './sign-flags.js';

interface SignCommandFlags extends RegistryFlags, SignFlags {
  platform?: string;
  modelSignatureOutput?: string;
  sourceDateEpoch?: number;
  json?: boolean;
}

/** The lines `build` and `sign` print after signing. */
export function describeSigned(r: SignResult, label: string): string[] {
  return [
    `signature: ${label}:${r.signature.tag} (${r.signature.digest})`,
    `provenance: ${r.provenance.digest} (SLSA v1, ${r.provenance.via === 'referrers-api' ? 'referrers API' : `tag ${r.provenance.via}`})`,
    `model signature: ${r.modelSignature.digest} (OpenSSF Model Signing v1.0)`,
  ].map((l) => l.replace('tag tag-schema', 'fallback tag sha256-<hex>'));
}

export function signedJson(r: SignResult): Record<string, unknown> {
  return {
    signature: r.signature,
    provenance: r.provenance,
    modelSignature: r.modelSignature,
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('sign')
    .summary('sign an image already in a registry and attach its provenance')
    .argument('<ref>', 'the image: HOST/REPO:TAG or HOST/REPO@sha256:... (docker:// and oci:// accepted)')
    .description(
      'Sign an image built by modelcar (a pipeline step, a sharded build assembled elsewhere): a cosign-format ' +
        'signature under sha256-<hex>.sig (what CRI-O, podman and skopeo verify; OpenShift ImagePolicy enforces it), ' +
        'and two signed in-toto statements as OCI 1.1 referrers: SLSA provenance (source, base, every file and its ' +
        'sha256, from what the image records) and an OpenSSF model signature over the files. Same flags as build.',
    )
    .option('--platform <os/arch>', 'for an index: the image whose files the statements list (default linux/amd64)')
    .option('--model-signature-output <file>', 'also write the OpenSSF model signature bundle here (model.sig)')
    .option(
      '--source-date-epoch <seconds>',
      'fixed signing time (default: $SOURCE_DATE_EPOCH, else now)',
      wholeNumber(0, '--source-date-epoch'),
    )
    .option('--json', 'print one JSON object with the signature and attestation digests');
  addSignOptions(cmd);
  addRegistryOptions(cmd);
  cmd.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  modelcar sign quay.io/acme/granite:r1 --sign-key cosign.key',
      '  modelcar sign $IMG@$DIGEST --sign-identity-token-file /var/run/secrets/sigstore/token \\',
      '      --fulcio-url https://fulcio.apps.example.com --rekor-url https://rekor.apps.example.com',
      '',
      'Environment:',
      ...SIGN_ENV_HELP,
      '  SOURCE_DATE_EPOCH          fixed signing time',
      '',
      'Verify with: modelcar verify REF --key cosign.pub (or --certificate-identity ... --trusted-root ...).',
    ].join('\n'),
  );
  cmd.action(async (refArg: string, flags: SignCommandFlags) => {
    const location = parseImageLocation(refArg);
    const chosen = await signerFromFlags(flags);
    if (!chosen) {
      throw new ModelcarError(
        'usage',
        'nothing to sign with',
        'pass --sign-key cosign.key, or --sign-identity-token-file FILE for keyless signing',
      );
    }
    for (const w of chosen.warnings) process.stderr.write(`modelcar: warning: ${w}\n`);
    const repo = await openRepository(location, registryOptions(flags));
    try {
      const store = TrustStore.of(repo, 'signing');
      if (location.transport !== 'registry') throw new Error('unreachable');
      const facts = await imageFacts(
        repo,
        manifestReference(location),
        flags.platform ? parsePlatform(flags.platform) : undefined,
      );
      const envEpoch = process.env.SOURCE_DATE_EPOCH;
      const epoch = flags.sourceDateEpoch ?? (envEpoch && /^\d+$/.test(envEpoch) ? Number(envEpoch) : undefined);
      const result = await signImage({
        store,
        ref: location.ref,
        ...facts,
        signer: chosen.signer,
        time: signingTime(epoch),
      });
      if (flags.modelSignatureOutput) {
        await writeFile(flags.modelSignatureOutput, `${JSON.stringify(result.modelSignatureBundle)}\n`);
      }
      const named = formatRef({ ...location.ref, digest: facts.manifest.digest });
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ reference: named, digest: facts.manifest.digest, ...signedJson(result) }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(`signed ${named} with ${chosen.description}\n`);
        for (const line of describeSigned(result, repo.label)) process.stdout.write(`  ${line}\n`);
      }
    } finally {
      await repo.close?.();
    }
  });
}
