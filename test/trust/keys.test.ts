/**
 * Signing keys: cosign's encrypted format round-trips, a wrong password or a foreign key type is named clearly, a key
 * readable by other users is a warning, and the key hint is the one OpenSSF Model Signing writes. (skopeo reading our
 * keys, and we reading skopeo's signatures, is in sign-registry.test.ts.)
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { COSIGN_PEM_TYPE, decryptCosignKey, encryptCosignKey, readPemBlock } from '../../src/trust/cosign-key.js';
import {
  generateKeyPair,
  keyFileWarnings,
  keyHint,
  loadPrivateKey,
  parsePrivateKey,
} from '../../src/trust/signing-key.js';
import { UPSTREAM_FIXTURES } from '../support/json-schema.js';

const password = (p: string) => async () => p;

describe('signing keys', () => {
  it('a generated cosign key is an ENCRYPTED COSIGN PRIVATE KEY with scrypt and secretbox that opens with its password only', async () => {
    const pair = generateKeyPair('s3cret');
    const block = readPemBlock(pair.privatePem);
    assert.equal(block?.type, COSIGN_PEM_TYPE);
    const envelope = JSON.parse(block?.body.toString() ?? '{}');
    assert.deepEqual(envelope.kdf.params, { N: 32768, r: 8, p: 1 });
    assert.equal(Buffer.from(envelope.kdf.salt, 'base64').length, 32);
    assert.equal(envelope.cipher.name, 'nacl/secretbox');
    assert.doesNotMatch(pair.privatePem, /s3cret/);
    const key = await parsePrivateKey(pair.privatePem, 'cosign.key', password('s3cret'));
    assert.equal(createPublicKey(key).export({ type: 'spki', format: 'pem' }), pair.publicPem);
    await assert.rejects(parsePrivateKey(pair.privatePem, 'cosign.key', password('wrong')), /wrong password/);
  });

  it('the password is asked for only when the key is encrypted', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    let asked = 0;
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await parsePrivateKey(pem, 'k.pem', async () => {
      asked++;
      return '';
    });
    assert.equal(asked, 0);
  });

  it('an encrypted PKCS#8 key and a cosign key round-trip through the same loader', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const opened = decryptCosignKey(readPemBlock(encryptCosignKey(der, 'pw'))?.body as Buffer, 'pw');
    assert.deepEqual(opened, der);
    const pkcs8 = privateKey
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    const key = await parsePrivateKey(pkcs8, 'k.pem', password('pw'));
    assert.deepEqual(key.export({ type: 'pkcs8', format: 'der' }), der);
  });

  it('scrypt parameters a crafted file inflates are refused before any work', () => {
    const body = Buffer.from(
      JSON.stringify({
        kdf: { name: 'scrypt', params: { N: 2 ** 30, r: 8, p: 1 }, salt: '' },
        cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') },
        ciphertext: '',
      }),
    );
    assert.throws(() => decryptCosignKey(body, 'x'), /scrypt parameters/);
  });

  it('a P-384 key, a public key or garbage is refused with what to use instead', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    await assert.rejects(parsePrivateKey(p384.toString(), 'k.pem', password('')), /secp384r1, not ECDSA P-256/);
    const pub = generateKeyPair('x').publicPem;
    await assert.rejects(parsePrivateKey(pub, 'cosign.pub', password('')), (e: Error & { hint?: string }) =>
      /public half/.test(e.hint ?? ''),
    );
    await assert.rejects(parsePrivateKey('hello', 'k', password('')), /not a PEM file/);
  });

  it('a key file readable by every user is a warning; owner and group read are not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelcar-key-'));
    const path = join(dir, 'cosign.key');
    await writeFile(path, generateKeyPair('pw').privatePem, { mode: 0o600 });
    assert.deepEqual(await keyFileWarnings(path), []);
    await chmod(path, 0o640);
    assert.deepEqual(await keyFileWarnings(path), []);
    await chmod(path, 0o644);
    const [warning] = await keyFileWarnings(path);
    assert.match(warning ?? '', /readable by every user \(mode 0644\).*chmod 600/);
    const loaded = await loadPrivateKey(path, password('pw'));
    assert.equal(loaded.warnings.length, 1);
  });

  it('the key hint is the sha256 of the public key PEM, as OpenSSF Model Signing computes it', async () => {
    const dir = join(UPSTREAM_FIXTURES, 'oms-v1.1.0-elliptic-key');
    const pem = await readFile(join(UPSTREAM_FIXTURES, 'oms-v1.1.0-elliptic-key.pub.pem'), 'utf8');
    const bundle = JSON.parse(await readFile(join(dir, 'model.sig'), 'utf8'));
    assert.equal(
      keyHint(createPublicKey(pem.slice(pem.indexOf('-----BEGIN')))),
      bundle.verificationMaterial.publicKey.hint,
    );
  });
});
