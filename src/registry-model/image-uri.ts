import { ModelcarError } from '../errors.js';
import { formatRef, parseImageLocation } from '../oci/reference.js';

/** A digest-pinned `oci://` model URI, the only form modelcar registers. */
export interface PinnedImage {
  /** `oci://HOST/REPO@sha256:…` — what the ModelArtifact `uri` and the InferenceService `storageUri` hold. */
  uri: string;
  /** `HOST/REPO` */
  repository: string;
  /** `sha256:…` */
  digest: string;
  /** A tag written next to the digest (`HOST/REPO:TAG@sha256:…`), if any. */
  tag?: string;
}

/**
 * Parse `[oci://|docker://]HOST/REPO[:TAG]@sha256:<hex>`; anything not pinned to a digest is refused, because a tag
 * can be moved to other bytes and a registered version must name exact ones.
 */
export function parsePinnedImage(input: string): PinnedImage {
  const usage = 'give the digest the push reported, e.g. quay.io/acme/granite@sha256:<64 hex>';
  const loc = parseImageLocation(input);
  if (loc.transport !== 'registry') {
    throw new ModelcarError('usage', `--image ${JSON.stringify(input)} is an OCI layout, not a registry image`, usage);
  }
  const { registry, repository, tag, digest } = loc.ref;
  if (!digest) {
    throw new ModelcarError('reference', `--image ${input} is not pinned to a digest`, usage);
  }
  const repo = formatRef({ registry, repository });
  return { uri: `oci://${repo}@${digest}`, repository: repo, digest, ...(tag ? { tag } : {}) };
}
