import { randomBytes } from 'node:crypto';
import { rename, symlink, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { diskFullError } from '../disk-full.js';
import { ModelcarError, messageOf } from '../errors.js';
import { ContainedDir } from './contained-dir.js';
import type { VerifiedSink } from './content-check.js';
import { isHexId } from './listing.js';

/**
 * `--cache DIR` in the Hugging Face cache layout, so `hf download`, vLLM and transformers can share it
 * (`HF_HUB_CACHE=DIR`) and a cache they filled is reused here:
 *   DIR/models--ORG--NAME/blobs/<etag>                    the bytes, named by sha256 (LFS) or git blob sha1
 *   DIR/models--ORG--NAME/snapshots/<commit>/<path>       relative symlink to the blob
 *   DIR/models--ORG--NAME/refs/<revision>                 the commit a branch or tag pointed at
 * A blob appears only by rename after its hash was verified, so a blob that exists is complete. Files are read from
 * `blobs/` only, by their hash, as regular files opened without following links, and every directory written to is
 * a real directory inside DIR: a symlink planted in the cache can neither make a local file be read into an image
 * nor a download be written outside the cache (src/source/contained-dir.ts).
 */
export class HubCache {
  readonly repoDir: string;
  private readonly repoPart: string;
  private created?: Promise<ContainedDir>;

  constructor(
    private readonly dir: string,
    repo: string,
  ) {
    // `repo` is a parsed hf:// reference: two Hub names, neither '.', '..' nor containing '/'.
    this.repoPart = `models--${repo.replace('/', '--')}`;
    this.repoDir = join(dir, this.repoPart);
  }

  /** The cache directory, created for writes; for reads undefined while it does not exist. */
  private async root(create: boolean): Promise<ContainedDir | undefined> {
    const label = `--cache ${this.dir}`;
    if (!create) return this.created ?? ContainedDir.open(this.dir, label, false);
    this.created ??= ContainedDir.open(this.dir, label, true) as Promise<ContainedDir>;
    return this.created;
  }

  private checkEtag(etag: string): void {
    if (!isHexId(etag, 40) && !isHexId(etag, 64)) {
      throw new ModelcarError('internal', `cache key ${JSON.stringify(etag)} is not a hash`, 'report this');
    }
  }

  /** The verified bytes of a file from `offset`, when a complete copy (by hash and size) is in the cache. */
  async open(commit: string, path: string, etag: string, size: number, offset: number): Promise<Readable | undefined> {
    this.checkEtag(etag);
    const tree = await this.root(false);
    const file = await tree?.openFile([this.repoPart, 'blobs'], etag);
    if (!file) return undefined;
    if ((await file.stat()).size !== size) {
      await file.close();
      return undefined;
    }
    // A cache filled by `hf download` for another commit: link the snapshot, as huggingface_hub would.
    await this.link(commit, path, etag).catch(() => {});
    return file.createReadStream({ start: offset, highWaterMark: 1024 * 1024 });
  }

  /** Where a download goes while it streams: a temp file, renamed into place by `commit()` once verified. */
  async writer(commit: string, path: string, etag: string, size: number): Promise<VerifiedSink> {
    this.checkEtag(etag);
    const temp = `${etag}.${randomBytes(6).toString('hex')}.incomplete`;
    let created: Awaited<ReturnType<ContainedDir['createFile']>>;
    try {
      const tree = (await this.root(true)) as ContainedDir;
      created = await tree.createFile([this.repoPart, 'blobs'], temp);
    } catch (e) {
      throw await this.error(e, join(this.repoDir, 'blobs'), path, size);
    }
    const { file, path: tempPath } = created;
    const blob = join(tempPath, '..', etag);
    let state: 'open' | 'committed' | 'aborted' = 'open';
    return {
      write: async (chunk) => {
        try {
          for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at)).bytesWritten;
        } catch (e) {
          throw await this.error(e, join(this.repoDir, 'blobs'), path, size);
        }
      },
      commit: async () => {
        try {
          await file.close();
          // The rename replaces whatever sits at the blob's name, a planted link included, without following it.
          await rename(tempPath, blob);
          await this.link(commit, path, etag);
          state = 'committed';
        } catch (e) {
          throw await this.error(e, blob, path, size);
        }
      },
      abort: async () => {
        if (state !== 'open') return;
        state = 'aborted';
        await file.close().catch(() => {});
        await unlink(tempPath).catch(() => {});
      },
    };
  }

  /** Records which commit a branch or tag meant, as huggingface_hub does. */
  async recordRef(revision: string, commit: string): Promise<void> {
    // `revision` passed parseHfRef (no '..', no leading or doubled '/'); each part is checked again on the way down.
    const parts = revision.split('/');
    const name = parts.pop() as string;
    try {
      const tree = (await this.root(true)) as ContainedDir;
      const temp = `.${name}.${randomBytes(6).toString('hex')}.tmp`;
      const { file, path } = await tree.createFile([this.repoPart, 'refs', ...parts], temp);
      try {
        await file.writeFile(commit);
      } finally {
        await file.close();
      }
      await rename(path, join(path, '..', name));
    } catch (e) {
      throw await this.error(e, join(this.repoDir, 'refs'), `ref ${revision}`, commit.length);
    }
  }

  private async link(commit: string, path: string, etag: string): Promise<void> {
    const tree = (await this.root(true)) as ContainedDir;
    const parts = path.split('/');
    const name = parts.pop() as string;
    const dir = (await tree.dir([this.repoPart, 'snapshots', commit, ...parts], true)) as string;
    const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.link`);
    await symlink(relative(dir, join(tree.root, this.repoPart, 'blobs', etag)), temp);
    await rename(temp, join(dir, name));
  }

  private async error(e: unknown, at: string, what: string, size: number): Promise<ModelcarError> {
    if (e instanceof ModelcarError) return e;
    return (
      (await diskFullError(e, at, `the cached copy of ${what}`, size)) ??
      new ModelcarError(
        'destination',
        `cannot write the model cache ${this.repoDir}: ${messageOf(e)}`,
        'fix the permissions of the --cache directory, or build without --cache',
        { cause: e },
      )
    );
  }
}
