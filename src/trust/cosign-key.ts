/**
 * cosign's encrypted private key format, as cosign and containers/image (skopeo --sign-by-sigstore-private-key) write
 * and read it: PEM of type `ENCRYPTED COSIGN PRIVATE KEY` (or the newer `ENCRYPTED SIGSTORE PRIVATE KEY`) whose body
 * is go-securesystemslib's `encrypted` JSON: scrypt (N=32768, r=8, p=1, 32-byte salt) derives a 32-byte key from the
 * password, NaCl secretbox (XSalsa20-Poly1305, 24-byte nonce) seals the PKCS#8 DER of the key. Pure: bytes in, bytes
 * out; the password never leaves this module.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { secretbox } from '@noble/ciphers/salsa';
import { ModelcarError } from '../errors.js';

/** What cosign writes today and what every containers/image release reads (skopeo 1.9 reads only this one). */
export const COSIGN_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';
/** What cosign >= 2.0.1 may write; read as well. */
export const SIGSTORE_PEM_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';

const SCRYPT = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const KEY_BYTES = 32;
/** scrypt needs 128·N·r bytes; Node's default ceiling (32 MiB) is exactly that, which it refuses. */
const SCRYPT_MAXMEM = 256 * 1024 * 1024;

interface Envelope {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

export function pemBlock(type: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/** The first PEM block of `text`: its type and decoded body, or undefined when there is none. */
export function readPemBlock(text: string): { type: string; body: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return undefined;
  return { type: m[1] as string, body: Buffer.from((m[2] as string).replace(/\s+/g, ''), 'base64') };
}

export function isCosignPemType(type: string): boolean {
  return type === COSIGN_PEM_TYPE || type === SIGSTORE_PEM_TYPE;
}

function deriveKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Buffer {
  return scryptSync(Buffer.from(password, 'utf8'), salt, KEY_BYTES, { ...params, maxmem: SCRYPT_MAXMEM });
}

/** Seals a PKCS#8 DER private key into cosign's encrypted PEM. */
export function encryptCosignKey(pkcs8Der: Buffer, password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const key = deriveKey(password, salt, SCRYPT);
  const sealed = Buffer.from(secretbox(key, nonce).seal(pkcs8Der));
  // Field order and base64 as Go's encoding/json writes the struct, so the file reads like cosign's own.
  const envelope: Envelope = {
    kdf: { name: 'scrypt', params: { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: sealed.toString('base64'),
  };
  return pemBlock(COSIGN_PEM_TYPE, Buffer.from(JSON.stringify(envelope)));
}

function invalidKey(what: string): ModelcarError {
  return new ModelcarError(
    'trust',
    `the signing key is not a valid cosign key: ${what}`,
    'use a key written by `cosign generate-key-pair` or `modelcar key generate`, or a PEM PKCS#8 EC P-256 key',
  );
}

/**
 * Opens the body of a cosign encrypted PEM. The scrypt parameters are bounded so a crafted file cannot make us
 * allocate gigabytes (go-securesystemslib rejects anything but its defaults; newer cosign releases may raise N).
 */
export function decryptCosignKey(body: Buffer, password: string): Buffer {
  let envelope: Envelope;
  try {
    envelope = JSON.parse(body.toString('utf8')) as Envelope;
  } catch {
    throw invalidKey('its body is not the JSON cosign writes');
  }
  const { kdf, cipher } = envelope ?? {};
  if (kdf?.name !== 'scrypt') throw invalidKey(`unknown key derivation ${JSON.stringify(kdf?.name)}`);
  if (cipher?.name !== 'nacl/secretbox') throw invalidKey(`unknown cipher ${JSON.stringify(cipher?.name)}`);
  const { N, r, p } = kdf.params ?? {};
  const bounded = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!bounded(N, 1 << 20) || !bounded(r, 32) || !bounded(p, 16) || ((N as number) & ((N as number) - 1)) !== 0) {
    throw invalidKey(`scrypt parameters N=${N} r=${r} p=${p} are outside what cosign uses`);
  }
  const salt = Buffer.from(kdf.salt ?? '', 'base64');
  const nonce = Buffer.from(cipher.nonce ?? '', 'base64');
  if (nonce.length !== NONCE_BYTES) throw invalidKey(`its nonce is ${nonce.length} bytes, not ${NONCE_BYTES}`);
  const key = deriveKey(password, salt, { N: N as number, r: r as number, p: p as number });
  try {
    return Buffer.from(secretbox(key, nonce).open(Buffer.from(envelope.ciphertext ?? '', 'base64')));
  } catch {
    throw new ModelcarError(
      'trust',
      'cannot decrypt the signing key: wrong password',
      'set the password that encrypted it in --sign-password-file FILE or COSIGN_PASSWORD',
    );
  }
}
