/**
 * Which certificate authorities registry TLS trusts: the system's, plus `--ca-file`, plus, inside an OpenShift pod,
 * the service CA that signs `*.svc` certificates (the internal registry's), plus NODE_EXTRA_CA_CERTS. Node drops its
 * default store (extra certs included) as soon as `ca` is given, so the whole list is built here.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ModelcarError, messageOf } from '../../errors.js';

/** Mounted into every OpenShift pod beside the service-account token. */
export const SERVICE_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt';

function readOptional(path: string | undefined): string[] {
  if (!path) return [];
  try {
    return [readFileSync(path, 'utf8')];
  } catch {
    return []; // outside a pod, or no extra certs: nothing to add
  }
}

/**
 * The CA list for undici's `connect.ca`, or undefined when the system store alone applies (no extra CA anywhere).
 * `serviceCaFile` is there for tests and unusual mounts; MODELCAR_SERVICE_CA_FILE overrides it the same way.
 */
export function trustedCas(
  opts: { readonly caFile?: string; readonly serviceCaFile?: string },
  env: NodeJS.ProcessEnv = process.env,
): string[] | undefined {
  const extra: string[] = [];
  if (opts.caFile) {
    try {
      extra.push(readFileSync(opts.caFile, 'utf8'));
    } catch (e) {
      throw new ModelcarError('usage', `cannot read --ca-file ${opts.caFile}: ${messageOf(e)}`, 'check the path');
    }
  }
  extra.push(...readOptional(opts.serviceCaFile ?? env.MODELCAR_SERVICE_CA_FILE ?? SERVICE_CA_FILE));
  if (extra.length === 0) return undefined;
  return [...rootCertificates, ...readOptional(env.NODE_EXTRA_CA_CERTS), ...extra];
}
