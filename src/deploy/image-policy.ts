/**
 * Admission of signed images only, for the image's repository:
 *
 * - OpenShift (config.openshift.io/v1): an `ImagePolicy` in the namespace, or a `ClusterImagePolicy`. The
 *   Machine Config Operator turns it into each node's containers policy.json and registries.d, so CRI-O itself
 *   refuses to pull an image of that repository unless a sigstore signature verifies (the same containers/image
 *   `sigstoreSigned` check modelcar's own signatures are made for). Keyless needs an email identity: the CRD's
 *   fulcioSubject matches `signedEmail` only.
 * - Other clusters: a sigstore policy-controller `ClusterImagePolicy` (policy.sigstore.dev/v1beta1), checked at
 *   admission; the key or Fulcio identity, and Rekor for keyless.
 *
 * Pure: returns objects; the key and certificates come in as PEM text.
 */
import { ModelcarError } from '../errors.js';
import type { ImageRef } from './image-ref.js';
import { type K8sObject, MANAGED_BY, type Manifest } from './manifest.js';

export type PolicyTrust =
  | { readonly kind: 'key'; readonly publicKeyPem: string }
  | {
      readonly kind: 'keyless';
      /** Email (OpenShift) or URI (policy-controller) of the signer. */
      readonly identity: string;
      readonly issuer: string;
      /** Fulcio root (and intermediates), PEM. */
      readonly fulcioCaPem: string;
      readonly rekorKeyPem: string;
      readonly fulcioUrl?: string;
      readonly rekorUrl?: string;
    };

export interface ImagePolicyOptions {
  readonly image: ImageRef;
  readonly name: string;
  /** OpenShift: ImagePolicy in this namespace; undefined with `cluster`. */
  readonly namespace?: string;
  readonly scope: 'namespace' | 'cluster';
  /** Also (or only) the policy-controller variant. */
  readonly flavour: 'openshift' | 'policy-controller' | 'both';
  readonly trust: PolicyTrust;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The repository the policy covers: `HOST/REPO`, as the CRD's scope grammar wants it (a host with a dot, or localhost). */
export function policyScope(image: ImageRef): string {
  const host = image.registry.replace(/:\d+$/, '');
  if (!host.includes('.') && host !== 'localhost') {
    throw new ModelcarError(
      'usage',
      `the image registry "${image.registry}" is not a fully qualified host name`,
      'ImagePolicy scopes need a host with a dot (quay.io, image-registry.openshift-image-registry.svc:5000) or localhost',
    );
  }
  return `${image.registry}/${image.repository}`;
}

function rootOfTrust(trust: PolicyTrust): Record<string, unknown> {
  if (trust.kind === 'key') {
    return { policyType: 'PublicKey', publicKey: { keyData: b64(trust.publicKeyPem) } };
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(trust.identity)) {
    throw new ModelcarError(
      'usage',
      `OpenShift's ImagePolicy matches keyless signers by email, and "${trust.identity}" is not one`,
      'sign with an identity whose certificate names an email, or use --image-policy-for policy-controller (it matches URIs)',
    );
  }
  return {
    policyType: 'FulcioCAWithRekor',
    fulcioCAWithRekor: {
      fulcioCAData: b64(trust.fulcioCaPem),
      rekorKeyData: b64(trust.rekorKeyPem),
      fulcioSubject: { oidcIssuer: trust.issuer, signedEmail: trust.identity },
    },
  };
}

function openshiftPolicy(o: ImagePolicyOptions): Manifest {
  const cluster = o.scope === 'cluster';
  const doc: K8sObject = {
    apiVersion: 'config.openshift.io/v1',
    kind: cluster ? 'ClusterImagePolicy' : 'ImagePolicy',
    metadata: {
      name: o.name,
      ...(!cluster && o.namespace ? { namespace: o.namespace } : {}),
      labels: { ...MANAGED_BY },
    },
    spec: {
      scopes: [policyScope(o.image)],
      policy: {
        rootOfTrust: rootOfTrust(o.trust),
        // Pods name the image by digest (oci://HOST/REPO@sha256:...), so the signature's repository is what must match.
        signedIdentity: { matchPolicy: 'MatchRepoDigestOrExact' },
      },
    },
  };
  return {
    file: cluster ? 'clusterimagepolicy.yaml' : 'imagepolicy.yaml',
    doc,
    comment: `CRI-O on every node refuses images of ${policyScope(o.image)} without a valid sigstore signature${cluster ? '' : ` (pods in namespace ${o.namespace ?? '(current)'})`}.\nNeeds OpenShift 4.16+ (sigstore image verification); check with \`oc get ${cluster ? 'clusterimagepolicy' : 'imagepolicy'} ${o.name} -o yaml\`.`,
  };
}

function policyControllerPolicy(o: ImagePolicyOptions): Manifest {
  const t = o.trust;
  const authority =
    t.kind === 'key'
      ? { name: 'modelcar-key', key: { data: t.publicKeyPem, hashAlgorithm: 'sha256' } }
      : {
          name: 'modelcar-keyless',
          keyless: {
            ...(t.fulcioUrl ? { url: t.fulcioUrl } : {}),
            'ca-cert': { data: t.fulcioCaPem },
            identities: [{ issuer: t.issuer, subject: t.identity }],
          },
          ctlog: { ...(t.rekorUrl ? { url: t.rekorUrl } : {}) },
        };
  return {
    file: 'policy-controller-clusterimagepolicy.yaml',
    comment: `sigstore policy-controller: admission of ${policyScope(o.image)} images only with a valid signature.\nLabel the namespace policy.sigstore.dev/include=true for it to apply.`,
    doc: {
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: o.name, labels: { ...MANAGED_BY } },
      spec: {
        // `*` stops at "/": the repository itself, by tag or digest.
        images: [{ glob: `${policyScope(o.image)}*` }],
        authorities: [authority],
      },
    },
  };
}

export function imagePolicyManifests(o: ImagePolicyOptions): Manifest[] {
  const out: Manifest[] = [];
  if (o.flavour !== 'policy-controller') out.push(openshiftPolicy(o));
  if (o.flavour !== 'openshift') out.push(policyControllerPolicy(o));
  return out;
}
