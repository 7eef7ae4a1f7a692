/**
 * The store contract: one interface for where images live, a registry repository or an OCI layout alike, shaped like
 * oras-go's Target (content.Storage + Tagger + Resolver). The build, copy, inspect and verify code never knows which
 * one it talks to. The rules every store keeps (test/oci/store-contract.test.ts holds both to them):
 *
 * - Absence is a value: fetching a manifest or blob that is not there gives `undefined`; only real failures throw.
 * - Failures are typed by ErrorKind: `registry-auth` (denied), `network` (unavailable), `registry` (the registry
 *   refused or broke), `destination` (a layout cannot be written), `integrity` (bytes are not what they claim).
 *   Callers add their context with `withContext` (errors.ts); `requireManifest` turns absence into `not-found`.
 * - Content first, names last: blobs, then manifests (stored by digest, no name), then `tag` points a name at a
 *   stored manifest. A tag never points at something incomplete, and a manifest can be pushed now and tagged later
 *   (index children, signatures under a fallback tag, records of a sharded build).
 */
import { ModelcarError } from '../errors.js';
import type { Descriptor, ManifestBytes } from './spec.js';

/** Bytes to store as a blob. The target hashes what it writes; a digest known ahead is verified against that hash. */
export interface BlobToPush {
  readonly size: number;
  readonly digest?: string;
  /** What the blob is, for progress and retry lines (e.g. `layer 2 (model.safetensors)`); else its digest. */
  readonly label?: string;
  /** Opens the bytes from the start. May be called again when a transfer must be restarted. */
  open(): AsyncIterable<Buffer>;
  /**
   * Optional: opens the bytes from `offset` to the end, to resume an upload the registry kept after a dropped
   * connection. Without it a resume re-reads (and hashes, without sending) the bytes before `offset` through open().
   */
  openAt?(offset: number): AsyncIterable<Buffer>;
}

export interface PushedBlob {
  readonly digest: string;
  readonly size: number;
  /** false when the target already had it (no bytes moved). */
  readonly uploaded: boolean;
}

export interface Repository {
  /** How users spell it, for messages. */
  readonly label: string;
  /**
   * The manifest a tag or digest names, or undefined when there is none. A layout also takes "" for its only image
   * (as skopeo's `oci:DIR` does); a layout with several throws a usage error naming them.
   */
  fetchManifest(reference: string): Promise<ManifestBytes | undefined>;
  /** The blob's bytes, or undefined when the store does not hold it. The caller checks the digest as it reads. */
  fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer> | undefined>;
  /**
   * `length` bytes of the blob from `offset` (fewer at its end), or undefined when the store does not hold it: a
   * config.json or a safetensors header out of a multi-GB layer, moving kilobytes. The caller cannot check a digest
   * over a part; what it reads must check itself (JSON that parses, a header whose length fits).
   */
  fetchBlobRange(desc: Descriptor, offset: number, length: number): Promise<Buffer | undefined>;
  hasBlob(desc: Descriptor): Promise<boolean>;
  pushBlob(blob: BlobToPush): Promise<PushedBlob>;
  /**
   * Stores a manifest by its digest, with no tag; every blob it names must be stored first. A registry keeps it
   * fetchable by digest; a layout lists it in index.json as an untagged root until a tag names it or an index that
   * lists it is stored (then it is that index's child, reachable from it, as skopeo writes layouts).
   */
  pushManifest(bytes: Buffer, mediaType: string): Promise<ManifestBytes>;
  /** Points `tag` at a manifest already stored (the one pushManifest or fetchManifest returned); moves it if taken. */
  tag(manifest: ManifestBytes, tag: string): Promise<void>;
  /** Every tag the store holds, sorted. */
  listTags(): Promise<string[]>;
  /**
   * Manifests whose `subject` is `subject` (OCI 1.1 referrers), filtered by artifact type when given; undefined when
   * the store has no referrers API (distribution 2.8, GHCR): the caller then uses the `sha256-<hex>` tag schema.
   */
  referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[] | undefined>;
  /**
   * Makes a blob of another repository of the same registry appear here without moving its bytes. Returns false when
   * that is not possible (other registry, layout, or the registry declined), and the caller copies instead.
   */
  mountBlob?(desc: Descriptor, from: Repository): Promise<boolean>;
  /** Proves we may write here before any long work starts; writes nothing visible. */
  checkWritable(): Promise<void>;
  close?(): Promise<void>;
}

/**
 * Fetches a manifest that must exist: absence becomes a `not-found` error naming what was asked for and, where the
 * store can list them, the tags it does hold.
 */
export async function requireManifest(repo: Repository, reference: string, what = 'image'): Promise<ManifestBytes> {
  const found = await repo.fetchManifest(reference);
  if (found) return found;
  let tags: string[] = [];
  try {
    tags = await repo.listTags();
  } catch {
    // Listing is only for the hint; the missing manifest is the error.
  }
  const shown = tags.slice(0, 10).join(', ') + (tags.length > 10 ? `, ... (${tags.length} in all)` : '');
  throw new ModelcarError(
    'not-found',
    `${what} ${repo.label}${reference.startsWith('sha256:') ? `@${reference}` : reference ? `:${reference}` : ''} not found`,
    tags.length > 0 ? `tags there: ${shown}` : `${repo.label} holds no tags; check the name and the tag`,
  );
}

/** Reads a blob that must exist. */
export async function requireBlob(repo: Repository, desc: Descriptor): Promise<AsyncIterable<Buffer>> {
  const found = await repo.fetchBlob(desc);
  if (found) return found;
  throw new ModelcarError(
    'not-found',
    `${repo.label} is missing blob ${desc.digest}`,
    'the image is incomplete there; copy or push it again',
  );
}

/** The usual last step of a write: store the manifest, then point the tag at it (when there is one). */
export async function pushAndTag(
  repo: Repository,
  bytes: Buffer,
  mediaType: string,
  tag: string | undefined,
): Promise<ManifestBytes> {
  const stored = await repo.pushManifest(bytes, mediaType);
  if (tag !== undefined) await repo.tag(stored, tag);
  return stored;
}
