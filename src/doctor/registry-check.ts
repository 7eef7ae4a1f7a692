import { readFileSync } from 'node:fs';
import { connect, type PeerCertificate, rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import { isModelcarError, messageOf } from '../errors.js';
import { openRepository } from '../oci/open.js';
import {
  apiHost,
  type ImageLocation,
  isLoopbackHost,
  manifestReference,
  parseImageLocation,
  type RegistryRef,
} from '../oci/reference.js';
import { networkError } from '../oci/registry/client.js';
import { resolveCredential } from '../oci/registry/credentials.js';
import { limitsFor } from '../oci/registry/profiles.js';
import { requireManifest } from '../oci/repository.js';
import { formatBytes } from '../plan/plan.js';
import { namesFromSource } from '../source/names.js';
import type { Check, CheckResult, DoctorContext } from './check.js';
import { layerLimit } from './source-check.js';

/**
 * The destination registry, probed in the order a push meets it: TCP and TLS, the credential that would be sent,
 * push permission (an upload session opened and cancelled: no blob, no tag), mount permission, and the plan
 * against the registry's limits. Nothing is written.
 */
const TITLE = 'destination registry';

function originOf(ctx: DoctorContext, registry: string): string {
  const host = apiHost(registry);
  return `${ctx.options.registry?.plainHttp === true || isLoopbackHost(host) ? 'http' : 'https'}://${host}`;
}

/** The certificate chain the server presents, read without verifying it, to say which CA would have to be trusted. */
function peerChain(host: string, port: number, signal: AbortSignal): Promise<PeerCertificate[]> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      servername: /^[\d.]+$/.test(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    const done = (chain: PeerCertificate[]) => {
      socket.destroy();
      resolve(chain);
    };
    signal.addEventListener('abort', () => done([]), { once: true });
    socket.once('error', () => done([]));
    socket.once('secureConnect', () => {
      const chain: PeerCertificate[] = [];
      let cert = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
      while (cert && Object.keys(cert).length > 0 && chain.length < 6) {
        chain.push(cert);
        const next = cert.issuerCertificate as (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined;
        if (!next || next === cert || next.fingerprint256 === cert.fingerprint256) break;
        cert = next;
      }
      done(chain);
    });
  });
}

function caAdvice(registry: string, chain: PeerCertificate[]): { summary: string; fix: string } {
  const top = chain[chain.length - 1];
  const leaf = chain[0];
  const issuer = top ? (top.issuer?.CN ?? top.issuer?.O ?? 'unknown') : 'unknown';
  const selfSigned = leaf !== undefined && chain.length === 1 && leaf.subject?.CN === leaf.issuer?.CN;
  const who = selfSigned
    ? `a self-signed certificate (CN=${leaf?.subject?.CN ?? '?'})`
    : `a certificate issued by "${issuer}", which is not among the trusted CAs`;
  const [host, port = '443'] = registry.split(/:(?=\d+$)/);
  const inCluster = /\.svc(:\d+)?$/.test(registry)
    ? '\n# inside OpenShift the service CA signs *.svc certificates:\n--ca-file /var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt'
    : '';
  return {
    summary: `${registry} presents ${who}`,
    fix: `# save the ${selfSigned ? 'certificate' : `CA "${issuer}"`} and pass it:\nopenssl s_client -showcerts -connect ${host}:${port} </dev/null 2>/dev/null | awk '/BEGIN CERT/,/END CERT/' > registry-ca.pem\nmodelcar build ... --ca-file registry-ca.pem${inCluster}\n# (--tls-verify=false only for a throwaway test registry)`,
  };
}

async function reachable(ctx: DoctorContext, registry: string): Promise<CheckResult> {
  const origin = originOf(ctx, registry);
  const opts = ctx.options.registry ?? {};
  const ca = opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
  const agent = new Agent({
    connect: {
      rejectUnauthorized: opts.tlsVerify !== false,
      ...(ca ? { ca: [...rootCertificates, ca] } : {}),
      timeout: 10_000,
    },
  });
  try {
    const res = await request(`${origin}/v2/`, { dispatcher: agent, signal: ctx.signal });
    await res.body.dump();
    const challenge = res.headers['www-authenticate'];
    const scheme = typeof challenge === 'string' ? challenge.split(' ')[0] : undefined;
    if (res.statusCode !== 200 && res.statusCode !== 401) {
      return {
        id: 'registry.reachable',
        title: TITLE,
        status: 'fail',
        summary: `${origin}/v2/ answered HTTP ${res.statusCode}: not an OCI registry API`,
        cause: 'A proxy, a web console or a wrong port answered instead of the registry.',
        fix: 'check the host and port of --to (the registry route, not the console)',
      };
    }
    return {
      id: 'registry.reachable',
      title: TITLE,
      status: 'ok',
      summary: `${origin}/v2/ answered ${res.statusCode}${scheme ? ` (${scheme} auth)` : ''}${origin.startsWith('https') ? ', TLS trusted' : ', plain HTTP'}`,
    };
  } catch (e) {
    const err = networkError(registry, e);
    if (/TLS certificate/.test(err.message)) {
      const url = new URL(origin);
      const advice = caAdvice(registry, await peerChain(url.hostname, Number(url.port || 443), ctx.signal));
      return {
        id: 'registry.tls',
        title: TITLE,
        status: 'fail',
        summary: `${err.message}: ${advice.summary}`,
        symptom: `x509: certificate signed by unknown authority  (podman/buildah/skopeo; Node: ${messageOf(e)})`,
        cause: 'The registry uses a private CA or a self-signed certificate that this machine (or pod) does not trust.',
        fix: advice.fix,
      };
    }
    return {
      id: 'registry.reachable',
      title: TITLE,
      status: 'fail',
      summary: err.message,
      cause: 'No route to the registry from here: DNS, proxy (HTTPS_PROXY/NO_PROXY), firewall or a wrong port.',
      ...(err.hint ? { fix: err.hint } : {}),
    };
  } finally {
    await agent.close();
  }
}

function targetRef(ctx: DoctorContext, location: ImageLocation & { transport: 'registry' }): RegistryRef {
  if (location.ref.repository !== '') return location.ref;
  const identity = ctx.facts.model?.identity;
  return { ...location.ref, repository: identity ? namesFromSource(identity).repository : 'modelcar-doctor' };
}

export const registryCheck: Check = {
  id: 'registry',
  title: TITLE,
  after: ['source'],
  async run(ctx) {
    const to = ctx.options.to;
    if (!to || to.startsWith('oci:')) {
      return {
        id: 'registry',
        title: TITLE,
        status: 'skip',
        summary: to ? `${to} is an OCI layout: no registry` : 'no --to given',
      };
    }
    const parsed = parseImageLocation(to, { allowMissingRepository: true });
    if (parsed.transport !== 'registry') return [];
    const ref = targetRef(ctx, parsed);
    const label = `${ref.registry}/${ref.repository}`;
    const results: CheckResult[] = [await reachable(ctx, ref.registry)];
    // What the host is known to do needs no connection: said even when it cannot be reached from here.
    if (results[0]?.status === 'fail') return [...results, ...quirkResults(ctx, ref.registry)];

    const opts = ctx.options.registry ?? {};
    const credential = await resolveCredential(ref.registry, ref.repository, {
      ...(opts.authFile ? { authFile: opts.authFile } : {}),
      ...(opts.saTokenHosts ? { saTokenHosts: opts.saTokenHosts } : {}),
      env: ctx.env,
    });
    results.push({
      id: 'registry.credentials',
      title: TITLE,
      status: credential.kind === 'anonymous' ? 'warn' : 'ok',
      summary:
        credential.kind === 'anonymous'
          ? `no credentials found for ${ref.registry}: the push would be anonymous`
          : `${credential.kind === 'identity-token' ? 'identity token' : `user ${credential.username}`} from ${credential.source}`,
      ...(credential.kind === 'anonymous'
        ? {
            fix: `podman login ${ref.registry} (writes $XDG_RUNTIME_DIR/containers/auth.json), or --authfile FILE, or REGISTRY_AUTH_FILE; in a pod mount a dockerconfigjson Secret and point --authfile at it`,
          }
        : {}),
    });

    const repo = await openRepository({ transport: 'registry', ref }, opts);
    try {
      await repo.checkWritable();
      results.push({
        id: 'registry.push',
        title: TITLE,
        status: 'ok',
        summary: `push to ${label} allowed (an upload session was opened and cancelled; nothing written)`,
      });
    } catch (e) {
      const denied = isModelcarError(e) && e.kind === 'registry-auth';
      results.push({
        id: 'registry.push',
        title: TITLE,
        status: 'fail',
        summary: messageOf(e),
        symptom: /401/.test(messageOf(e))
          ? 'Error: pushing image ...: writing blob: initiating layer upload to /v2/.../blobs/uploads/ in ...: unauthorized: authentication required'
          : 'denied: requested access to the resource is denied',
        cause: denied
          ? `The registry refused the credential from ${credential.source}: wrong user or password, an expired token, or an account without push rights on ${ref.repository}.`
          : 'The registry refused to open an upload for this repository.',
        fix: `${isModelcarError(e) && e.hint ? `${e.hint}\n` : ''}podman login ${ref.registry}   # then: skopeo inspect docker://${label}:TAG to confirm`,
      });
    } finally {
      await repo.close?.();
    }

    results.push(await mountResult(ctx, ref));
    results.push(limitsResult(ctx, ref.registry));
    results.push(...quirkResults(ctx, ref.registry));
    return results;
  },
};

/** Mounting needs the base on the same registry and one token with push here and pull there; probed read-only. */
async function mountResult(ctx: DoctorContext, ref: RegistryRef): Promise<CheckResult> {
  const base = ctx.options.base;
  const id = 'registry.mount';
  if (!base || base === 'scratch')
    return { id, title: TITLE, status: 'skip', summary: 'no base image: nothing to mount' };
  const loc = parseImageLocation(base);
  if (loc.transport !== 'registry' || loc.ref.registry !== ref.registry) {
    return {
      id,
      title: TITLE,
      status: 'ok',
      summary: `base ${base} is ${loc.transport === 'layout' ? 'a layout' : `on ${loc.transport === 'registry' ? loc.ref.registry : '?'}`}: its layers will be copied (not mounted) into ${ref.registry}`,
    };
  }
  const repo = await openRepository(loc, ctx.options.registry ?? {});
  try {
    await requireManifest(repo, manifestReference(loc), 'base image');
    return {
      id,
      title: TITLE,
      status: 'ok',
      summary: `base ${base} is readable with the same credential: its layers will be mounted into ${ref.repository}, not copied`,
    };
  } catch (e) {
    return {
      id,
      title: TITLE,
      status: 'warn',
      summary: `cannot read base ${base}: ${messageOf(e)}; its layers cannot be mounted`,
      cause: 'A cross-repository mount needs pull access to the base repository with the same credential.',
      fix: `grant pull on ${loc.ref.repository} to the pushing account, or copy the base next to the model: modelcar copy ${base} ${ref.registry}/${ref.repository}-base:TAG`,
    };
  } finally {
    await repo.close?.();
  }
}

/** What this registry is known to do differently (profiles.ts), each with cause and fix. */
export function quirkResults(ctx: DoctorContext, registry: string): CheckResult[] {
  return (limitsFor(registry).quirks ?? []).map((q): CheckResult => {
    const concerns = q.when !== 'modelpack' || ctx.options.modelpack === true;
    return {
      id: `registry.${q.id}`,
      title: TITLE,
      status: concerns ? q.status : 'ok',
      summary: concerns ? q.summary : `${q.summary} (matters only with --modelpack)`,
      ...(q.symptom ? { symptom: q.symptom } : {}),
      cause: q.cause,
      fix: q.fix,
    };
  });
}

function limitsResult(ctx: DoctorContext, registry: string): CheckResult {
  const id = 'registry.limits';
  const model = ctx.facts.model;
  if (!model) return { id, title: TITLE, status: 'skip', summary: 'plan unknown (source check did not pass)' };
  const largest = model.layerSizes[0] ?? 0;
  const limit = layerLimit(ctx);
  const layers = model.layerSizes.length;
  if (limit && largest > limit.bytes) {
    return {
      id,
      title: TITLE,
      status: 'fail',
      summary: `the largest layer is ${formatBytes(largest)}, over ${registry}'s limit of ${formatBytes(limit.bytes)} (${limit.reason})`,
      symptom: 'the upload of that layer is refused after it was sent in full (HTTP 413 or BLOB_UPLOAD_INVALID)',
      cause: 'One file is one layer; no layer may exceed the registry limit.',
      fix: 're-shard the weights into smaller files, or push to a registry without that limit',
    };
  }
  return {
    id,
    title: TITLE,
    status: 'ok',
    summary: `${layers} model layer${layers === 1 ? '' : 's'}, largest ${formatBytes(largest)}${limit ? `; limit ${formatBytes(limit.bytes)} (${limit.reason})` : `; no known per-layer limit for ${registry}`}`,
  };
}
