/**
 * Resolving the base image: only its manifest and config are read; its layers are later mounted or copied blob by
 * blob, never unpacked.
 */
import { ModelcarError, messageOf } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, Platform, Repository } from '../oci/repository.js';
import type { BaseImage } from './image.js';

/** The default base for real use: Red Hat's UBI micro, a shell and coreutils, as Red Hat's own ModelCars use. */
export const DEFAULT_BASE = 'registry.access.redhat.com/ubi9/ubi-micro:9.8';

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) {
    throw new ModelcarError(
      'usage',
      `invalid --platform "${text}"`,
      'write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64',
    );
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

interface ManifestJson {
  mediaType?: string;
  manifests?: (Descriptor & { platform?: Platform })[];
  config?: Descriptor;
  layers?: Descriptor[];
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new ModelcarError('base', `${what} is not valid JSON: ${messageOf(e)}`);
  }
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function resolveBase(
  repo: Repository,
  reference: string,
  name: string,
  platform: Platform,
): Promise<BaseImage> {
  let fetched = await repo.fetchManifest(reference);
  let manifest = parseJson<ManifestJson>(fetched.bytes, `manifest of ${name}`);
  const type = fetched.mediaType || manifest.mediaType;
  if (type === MediaType.ociIndex || type === MediaType.dockerManifestList || manifest.manifests) {
    const match = (manifest.manifests ?? []).find(
      (m) =>
        m.platform?.os === platform.os &&
        m.platform?.architecture === platform.architecture &&
        (platform.variant === undefined || m.platform?.variant === platform.variant),
    );
    if (!match) {
      const have = (manifest.manifests ?? []).map((m) =>
        m.platform
          ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}`
          : '?',
      );
      throw new ModelcarError(
        'base',
        `base image ${name} has no ${platform.os}/${platform.architecture} variant`,
        `it has: ${have.join(', ') || 'none'}; pick one with --platform`,
      );
    }
    fetched = await repo.fetchManifest(match.digest);
    manifest = parseJson<ManifestJson>(fetched.bytes, `manifest of ${name}`);
  }
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new ModelcarError(
      'base',
      `${name} is not a container image (no config or layers)`,
      'use an image with a shell, such as ubi-micro or busybox',
    );
  }
  const configBytes = await readAll(await repo.fetchBlob(manifest.config));
  const config = parseJson<Record<string, unknown>>(configBytes, `config of ${name}`);
  if (config.os && config.os !== platform.os) {
    throw new ModelcarError('base', `base image ${name} is for ${String(config.os)}, not ${platform.os}`);
  }
  const layers = manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }));
  return { name, digest: fetched.digest, layers, config };
}
