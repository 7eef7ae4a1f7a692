/**
 * The signing flags `build`, `sign` and `doctor` share, and the one place they become a signer. A key file is read
 * and, if encrypted, opened before any other work, so a wrong password fails in the first second; the password comes
 * from --sign-password-file, else COSIGN_PASSWORD, else a prompt on a terminal, and is never accepted in argv.
 */
import { type Command, Option } from 'commander';
import { ModelcarError } from '../errors.js';
import { createSigner, readIdentityToken, type TrustSigner } from '../trust/signer.js';
import { loadPrivateKey } from '../trust/signing-key.js';
import { readPasswordFile } from './key.js';
import { canPrompt, promptHidden } from './prompt.js';

export interface SignFlags {
  signKey?: string;
  signPasswordFile?: string;
  signIdentityTokenFile?: string;
  fulcioUrl: string;
  rekorUrl: string;
  tsaUrl?: string;
}

export const PUBLIC_FULCIO = 'https://fulcio.sigstore.dev';
export const PUBLIC_REKOR = 'https://rekor.sigstore.dev';

export function addSignOptions(cmd: Command): Command {
  return cmd
    .option(
      '--sign-key <file>',
      'sign with this ECDSA P-256 key: cosign.key (cosign or `modelcar key generate`) or PEM PKCS#8',
    )
    .option(
      '--sign-password-file <file>',
      'password of an encrypted --sign-key (default: $COSIGN_PASSWORD, else a prompt)',
    )
    .option(
      '--sign-identity-token-file <file>',
      'sign keyless (Sigstore): the OIDC identity token in this file, e.g. a projected service-account token with audience "sigstore"; read when signing',
    )
    .addOption(
      new Option('--fulcio-url <url>', 'Fulcio of the Sigstore instance for keyless signing')
        .env('COSIGN_FULCIO_URL')
        .default(PUBLIC_FULCIO),
    )
    .addOption(
      new Option('--rekor-url <url>', 'Rekor of the Sigstore instance for keyless signing')
        .env('COSIGN_REKOR_URL')
        .default(PUBLIC_REKOR),
    )
    .addOption(
      new Option(
        '--tsa-url <url>',
        'also timestamp keyless signatures here (the endpoint URL, e.g. https://timestamp.sigstore.dev/api/v1/timestamp)',
      ).env('COSIGN_TIMESTAMP_SERVER_URL'),
    );
}

/** Help lines for the environment section of commands that sign. */
export const SIGN_ENV_HELP = [
  '  COSIGN_PASSWORD            password of an encrypted --sign-key (as cosign reads it)',
  '  COSIGN_FULCIO_URL, COSIGN_REKOR_URL, COSIGN_TIMESTAMP_SERVER_URL   the Sigstore instance (keyless)',
];

async function keyPassword(flags: SignFlags): Promise<string> {
  if (flags.signPasswordFile) return readPasswordFile(flags.signPasswordFile, '--sign-password-file');
  const env = process.env.COSIGN_PASSWORD;
  if (env !== undefined) return env;
  if (canPrompt()) return promptHidden(`Enter password for ${flags.signKey}: `);
  throw new ModelcarError(
    'usage',
    `the signing key ${flags.signKey} is encrypted and no password was given`,
    'set COSIGN_PASSWORD or pass --sign-password-file FILE (never the password itself on the command line)',
  );
}

function checkUrl(url: string, flag: string): void {
  if (!/^https?:\/\/[^\s/]+/.test(url)) {
    throw new ModelcarError(
      'usage',
      `${flag} ${JSON.stringify(url)} is not an http(s) URL`,
      `e.g. ${flag} ${PUBLIC_FULCIO}`,
    );
  }
}

export interface ChosenSigner {
  readonly signer: TrustSigner;
  /** In words, for output: `key cosign.key` or `keyless via https://fulcio...`. */
  readonly description: string;
  readonly warnings: readonly string[];
}

/** The signer the flags ask for, ready to sign; undefined when they ask for none. */
export async function signerFromFlags(flags: SignFlags): Promise<ChosenSigner | undefined> {
  if (flags.signKey && flags.signIdentityTokenFile) {
    throw new ModelcarError(
      'usage',
      '--sign-key and --sign-identity-token-file exclude each other',
      'sign with a key, or keyless with an identity token, not both',
    );
  }
  if (!flags.signKey && flags.signPasswordFile) {
    throw new ModelcarError('usage', '--sign-password-file without --sign-key', 'add --sign-key FILE');
  }
  if (flags.signKey) {
    const key = await loadPrivateKey(flags.signKey, () => keyPassword(flags));
    return {
      signer: createSigner({ kind: 'key', privateKey: key.privateKey, publicKey: key.publicKey }),
      description: `key ${flags.signKey}`,
      warnings: key.warnings,
    };
  }
  if (flags.signIdentityTokenFile) {
    checkUrl(flags.fulcioUrl, '--fulcio-url');
    checkUrl(flags.rekorUrl, '--rekor-url');
    if (flags.tsaUrl) checkUrl(flags.tsaUrl, '--tsa-url');
    // Read once now so a missing token fails before the build; it is read again when signing (it rotates).
    await readIdentityToken(flags.signIdentityTokenFile);
    return {
      signer: createSigner({
        kind: 'keyless',
        fulcioUrl: flags.fulcioUrl,
        rekorUrl: flags.rekorUrl,
        identityTokenFile: flags.signIdentityTokenFile,
        ...(flags.tsaUrl ? { tsaUrl: flags.tsaUrl } : {}),
      }),
      description: `keyless via ${flags.fulcioUrl}`,
      warnings: [],
    };
  }
  return undefined;
}

/** The signing time: SOURCE_DATE_EPOCH when set (reproducible payloads), else now. */
export function signingTime(epoch?: number): Date {
  return epoch !== undefined ? new Date(epoch * 1000) : new Date();
}
