import { constants, type Stats } from 'node:fs';
import { access, type FileHandle, lstat, open as openFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelcarError, messageOf } from '../errors.js';
import type { FileIdentity, Journal } from '../journal/journal.js';
import { checkedStream } from './content-check.js';
import type { ModelSource, SourceEntry, SourceIdentity } from './source.js';

export interface LocalSourceOptions {
  /**
   * Follow symlinks whose target is outside the model directory (a Hugging Face cache snapshot links every file to
   * `../../blobs/`). Off by default: a link out of the tree can publish files the user never meant to ship.
   */
  readonly followExternalSymlinks?: boolean;
  /** Remembers the sha256 of files hashed by earlier runs, keyed by their inode and times. */
  readonly journal?: Pick<Journal, 'fileSha256' | 'rememberFile'>;
}

/** `.../models--ORG--NAME/snapshots/<commit>`: a directory of the Hugging Face cache, as `hf download` leaves it. */
export function hfSnapshot(root: string): { org: string; name: string; commit: string; repoDir: string } | undefined {
  const m = /^(.*[/\\])?(models--([^/\\]+?)--([^/\\]+))[/\\]snapshots[/\\]([0-9a-f]{40})$/.exec(root);
  if (!m) return undefined;
  return { org: m[3] as string, name: m[4] as string, commit: m[5] as string, repoDir: `${m[1] ?? ''}${m[2]}` };
}

/** Directories that are never part of a model: version control and tool metadata. */
const IGNORED_DIRS = new Set(['.git', '.hg', '.svn']);

/**
 * A model in a local directory. Lists regular files (following safe symlinks) and streams them from disk. With a
 * journal it vouches for the sha256 of files an earlier run hashed and that have not changed since (same inode, size,
 * mtime and ctime), and still checks those bytes as they stream.
 */
export class LocalSource implements ModelSource {
  readonly root: string;
  private readonly files = new Map<string, { real: string; identity: FileIdentity }>();

  constructor(
    dir: string,
    private readonly options: LocalSourceOptions = {},
  ) {
    this.root = resolve(dir);
  }

  async identity(): Promise<SourceIdentity> {
    // The directory's name only: the same files give the same image wherever they sit, and no home path leaks.
    const uri = `file:${encodeURI(basename(this.root))}`;
    // A Hugging Face cache snapshot is named after its repository, not after the commit directory it sits in.
    const snapshot = hfSnapshot(this.root);
    if (snapshot) return { uri, title: snapshot.name, revision: snapshot.commit };
    return { uri, title: basename(this.root) };
  }

  async list(): Promise<SourceEntry[]> {
    let rootReal: string;
    try {
      const st = await stat(this.root);
      if (!st.isDirectory()) {
        throw new ModelcarError(
          'source',
          `${this.root} is not a directory`,
          'pass the directory that holds the model files',
        );
      }
      rootReal = await realpath(this.root);
    } catch (e) {
      if (e instanceof ModelcarError) throw e;
      throw new ModelcarError('source', `cannot read model directory ${this.root}: ${messageOf(e)}`, 'check the path');
    }
    const entries: SourceEntry[] = [];
    await this.walk(rootReal, this.root, entries);
    if (entries.length === 0) {
      throw new ModelcarError(
        'source',
        `model directory ${this.root} has no files`,
        'point at the directory that holds config.json and the weights',
      );
    }
    return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  private async walk(rootReal: string, dir: string, out: SourceEntry[]): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      throw new ModelcarError(
        'source',
        `cannot read directory ${dir}: ${messageOf(e)}`,
        'make it readable by the user running modelcar',
      );
    }
    for (const name of names) {
      const full = join(dir, name);
      const rel = relative(this.root, full).split(sep).join('/');
      const link = await lstat(full);
      let target = full;
      let st = link;
      if (link.isSymbolicLink()) {
        try {
          target = await realpath(full);
          st = await stat(target);
        } catch (e) {
          throw new ModelcarError('source', `${rel} is a broken symlink: ${messageOf(e)}`, 'fix or remove the link');
        }
        const inside = target === rootReal || target.startsWith(rootReal + sep) || (await this.inSnapshotRepo(target));
        if (!inside && !this.options.followExternalSymlinks) {
          throw new ModelcarError(
            'source',
            `${rel} is a symlink to ${target}, outside the model directory; refusing to follow it`,
            'copy the file into the directory, or pass --follow-external-symlinks if you mean to ship it (a Hugging Face cache snapshot needs this)',
          );
        }
      }
      if (st.isDirectory()) {
        if (IGNORED_DIRS.has(name)) continue;
        if (link.isSymbolicLink()) {
          throw new ModelcarError(
            'source',
            `${rel} is a symlink to a directory`,
            'replace it with the directory itself; linked directories can form cycles',
          );
        }
        await this.walk(rootReal, full, out);
        continue;
      }
      if (!st.isFile()) {
        throw new ModelcarError(
          'source',
          `${rel} is not a regular file`,
          'remove sockets, pipes and device files from the model directory',
        );
      }
      try {
        await access(target, constants.R_OK);
      } catch {
        throw new ModelcarError(
          'source',
          `${rel} is not readable`,
          `make it readable by the user running modelcar (chmod a+r "${full}")`,
        );
      }
      const identity = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
      this.files.set(rel, { real: target, identity });
      const sha256 = this.options.journal?.fileSha256(identity);
      out.push({ path: rel, size: st.size, ...(sha256 ? { sha256 } : {}) });
    }
  }

  private snapshotRepo?: Promise<string | undefined>;

  /** For a Hugging Face cache snapshot: the link points into the same repository's `blobs/`, which the cache owns. */
  private async inSnapshotRepo(target: string): Promise<boolean> {
    const snapshot = hfSnapshot(this.root);
    if (!snapshot) return false;
    this.snapshotRepo ??= realpath(snapshot.repoDir).catch(() => undefined);
    const repo = await this.snapshotRepo;
    return repo !== undefined && target.startsWith(join(repo, 'blobs') + sep);
  }

  async open(entry: SourceEntry, offset = 0): Promise<Readable> {
    const listed = this.files.get(entry.path);
    const path = listed?.real ?? join(this.root, entry.path);
    let file: FileHandle;
    try {
      file = await openFile(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      throw new ModelcarError('source', `cannot read ${entry.path}: ${messageOf(e)}`, 'check the file permissions', {
        cause: e,
      });
    }
    // The file must still be the one listed, before and after every byte is read: a same-size rewrite in place
    // changes neither size nor inode, only mtime and ctime, and would otherwise publish a mix of two versions.
    const same = async () => {
      const changed = listed && changedField(listed.identity, await file.stat());
      if (changed) {
        throw new ModelcarError(
          'source',
          `${entry.path} changed while it was read (its ${changed} changed since it was listed): the bytes read may mix two versions`,
          'nothing was published; stop whatever writes to the model directory, then run the build again',
        );
      }
    };
    try {
      await same();
    } catch (e) {
      await file.close();
      throw e;
    }
    // 1 MiB reads: fewer syscalls and hash updates than the 64 KiB default, measurably faster on multi-GB files.
    const stream = file.createReadStream({ start: offset, highWaterMark: 1024 * 1024 });
    // A sha256 from the journal is a promise about bytes on disk: hold the file to it.
    const expected = entry.sha256 && offset === 0 ? entry.sha256 : undefined;
    return checkedStream(stream, {
      label: entry.path,
      size: entry.size - offset,
      verify: same,
      ...(expected ? { expected: { size: entry.size, algorithm: 'sha256' as const, hex: expected } } : {}),
      mismatchHint:
        'the file differs from what an earlier run hashed under the same inode and times (a damaged journal?); nothing was published; delete ~/.cache/modelcar/journal.json and run again',
    });
  }

  learned(entry: SourceEntry, sha256: string): void {
    const file = this.files.get(entry.path);
    if (file) this.options.journal?.rememberFile(file.identity, sha256);
  }
}

/** Which part of a file's identity differs from what was listed, if any. */
function changedField(listed: FileIdentity, now: Stats): string | undefined {
  if (now.ino !== listed.ino || now.dev !== listed.dev) return 'inode';
  if (now.size !== listed.size) return 'size';
  if (now.mtimeMs !== listed.mtimeMs) return 'modification time';
  if (now.ctimeMs !== listed.ctimeMs) return 'change time';
  return undefined;
}
