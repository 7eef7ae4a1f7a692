/**
 * Signing, before a build that signs: the key opens and can sign (a signature made and verified here), the identity
 * token is there, the Sigstore instance answers, and where the registry keeps attestations (its referrers API, or
 * the `sha256-<hex>` tag fallback that plain push permission covers).
 */
import { sign, verify } from 'node:crypto';
import { messageOf } from '../errors.js';
import { HttpClient } from '../http/client.js';
import { openRepository } from '../oci/open.js';
import { parseImageLocation } from '../oci/reference.js';
import { readIdentityToken } from '../trust/signer.js';
import { keyHint, loadPrivateKey } from '../trust/signing-key.js';
import type { Check, CheckResult, DoctorContext } from './check.js';

const PROBE = Buffer.from('modelcar doctor signing probe');

async function keyResult(ctx: DoctorContext, path: string): Promise<CheckResult> {
  const id = 'signing.key';
  const title = 'signing key';
  const { readFile } = await import('node:fs/promises');
  try {
    const key = await loadPrivateKey(path, async () => {
      if (ctx.options.signPasswordFile)
        return (await readFile(ctx.options.signPasswordFile, 'utf8')).replace(/\r?\n$/, '');
      const env = ctx.env.COSIGN_PASSWORD;
      if (env === undefined)
        throw new Error('the key is encrypted and neither --sign-password-file nor COSIGN_PASSWORD is set');
      return env;
    });
    if (!verify('sha256', PROBE, key.publicKey, sign('sha256', PROBE, key.privateKey)))
      throw new Error('a probe signature did not verify');
    const hint = keyHint(key.publicKey);
    return {
      id,
      title,
      status: key.warnings.length > 0 ? 'warn' : 'ok',
      summary: `${path} opens and signs (ECDSA P-256, key hint ${hint.slice(0, 16)})${key.warnings.length > 0 ? `; ${key.warnings.join('; ')}` : ''}`,
      ...(key.warnings.length > 0 ? { fix: `chmod 600 ${path}` } : {}),
      details: { keyHint: hint },
    };
  } catch (e) {
    return {
      id,
      title,
      status: 'fail',
      summary: `${path}: ${messageOf(e)}`,
      cause: 'the build would stop before its first byte: the key cannot sign',
      fix: 'give the password in --sign-password-file FILE or COSIGN_PASSWORD, or make a key: modelcar key generate',
    };
  }
}

/** Through modelcar's HTTP layer (proxies, CAs): what answers here answers the signer, within the gap docs/signing.md names. */
async function answers(name: string, url: string, ctx: DoctorContext): Promise<string> {
  const client = new HttpClient({ endpoint: `Sigstore ${name}`, env: ctx.env });
  const res = await client.send({ method: 'GET', url, signal: ctx.signal, headersTimeoutMs: 15_000 });
  await res.body.dump();
  return `HTTP ${res.statusCode}`;
}

async function sigstoreResults(ctx: DoctorContext): Promise<CheckResult[]> {
  const o = ctx.options;
  const out: CheckResult[] = [];
  try {
    await readIdentityToken(o.signIdentityTokenFile as string);
    out.push({
      id: 'signing.token',
      title: 'identity token',
      status: 'ok',
      summary: `${o.signIdentityTokenFile} holds a JWT`,
    });
  } catch (e) {
    out.push({
      id: 'signing.token',
      title: 'identity token',
      status: 'fail',
      summary: messageOf(e),
      fix: 'mount a projected service-account token with audience "sigstore" (serviceAccountToken: {audience: sigstore, path: token})',
    });
  }
  for (const [name, base, path] of [
    ['Fulcio', o.fulcioUrl, '/api/v2/configuration'],
    ['Rekor', o.rekorUrl, '/api/v1/log'],
  ] as const) {
    if (!base) continue;
    try {
      const status = await answers(name, `${base.replace(/\/+$/, '')}${path}`, ctx);
      out.push({
        id: `signing.${name.toLowerCase()}`,
        title: name,
        status: 'ok',
        summary: `${base} answers (${status})`,
      });
    } catch (e) {
      out.push({
        id: `signing.${name.toLowerCase()}`,
        title: name,
        status: 'fail',
        summary: `${base} does not answer: ${messageOf(e)}`,
        fix: `check --${name.toLowerCase()}-url, the network and HTTPS_PROXY/NO_PROXY (Sigstore calls use them) and NODE_EXTRA_CA_CERTS for a private CA`,
      });
    }
  }
  return out;
}

async function referrersResult(ctx: DoctorContext, to: string): Promise<CheckResult> {
  const location = parseImageLocation(to, { allowMissingRepository: true });
  if (location.transport !== 'registry' || location.ref.repository === '') {
    return {
      id: 'signing.referrers',
      title: 'attestations',
      status: 'skip',
      summary: 'no registry repository in --to',
    };
  }
  const repo = await openRepository(location, ctx.options.registry);
  try {
    const probe = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${'0'.repeat(64)}`,
      size: 2,
    };
    const listed = await repo.referrers(probe);
    return {
      id: 'signing.referrers',
      title: 'attestations',
      status: 'ok',
      summary:
        listed === undefined
          ? `${repo.label} has no referrers API: attestations go under the sha256-<hex> tag (push permission covers it)`
          : `${repo.label} has the OCI 1.1 referrers API`,
    };
  } catch (e) {
    return { id: 'signing.referrers', title: 'attestations', status: 'warn', summary: messageOf(e) };
  } finally {
    await repo.close?.();
  }
}

export const signCheck: Check = {
  id: 'signing',
  title: 'signing',
  async run(ctx) {
    const o = ctx.options;
    const results: CheckResult[] = [];
    if (o.signKey) results.push(await keyResult(ctx, o.signKey));
    if (o.signIdentityTokenFile) results.push(...(await sigstoreResults(ctx)));
    if (o.to) results.push(await referrersResult(ctx, o.to));
    return results;
  },
};
