/**
 * A private Sigstore instance on loopback, made of the Sigstore project's own service doubles (@sigstore/mock): a
 * Fulcio CA (with its CT log), a Rekor v1 transparency log and an RFC 3161 TSA, each answering its real API path under
 * its own base URL on one HTTP server. `trustedRoot` is the instance's Sigstore trusted_root.json, as a real instance
 * (RHTAS, public-good) publishes it. The mock Fulcio trusts any JWT-shaped identity token (it decodes, not verifies,
 * the token); `identityToken` makes one for a subject, like a pod's projected service-account token.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  fulcioHandler,
  type HandlerFn,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
} from '@sigstore/mock';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';

export interface SigstoreDouble {
  readonly fulcioUrl: string;
  readonly rekorUrl: string;
  readonly tsaUrl: string;
  /** trusted_root.json of this instance. */
  readonly trustedRoot: string;
  readonly issuer: string;
  /** Requests served, as `METHOD path`, for assertions on what was contacted. */
  readonly requests: string[];
  identityToken(subject: string): string;
  /** The keyless signing flags for this instance, with the token in `tokenFile`. */
  signingArgs(tokenFile: string): string[];
  stop(): Promise<void>;
}

const ISSUER = 'https://oidc.modelcar.test';

function keyPair() {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

export async function startSigstore(): Promise<SigstoreDouble> {
  const requests: string[] = [];
  const routes = new Map<string, HandlerFn>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      const fn = req.method === 'POST' ? routes.get(req.url ?? '') : undefined;
      if (!fn) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
        return;
      }
      fn(Buffer.concat(chunks).toString('utf8')).then(
        (r) => {
          res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'application/json' });
          res.end(typeof r.response === 'string' ? r.response : Buffer.from(r.response.buffer));
        },
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const fulcioUrl = `${base}/fulcio`;
  const rekorUrl = `${base}/rekor`;
  // The TSA is named by its endpoint URL, as cosign's --timestamp-server-url and Sigstore's signing config do.
  const tsaUrl = `${base}/tsa/api/v1/timestamp`;

  const ctlog = await initializeCTLog(keyPair());
  const ca = await initializeCA(keyPair(), ctlog);
  const tlog = await initializeTLog(rekorUrl, keyPair());
  // The TSA's clock is set to the current whole second before each request: the mock writes GeneralizedTime
  // fractions without trailing zeros (".12"), which @sigstore/core's parser refuses ("invalid time") about one time
  // in ten. A real TSA writes whole seconds or three digits.
  const tsaClock = new Date();
  const tsa = await initializeTSA(keyPair(), tsaClock);
  for (const [prefix, handler] of [
    [fulcioUrl, fulcioHandler(ca)],
    [rekorUrl, rekorHandler(tlog)],
    [`${base}/tsa`, tsaHandler(tsa)],
  ] as const) {
    const tick = prefix.endsWith('/tsa') ? () => tsaClock.setTime(Math.floor(Date.now() / 1000) * 1000) : () => {};
    routes.set(`${new URL(prefix).pathname}${handler.path}`, (body) => {
      tick();
      return handler.fn(body);
    });
  }

  const validFor = { start: new Date(Date.now() - 3600_000), end: undefined };
  const key = (rawBytes: Buffer) => ({ rawBytes, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor });
  const root = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: rekorUrl,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: key(tlog.publicKey),
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest() },
        checkpointKeyId: undefined,
        operator: 'modelcar tests',
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: fulcioUrl,
        certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
        validFor,
        operator: 'modelcar tests',
      },
    ],
    ctlogs: [
      {
        baseUrl: `${base}/ctlog`,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: key(ctlog.publicKey),
        logId: { keyId: Buffer.from(ctlog.logID.buffer) },
        checkpointKeyId: undefined,
        operator: 'modelcar tests',
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: tsaUrl,
        certChain: {
          certificates: [
            { rawBytes: Buffer.from(tsa.intCertificate.buffer) },
            { rawBytes: Buffer.from(tsa.rootCertificate.buffer) },
          ],
        },
        validFor,
        operator: 'modelcar tests',
      },
    ],
  });

  return {
    fulcioUrl,
    rekorUrl,
    tsaUrl,
    trustedRoot: JSON.stringify(root, null, 2),
    issuer: ISSUER,
    requests,
    identityToken(subject: string): string {
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: ISSUER, sub: subject, aud: 'sigstore', iat: now, exp: now + 600 };
      return `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${randomBytes(32).toString('base64url')}`;
    },
    signingArgs: (tokenFile) => [
      '--sign-identity-token-file',
      tokenFile,
      '--fulcio-url',
      fulcioUrl,
      '--rekor-url',
      rekorUrl,
    ],
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
