/**
 * A minimal ModelCar base made from a static busybox binary (Debian's busybox-static): /bin/busybox and links for
 * the applets KServe's sidecar runs (sh, ln, sleep, mkdir, ls, ...). For air-gapped clusters and offline tests,
 * where ubi-micro cannot be pulled. Deterministic: the same busybox gives the same digest.
 */
import { readFile } from 'node:fs/promises';
import { ModelcarError, messageOf } from '../errors.js';
import { digestOf } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';
import { pushAndTag, type Repository } from '../oci/repository.js';
import type { Platform } from '../oci/spec.js';
import { encodeHeader, padding, type TarHeader, TRAILER_SIZE } from './tar.js';

/** What the sidecar and its init check need, plus what people reach for when they debug a pod. */
export const BUSYBOX_APPLETS = ['[', 'cat', 'echo', 'env', 'id', 'ln', 'ls', 'mkdir', 'sh', 'sleep', 'test', 'true'];

export function hostPlatform(): Platform {
  const arch = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' }[process.arch as string];
  return { os: 'linux', architecture: arch ?? process.arch };
}

function layerTar(busybox: Buffer): Buffer {
  const mtime = 0;
  const headers: TarHeader[] = [
    { path: 'bin', type: 'dir', size: 0, mode: 0o755, mtime },
    ...BUSYBOX_APPLETS.map(
      (a): TarHeader => ({ path: `bin/${a}`, type: 'symlink', size: 0, mode: 0o777, mtime, linkname: 'busybox' }),
    ),
    { path: 'tmp', type: 'dir', size: 0, mode: 0o1777, mtime },
  ];
  const parts: Buffer[] = [encodeHeader(headers[0] as TarHeader)];
  parts.push(
    encodeHeader({ path: 'bin/busybox', type: 'file', size: busybox.length, mode: 0o755, mtime }),
    busybox,
    Buffer.alloc(padding(busybox.length)),
  );
  for (const h of headers.slice(1)) parts.push(encodeHeader(h));
  parts.push(Buffer.alloc(TRAILER_SIZE));
  return Buffer.concat(parts);
}

async function pushBytes(target: Repository, bytes: Buffer): Promise<string> {
  const pushed = await target.pushBlob({
    size: bytes.length,
    digest: digestOf(bytes),
    open: async function* () {
      yield bytes;
    },
  });
  return pushed.digest;
}

/** Writes the base image to `target` under `tag`; returns the manifest digest. */
export async function writeBusyboxBase(
  busyboxPath: string,
  target: Repository,
  tag: string,
  platform = hostPlatform(),
): Promise<string> {
  let busybox: Buffer;
  try {
    busybox = await readFile(busyboxPath);
  } catch (e) {
    throw new ModelcarError(
      'source',
      `cannot read busybox binary ${busyboxPath}: ${messageOf(e)}`,
      'install it: apt-get install busybox-static (gives /bin/busybox)',
    );
  }
  if (busybox.subarray(0, 4).toString('latin1') !== '\x7fELF') {
    throw new ModelcarError(
      'source',
      `${busyboxPath} is not an executable (ELF) file`,
      'point --busybox at a static busybox binary, e.g. /bin/busybox from busybox-static',
    );
  }
  await target.checkWritable();
  const layer = layerTar(busybox);
  const layerDigest = await pushBytes(target, layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      created: '1970-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'modelcar base --busybox' }],
    }),
  );
  const configDigest = await pushBytes(target, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MediaType.ociLayer, digest: layerDigest, size: layer.length }],
    }),
  );
  return (await pushAndTag(target, manifest, MediaType.ociManifest, tag)).digest;
}
