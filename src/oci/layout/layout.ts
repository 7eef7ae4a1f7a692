/**
 * An OCI image layout on disk (image-spec layout.md): `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
 * Every blob is written once to a temporary file and renamed into place only after its digest checks out, and
 * `index.json` is replaced atomically, last: a crash never leaves a tag pointing at a half-written image. Index
 * updates hold `index.json.lock`, so concurrent builds and copies into one layout keep every tag; temporary files
 * that crashed runs left behind are removed by the next writer.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, type FileHandle, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { diskFullError } from '../../disk-full.js';
import { ModelcarError, messageOf } from '../../errors.js';
import { makeDirs } from '../../run/dirs.js';
import { checkBlob, DigestCounter } from '../digest-stream.js';
import { MediaType } from '../media-types.js';
import type { BlobToPush, PushedBlob, Repository } from '../repository.js';
import {
  type Descriptor,
  descriptorOf,
  isIndexMediaType,
  type ManifestBytes,
  manifestBytes,
  parseManifest,
} from '../spec.js';
import { IndexLock } from './index-lock.js';
import { ownedTempName, removeLeftovers } from './leftovers.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

function blobPath(root: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (alg !== 'sha256' || !hex || !/^[a-f0-9]{64}$/.test(hex)) {
    throw new ModelcarError('integrity', `unsupported or malformed digest "${digest}"`);
  }
  return join(root, 'blobs', alg, hex);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** What an OCI layout directory holds, ours included (the lock); our temporaries are .partial-, .index- and .probe- files. */
const LAYOUT_PARTS = new Set(['oci-layout', 'index.json', 'blobs', 'index.json.lock']);

export class LayoutRepository implements Repository {
  readonly root: string;
  readonly label: string;

  constructor(dir: string) {
    this.root = resolve(dir);
    this.label = `oci:${dir}`;
  }

  private async readIndex(): Promise<IndexJson> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'index.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      throw new ModelcarError('destination', `cannot read ${this.label}/index.json: ${messageOf(e)}`);
    }
    try {
      const index = JSON.parse(text) as IndexJson;
      if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
      return index;
    } catch (e) {
      throw new ModelcarError(
        'destination',
        `${this.label}/index.json is not a valid OCI index: ${messageOf(e)}`,
        'point at a different directory, or remove the broken layout',
      );
    }
  }

  async checkWritable(): Promise<void> {
    try {
      const st = await stat(this.root).catch(() => undefined);
      if (st && !st.isDirectory())
        throw new ModelcarError(
          'destination',
          `${this.root} exists and is not a directory`,
          'choose another path for oci:DIR',
        );
      if (st && !(await exists(join(this.root, 'oci-layout')))) {
        // Another build creating the same new layout at this moment leaves only layout parts here: not foreign.
        const names = (await readdir(this.root)).filter(
          (n) => !LAYOUT_PARTS.has(n) && !/^\.(partial|index|probe)-/.test(n),
        );
        if (names.length > 0) {
          throw new ModelcarError(
            'destination',
            `${this.root} is not empty and is not an OCI layout`,
            'choose an empty or new directory, or an existing OCI layout',
          );
        }
      }
      // oci-layout first, created once (O_EXCL): a concurrent writer of the same new layout sees a layout at once.
      await makeDirs(this.root);
      await writeFile(join(this.root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}', { flag: 'wx' }).catch(
        (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        },
      );
      await makeDirs(join(this.root, 'blobs', 'sha256'));
      const probe = join(this.root, 'blobs', 'sha256', `.probe-${randomBytes(6).toString('hex')}`);
      await writeFile(probe, '');
      await rm(probe);
      await this.readIndex();
      await removeLeftovers([this.root, join(this.root, 'blobs', 'sha256')]);
    } catch (e) {
      if (e instanceof ModelcarError) throw e;
      throw new ModelcarError(
        'destination',
        `cannot write to ${this.root}: ${messageOf(e)}`,
        'choose a directory you can write to, or fix its permissions',
      );
    }
  }

  async fetchManifest(reference: string): Promise<ManifestBytes | undefined> {
    const index = await this.readIndex();
    const desc = reference === '' ? onlyImage(this.label, index) : findManifest(index, reference);
    if (desc) {
      const bytes = await this.readBlobFile(desc.digest);
      return bytes ? { bytes, mediaType: desc.mediaType, digest: desc.digest } : undefined;
    }
    // By digest, any manifest the layout holds counts, also an index's child that index.json does not list.
    if (!reference.startsWith('sha256:')) return undefined;
    const bytes = await this.readBlobFile(reference);
    if (!bytes) return undefined;
    return { bytes, mediaType: declaredMediaType(bytes), digest: reference };
  }

  /** A manifest or small blob whole; undefined when the file is not there. */
  private async readBlobFile(digest: string): Promise<Buffer | undefined> {
    try {
      return await readFile(blobPath(this.root, digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ModelcarError(
        'destination',
        `cannot read ${this.label} blob ${digest}: ${messageOf(e)}`,
        'check the permissions of the layout directory',
      );
    }
  }

  async fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer> | undefined> {
    const path = blobPath(this.root, desc.digest);
    if (!(await exists(path))) return undefined;
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }

  async fetchBlobRange(desc: Descriptor, offset: number, length: number): Promise<Buffer | undefined> {
    let file: FileHandle;
    try {
      file = await open(blobPath(this.root, desc.digest), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, desc.size - offset)));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      const st = await stat(blobPath(this.root, desc.digest));
      return st.size === desc.size;
    } catch {
      return false;
    }
  }

  async pushBlob(blob: BlobToPush): Promise<PushedBlob> {
    if (blob.digest && (await this.hasBlob({ mediaType: '', digest: blob.digest, size: blob.size }))) {
      return { digest: blob.digest, size: blob.size, uploaded: false };
    }
    const dir = join(this.root, 'blobs', 'sha256');
    const tmp = join(dir, ownedTempName('partial'));
    const counter = new DigestCounter();
    try {
      await pipeline(counter.pass(blob.open()), createWriteStream(tmp));
      const got = { size: counter.bytes, digest: counter.digest() };
      checkBlob(`blob for ${this.label}`, blob, got);
      await rename(tmp, blobPath(this.root, got.digest));
      return { ...got, uploaded: true };
    } catch (e) {
      await rm(tmp, { force: true });
      if (e instanceof ModelcarError) throw e;
      const full = await diskFullError(e, dir, 'the blob', blob.size);
      if (full) throw full;
      throw new ModelcarError(
        'destination',
        `writing a blob to ${this.label} failed: ${messageOf(e)}`,
        'check free disk space and permissions',
        { cause: e },
      );
    }
  }

  async pushManifest(bytes: Buffer, mediaType: string): Promise<ManifestBytes> {
    const stored = manifestBytes(bytes, mediaType);
    await this.pushBlob({
      size: bytes.length,
      digest: stored.digest,
      open: async function* () {
        yield bytes;
      },
    });
    const children = childrenOf(stored);
    await this.updateIndex((manifests) => {
      // index.json lists roots: an untagged entry that this index lists is its child now, reachable from it.
      const kept = manifests.filter((m) => refName(m) !== undefined || !children.has(m.digest));
      return kept.some((m) => m.digest === stored.digest) ? kept : [...kept, descriptorOf(stored)];
    });
    return stored;
  }

  async tag(manifest: ManifestBytes, tag: string): Promise<void> {
    if (!(await this.hasBlob(descriptorOf(manifest)))) {
      throw new ModelcarError(
        'not-found',
        `${this.label} does not hold manifest ${manifest.digest} to tag "${tag}"`,
        'push the manifest before tagging it',
      );
    }
    // A tag names one image: the entry it named before goes, and so does the untagged entry of this manifest.
    await this.updateIndex((manifests) => [
      ...manifests.filter((m) => {
        const name = refName(m);
        return name === undefined ? m.digest !== manifest.digest : name !== tag;
      }),
      { ...descriptorOf(manifest), annotations: { [REF_NAME]: tag } },
    ]);
  }

  async listTags(): Promise<string[]> {
    const index = await this.readIndex();
    const tags = index.manifests.map(refName).filter((t): t is string => t !== undefined);
    return [...new Set(tags)].sort();
  }

  /** A layout has no referrers API: the referrers are the untagged roots whose subject is this manifest. */
  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const index = await this.readIndex();
    const found: Descriptor[] = [];
    for (const desc of index.manifests) {
      if (desc.size > MAX_MANIFEST_BYTES) continue;
      const bytes = await this.readBlobFile(desc.digest);
      if (!bytes) continue;
      let m: { subject?: Descriptor; artifactType?: string; config?: Descriptor; annotations?: Record<string, string> };
      try {
        m = JSON.parse(bytes.toString('utf8'));
      } catch {
        continue;
      }
      if (m.subject?.digest !== subject.digest) continue;
      // As the referrers API reports it: the manifest's artifactType, else its config's media type.
      const type = m.artifactType ?? m.config?.mediaType;
      if (artifactType !== undefined && type !== artifactType) continue;
      found.push({
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        ...(type ? { artifactType: type } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      });
    }
    return found;
  }

  /**
   * The one way index.json changes: under `index.json.lock`, read, change the manifest list, write a temporary file
   * and rename it over the old one. Another writer's tag added meanwhile is kept, and a reader sees the old index or
   * the new one, never half of one.
   */
  private async updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const lock = await IndexLock.acquire(this.root, this.label);
    try {
      const index = await this.readIndex();
      index.manifests = change(index.manifests);
      await this.writeIndex(index);
    } finally {
      await lock.release();
    }
  }

  private async writeIndex(index: IndexJson): Promise<void> {
    const text = `${JSON.stringify(index)}\n`;
    const tmp = join(this.root, ownedTempName('index'));
    try {
      await writeFile(tmp, text);
      await rename(tmp, join(this.root, 'index.json'));
    } catch (e) {
      await rm(tmp, { force: true });
      const full = await diskFullError(e, join(this.root, 'index.json'), 'the new index', Buffer.byteLength(text));
      throw (
        full ??
        new ModelcarError(
          'destination',
          `cannot write ${this.label}/index.json: ${messageOf(e)}`,
          'check permissions',
          {
            cause: e,
          },
        )
      );
    }
  }
}

/** Manifests above this are refused by distribution and containers/image; none of ours comes near. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function refName(desc: Descriptor): string | undefined {
  return desc.annotations?.[REF_NAME];
}

function findManifest(index: IndexJson, reference: string): Descriptor | undefined {
  return reference.startsWith('sha256:')
    ? index.manifests.find((m) => m.digest === reference)
    : index.manifests.find((m) => refName(m) === reference);
}

/** `oci:DIR` without a tag: the layout's only image, as skopeo reads it. */
function onlyImage(label: string, index: IndexJson): Descriptor | undefined {
  if (index.manifests.length <= 1) return index.manifests[0];
  const tags = index.manifests.map(refName).filter(Boolean);
  throw new ModelcarError(
    'usage',
    `${label} holds ${index.manifests.length} images; name one with oci:DIR:TAG`,
    tags.length > 0
      ? `tags there: ${tags.join(', ')}`
      : 'its images have no tags; name one by digest with copy or inspect',
  );
}

/** The media type a manifest declares in itself; "" when it declares none (parseManifest then goes by shape). */
function declaredMediaType(bytes: Buffer): string {
  try {
    const type = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof type === 'string' ? type : '';
  } catch {
    return '';
  }
}

/** The digests an index lists (nothing for an image manifest). */
function childrenOf(m: ManifestBytes): Set<string> {
  if (!isIndexMediaType(m.mediaType)) return new Set();
  const parsed = parseManifest(m);
  return new Set(parsed.kind === 'index' ? parsed.index.manifests.map((c) => c.digest) : []);
}
