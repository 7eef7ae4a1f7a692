/**
 * `build --sign-key`: signs the image the build just pushed, with what the build knows first-hand (the files it
 * hashed, the commit it pinned, the base it resolved, what the user asked for, when it ran). One place turns a
 * BuildResult into a signing request, so the CLI stays free of logic.
 */
import type { BuildResult } from '../builder/build.js';
import { openRepository, type RegistryOptions } from '../oci/open.js';
import { requireManifest } from '../oci/repository.js';
import { type SignResult, signImage } from './sign-image.js';
import type { TrustSigner } from './signer.js';
import { TrustStore } from './store.js';

export interface BuildSigning {
  readonly signer: TrustSigner;
  /** What the user asked for (source as written, destination, base, platform, include/exclude...). */
  readonly externalParameters: Readonly<Record<string, unknown>>;
  readonly registry?: RegistryOptions;
  readonly startedOn: Date;
  readonly finishedOn: Date;
  /** SOURCE_DATE_EPOCH: every time in what is signed is this one. */
  readonly fixedTime?: Date;
}

export async function signBuild(result: BuildResult, signing: BuildSigning): Promise<SignResult> {
  const destination = result.destination;
  if (destination.transport !== 'registry' || !result.digest) throw new Error('signBuild: not a pushed registry image');
  const repo = await openRepository(destination, signing.registry);
  try {
    const store = TrustStore.of(repo, 'signing');
    const stored = await requireManifest(repo, result.digest);
    const files = result.layers.flatMap((l) => l.files.map((f) => ({ path: f.path, sha256: f.sha256 })));
    return await signImage({
      store,
      ref: destination.ref,
      manifest: { mediaType: stored.mediaType, digest: stored.digest, size: stored.bytes.length },
      files,
      modelName: result.source.title,
      ignorePaths: result.skipped.map((s) => s.path),
      provenance: {
        source: { uri: result.source.uri, ...(result.source.revision ? { revision: result.source.revision } : {}) },
        ...(result.base.name && result.base.digest
          ? { base: { name: result.base.name, digest: result.base.digest } }
          : {}),
        externalParameters: signing.externalParameters,
        internalParameters: { baseLayers: result.base.layers, modelLayers: result.layers.length },
        startedOn: signing.fixedTime ?? signing.startedOn,
        finishedOn: signing.fixedTime ?? signing.finishedOn,
      },
      signer: signing.signer,
      time: signing.fixedTime ?? signing.finishedOn,
    });
  } finally {
    await repo.close?.();
  }
}
