/**
 * Test helpers around built images, each using an independent reader: the busybox base made by `modelcar base`,
 * OCI layout reads straight from the files the spec defines, `skopeo copy` out of a registry, `umoci unpack`, and
 * KServe's own sidecar commands run with the image's own shell in the unpacked rootfs.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { modelcarOk, run } from './cli.js';
import { sha256Hex } from './fixtures.js';
import type { TestRegistry } from './registry.js';
import { requireTool, tool } from './tools.js';

export interface BusyboxBase {
  /** `oci:DIR:busybox` */
  readonly layout: string;
  readonly layoutDigest: string;
  /** `HOST/bases/busybox:1` when a registry was given. */
  readonly registry?: string;
  readonly registryDigest?: string;
}

/** Builds the busybox base into a layout under `work` and, with a registry, pushes it there (bases/busybox:1). */
export async function busyboxBase(work: string, registry?: TestRegistry): Promise<BusyboxBase> {
  const busybox = requireTool('busybox');
  const layout = `oci:${join(work, 'base')}:busybox`;
  const digestOf = (stdout: string) => {
    const m = /(sha256:[a-f0-9]{64})/.exec(stdout);
    assert.ok(m, `modelcar base printed no digest: ${stdout}`);
    return m[1] as string;
  };
  const local = await modelcarOk(['base', '--busybox', busybox, '--to', layout]);
  if (!registry) return { layout, layoutDigest: digestOf(local.stdout) };
  const ref = `${registry.host}/bases/busybox:1`;
  const pushed = await modelcarOk(['base', '--busybox', busybox, '--to', ref]);
  return { layout, layoutDigest: digestOf(local.stdout), registry: ref, registryDigest: digestOf(pushed.stdout) };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: number;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface LayoutImage {
  readonly digest: string;
  readonly manifest: OciManifest;
  readonly config: Record<string, unknown> & {
    config: Record<string, unknown>;
    rootfs: { type: string; diff_ids: string[] };
    history: { created: string; created_by: string }[];
    created: string;
  };
}

export function layoutBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', ...digest.split(':')));
}

/** The tags of a layout's index.json (empty when there is no index). */
export async function layoutTags(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch {
    return [];
  }
  const index = JSON.parse(text) as { manifests: Descriptor[] };
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '');
}

/** Reads an image out of a layout by tag, from the files themselves. */
export async function readLayoutImage(dir: string, tag: string): Promise<LayoutImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(desc, `layout ${dir} has no tag ${tag}`);
  const manifestBytes = await layoutBlob(dir, desc.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as OciManifest;
  const config = JSON.parse((await layoutBlob(dir, manifest.config.digest)).toString('utf8'));
  return { digest: desc.digest, manifest, config };
}

export interface TreeEntry {
  readonly mode: number;
  readonly dir: boolean;
  /** Files only. */
  readonly sha256?: string;
}

/** Every file and directory under `root` (relative POSIX path): mode, and each file's sha256. */
export async function walkTree(root: string, rel = ''): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  for (const name of await readdir(join(root, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    const st = await stat(join(root, path));
    if (st.isDirectory()) {
      out.set(path, { mode: st.mode & 0o7777, dir: true });
      for (const [p, v] of await walkTree(root, path)) out.set(p, v);
    } else {
      out.set(path, { mode: st.mode & 0o7777, sha256: sha256Hex(await readFile(join(root, path))), dir: false });
    }
  }
  return out;
}

export interface SkopeoInspected {
  readonly Digest: string;
  readonly Layers: string[];
}

/** `skopeo inspect` of an image in a plain-HTTP registry. */
export async function skopeoInspect(ref: string): Promise<SkopeoInspected> {
  return JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as SkopeoInspected;
}

/** Copies a registry image into a layout with skopeo, keeping its digest. */
export async function copyToLayout(ref: string, layoutDir: string, tag: string): Promise<void> {
  await tool('skopeo', [
    'copy',
    '--preserve-digests',
    '--src-tls-verify=false',
    `docker://${ref}`,
    `oci:${layoutDir}:${tag}`,
  ]);
}

/** `umoci unpack --rootless` into `bundle`; returns the rootfs path. */
export async function unpack(layoutDir: string, tag: string, bundle: string): Promise<string> {
  await tool('umoci', ['unpack', '--rootless', '--image', `${layoutDir}:${tag}`, bundle]);
  return join(bundle, 'rootfs');
}

export interface SidecarRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `script` with the image's own /bin/sh inside `rootfs` (chroot), in fresh mount and PID namespaces with /proc
 * mounted, as KServe's containers see it. `/mnt` stands for the pod's shared emptyDir: fresh for each run and
 * writable by any user.
 */
export async function inRootfs(rootfs: string, script: string, user?: number): Promise<SidecarRun> {
  assert.equal(process.getuid?.(), 0, 'running the sidecar commands needs root (chroot); CI runs the tests as root');
  await mkdir(join(rootfs, 'proc'), { recursive: true });
  await rm(join(rootfs, 'mnt'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'mnt'));
  await chmod(join(rootfs, 'mnt'), 0o1777);
  return run([
    requireTool('unshare'),
    '--mount',
    '--pid',
    '--fork',
    `--mount-proc=${join(rootfs, 'proc')}`,
    requireTool('chroot'),
    ...(user === undefined ? [] : [`--userspec=${user}:${user}`]),
    rootfs,
    '/bin/sh',
    '-c',
    script,
  ]);
}

/** KServe's init container check (storage-initializer for modelcars). */
export const INIT_CHECK = '[ -d /models ] && [ "$(ls -A /models)" ]';
/** KServe's sidecar command, with `ls` in place of `sleep infinity`. */
export const SIDECAR = 'ln -sf /proc/$$/root/models /mnt/models && ls /mnt/models/';
/** Reads every file through the sidecar's link: proves the model is readable by the user that runs it. */
export const READ_ALL =
  'ln -sf /proc/$$/root/models /mnt/models && ' +
  'r() { for p in "$1"/*; do if [ -d "$p" ]; then r "$p" || return 1; else cat "$p" > /mnt/.read || return 1; echo "$p"; fi; done; }; ' +
  'r /mnt/models';

/**
 * The ModelCar contract in an unpacked rootfs: the init check passes, the sidecar command lists the model as root,
 * and UID 1001 (any arbitrary user) can read every file through the link. Returns the files UID 1001 read.
 */
export async function assertSidecarContract(rootfs: string, topLevel: readonly string[]): Promise<string[]> {
  const init = await inRootfs(rootfs, INIT_CHECK);
  assert.equal(init.code, 0, `init check failed: ${init.stderr}`);
  const side = await inRootfs(rootfs, SIDECAR);
  assert.equal(side.code, 0, `sidecar command failed: ${side.stderr}`);
  assert.deepEqual(side.stdout.trim().split('\n').sort(), [...topLevel].sort());
  const asUser = await inRootfs(rootfs, READ_ALL, 1001);
  assert.equal(asUser.code, 0, `UID 1001 could not read the model: ${asUser.stderr}`);
  return asUser.stdout
    .trim()
    .split('\n')
    .map((p) => p.replace(/^\/mnt\/models\//, ''));
}
