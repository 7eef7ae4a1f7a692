import type { PeerCertificate } from 'node:tls';
import { isModelcarError, messageOf } from '../errors.js';
import { NetworkError } from '../http/failure.js';
import { describeIssuer, peerChain } from '../http/tls-probe.js';
import { openRepository } from '../oci/open.js';
import { type ImageLocation, manifestReference, parseImageLocation, type RegistryRef } from '../oci/reference.js';
import { RegistryClient } from '../oci/registry/client.js';
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
 * against the registry's limits. Nothing is written. Every request goes through the same client as a build
 * (src/oci/registry/client.ts on src/http/), so doctor and build cannot disagree about reachability or trust.
 */
const TITLE = 'destination registry';

function caAdvice(registry: string, chain: PeerCertificate[]): { summary: string; fix: string } {
  const leaf = chain[0];
  const who = describeIssuer(chain) ?? 'a certificate that is not among the trusted CAs';
  const selfSigned = leaf !== undefined && chain.length === 1 && leaf.subject?.CN === leaf.issuer?.CN;
  const [host, port = '443'] = registry.split(/:(?=\d+$)/);
  const inCluster = /\.svc(:\d+)?$/.test(registry)
    ? '\n# inside OpenShift the service CA signs *.svc certificates and is trusted automatically when mounted'
    : '';
  return {
    summary: `${registry} presents a ${who}`,
    fix: `# save the ${selfSigned ? 'certificate' : 'CA'} where podman, skopeo and modelcar look for it:\nmkdir -p /etc/containers/certs.d/${registry}\nopenssl s_client -showcerts -connect ${host}:${port} </dev/null 2>/dev/null | awk '/BEGIN CERT/,/END CERT/' > /etc/containers/certs.d/${registry}/ca.crt\n# (or pass it with --ca-file FILE, or a directory with --cert-dir DIR; --tls-verify=false only for a throwaway test registry)${inCluster}`,
  };
}

/** Why a connection failure happens, by the kind the network layer's error table found. */
const CAUSES: Partial<Record<NetworkError['failure'], string>> = {
  dns: 'The host name does not resolve here: a typo, a cluster-internal name used from outside, or DNS only a proxy can do.',
  refused: 'Nothing listens on that host and port: a wrong port, or the registry is down.',
  'connect-timeout':
    'Packets are dropped on the way: a firewall, or an egress that only a proxy may pass (HTTPS_PROXY).',
  'proxy-down': 'The proxy named in HTTPS_PROXY/HTTP_PROXY does not answer.',
  'proxy-auth': 'The proxy demands credentials, or refuses the ones in HTTPS_PROXY (HTTP 407).',
  'proxy-failed': 'The proxy answered, but could not reach the registry itself.',
  'tls-client-cert':
    'The registry requires a client certificate (mTLS) it trusts, and none (or another) was presented.',
  'tls-plain-http': 'The port speaks plain HTTP, not TLS.',
};

async function reachable(ctx: DoctorContext, registry: string): Promise<CheckResult> {
  const opts = ctx.options.registry ?? {};
  const client = new RegistryClient(registry, { kind: 'anonymous', source: 'doctor' }, { ...opts, env: ctx.env });
  const url = new URL('/v2/', client.origin);
  const route = client.http.route(url);
  const trust = client.http.tls.sources.length > 0 ? ` (${client.http.tls.sources.join(', ')})` : '';
  try {
    const res = await client.http.send({ method: 'GET', url, signal: ctx.signal, headersTimeoutMs: 30_000 });
    await res.body.dump();
    const challenge = res.headers['www-authenticate'];
    const scheme = typeof challenge === 'string' ? challenge.split(' ')[0] : undefined;
    if (res.statusCode !== 200 && res.statusCode !== 401) {
      return {
        id: 'registry.reachable',
        title: TITLE,
        status: 'fail',
        summary: `${url.href} answered HTTP ${res.statusCode} (${route.label}): not an OCI registry API`,
        cause: 'A proxy, a web console or a wrong port answered instead of the registry.',
        fix: 'check the host and port of --to (the registry route, not the console)',
      };
    }
    return {
      id: 'registry.reachable',
      title: TITLE,
      status: 'ok',
      summary: `${url.href} answered ${res.statusCode}${scheme ? ` (${scheme} auth)` : ''}${url.protocol === 'https:' ? `, TLS trusted${trust}${client.http.tls.clientCert ? ', client certificate presented' : ''}` : ', plain HTTP'}; ${route.label}`,
      details: { route: route.label },
    };
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
    if (e.failure === 'tls-untrusted') {
      const advice = caAdvice(registry, await peerChain(url, route, ctx.signal));
      return {
        id: 'registry.tls',
        title: TITLE,
        status: 'fail',
        summary: e.message,
        symptom: `x509: certificate signed by unknown authority  (podman/buildah/skopeo)`,
        cause: `The registry uses a private CA or a self-signed certificate that this machine (or pod) does not trust: ${advice.summary}.`,
        fix: advice.fix,
        details: { route: route.label, failure: e.failure },
      };
    }
    return {
      id: 'registry.reachable',
      title: TITLE,
      status: 'fail',
      summary: e.message,
      cause:
        CAUSES[e.failure] ??
        'No working connection to the registry from here: DNS, proxy (HTTPS_PROXY/NO_PROXY), firewall, TLS or a wrong port.',
      ...(e.hint ? { fix: e.hint } : {}),
      details: { route: route.label, failure: e.failure },
    };
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
