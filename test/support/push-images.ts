/**
 * Images for registry tests: random layers pushed through the Repository API as a real build does (blobs, config,
 * manifest last), and skopeo as the independent reader that checks every digest on the way back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BlobToPush, pushAndTag, type Repository } from '../../src/oci/repository.js';
import { tool } from './tools.js';

export const MiB = 1024 * 1024;

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export interface SourceStats {
  opens: number;
  /** Offsets passed to openAt. */
  resumedAt: number[];
}

/** A blob from memory, read in 1 MiB pieces like a file; `delayMs` between pieces makes a push last. */
export function blobOf(
  data: Buffer,
  opts: { digest?: boolean; openAt?: boolean; delayMs?: number } = {},
): BlobToPush & { stats: SourceStats } {
  const stats: SourceStats = { opens: 0, resumedAt: [] };
  async function* from(offset: number): AsyncGenerator<Buffer> {
    for (let at = offset; at < data.length; at += MiB) {
      if (opts.delayMs) await sleep(opts.delayMs);
      yield data.subarray(at, Math.min(data.length, at + MiB));
    }
  }
  return {
    size: data.length,
    ...(opts.digest ? { digest: sha256(data) } : {}),
    stats,
    open: () => {
      stats.opens++;
      return from(0);
    },
    ...(opts.openAt
      ? {
          openAt: (offset: number) => {
            stats.resumedAt.push(offset);
            return from(offset);
          },
        }
      : {}),
  };
}

export function randomLayers(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(size));
}

/** Pushes layers (in parallel), a config and the manifest; returns the manifest digest. */
export async function pushImage(
  repo: Repository,
  layers: readonly Buffer[],
  tag: string,
  blobOpts: Parameters<typeof blobOf>[1] = {},
): Promise<string> {
  const pushed = await Promise.all(layers.map((l) => repo.pushBlob(blobOf(l, blobOpts))));
  for (const [i, p] of pushed.entries()) {
    if (p.digest !== sha256(layers[i] as Buffer)) throw new Error(`layer ${i} came back as ${p.digest}`);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: pushed.map((p) => p.digest) },
    }),
  );
  const cfg = await repo.pushBlob(blobOf(config));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
      layers: pushed.map((p) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: p.digest,
        size: p.size,
      })),
    }),
  );
  return (await pushAndTag(repo, manifest, 'application/vnd.oci.image.manifest.v1+json', tag)).digest;
}

/**
 * skopeo copies the image out of the registry (it verifies each blob against its digest while copying) and the
 * copied layers are compared with what was pushed.
 */
export async function verifyWithSkopeo(
  image: string,
  layers: readonly Buffer[],
  extraArgs: readonly string[] = ['--src-tls-verify=false'],
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'modelcar-skopeo-'));
  try {
    await tool('skopeo', ['copy', ...extraArgs, `docker://${image}`, `dir:${dir}`]);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      layers: { digest: string }[];
    };
    const got = manifest.layers.map((l) => l.digest);
    const want = layers.map(sha256);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`layers ${got} != ${want}`);
    for (const digest of got) {
      const bytes = await readFile(join(dir, digest.slice('sha256:'.length)));
      if (sha256(bytes) !== digest) throw new Error(`skopeo read ${sha256(bytes)} for ${digest}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
