/**
 * A Docker token service for distribution's `auth.token` (docs: distribution v2.8 docs/spec/auth/token.md): GET the
 * realm with Basic credentials and scopes, or POST an OAuth2 refresh_token form; answers ES256 JWTs whose `x5c`
 * header carries a leaf certificate signed by a test CA that the registry trusts (rootcertbundle).
 */
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derBase64, issueCert, makeCa } from './pki.js';

export interface IssuerOptions {
  /** Basic credentials accepted at the realm. */
  readonly users: Readonly<Record<string, string>>;
  /** Refresh tokens (docker `identitytoken`) accepted by the OAuth2 POST, and the user each stands for. */
  readonly refreshTokens?: Readonly<Record<string, string>>;
  /** Token lifetime written into `exp` and `expires_in`. */
  readonly lifetimeS?: number;
  /** What `expires_in` claims, when a test wants it to differ from the real lifetime. */
  readonly advertisedExpiresInS?: number;
  /** Users that may only pull: like a real token service, their tokens grant the pull part of what they ask. */
  readonly readOnlyUsers?: readonly string[];
}

export interface IssuedToken {
  readonly user: string;
  readonly scopes: readonly string[];
  readonly grant: 'basic' | 'refresh_token' | 'anonymous';
}

export interface TokenIssuer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM bundle the registry trusts (the CA). */
  readonly rootCertBundle: string;
  /** Every token handed out, in order. */
  readonly issued: IssuedToken[];
  /** Requests refused with 401. */
  refused: number;
  /** `auth:` block for distribution's config. */
  registryAuthConfig(): Record<string, unknown>;
  close(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    let text = '';
    req.on('data', (d: Buffer) => {
      text += d.toString();
    });
    req.on('end', () => ok(text));
    req.on('error', fail);
  });
}

/** `repository:a/b:pull,push` -> access entry (the name may contain ':' only before the last one). */
function accessOf(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const last = scope.lastIndexOf(':');
  const first = scope.indexOf(':');
  if (first < 0 || last <= first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') };
}

export async function startTokenIssuer(opts: IssuerOptions): Promise<TokenIssuer> {
  const dir = mkdtempSync(join(tmpdir(), 'modelcar-issuer-'));
  const ca = makeCa(dir);
  const leaf = issueCert(dir, ca, 'modelcar-token-signer');
  const key = createPrivateKey(readFileSync(leaf.key));
  const x5c = [derBase64(leaf.cert)];
  const service = 'modelcar-test-registry';
  const issuerName = 'modelcar-test-issuer';
  const lifetime = opts.lifetimeS ?? 300;
  const issued: IssuedToken[] = [];

  function jwt(user: string, scopes: readonly string[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = {
      iss: issuerName,
      sub: user,
      aud: service,
      exp: now + lifetime,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access: scopes.map(accessOf).filter(Boolean),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(signature)}`;
  }

  const state = { refused: 0 };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    const deny = () => {
      state.refused++;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
    };
    let user: string | undefined;
    let scopes: string[] = [];
    let grant: IssuedToken['grant'] = 'anonymous';
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      if (form.get('grant_type') !== 'refresh_token') return deny();
      user = opts.refreshTokens?.[form.get('refresh_token') ?? ''];
      if (!user) return deny();
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      grant = 'refresh_token';
    } else {
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const decoded = Buffer.from(auth.slice(6), 'base64').toString();
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        if (opts.users[name] === undefined || opts.users[name] !== decoded.slice(colon + 1)) return deny();
        user = name;
        grant = 'basic';
      } else {
        return deny();
      }
      scopes = url.searchParams.getAll('scope');
    }
    if (opts.readOnlyUsers?.includes(user)) {
      scopes = scopes.map((s) => s.replace(/:[a-z*,]+$/, (actions) => (actions.includes('pull') ? ':pull' : ':')));
    }
    const token = jwt(user, scopes);
    issued.push({ user, scopes, grant });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: opts.advertisedExpiresInS ?? lifetime,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const realm = `http://127.0.0.1:${port}/token`;
  return {
    realm,
    service,
    issuer: issuerName,
    rootCertBundle: ca.cert,
    issued,
    get refused() {
      return state.refused;
    },
    set refused(n: number) {
      state.refused = n;
    },
    registryAuthConfig: () => ({
      token: { realm, service, issuer: issuerName, rootcertbundle: ca.cert },
    }),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Seconds since the bearer token in an Authorization header was issued (its `iat`); undefined without one. */
export function tokenAgeS(authorization: string | undefined): number | undefined {
  if (!authorization?.startsWith('Bearer ')) return undefined;
  const payload = authorization.slice(7).split('.')[1];
  if (!payload) return undefined;
  const { iat } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { iat?: number };
  return iat === undefined ? undefined : Date.now() / 1000 - iat;
}
