/**
 * What an OpenShift node does with `ImagePolicy` / `ClusterImagePolicy` (config.openshift.io/v1) documents: the
 * Machine Config Operator's container-runtime-config controller writes each scope as a `transports.docker` entry of
 * the node's containers policy.json, and `use-sigstore-attachments: true` for that scope into registries.d; CRI-O's
 * containers/image then checks every pull against them. Transcribed from openshift/machine-config-operator
 * `pkg/controller/container-runtime-config/helpers.go` (`policyItemFromSpec`, `generateSigstoreRegistriesdConfig`),
 * for the rootOfTrust and matchPolicy values modelcar writes. (A namespaced ImagePolicy lands in
 * /etc/crio/policies/NAMESPACE.json instead, in the same format; one file serves here.)
 *
 * One deliberate difference: the default is `reject` (a node's base policy.json accepts anything outside the scopes),
 * so that an image a test sees accepted can only have passed a scope's `sigstoreSigned` requirement.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, read by the CRD's field names
type Doc = Record<string, any>;

/** matchPolicy -> policy.json signedIdentity; MCO maps an empty one to matchRepoDigestOrExact too. */
const MATCH: Record<string, Doc> = {
  MatchRepoDigestOrExact: { type: 'matchRepoDigestOrExact' },
  '': { type: 'matchRepoDigestOrExact' },
  MatchRepository: { type: 'matchRepository' },
};

/** The policy.json requirement for one ImagePolicy spec.policy. */
function requirement(policy: Doc): Doc {
  const root = policy.rootOfTrust ?? {};
  // The CRD's keyData fields are base64 ([]byte in Go); policy.json's keyData is the same base64 text.
  let trust: Doc;
  if (root.policyType === 'PublicKey') {
    trust = {
      keyData: root.publicKey.keyData,
      ...(root.publicKey.rekorKeyData ? { rekorPublicKeyData: root.publicKey.rekorKeyData } : {}),
    };
  } else if (root.policyType === 'FulcioCAWithRekor') {
    const f = root.fulcioCAWithRekor;
    trust = {
      fulcio: {
        caData: f.fulcioCAData,
        oidcIssuer: f.fulcioSubject.oidcIssuer,
        subjectEmail: f.fulcioSubject.signedEmail,
      },
      rekorPublicKeyData: f.rekorKeyData,
    };
  } else {
    throw new Error(`rootOfTrust.policyType ${root.policyType} is not transcribed here`);
  }
  const identity = policy.signedIdentity ?? {};
  const match = MATCH[identity.matchPolicy ?? ''];
  if (!match) throw new Error(`signedIdentity.matchPolicy ${identity.matchPolicy} is not transcribed here`);
  return { type: 'sigstoreSigned', ...trust, signedIdentity: match };
}

export interface NodePolicy {
  /** containers-policy.json(5) */
  readonly policy: Doc;
  /** containers-registries.d(5): one `docker:` entry per scope. */
  readonly registriesD: Doc;
}

/** The node configuration for these ImagePolicy/ClusterImagePolicy documents (others, e.g. Deployments, ignored). */
export function nodePolicy(docs: readonly Doc[]): NodePolicy {
  const scopes: Record<string, Doc[]> = {};
  const attachments: Record<string, Doc> = {};
  for (const d of docs) {
    if (d.apiVersion !== 'config.openshift.io/v1' || !['ImagePolicy', 'ClusterImagePolicy'].includes(d.kind)) continue;
    for (const scope of d.spec.scopes as string[]) {
      scopes[scope] = [...(scopes[scope] ?? []), requirement(d.spec.policy)];
      attachments[scope] = { 'use-sigstore-attachments': true };
    }
  }
  return {
    policy: { default: [{ type: 'reject' }], transports: { docker: scopes } },
    registriesD: { docker: attachments },
  };
}

/** Writes `policy.json` and `registries.d/sigstore-registries.yaml` (the file name MCO uses) under `dir`. */
export async function writeNodePolicy(dir: string, node: NodePolicy): Promise<{ policy: string; registriesD: string }> {
  const policy = join(dir, 'policy.json');
  const registriesD = join(dir, 'registries.d');
  await mkdir(registriesD, { recursive: true });
  await writeFile(policy, JSON.stringify(node.policy, null, 2));
  await writeFile(join(registriesD, 'sigstore-registries.yaml'), stringify(node.registriesD));
  return { policy, registriesD };
}
