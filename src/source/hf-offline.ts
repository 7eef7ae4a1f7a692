/**
 * `HF_HUB_OFFLINE=1`: a Hugging Face model built from the local Hugging Face cache only, as huggingface_hub does
 * offline. No request leaves the machine. The cache is `--cache DIR`, else HF_HUB_CACHE, else `$HF_HOME/hub`, else
 * `~/.cache/huggingface/hub`; in it `models--ORG--NAME/refs/REV` names the commit, `snapshots/COMMIT/PATH` links to
 * `blobs/ETAG`, and the blob's name is its hash (sha256 for LFS files, git blob sha1 for small ones), which every
 * file is checked against while it streams. A file that is not there is named, never skipped.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { ModelcarError, messageOf } from '../errors.js';
import { emitNetworkEvent } from '../http/events.js';
import { checkedStream, type ExpectedContent } from './content-check.js';
import { licenseOf } from './hf.js';
import { formatHfRef, type HfRef, isCommitSha } from './hf-ref.js';
import type { ModelSource, SourceEntry, SourceIdentity } from './source.js';

/** huggingface_hub's reading of a boolean variable. */
export function isOffline(env: NodeJS.ProcessEnv): boolean {
  const v = (env.HF_HUB_OFFLINE || env.TRANSFORMERS_OFFLINE || '').trim().toUpperCase();
  return ['1', 'ON', 'YES', 'TRUE'].includes(v);
}

/** The cache huggingface_hub would use: HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub. */
export function defaultHubCache(env: NodeJS.ProcessEnv): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

const OFFLINE_HINT =
  'download it while online first (modelcar build --cache DIR, or hf download ORG/NAME), point --cache or HF_HUB_CACHE at the cache that has it, or unset HF_HUB_OFFLINE';

interface CachedFile {
  readonly real: string;
  readonly expected?: ExpectedContent;
}

export class HfCacheSource implements ModelSource {
  readonly repoDir: string;
  private commit?: Promise<string>;
  private readonly files = new Map<string, CachedFile>();

  constructor(
    readonly ref: HfRef,
    readonly cacheDir: string,
  ) {
    this.repoDir = join(cacheDir, `models--${ref.org}--${ref.name}`);
  }

  private resolveCommit(): Promise<string> {
    this.commit ??= (async () => {
      const asked = this.ref.revision ?? 'main';
      let commit = asked;
      if (!isCommitSha(asked)) {
        try {
          commit = (await readFile(join(this.repoDir, 'refs', ...asked.split('/')), 'utf8')).trim();
        } catch {
          throw new ModelcarError(
            'source',
            `${formatHfRef(this.ref, this.ref.revision)} is not in the cache ${this.cacheDir} (no refs/${asked}); HF_HUB_OFFLINE is set, so nothing is downloaded`,
            OFFLINE_HINT,
          );
        }
        if (!isCommitSha(commit)) {
          throw new ModelcarError(
            'source',
            `${join(this.repoDir, 'refs', asked)} does not hold a commit sha`,
            'the cache is damaged: remove that file and download again',
          );
        }
      }
      const snapshot = join(this.repoDir, 'snapshots', commit);
      if (
        !(await stat(snapshot)
          .then((s) => s.isDirectory())
          .catch(() => false))
      ) {
        throw new ModelcarError(
          'source',
          `${formatHfRef(this.ref, commit)} is not in the cache ${this.cacheDir} (no snapshots/${commit}); HF_HUB_OFFLINE is set, so nothing is downloaded`,
          OFFLINE_HINT,
        );
      }
      emitNetworkEvent({
        type: 'note',
        endpoint: 'HF_HUB_OFFLINE',
        message: `building ${formatHfRef(this.ref, commit)} from the cache ${this.cacheDir}, no network; the commit time is not in the cache (the image time is SOURCE_DATE_EPOCH or 0)`,
      });
      return commit;
    })();
    return this.commit;
  }

  async identity(): Promise<SourceIdentity> {
    const commit = await this.resolveCommit();
    const license = await this.license(commit);
    return {
      uri: formatHfRef(this.ref, commit),
      title: this.ref.name,
      revision: commit,
      ref: this.ref.revision ?? 'main',
      ...(license ? { license } : {}),
    };
  }

  /** The model card's license, read from README.md's front matter as the Hub's cardData is. */
  private async license(commit: string): Promise<string | undefined> {
    const text = await readFile(join(this.repoDir, 'snapshots', commit, 'README.md'), 'utf8').catch(() => '');
    const front = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text)?.[1];
    if (!front) return undefined;
    try {
      return licenseOf(parseYaml(front));
    } catch {
      return undefined;
    }
  }

  async list(): Promise<SourceEntry[]> {
    const commit = await this.resolveCommit();
    const root = join(this.repoDir, 'snapshots', commit);
    const repoReal = await realpath(this.repoDir);
    const out: SourceEntry[] = [];
    await this.walk(repoReal, root, root, out);
    if (out.length === 0) {
      throw new ModelcarError(
        'source',
        `${formatHfRef(this.ref, commit)} has no files in the cache ${this.cacheDir}`,
        OFFLINE_HINT,
      );
    }
    await this.checkShards(out);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  private async walk(repoReal: string, root: string, dir: string, out: SourceEntry[]): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      const rel = relative(root, full).split(sep).join('/');
      const link = await lstat(full);
      if (link.isDirectory()) {
        await this.walk(repoReal, root, full, out);
        continue;
      }
      let real = full;
      let expected: ExpectedContent | undefined;
      if (link.isSymbolicLink()) {
        const target = basename(await readlink(full));
        try {
          real = await realpath(full);
        } catch {
          throw new ModelcarError(
            'source',
            `${rel} is missing from the cache: its link points at blob ${target}, which is not there (an interrupted download)`,
            OFFLINE_HINT,
          );
        }
        // A snapshot links into its own repository's blobs; anything else is not the cache's to vouch for.
        if (!real.startsWith(repoReal + sep)) {
          throw new ModelcarError(
            'source',
            `${rel} in the cache links outside ${this.repoDir}; refusing to read it`,
            'the cache was altered by hand: remove the link and download again',
          );
        }
        if (/^[0-9a-f]{64}$/.test(target)) expected = { size: 0, algorithm: 'sha256', hex: target };
        else if (/^[0-9a-f]{40}$/.test(target)) expected = { size: 0, algorithm: 'git-sha1', hex: target };
      }
      const st = await stat(real);
      if (!st.isFile()) continue;
      const fixed = expected ? { ...expected, size: st.size } : undefined;
      this.files.set(rel, { real, ...(fixed ? { expected: fixed } : {}) });
      out.push({
        path: rel,
        size: st.size,
        ...(fixed?.algorithm === 'sha256' ? { sha256: fixed.hex } : fixed ? { gitSha1: fixed.hex } : {}),
      });
    }
  }

  /** Sharded weights whose index names a shard the snapshot lacks: name the shard, do not build half a model. */
  private async checkShards(entries: SourceEntry[]): Promise<void> {
    const have = new Set(entries.map((e) => e.path));
    for (const e of entries) {
      if (!e.path.endsWith('.safetensors.index.json')) continue;
      const file = this.files.get(e.path);
      if (!file) continue;
      let map: Record<string, unknown> = {};
      try {
        map =
          (JSON.parse(await readFile(file.real, 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
      } catch {
        continue; // not our business here: the build's own selection reads the index
      }
      const dir = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/') + 1) : '';
      for (const shard of new Set(Object.values(map).filter((v): v is string => typeof v === 'string'))) {
        if (!have.has(`${dir}${shard}`)) {
          throw new ModelcarError(
            'source',
            `${dir}${shard} (listed in ${e.path}) is not in the cache ${this.cacheDir}; HF_HUB_OFFLINE is set, so it cannot be downloaded`,
            OFFLINE_HINT,
          );
        }
      }
    }
  }

  async open(entry: SourceEntry, offset = 0): Promise<Readable> {
    const file = this.files.get(entry.path);
    if (!file) {
      throw new ModelcarError('source', `${entry.path} is not in the cached snapshot`, 'pass a path from the listing');
    }
    const stream = createReadStream(file.real, { start: offset, highWaterMark: 1024 * 1024 });
    await new Promise<void>((ok, fail) => {
      stream.once('open', () => ok());
      stream.once('error', (e) =>
        fail(
          new ModelcarError(
            'source',
            `cannot read ${entry.path} from the cache: ${messageOf(e)}`,
            'check the file permissions',
          ),
        ),
      );
    });
    return checkedStream(stream, {
      label: entry.path,
      size: entry.size - offset,
      ...(offset === 0 && file.expected ? { expected: file.expected } : {}),
      mismatchHint:
        'the cached blob does not hold the bytes its name promises (a damaged cache): delete it and download again',
    });
  }
}
