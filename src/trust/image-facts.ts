/**
 * What signing an image built elsewhere (`modelcar sign REF`: a pipeline step, a sharded build's assembler) can know
 * about it, read from the image itself: the manifest's descriptor, the files its layers declare (with sha256), and
 * the source, revision and base its annotations record. A build that signs in the same run knows all this already.
 */
import { ModelcarError } from '../errors.js';
import { annotatedFiles } from '../image/read-image.js';
import type { Repository } from '../oci/repository.js';
import { resolveImage } from '../oci/resolve.js';
import type { Platform } from '../oci/spec.js';
import type { SignRequest } from './sign-image.js';
import type { SignedFile } from './statements.js';

export type ImageFacts = Pick<SignRequest, 'manifest' | 'files' | 'provenance' | 'modelName'>;

const A = {
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  title: 'org.opencontainers.image.title',
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
} as const;

export async function imageFacts(repo: Repository, reference: string, platform?: Platform): Promise<ImageFacts> {
  const image = await resolveImage(repo, reference, platform ? { platform } : {});
  const top = image.index?.stored ?? image.stored;
  const files: SignedFile[] = [];
  for (const layer of image.manifest.layers) {
    for (const f of annotatedFiles(layer) ?? []) files.push({ path: f.path, sha256: f.sha256 });
  }
  if (files.length === 0) {
    throw new ModelcarError(
      'usage',
      `${repo.label}@${image.stored.digest} declares no model files (it was not built by modelcar)`,
      'sign images that modelcar built; their layers list each file with its sha256',
    );
  }
  const a = image.manifest.annotations ?? {};
  const source = a[A.source] ?? `oci://${repo.label}@${image.stored.digest}`;
  const baseName = a[A.baseName];
  const baseDigest = a[A.baseDigest];
  return {
    manifest: { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length },
    files,
    modelName: a[A.title] ?? repo.label.split('/').pop() ?? 'model',
    provenance: {
      source: { uri: source, ...(a[A.revision] ? { revision: a[A.revision] } : {}) },
      ...(baseName && baseDigest ? { base: { name: baseName, digest: baseDigest } } : {}),
      // Signed after the fact: what the build was asked for is not known, only what the image records.
      externalParameters: { image: `${repo.label}@${top.digest}`, signedBy: 'modelcar sign' },
    },
  };
}
