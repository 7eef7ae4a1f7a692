/**
 * The one platform resolver: from a reference to one image of one platform, with its config read and checked.
 * Used for a build's base, and by inspect, verify and the reuse of earlier layers: they cannot disagree about which
 * image of an index a platform means, and none of them trusts a config whose digest or platform is not what the
 * manifest and index claim.
 */
import { ModelcarError } from '../errors.js';
import { digestOf } from './digest-stream.js';
import { type Repository, requireBlob, requireManifest } from './repository.js';
import {
  configPlatform,
  formatPlatform,
  type ImageIndex,
  type ImageManifest,
  type ManifestBytes,
  type Platform,
  parseManifest,
  platformMatches,
} from './spec.js';

const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Configs and manifests are small; a bigger blob where one is expected is a broken or hostile store. */
const MAX_SMALL_BLOB = 16 * 1024 * 1024;

export interface ResolvedImage {
  /** The platform-specific image manifest. */
  readonly manifest: ImageManifest;
  readonly stored: ManifestBytes;
  /** The image config, its digest checked against the manifest. */
  readonly config: Record<string, unknown>;
  /** The platform the config declares (undefined when it declares none, as some artifacts do). */
  readonly platform?: Platform;
  /** The index the image was picked from, when the reference named one. */
  readonly index?: { readonly stored: ManifestBytes; readonly index: ImageIndex };
}

export interface ResolveOptions {
  /** The platform to pick; without it an index with one image gives that one, else linux/amd64. */
  readonly platform?: Platform;
  /** What the image is to the user, for messages ("base image", "image"). */
  readonly what?: string;
}

/** Reads a small blob (config, manifest) whole and checks it against its descriptor. */
export async function readSmallBlob(
  repo: Repository,
  desc: { readonly digest: string; readonly size: number; readonly mediaType: string },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await requireBlob(repo, desc)) {
    n += c.length;
    if (n > MAX_SMALL_BLOB) {
      throw new ModelcarError(
        'integrity',
        `${repo.label}: blob ${desc.digest} is larger than a config can be`,
        'the store serves something else under this digest; do not use this image',
      );
    }
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  const digest = digestOf(bytes);
  if (digest !== desc.digest) {
    throw new ModelcarError(
      'integrity',
      `${repo.label}: blob ${desc.digest} holds content ${digest}`,
      'the store or a proxy in between changed the bytes; do not use this image',
    );
  }
  return bytes;
}

function platformsOf(index: ImageIndex): string {
  const names = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform));
  return names.length > 0 ? names.join(', ') : 'no platforms';
}

/** Parses a JSON object from a blob we have already checked by digest. */
function parseConfig(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ModelcarError(
    'integrity',
    `the config of ${what} is not a JSON object`,
    'the image is broken; rebuild or re-push it',
  );
}

/**
 * Resolves `reference` in `repo` to one image. An index is narrowed to the requested platform (an error naming the
 * platforms it has when it lacks it); a single image must itself be of that platform (its config says which). The
 * config is always read, its digest always checked.
 */
export async function resolveImage(
  repo: Repository,
  reference: string,
  opts: ResolveOptions = {},
): Promise<ResolvedImage> {
  const what = opts.what ?? 'image';
  const name = `${what} ${repo.label}${reference ? (reference.startsWith('sha256:') ? `@${reference}` : `:${reference}`) : ''}`;
  let stored = await requireManifest(repo, reference, what);
  let parsed = parseManifest(stored, `the manifest of ${name}`);
  let index: ResolvedImage['index'];
  let claimed: Platform | undefined;
  if (parsed.kind === 'index') {
    const idx = parsed.index;
    const want = opts.platform ?? (idx.manifests.length === 1 ? undefined : DEFAULT_PLATFORM);
    const child = want ? idx.manifests.find((m) => platformMatches(m.platform, want)) : idx.manifests[0];
    if (!child) {
      throw new ModelcarError(
        'usage',
        `${name} has no ${formatPlatform(want)} image`,
        `it has: ${platformsOf(idx)}; pick one with --platform`,
      );
    }
    index = { stored, index: idx };
    claimed = child.platform;
    stored = await requireManifest(repo, child.digest, `${what} (${formatPlatform(child.platform)})`);
    parsed = parseManifest(stored, `the ${formatPlatform(child.platform)} manifest of ${name}`);
    if (parsed.kind !== 'image') {
      throw new ModelcarError(
        'integrity',
        `${name} lists an index as its ${formatPlatform(child.platform)} image`,
        'nested indexes are not supported; name the inner index directly',
      );
    }
  }
  const manifest = parsed.manifest;
  const config = parseConfig(await readSmallBlob(repo, manifest.config), name);
  const platform = configPlatform(config);
  if (claimed && platform && !platformMatches(platform, { os: claimed.os, architecture: claimed.architecture })) {
    throw new ModelcarError(
      'integrity',
      `${name}: the index says ${formatPlatform(claimed)}, but that image's config says ${formatPlatform(platform)}`,
      'the index is wrong; rebuild it, or name the image you want by digest',
    );
  }
  if (!index && opts.platform && platform && !platformMatches(platform, opts.platform)) {
    throw new ModelcarError(
      'usage',
      `${name} is a ${formatPlatform(platform)} image, not ${formatPlatform(opts.platform)}`,
      `it has: ${formatPlatform(platform)}; pick it with --platform ${formatPlatform(platform)}, or use a base made for ${formatPlatform(opts.platform)}`,
    );
  }
  return { manifest, stored, config, ...(platform ? { platform } : {}), ...(index ? { index } : {}) };
}
