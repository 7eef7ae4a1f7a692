/**
 * Resolving the base image: only its manifest and config are read; its layers are later mounted or copied blob by
 * blob, never unpacked.
 */
import { ModelcarError } from '../errors.js';
import type { Repository } from '../oci/repository.js';
import { resolveImage } from '../oci/resolve.js';
import type { Platform } from '../oci/spec.js';
import type { BaseImage } from './image.js';

/** The default base for real use: Red Hat's UBI micro, a shell and coreutils, as Red Hat's own ModelCars use. */
export const DEFAULT_BASE = 'registry.access.redhat.com/ubi9/ubi-micro:9.8';

/**
 * The base image for one platform: its layers (to mount or copy) and its config (to extend). A platform the base
 * does not have is an error naming the ones it has, never a silent build for another platform.
 */
export async function resolveBase(
  repo: Repository,
  reference: string,
  name: string,
  platform: Platform,
): Promise<BaseImage> {
  const image = await resolveImage(repo, reference, { platform, what: 'base image' });
  if (!image.platform) {
    throw new ModelcarError(
      'base',
      `base image ${name} does not say which platform it is for (no os/architecture in its config)`,
      'use a container image with a shell, such as ubi-micro or a base made by modelcar base --busybox',
    );
  }
  const layers = image.manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }));
  return { name, digest: image.stored.digest, layers, config: image.config };
}
