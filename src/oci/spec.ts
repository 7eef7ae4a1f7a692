/**
 * The OCI wire types, once (image-spec v1.1: descriptor.md, manifest.md, image-index.md), and the pure helpers that
 * read them: what a fetched manifest is, which platform a descriptor names. Everything that parses or writes a
 * manifest, index or descriptor uses these; nothing else declares its own.
 */
import { ModelcarError, messageOf } from '../errors.js';
import { digestOf } from './digest-stream.js';
import { MediaType } from './media-types.js';

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  /** OCI 1.1: the type of an artifact manifest this descriptor points at (referrers list it). */
  readonly artifactType?: string;
}

export interface ImageManifest {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** OCI 1.1: the manifest this one refers to (a signature, an attestation). */
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A manifest as stored: the exact bytes (their digest is the manifest's name) and the media type it was served as. */
export interface ManifestBytes {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: string;
}

/** A manifest read back: either one image or an index of images. */
export type ParsedManifest =
  | { readonly kind: 'image'; readonly manifest: ImageManifest }
  | { readonly kind: 'index'; readonly index: ImageIndex };

/** The descriptor that points at stored manifest bytes. */
export function descriptorOf(m: ManifestBytes): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

/** Wraps manifest bytes we made ourselves. */
export function manifestBytes(bytes: Buffer, mediaType: string): ManifestBytes {
  return { bytes, mediaType, digest: digestOf(bytes) };
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof d.mediaType === 'string' &&
    typeof d.digest === 'string' &&
    typeof d.size === 'number'
  );
}

/**
 * Parses manifest bytes as what they are: an index (by media type, or a `manifests` list when the type is not
 * given) or an image (a config and a layer list). Anything else is an integrity error naming `what`.
 */
export function parseManifest(m: ManifestBytes, what = `manifest ${m.digest}`): ParsedManifest {
  let v: unknown;
  try {
    v = JSON.parse(m.bytes.toString('utf8'));
  } catch (e) {
    throw new ModelcarError(
      'integrity',
      `${what} is not valid JSON: ${messageOf(e)}`,
      'the store holds a broken manifest; push it again',
    );
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ModelcarError(
      'integrity',
      `${what} is not a JSON object`,
      'the store holds a broken manifest; push it again',
    );
  }
  const o = v as Record<string, unknown>;
  const type = m.mediaType || (typeof o.mediaType === 'string' ? o.mediaType : undefined);
  if (isIndexMediaType(type) || (type === undefined && Array.isArray(o.manifests))) {
    if (!Array.isArray(o.manifests) || !o.manifests.every(isDescriptor)) {
      throw new ModelcarError(
        'integrity',
        `${what} is an index without a valid manifests list`,
        'the store holds a broken index; push it again',
      );
    }
    return { kind: 'index', index: o as unknown as ImageIndex };
  }
  if (!isDescriptor(o.config) || !Array.isArray(o.layers) || !o.layers.every(isDescriptor)) {
    throw new ModelcarError(
      'integrity',
      `${what} is not an image manifest (no config or layers)`,
      'name an image or an index of images',
    );
  }
  return { kind: 'image', manifest: o as unknown as ImageManifest };
}

/** `os/arch[/variant]`, as --platform takes it. */
export function formatPlatform(p: Platform | undefined): string {
  return p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : 'unknown platform';
}

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split('/');
  if (!os || !architecture || extra !== undefined || variant === '') {
    throw new ModelcarError(
      'usage',
      `invalid --platform "${text}"`,
      'write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64',
    );
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Whether `have` serves a request for `want`: same os and architecture, and the variant when one is asked for. */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  return (
    have !== undefined &&
    have.os === want.os &&
    have.architecture === want.architecture &&
    (want.variant === undefined || have.variant === want.variant)
  );
}

/** The platform an image config declares (its `os`, `architecture`, `variant`), if it declares one. */
export function configPlatform(config: Record<string, unknown>): Platform | undefined {
  const { os, architecture, variant } = config;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return { os, architecture, ...(typeof variant === 'string' && variant !== '' ? { variant } : {}) };
}
