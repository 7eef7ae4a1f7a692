/**
 * An OCI image layout on disk (image-spec layout.md): `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
 * Every blob is written once to a temporary file and renamed into place only after its digest checks out, and
 * `index.json` is replaced atomically, last: a crash never leaves a tag pointing at a half-written image. Index
 * updates hold `index.json.lock`, so concurrent builds and copies into one layout keep every tag; temporary files
 * that crashed runs left behind are removed by the next writer.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { diskFullError } from '../../disk-full.js';
import { ModelcarError, messageOf } from '../../errors.js';
import { checkBlob, DigestCounter } from '../digest-stream.js';
import { MediaType } from '../media-types.js';
import type { BlobToPush, Descriptor, FetchedManifest, PushedBlob, Repository } from '../repository.js';
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
        const names = await readdir(this.root);
        if (names.length > 0) {
          throw new ModelcarError(
            'destination',
            `${this.root} is not empty and is not an OCI layout`,
            'choose an empty or new directory, or an existing OCI layout',
          );
        }
      }
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
      const probe = join(this.root, 'blobs', 'sha256', `.probe-${randomBytes(6).toString('hex')}`);
      await writeFile(probe, '');
      await rm(probe);
      if (!(await exists(join(this.root, 'oci-layout')))) {
        await writeFile(join(this.root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      }
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

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const index = await this.readIndex();
    const matches = reference.startsWith('sha256:')
      ? index.manifests.filter((m) => m.digest === reference)
      : reference === ''
        ? index.manifests
        : index.manifests.filter((m) => m.annotations?.[REF_NAME] === reference);
    const desc = matches[0];
    if (!desc || (reference === '' && matches.length !== 1)) {
      const tags = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
      throw new ModelcarError(
        'base',
        reference === ''
          ? `${this.label} holds ${index.manifests.length} images; name one with oci:DIR:TAG`
          : `${this.label} has no image "${reference}"`,
        tags.length > 0 ? `tags there: ${tags.join(', ')}` : 'the layout is empty',
      );
    }
    const bytes = await readFile(blobPath(this.root, desc.digest));
    return { bytes, mediaType: desc.mediaType, digest: desc.digest };
  }

  async fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer>> {
    const path = blobPath(this.root, desc.digest);
    if (!(await exists(path)))
      throw new ModelcarError(
        'base',
        `${this.label} is missing blob ${desc.digest}`,
        'the layout is incomplete; recreate it',
      );
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
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

  async pushManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    const pushed = await this.pushBlob({
      size: bytes.length,
      open: async function* () {
        yield bytes;
      },
    });
    const desc: Descriptor = {
      mediaType,
      digest: pushed.digest,
      size: bytes.length,
      ...(tag ? { annotations: { [REF_NAME]: tag } } : {}),
    };
    // Read, change and replace under the lock: another writer's tag added meanwhile is kept, not overwritten.
    const lock = await IndexLock.acquire(this.root, this.label);
    try {
      const index = await this.readIndex();
      // A tag names one image: drop the entry it pointed at before, and an untagged duplicate of this one.
      index.manifests = index.manifests.filter((m) => {
        const name = m.annotations?.[REF_NAME];
        return tag ? name !== tag && !(name === undefined && m.digest === desc.digest) : m.digest !== desc.digest;
      });
      index.manifests.push(desc);
      await this.writeIndex(index);
    } finally {
      await lock.release();
    }
    return pushed.digest;
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
