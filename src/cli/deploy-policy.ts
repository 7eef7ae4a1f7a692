/** `deploy --image-policy`: the flags that choose the trust (a key, or a keyless identity) and where the policy applies. */
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { imagePolicyManifests, type PolicyTrust } from '../deploy/image-policy.js';
import type { ImageRef } from '../deploy/image-ref.js';
import { dnsLabel, type Manifest } from '../deploy/manifest.js';
import { ModelcarError, messageOf } from '../errors.js';
import { parsePublicKey } from '../trust/signing-key.js';

export interface PolicyFlags {
  imagePolicy?: boolean;
  imagePolicyOnly?: boolean;
  imagePolicyScope: 'namespace' | 'cluster';
  imagePolicyFor: 'openshift' | 'policy-controller' | 'both';
  key?: string;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  fulcioCa?: string;
  rekorKey?: string;
}

export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option(
      '--image-policy',
      'also write a policy that admits only signed images of this repository (needs --key or keyless flags)',
    )
    .option('--image-policy-only', 'write only that policy: no serving manifests, nothing read from the registry')
    .addOption(
      new Option('--image-policy-scope <scope>', 'OpenShift: ImagePolicy in --namespace, or ClusterImagePolicy')
        .choices(['namespace', 'cluster'])
        .default('namespace'),
    )
    .addOption(
      new Option(
        '--image-policy-for <enforcer>',
        'who enforces it: OpenShift (CRI-O on the nodes) or sigstore policy-controller',
      )
        .choices(['openshift', 'policy-controller', 'both'])
        .default('openshift'),
    )
    .option('--key <file>', 'with --image-policy: the public key images must be signed with (cosign.pub)')
    .option('--certificate-identity <id>', 'with --image-policy, keyless: the signer (an email for OpenShift)')
    .option('--certificate-oidc-issuer <url>', 'with --image-policy, keyless: the OIDC issuer of that identity')
    .option('--fulcio-ca <file>', 'with --image-policy, keyless: the Fulcio root (and intermediate) certificates, PEM')
    .option('--rekor-key <file>', 'with --image-policy, keyless: the Rekor public key, PEM');
}

async function text(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelcarError('usage', `cannot read ${flag} ${path}: ${messageOf(e)}`, `check the file given to ${flag}`);
  }
}

async function trustFrom(flags: PolicyFlags): Promise<PolicyTrust> {
  const keyless = [flags.certificateIdentity, flags.certificateOidcIssuer, flags.fulcioCa, flags.rekorKey];
  if (flags.key) {
    if (keyless.some((v) => v !== undefined)) {
      throw new ModelcarError('usage', '--key and the keyless flags exclude each other', 'give one root of trust');
    }
    const pem = await text(flags.key, '--key');
    parsePublicKey(pem, flags.key);
    return { kind: 'key', publicKeyPem: pem };
  }
  if (keyless.some((v) => v === undefined)) {
    throw new ModelcarError(
      'usage',
      '--image-policy needs --key PUB, or --certificate-identity, --certificate-oidc-issuer, --fulcio-ca and --rekor-key',
      'give the public key the images are signed with (modelcar key generate wrote cosign.pub)',
    );
  }
  return {
    kind: 'keyless',
    identity: flags.certificateIdentity as string,
    issuer: flags.certificateOidcIssuer as string,
    fulcioCaPem: await text(flags.fulcioCa as string, '--fulcio-ca'),
    rekorKeyPem: await text(flags.rekorKey as string, '--rekor-key'),
  };
}

export async function policyManifests(flags: PolicyFlags, image: ImageRef, namespace?: string): Promise<Manifest[]> {
  if (!flags.imagePolicy && !flags.imagePolicyOnly) {
    if (flags.key || flags.certificateIdentity) {
      throw new ModelcarError(
        'usage',
        '--key and the certificate flags only apply with --image-policy',
        'add --image-policy',
      );
    }
    return [];
  }
  return imagePolicyManifests({
    image,
    name: dnsLabel(`${image.repository.split('/').pop() ?? 'model'}-signed`),
    ...(namespace ? { namespace } : {}),
    scope: flags.imagePolicyScope,
    flavour: flags.imagePolicyFor,
    trust: await trustFrom(flags),
  });
}
