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
}

const GB = 1000 ** 3;
const MiB = 1024 ** 2;

interface Profile extends RegistryLimits {
  readonly matches: (host: string) => boolean;
}

const PROFILES: readonly Profile[] = [
  {
    matches: (h) => h === 'ghcr.io',
    maxLayerBytes: 10 * GB,
    maxChunkBytes: 4 * MiB,
    reason: 'GHCR accepts at most 10 GB per layer and 4 MiB per upload chunk',
  },
  {
    matches: (h) => h === 'quay.io',
    maxLayerBytes: 20 * GB,
    reason: "Quay's default MAXIMUM_LAYER_SIZE is 20 GB",
  },
  {
    matches: (h) => /^public\.ecr\.aws$/.test(h),
    maxLayerBytes: 10_000 * MiB,
    monolithicOnly: true,
    reason: 'ECR Public accepts at most 10,000 MiB per layer, in one PATCH per upload',
  },
  {
    matches: (h) => /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(h),
    maxLayerBytes: 52_000 * MiB,
    monolithicOnly: true,
    reason: 'ECR accepts at most 52,000 MiB per layer, in one PATCH per upload',
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
