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
import { type Descriptor, formatPlatform, type Platform, parsePlatform } from '../oci/spec.js';
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

/** One `--busybox` argument: `PATH` (the machine's platform) or `OS/ARCH[/VARIANT]=PATH`. */
export interface BusyboxFor {
  readonly platform: Platform;
  readonly path: string;
}

export function parseBusyboxArg(arg: string): BusyboxFor {
  const eq = arg.indexOf('=');
  if (eq > 0 && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(arg.slice(0, eq))) {
    return { platform: parsePlatform(arg.slice(0, eq)), path: arg.slice(eq + 1) };
  }
  return { platform: hostPlatform(), path: arg };
}

/** ELF e_machine of each architecture a ModelCar base is built for (the ELF specification's EM_* numbers). */
const ELF_MACHINE: Readonly<Record<string, number>> = {
  amd64: 62,
  arm64: 183,
  ppc64le: 21,
  s390x: 22,
  arm: 40,
  '386': 3,
};

async function readBusybox(b: BusyboxFor): Promise<Buffer> {
  let busybox: Buffer;
  try {
    busybox = await readFile(b.path);
  } catch (e) {
    throw new ModelcarError(
      'source',
      `cannot read busybox binary ${b.path}: ${messageOf(e)}`,
      'install it: apt-get install busybox-static (gives /bin/busybox); for another CPU: apt-get download busybox-static:arm64 && dpkg-deb -x',
    );
  }
  if (busybox.subarray(0, 4).toString('latin1') !== '\x7fELF' || busybox.length < 20) {
    throw new ModelcarError(
      'source',
      `${b.path} is not an executable (ELF) file`,
      'point --busybox at a static busybox binary, e.g. /bin/busybox from busybox-static',
    );
  }
  // A shell for another CPU would fail in every pod with "exec format error": refuse it here instead.
  const machine = busybox.readUInt16LE(18);
  const want = ELF_MACHINE[b.platform.architecture];
  if (want !== undefined && machine !== want) {
    const is = Object.entries(ELF_MACHINE).find(([, m]) => m === machine)?.[0] ?? `ELF machine ${machine}`;
    throw new ModelcarError(
      'usage',
      `${b.path} is a busybox for ${is}, not ${formatPlatform(b.platform)}`,
      `write --busybox linux/${is}=${b.path}, or give a busybox built for ${b.platform.architecture}`,
    );
  }
  return busybox;
}

/** Pushes one platform's base image (layer, config, manifest; no tag) and returns its descriptor. */
async function pushPlatformImage(target: Repository, busybox: Buffer, platform: Platform): Promise<Descriptor> {
  const layer = layerTar(busybox);
  const layerDigest = await pushBytes(target, layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
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
  const stored = await target.pushManifest(manifest, MediaType.ociManifest);
  return { mediaType: MediaType.ociManifest, digest: stored.digest, size: manifest.length, platform };
}

/**
 * Writes the base to `target` under `tag`: one image for one busybox, else an OCI index of one image per platform
 * (sorted by platform, so the same binaries give the same index digest). Returns the digest the tag names.
 */
export async function writeBusyboxBase(
  busyboxes: readonly BusyboxFor[],
  target: Repository,
  tag: string,
): Promise<string> {
  const seen = new Set<string>();
  for (const b of busyboxes) {
    const name = formatPlatform(b.platform);
    if (seen.has(name)) {
      throw new ModelcarError('usage', `--busybox names ${name} twice`, 'give one busybox per platform');
    }
    seen.add(name);
  }
  const binaries = await Promise.all(busyboxes.map(readBusybox));
  await target.checkWritable();
  const images: Descriptor[] = [];
  for (const [i, b] of busyboxes.entries())
    images.push(await pushPlatformImage(target, binaries[i] as Buffer, b.platform));
  if (images.length === 1) {
    const only = images[0] as Descriptor;
    const stored = await target.fetchManifest(only.digest);
    if (!stored) throw new ModelcarError('internal', `${target.label} lost manifest ${only.digest}`);
    await target.tag(stored, tag);
    return only.digest;
  }
  images.sort((a, b) => (formatPlatform(a.platform) < formatPlatform(b.platform) ? -1 : 1));
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images }));
  return (await pushAndTag(target, index, MediaType.ociIndex, tag)).digest;
}
