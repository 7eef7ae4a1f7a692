/**
 * A directory tree that writes and reads may not leave, resolved the way `openat` with `O_NOFOLLOW` would: every
 * component below the root is checked to be a real directory (created when asked), never a symlink, and files are
 * opened with O_NOFOLLOW. The root itself may be a symlink (the user chose it); anything planted inside cannot
 * redirect a write or a read elsewhere. Node has no openat, so a component swapped between the check and the use
 * is not covered: this guards against links that are there, not against a racing local attacker.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { makeDirs } from '../run/dirs.js';

function checkPart(part: string): void {
  if (part === '' || part === '.' || part === '..' || part.includes('/') || part.includes('\0')) {
    throw new ModelcarError('internal', `unsafe path component ${JSON.stringify(part)}`, 'report this');
  }
}

export class ContainedDir {
  private constructor(
    /** The real path of the root. */
    readonly root: string,
    /** How the user named it, for messages. */
    readonly label: string,
  ) {}

  /** The tree at `dir`, created when `create` and missing; undefined when missing and not created. */
  static async open(dir: string, label: string, create: boolean): Promise<ContainedDir | undefined> {
    try {
      if (create) await makeDirs(dir);
      return new ContainedDir(await realpath(dir), label);
    } catch (e) {
      if (!create && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  private escape(rel: string): ModelcarError {
    return new ModelcarError(
      'destination',
      `${this.label}: ${rel} is a symlink or not a directory; refusing to follow it out of ${this.root}`,
      `the directories modelcar writes there must be real directories: remove ${join(this.root, rel)}, or use another directory`,
    );
  }

  /**
   * The directory `parts` below the root, each component a real directory (never a symlink), created when `create`.
   * Undefined when a component is missing and `create` is false.
   */
  async dir(parts: readonly string[], create: boolean): Promise<string | undefined> {
    let at = this.root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      checkPart(part);
      at = join(at, part);
      let st = await lstat(at).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
      if (!st && create) {
        await mkdir(at).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        st = await lstat(at);
      }
      if (!st) return undefined;
      if (st.isSymbolicLink() || !st.isDirectory()) throw this.escape(parts.slice(0, i + 1).join('/'));
    }
    return at;
  }

  /** The regular file `name` in directory `parts`, opened read-only without following a link; undefined if absent. */
  async openFile(parts: readonly string[], name: string): Promise<FileHandle | undefined> {
    checkPart(name);
    const dir = await this.dir(parts, false);
    if (!dir) return undefined;
    let file: FileHandle;
    try {
      file = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      // ELOOP: a symlink where a file should be; treated as not there (a verified copy will replace it).
      if (['ENOENT', 'ELOOP'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw new ModelcarError('source', `cannot read ${join(dir, name)}: ${messageOf(e)}`, 'check its permissions');
    }
    if (!(await file.stat()).isFile()) {
      await file.close();
      return undefined;
    }
    return file;
  }

  /** Creates a new file (O_EXCL, O_NOFOLLOW) `name` in directory `parts`, creating the directories. */
  async createFile(parts: readonly string[], name: string, mode = 0o644): Promise<{ path: string; file: FileHandle }> {
    checkPart(name);
    const dir = (await this.dir(parts, true)) as string;
    const path = join(dir, name);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    return { path, file: await open(path, flags, mode) };
  }
}
