/**
 * What known registries refuse, known before any byte moves: the planner takes maxLayerBytes from here and the
 * upload engine the chunk rules. Pure: host in, limits out. Flags override every field (see docs/registry.md).
 * Sources: the registries' documented limits, summed up in docs/registry.md.
 */

export interface RegistryLimits {
  /** Largest layer (blob) the registry accepts, in bytes. */
  readonly maxLayerBytes?: number;
  /** Largest PATCH body in chunked mode. */
  readonly maxChunkBytes?: number;
  /** One PATCH per upload session: no chunked mode, and no resume of a session (only a restart of the blob). */
  readonly monolithicOnly?: boolean;
  /** Which profile matched and where its numbers come from, for messages: "GHCR: 10 GB per layer". */
  readonly reason: string;
  /** What else this registry does differently, each with its cause and fix (doctor shows them). */
  readonly quirks?: readonly RegistryQuirk[];
}

/**
 * A documented behaviour of one registry that changes what a push of a ModelCar (or its ModelPack manifest, or a
 * signature) meets there. `when` says which pushes it concerns; doctor warns only for those.
 */
export interface RegistryQuirk {
  readonly id: string;
  readonly when: 'always' | 'modelpack' | 'referrers';
  /** `ok`: modelcar already does the right thing, said so the user knows; `warn`: the user may have to act. */
  readonly status: 'ok' | 'warn';
  readonly summary: string;
  readonly symptom?: string;
  readonly cause: string;
  readonly fix: string;
}

const ONE_PATCH_FIX =
  'nothing to do: modelcar sends each layer in one streamed PATCH (never chunked) there, so an interrupted layer restarts instead of resuming; keep layers well under the limit';

const GB = 1000 ** 3;
const MiB = 1024 ** 2;

function ecrOnePatch(): RegistryQuirk {
  return {
    id: 'ecr-one-patch',
    when: 'always',
    status: 'ok',
    summary: 'ECR answers 201 to the first PATCH of an upload and takes no second one',
    symptom: 'a chunked push ends with "blob upload invalid" or a layer of the wrong size after the first chunk',
    cause: 'Amazon ECR completes an upload session on its first PATCH (HTTP 201) and drops later chunks.',
    fix: ONE_PATCH_FIX,
  };
}

interface Profile extends RegistryLimits {
  readonly matches: (host: string) => boolean;
}

const PROFILES: readonly Profile[] = [
  {
    matches: (h) => h === 'ghcr.io',
    maxLayerBytes: 10 * GB,
    maxChunkBytes: 4 * MiB,
    reason: 'GHCR accepts at most 10 GB per layer and 4 MiB per upload chunk',
    quirks: [
      {
        id: 'ghcr-referrers',
        when: 'referrers',
        status: 'ok',
        summary: 'GHCR serves no OCI 1.1 referrers API: signatures and attestations are found through tags',
        symptom: 'GET /v2/<name>/referrers/<digest> answers 404',
        cause: 'GitHub Container Registry has not implemented the referrers endpoint of distribution-spec 1.1.',
        fix: 'nothing to do: signatures are pushed with the referrers tag schema (sha256-<digest>), which cosign, skopeo and CRI-O also read',
      },
    ],
  },
  {
    matches: (h) => h === 'quay.io' || /(^|\.)quay\./.test(h),
    maxLayerBytes: 20 * GB,
    reason: "Quay's default MAXIMUM_LAYER_SIZE is 20 GB",
    quirks: [
      {
        id: 'quay-oci-artifacts',
        when: 'modelpack',
        status: 'warn',
        summary:
          'Quay accepts a ModelPack manifest only with FEATURE_GENERAL_OCI_SUPPORT on and its types in ALLOWED_OCI_ARTIFACT_TYPES',
        symptom: 'manifest invalid (HTTP 400 MANIFEST_INVALID) when the ModelPack manifest is pushed',
        cause:
          "Quay checks a manifest's config media type against the artifact types its config allows; application/vnd.cncf.model.config.v1+json is not among the defaults.",
        fix: 'a Quay admin adds to config.yaml:\n  FEATURE_GENERAL_OCI_SUPPORT: true\n  ALLOWED_OCI_ARTIFACT_TYPES:\n    application/vnd.cncf.model.config.v1+json:\n      - application/vnd.cncf.model.weight.v1.tar\n      - application/vnd.cncf.model.weight.config.v1.tar\n      - application/vnd.cncf.model.doc.v1.tar\n      - application/vnd.cncf.model.code.v1.tar\n# or build without --modelpack (the ModelCar image alone is a plain image)',
      },
    ],
  },
  {
    matches: (h) => /^([a-z0-9-]+-)?docker\.pkg\.dev$/.test(h) || h === 'gcr.io' || h.endsWith('.gcr.io'),
    monolithicOnly: true,
    reason: 'Google Artifact Registry takes each layer in one upload request (no chunked uploads)',
    quirks: [
      {
        id: 'gar-no-chunks',
        when: 'always',
        status: 'ok',
        summary: 'Google Artifact Registry does not take chunked uploads: each layer goes in one request',
        symptom: 'a chunked PATCH with Content-Range is refused (HTTP 400/416) after the first chunk',
        cause: 'Artifact Registry implements only monolithic and single-PATCH streamed uploads.',
        fix: ONE_PATCH_FIX,
      },
    ],
  },
  {
    matches: (h) => h === 'registry.gitlab.com' || /(^|\.)gitlab\./.test(h),
    reason: 'GitLab container registry: image media types only',
    quirks: [
      {
        id: 'gitlab-media-types',
        when: 'modelpack',
        status: 'warn',
        summary: "GitLab's container registry refuses manifests with media types it does not know, such as ModelPack's",
        symptom: 'manifest invalid: unknown media type (HTTP 400) when the ModelPack manifest or its layers are pushed',
        cause:
          'The GitLab container registry validates config and layer media types against a list of image and Helm types.',
        fix: 'build without --modelpack for GitLab (the ModelCar image alone is accepted), or push the ModelPack artifact to another registry',
      },
    ],
  },
  {
    matches: (h) => /^public\.ecr\.aws$/.test(h),
    maxLayerBytes: 10_000 * MiB,
    monolithicOnly: true,
    reason: 'ECR Public accepts at most 10,000 MiB per layer, in one PATCH per upload',
    quirks: [ecrOnePatch()],
  },
  {
    matches: (h) => /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(h),
    maxLayerBytes: 52_000 * MiB,
    monolithicOnly: true,
    reason: 'ECR accepts at most 52,000 MiB per layer, in one PATCH per upload',
    quirks: [ecrOnePatch()],
  },
  {
    matches: (h) => h === 'docker.io' || h === 'registry-1.docker.io' || h === 'index.docker.io',
    reason: 'Docker Hub: no published layer cap; tokens last 300 s and are refreshed during the push',
  },
  {
    matches: (h) =>
      h === 'image-registry.openshift-image-registry.svc:5000' ||
      h.startsWith('default-route-openshift-image-registry.'),
    reason: 'OpenShift internal registry: service-account token as password, service CA for TLS',
  },
];

/** The limits of the registry at `host` (as written in an image reference, port included). */
export function limitsFor(host: string): RegistryLimits {
  const h = host.toLowerCase();
  const profile = PROFILES.find((p) => p.matches(h));
  if (!profile) return { reason: `${host}: no known limits` };
  const { matches: _, ...limits } = profile;
  return limits;
}
