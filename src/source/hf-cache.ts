import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { makeDirs } from '../run/dirs.js';
import type { VerifiedSink } from './content-check.js';

/**
 * `--cache DIR` in the Hugging Face cache layout, so `hf download`, vLLM and transformers can share it
 * (`HF_HUB_CACHE=DIR`) and a cache they filled is reused here:
 *   DIR/models--ORG--NAME/blobs/<etag>                    the bytes, named by sha256 (LFS) or git blob sha1
 *   DIR/models--ORG--NAME/snapshots/<commit>/<path>       relative symlink to the blob
 *   DIR/models--ORG--NAME/refs/<revision>                 the commit a branch or tag pointed at
 * A blob appears only by rename after its hash was verified, so a blob that exists is complete.
 */
export class HubCache {
  readonly repoDir: string;

  constructor(dir: string, repo: string) {
    this.repoDir = join(dir, `models--${repo.replace('/', '--')}`);
  }

  private blobPath(etag: string): string {
    return join(this.repoDir, 'blobs', etag);
  }

  private snapshotPath(commit: string, path: string): string {
    return join(this.repoDir, 'snapshots', commit, ...path.split('/'));
  }

  /** The on-disk copy of a file, when a complete one is there. */
  async find(commit: string, path: string, etag: string, size: number): Promise<string | undefined> {
    const snapshot = this.snapshotPath(commit, path);
    if (await hasFile(snapshot, size)) return snapshot;
    // The same bytes at another commit: link them in rather than download them again.
    if (!(await hasFile(this.blobPath(etag), size))) return undefined;
    await this.link(commit, path, etag);
    return snapshot;
  }

  /** Where a download goes while it streams: a temp file, renamed into place by `commit()` once verified. */
  async writer(commit: string, path: string, etag: string): Promise<VerifiedSink> {
    const blob = this.blobPath(etag);
    const temp = `${blob}.${randomBytes(6).toString('hex')}.incomplete`;
    let handle: FileHandle | undefined;
    try {
      await makeDirs(dirname(blob));
      handle = await open(temp, 'wx');
    } catch (e) {
      throw cacheError(this.repoDir, e);
    }
    const file = handle;
    let state: 'open' | 'committed' | 'aborted' = 'open';
    return {
      write: async (chunk) => {
        try {
          for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at)).bytesWritten;
        } catch (e) {
          throw cacheError(this.repoDir, e);
        }
      },
      commit: async () => {
        try {
          await file.close();
          await rename(temp, blob);
          await this.link(commit, path, etag);
          state = 'committed';
        } catch (e) {
          throw cacheError(this.repoDir, e);
        }
      },
      abort: async () => {
        if (state !== 'open') return;
        state = 'aborted';
        await file.close().catch(() => {});
        await unlink(temp).catch(() => {});
      },
    };
  }

  /** Records which commit a branch or tag meant, as huggingface_hub does. */
  async recordRef(revision: string, commit: string): Promise<void> {
    const file = join(this.repoDir, 'refs', ...revision.split('/'));
    try {
      await makeDirs(dirname(file));
      await writeFile(file, commit);
    } catch (e) {
      throw cacheError(this.repoDir, e);
    }
  }

  private async link(commit: string, path: string, etag: string): Promise<void> {
    const at = this.snapshotPath(commit, path);
    await makeDirs(dirname(at));
    const temp = `${at}.${randomBytes(6).toString('hex')}.link`;
    await symlink(relative(dirname(at), this.blobPath(etag)), temp);
    await rename(temp, at);
  }
}

async function hasFile(path: string, size: number): Promise<boolean> {
  try {
    const st = await stat(path);
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

function cacheError(dir: string, e: unknown): ModelcarError {
  return new ModelcarError(
    'destination',
    `cannot write the model cache ${dir}: ${messageOf(e)}`,
    'free disk space or fix the permissions of the --cache directory, or build without --cache',
    { cause: e },
  );
}
