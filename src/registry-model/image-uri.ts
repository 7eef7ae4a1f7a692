import { ModelcarError } from '../errors.js';

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

// Grammar from the OCI distribution spec: lowercase path components, optional registry port, tag, digest.
const HOST =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?';
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const REF = new RegExp(`^(${HOST})/(${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@([a-z0-9]+:[a-zA-Z0-9=_-]+))?$`);

/** Parse `oci://HOST/REPO[:TAG]@sha256:<hex>`; anything not pinned to a digest is refused. */
export function parsePinnedImage(input: string): PinnedImage {
  const usage = 'give the digest the push reported, e.g. oci://quay.io/acme/granite@sha256:<64 hex>';
  if (!input.startsWith('oci://')) {
    throw new ModelcarError('usage', `--image ${JSON.stringify(input)} must start with oci://`, usage);
  }
  const m = REF.exec(input.slice('oci://'.length));
  if (!m)
    throw new ModelcarError('reference', `--image ${JSON.stringify(input)} is not a valid image reference`, usage);
  const [, host, path, tag, digest] = m;
  if (!digest) {
    throw new ModelcarError(
      'reference',
      `--image ${input} is not pinned to a digest`,
      `a tag can be moved to other bytes, a registered version must name exact ones: ${usage}`,
    );
  }
  if (!/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(digest)) {
    throw new ModelcarError('reference', `--image digest ${digest} is not a sha256 (or sha512) hex digest`, usage);
  }
  const repository = `${host}/${path}`;
  return { uri: `oci://${repository}@${digest}`, repository, digest, ...(tag ? { tag } : {}) };
}
