/**
 * The two kinds of image reference the generated manifests carry: a digest-pinned one to serve (so every replica
 * serves the same bytes and the kubelet never re-pulls), and a tagged destination to build into. `latest` is refused
 * in both: it implies `imagePullPolicy: Always` and names nothing in particular.
 */
import { ModelcarError } from '../errors.js';

export interface ImageRef {
  host: string;
  /** Repository path without the host. */
  repository: string;
  tag?: string;
  digest?: string;
}

export const INTERNAL_REGISTRY = 'image-registry.openshift-image-registry.svc:5000';

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function parse(input: string, what: string): ImageRef {
  const bad = (why: string, hint: string) =>
    new ModelcarError('reference', `${what} ${JSON.stringify(input)}: ${why}`, hint);
  let rest = input.replace(/^(oci\+native:\/\/|oci:\/\/|docker:\/\/)/, '');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest))
      throw bad('the digest is not sha256:<64 hex>', 'copy the digest exactly as the build printed it');
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash < 0 || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw bad('no registry host', 'write the full reference, e.g. quay.io/org/model:tag');
  }
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad('invalid tag', 'tags are 1-128 of [A-Za-z0-9_.-], not starting with . or -');
  }
  if (!REPO_RE.test(path)) throw bad('invalid repository path', 'use lowercase letters, digits and . _ - / only');
  if (tag === 'latest') {
    throw bad('the tag latest is not allowed', 'use a tag that names this model version, or better a @sha256 digest');
  }
  return { host: first, repository: path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatRef(ref: ImageRef): string {
  return `${ref.host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
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
  if (ref.host === INTERNAL_REGISTRY && ref.repository.split('/').length !== 2) {
    throw new ModelcarError(
      'reference',
      `destination ${JSON.stringify(input)}: the OpenShift internal registry takes exactly <namespace>/<name>`,
      `write ${INTERNAL_REGISTRY}/<namespace>/<name>:<tag>`,
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
