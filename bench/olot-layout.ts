/**
 * The olot way of making a ModelCar, for comparison (containers/olot, as the Kubeflow Model Registry and Konflux use
 * it): copy a base image's OCI layout, append one uncompressed tar layer per model file at /models/<name>, hash each
 * tar in a second pass, rewrite config, manifest and index. Standalone so the bench can measure it as its own process
 * tree; GNU tar and sha256sum do the byte work, as fast as olot's Python tarfile + hashlib or faster.
 *
 * Usage: node olot-layout.js MODEL_DIR BASE_LAYOUT BASE_TAG OUT_LAYOUT TAG MTIME
 *
 * MTIME (seconds) goes into every tar header: the bench gives each run its own, so each run makes new layer digests
 * and skopeo really uploads them instead of finding them in the registry (or its blob-info cache) from the last run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

async function putBlob(layout: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

async function readJson<T>(layout: string, digest: string): Promise<T> {
  return JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as T;
}

async function main(): Promise<void> {
  const [modelDir, baseLayout, baseTag, out, tag, mtime] = process.argv.slice(2);
  if (!modelDir || !baseLayout || !baseTag || !out || !tag || !mtime) {
    throw new Error('usage: MODEL BASE BASE_TAG OUT TAG MTIME');
  }
  await cp(baseLayout, out, { recursive: true });
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const baseDesc = index.manifests.find((m) => m.annotations?.[REF_NAME] === baseTag);
  if (!baseDesc) throw new Error(`${baseLayout} has no ${baseTag}`);
  const manifest = await readJson<{ config: Descriptor; layers: Descriptor[] }>(out, baseDesc.digest);
  const config = await readJson<{ rootfs: { diff_ids: string[] }; history?: unknown[] }>(out, manifest.config.digest);

  for (const name of (await readdir(modelDir)).sort()) {
    const tmp = join(out, 'blobs', 'sha256', `.tmp-${name}.tar`);
    execFileSync('tar', [
      '--format=gnu',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=a+r',
      `--mtime=@${mtime}`,
      '-C',
      modelDir,
      '--transform=s,^,models/,',
      '-cf',
      tmp,
      name,
    ]);
    const hex = execFileSync('sha256sum', [tmp], { encoding: 'utf8' }).split(' ')[0] as string;
    await rename(tmp, join(out, 'blobs', 'sha256', hex));
    const size = (await stat(join(out, 'blobs', 'sha256', hex))).size;
    manifest.layers.push({ mediaType: TAR, digest: `sha256:${hex}`, size });
    config.rootfs.diff_ids.push(`sha256:${hex}`);
    config.history?.push({ created_by: `olot: add /models/${name}` });
  }
  manifest.config = await putBlob(out, Buffer.from(JSON.stringify(config)), manifest.config.mediaType);
  const top = await putBlob(out, Buffer.from(JSON.stringify(manifest)), baseDesc.mediaType);
  index.manifests = [{ ...top, annotations: { [REF_NAME]: tag } }];
  await writeFile(join(out, 'index.json'), JSON.stringify(index));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
