import { access, readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ModelcarError, messageOf } from '../errors.js';
import { generateKeyPair, keyHint, parsePublicKey, writeNewFile } from '../trust/signing-key.js';
import { canPrompt, promptHidden } from './prompt.js';

interface GenerateFlags {
  outputKeyPrefix: string;
  passwordFile?: string;
  json?: boolean;
}

/** A password file holds the password and, like most files, a final newline that is not part of it. */
export async function readPasswordFile(path: string, flag: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (e) {
    throw new ModelcarError('usage', `cannot read ${flag} ${path}: ${messageOf(e)}`, `check the file given to ${flag}`);
  }
}

async function newPassword(flags: GenerateFlags): Promise<string> {
  if (flags.passwordFile) return readPasswordFile(flags.passwordFile, '--password-file');
  const env = process.env.COSIGN_PASSWORD;
  if (env !== undefined) return env;
  if (!canPrompt()) {
    throw new ModelcarError(
      'usage',
      'the new key needs a password and there is no terminal to ask for one',
      'set COSIGN_PASSWORD (empty is allowed, as in cosign) or pass --password-file FILE',
    );
  }
  const first = await promptHidden('Enter password for private key: ');
  const again = await promptHidden('Enter password for private key again: ');
  if (first !== again) {
    throw new ModelcarError(
      'usage',
      'the two passwords differ',
      'run the command again and type the same password twice',
    );
  }
  return first;
}

export function register(program: Command): void {
  const key = program
    .command('key')
    .summary('make a signing key pair (cosign-compatible)')
    .description('Signing keys for `build --sign-key` and `sign`, in the format cosign and skopeo read.');
  key
    .command('generate')
    .summary('write cosign.key (encrypted) and cosign.pub')
    .description(
      'Generate an ECDSA P-256 key pair as cosign generate-key-pair does: PREFIX.key, encrypted with a password ' +
        '(scrypt + NaCl secretbox, "ENCRYPTED COSIGN PRIVATE KEY", readable by cosign and skopeo ' +
        '--sign-by-sigstore-private-key), mode 0600; and PREFIX.pub, the public key to verify with and to put in an ' +
        'ImagePolicy. Existing files are never overwritten.',
    )
    .option('--output-key-prefix <prefix>', 'path and name of the two files, without .key/.pub', 'cosign')
    .option('--password-file <file>', 'read the password from this file (default: $COSIGN_PASSWORD, else a prompt)')
    .option('--json', 'print one JSON object with the two paths and the key hint')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  modelcar key generate                                  # asks for the password on the terminal',
        '  COSIGN_PASSWORD="$(cat pw)" modelcar key generate --output-key-prefix keys/models',
        '',
        'Environment:',
        '  COSIGN_PASSWORD   the password, as cosign reads it (empty is allowed); never put it in argv',
      ].join('\n'),
    )
    .action(async (flags: GenerateFlags) => {
      const privatePath = `${flags.outputKeyPrefix}.key`;
      const publicPath = `${flags.outputKeyPrefix}.pub`;
      // Both names are checked before the password is asked for, so no half of a pair is ever written.
      for (const path of [privatePath, publicPath]) {
        if (
          await access(path).then(
            () => true,
            () => false,
          )
        ) {
          throw new ModelcarError(
            'usage',
            `${path} already exists`,
            'keep the key you have, move it away first, or write elsewhere with --output-key-prefix PREFIX',
          );
        }
      }
      const pair = generateKeyPair(await newPassword(flags));
      await writeNewFile(privatePath, pair.privatePem, 0o600);
      await writeNewFile(publicPath, pair.publicPem, 0o644);
      const hint = keyHint(parsePublicKey(pair.publicPem, publicPath));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ privateKey: privatePath, publicKey: publicPath, keyHint: hint })}\n`);
      } else {
        process.stdout.write(`Private key written to ${privatePath}\nPublic key written to ${publicPath}\n`);
      }
    });
}
