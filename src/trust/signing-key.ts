/**
 * Signing and verification keys from files: ECDSA P-256 as PEM PKCS#8 (plain or encrypted), SEC1, or cosign's
 * encrypted format; public keys as PEM SubjectPublicKeyInfo (cosign.pub). The password is asked for through a callback
 * only when the key is encrypted, so a plain key never needs one and the caller decides where passwords come from
 * (file, COSIGN_PASSWORD, a prompt). Key material stays in KeyObjects; nothing here prints or logs it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { ModelcarError, messageOf } from '../errors.js';
import { decryptCosignKey, encryptCosignKey, isCosignPemType, readPemBlock } from './cosign-key.js';

export type PasswordSource = () => Promise<string>;

export interface LoadedKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Things the user should know, e.g. the file is readable by other users. */
  readonly warnings: readonly string[];
}

const P256 = 'prime256v1';

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelcarError(
      'trust',
      `cannot read the ${what} ${path}: ${messageOf(e)}`,
      `check the path given to ${what === 'public key' ? '--key' : '--sign-key'}`,
    );
  }
}

/** A private key others can read is as good as published: warn as ssh does (group read is fine: Kubernetes Secret volumes grant the pod's fsGroup). */
export async function keyFileWarnings(path: string): Promise<string[]> {
  const info = await stat(path);
  if ((info.mode & 0o004) === 0) return [];
  const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
  return [`the signing key ${path} is readable by every user (mode ${mode}); restrict it: chmod 600 ${path}`];
}

function checkCurve(key: KeyObject, path: string): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== P256) {
    throw new ModelcarError(
      'trust',
      `the signing key ${path} is ${key.asymmetricKeyType === 'ec' ? `ECDSA ${curve}` : String(key.asymmetricKeyType)}, not ECDSA P-256`,
      'sigstore signatures that containers/image and CRI-O verify use ECDSA P-256: make one with `modelcar key generate`',
    );
  }
}

/** Parses private key PEM text; `password` is called only for an encrypted key. */
export async function parsePrivateKey(pem: string, path: string, password: PasswordSource): Promise<KeyObject> {
  const block = readPemBlock(pem);
  if (!block) {
    throw new ModelcarError(
      'trust',
      `the signing key ${path} is not a PEM file`,
      'give a cosign.key (cosign or `modelcar key generate`) or a PEM PKCS#8 EC P-256 key',
    );
  }
  let key: KeyObject;
  try {
    if (isCosignPemType(block.type)) {
      key = createPrivateKey({ key: decryptCosignKey(block.body, await password()), format: 'der', type: 'pkcs8' });
    } else if (block.type === 'ENCRYPTED PRIVATE KEY') {
      key = createPrivateKey({ key: pem, format: 'pem', passphrase: await password() });
    } else if (block.type === 'PRIVATE KEY' || block.type === 'EC PRIVATE KEY') {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } else {
      throw new ModelcarError(
        'trust',
        `the signing key ${path} holds a "${block.type}" PEM block, not a private key`,
        block.type === 'PUBLIC KEY'
          ? 'that is the public half (cosign.pub): sign with the private key (cosign.key)'
          : 'give a cosign.key or a PEM PKCS#8 EC P-256 key',
      );
    }
  } catch (e) {
    if (e instanceof ModelcarError) throw e;
    const wrongPassword = /bad decrypt|decrypt/i.test(messageOf(e));
    throw new ModelcarError(
      'trust',
      wrongPassword
        ? `cannot decrypt the signing key ${path}: wrong password`
        : `cannot read the signing key ${path}: ${messageOf(e)}`,
      wrongPassword ? 'set the password in --sign-password-file FILE or COSIGN_PASSWORD' : 'give a valid PEM key',
    );
  }
  checkCurve(key, path);
  return key;
}

export async function loadPrivateKey(path: string, password: PasswordSource): Promise<LoadedKey> {
  const pem = await readKeyFile(path, 'signing key');
  const privateKey = await parsePrivateKey(pem, path, password);
  return { privateKey, publicKey: createPublicKey(privateKey), warnings: await keyFileWarnings(path) };
}

/** A public key PEM (cosign.pub). Any ECDSA curve, so model signatures made with P-384/P-521 keys verify too. */
export function parsePublicKey(pem: string, path: string): KeyObject {
  const block = readPemBlock(pem);
  if (block?.type !== 'PUBLIC KEY') {
    throw new ModelcarError(
      'trust',
      `${path} is not a PEM public key`,
      'give the public half of the signing key (cosign.pub, "-----BEGIN PUBLIC KEY-----")',
    );
  }
  const key = createPublicKey({ key: pem, format: 'pem' });
  if (key.asymmetricKeyType !== 'ec') {
    throw new ModelcarError(
      'trust',
      `${path} is a ${key.asymmetricKeyType} key; modelcar verifies ECDSA signatures`,
      'give the ECDSA public key the image was signed with',
    );
  }
  return key;
}

export async function loadPublicKey(path: string): Promise<KeyObject> {
  return parsePublicKey(await readKeyFile(path, 'public key'), path);
}

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The key identifier OpenSSF Model Signing writes in `verificationMaterial.publicKey.hint`: the hex sha256 of the
 * public key's PEM text (what sigstore/model-transparency computes).
 */
export function keyHint(key: KeyObject): string {
  return createHash('sha256').update(publicKeyPem(key)).digest('hex');
}

export interface GeneratedKeyPair {
  /** cosign's encrypted PEM of the private key. */
  readonly privatePem: string;
  readonly publicPem: string;
}

export function generateKeyPair(password: string): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: P256 });
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  return { privatePem: encryptCosignKey(der, password), publicPem: publicKeyPem(publicKey) };
}

/** Writes a new file, never over an existing one (a lost key cannot be recovered). */
export async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(path, text, { mode, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ModelcarError(
        'usage',
        `${path} already exists`,
        'keep the key you have, move it away first, or write elsewhere with --output-key-prefix PREFIX',
      );
    }
    throw new ModelcarError('trust', `cannot write ${path}: ${messageOf(e)}`, 'check the directory is writable');
  }
}
