/**
 * A throwaway certificate authority for tests, made with the openssl CLI (node:crypto cannot write X.509): EC P-256
 * keys, a CA, and leaves it signs, for the token issuer's signing certificate and a registry's TLS certificate.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from './tools.js';

export interface CertFiles {
  readonly cert: string; // PEM path
  readonly key: string; // PEM path
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync(requireTool('openssl'), [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(dir: string, name = 'modelcar-test-ca'): CertFiles {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}

/** A leaf signed by `ca`; `altNames` like ['IP:127.0.0.1', 'DNS:localhost'] make it a TLS server certificate. */
export function issueCert(dir: string, ca: CertFiles, name: string, altNames: readonly string[] = []): CertFiles {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr], dir);
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      ...(altNames.length > 0 ? ['extendedKeyUsage=serverAuth', `subjectAltName=${altNames.join(',')}`] : []),
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}

/** Base64 (standard, as x5c wants) DER of the first certificate in a PEM file. */
export function derBase64(pemPath: string): string {
  const pem = readFileSync(pemPath, 'utf8');
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1] ?? '';
  return body.replace(/\s+/g, '');
}
