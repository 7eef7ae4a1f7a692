/**
 * The two kinds of image reference the generated manifests carry: a digest-pinned one to serve (so every replica
 * serves the same bytes and the kubelet never re-pulls), and a tagged destination to build into. `latest` is refused
 * in both: it implies `imagePullPolicy: Always` and names nothing in particular. Parsing itself is `oci/reference`'s;
 * short names come out with their registry spelt out, because CRI-O's short-name policy may refuse to guess it.
 */
import { ModelcarError } from '../errors.js';
import { parseImageLocation, type RegistryRef } from '../oci/reference.js';
import { OPENSHIFT_INTERNAL_REGISTRY } from '../oci/registry/credentials.js';

export type ImageRef = RegistryRef;
export { formatRef } from '../oci/reference.js';

function parse(input: string, what: string): ImageRef {
  const loc = parseImageLocation(input);
  if (loc.transport !== 'registry') {
    throw new ModelcarError(
      'reference',
      `${what} ${JSON.stringify(input)} is an OCI layout, not a registry image`,
      'push it first (modelcar build --to HOST/REPO:TAG) and use the registry reference',
    );
  }
  if (loc.ref.tag === 'latest') {
    throw new ModelcarError(
      'reference',
      `${what} ${JSON.stringify(input)}: the tag latest is not allowed`,
      'use a tag that names this version, or better a @sha256 digest',
    );
  }
  return loc.ref;
}

/** A reference to serve: must be pinned by digest. */
export function parseServingRef(input: string): ImageRef & { digest: string } {
  const ref = parse(input, 'image');
  if (!ref.digest) {
    throw new ModelcarError(
      'reference',
      `image ${JSON.stringify(input)} is not pinned by digest`,
      'pass HOST/REPO@sha256:<digest>: `modelcar build` prints it (IMAGE_DIGEST); or run `skopeo inspect --format "{{.Digest}}" docker://HOST/REPO:TAG`',
    );
  }
  return ref as ImageRef & { digest: string };
}

/** A destination to build into: an explicit, non-latest tag, and the internal registry's two-part path rule. */
export function parseDestinationRef(input: string): ImageRef & { tag: string } {
  const ref = parse(input, 'destination');
  if (ref.digest) {
    throw new ModelcarError(
      'reference',
      `destination ${JSON.stringify(input)} has a digest`,
      'a build destination is HOST/REPO:TAG; the digest is its result',
    );
  }
  if (!ref.tag) {
    throw new ModelcarError(
      'reference',
      `destination ${JSON.stringify(input)} has no tag`,
      'add a tag that names the model version, e.g. :granite-3.1-8b-r1 (never latest)',
    );
  }
  if (ref.registry === OPENSHIFT_INTERNAL_REGISTRY && ref.repository.split('/').length !== 2) {
    throw new ModelcarError(
      'reference',
      `destination ${JSON.stringify(input)}: the OpenShift internal registry takes exactly <namespace>/<name>`,
      `write ${OPENSHIFT_INTERNAL_REGISTRY}/<namespace>/<name>:<tag>`,
    );
  }
  return ref as ImageRef & { tag: string };
}

/** A runtime or tool image: a tag or digest is required, `latest` is not allowed. */
export function parsePinnedImage(input: string, what: string): ImageRef {
  const ref = parse(input, what);
  if (!ref.tag && !ref.digest) {
    throw new ModelcarError(
      'reference',
      `${what} ${JSON.stringify(input)} has neither tag nor digest`,
      'pin it: HOST/REPO:VERSION or HOST/REPO@sha256:<digest>',
    );
  }
  return ref;
}

export function isInternalRegistry(ref: ImageRef): boolean {
  return ref.registry === OPENSHIFT_INTERNAL_REGISTRY;
}
