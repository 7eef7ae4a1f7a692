/**
 * What earlier runs learned, kept on local disk so a re-run (or a run after a crash or Ctrl-C) need not read or send
 * again what it already has:
 *   - files: a local file's identity (device, inode, size, mtime, ctime) -> its sha256, so a directory source can vouch
 *     for content without hashing it again;
 *   - layers: a layer's name (tar parameters + files with sha256) -> its digest, so a build can HEAD the destination
 *     for a layer it committed before and skip it, even when no manifest was written.
 * The journal only ever saves work: a stale or lost journal costs one more hashing pass, never a wrong image (the
 * source still verifies every byte it streams, and the destination verifies every digest).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeDirs } from '../run/dirs.js';

export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export interface LayerRecord {
  readonly digest: string;
  readonly size: number;
}

interface Stored {
  version: 1;
  files: Record<string, string>;
  layers: Record<string, LayerRecord>;
}

/** Entries kept per map; the oldest go first. Enough for thousands of models, small enough to load in milliseconds. */
const MAX_ENTRIES = 20_000;

/** `$MODELCAR_CACHE_HOME`, else `$XDG_CACHE_HOME/modelcar`, else `~/.cache/modelcar`. */
export function journalDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELCAR_CACHE_HOME) return env.MODELCAR_CACHE_HOME;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'modelcar');
}

function fileKey(f: FileIdentity): string {
  return `${f.dev}:${f.ino}:${f.size}:${Math.round(f.mtimeMs * 1000)}:${Math.round(f.ctimeMs * 1000)}`;
}

function load(path: string): Stored {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Stored>;
    if (parsed.version === 1 && parsed.files && parsed.layers) return parsed as Stored;
  } catch {
    // Missing or unreadable: start empty, the journal is only a shortcut.
  }
  return { version: 1, files: {}, layers: {} };
}

function trim<T>(record: Record<string, T>): Record<string, T> {
  const keys = Object.keys(record);
  if (keys.length <= MAX_ENTRIES) return record;
  return Object.fromEntries(keys.slice(keys.length - MAX_ENTRIES).map((k) => [k, record[k] as T]));
}

export class Journal {
  private readonly path: string;
  private readonly data: Stored;
  private readonly added: Stored = { version: 1, files: {}, layers: {} };
  private saving: Promise<void> = Promise.resolve();

  constructor(readonly dir: string = journalDir()) {
    this.path = join(dir, 'journal.json');
    this.data = load(this.path);
  }

  fileSha256(file: FileIdentity): string | undefined {
    return this.data.files[fileKey(file)];
  }

  rememberFile(file: FileIdentity, sha256: string): void {
    const key = fileKey(file);
    this.data.files[key] = sha256;
    this.added.files[key] = sha256;
  }

  layer(key: string): LayerRecord | undefined {
    return this.data.layers[key];
  }

  rememberLayer(key: string, record: LayerRecord): void {
    this.data.layers[key] = record;
    this.added.layers[key] = record;
  }

  /**
   * Writes what this run added, merged over what is on disk now (another run may have saved meanwhile), through a
   * temporary file and a rename. Failing to save is not an error of the build.
   */
  save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      try {
        const current = load(this.path);
        const merged: Stored = {
          version: 1,
          files: trim({ ...current.files, ...this.added.files }),
          layers: trim({ ...current.layers, ...this.added.layers }),
        };
        await makeDirs(this.dir);
        const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(tmp, JSON.stringify(merged));
        await rename(tmp, this.path);
      } catch {
        // A read-only HOME must not fail a build that otherwise worked.
      }
    });
    return this.saving;
  }
}
