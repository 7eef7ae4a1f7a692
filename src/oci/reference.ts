/**
 * Image references, spelled as users already write them:
 *   oci:DIR[:TAG]                      an OCI image layout on disk (skopeo's spelling)
 *   docker://HOST/REPO[:TAG][@DIGEST]  a registry (skopeo's spelling)
 *   oci://HOST/REPO[:TAG][@DIGEST]     a registry (KServe's storageUri spelling)
 *   HOST/REPO[:TAG][@DIGEST]           a registry (podman and crane accept the bare form)
 * Validation follows the grammar of distribution/reference, with a message saying which part is wrong.
 */
import { ModelcarError } from '../errors.js';

export interface RegistryRef {
  /** `host[:port]` as written, e.g. `quay.io`, `localhost:5000`, `docker.io`. */
  readonly registry: string;
  /** Repository path, e.g. `org/model`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export type ImageLocation =
  | { readonly transport: 'layout'; readonly dir: string; readonly tag?: string }
  | { readonly transport: 'registry'; readonly ref: RegistryRef };

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_PART = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
// The image-spec digest grammar (algorithm:encoded): no '/', no '.', nothing that can change a URL path.
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * A digest or tag that came from a manifest or an index (a server's data), checked before it becomes part of a URL
 * path: blobs are named by digest only, manifests by digest or tag.
 */
export function isSafeReference(kind: 'blobs' | 'manifests', ref: unknown): ref is string {
  if (typeof ref !== 'string') return false;
  return ANY_DIGEST.test(ref) || (kind === 'manifests' && TAG.test(ref));
}

function invalid(text: string, why: string, hint?: string): ModelcarError {
  return new ModelcarError(
    'reference',
    `invalid image reference "${text}": ${why}`,
    hint ?? 'write HOST[:PORT]/REPO[:TAG], docker://HOST/REPO:TAG, oci://HOST/REPO:TAG or oci:DIR[:TAG]',
  );
}

function isHost(part: string): boolean {
  // As docker does: the first component is a host when it has a dot or a port, or is localhost.
  return part.includes('.') || part.includes(':') || part === 'localhost' || part.startsWith('[');
}

function validHost(host: string): boolean {
  let name = host;
  const ipv6 = /^\[[0-9A-Fa-f:.]+\](?::(\d+))?$/.exec(host);
  if (ipv6) return ipv6[1] === undefined || Number(ipv6[1]) <= 65535;
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    const port = host.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return false;
    name = host.slice(0, colon);
  }
  return name.split('.').every((p) => HOST_PART.test(p));
}

export interface ParseRegistryOptions {
  /** Accept `HOST` or `HOST/` alone (the repository will be derived from the source). */
  readonly allowMissingRepository?: boolean;
}

/** Parses a registry reference without transport prefix. */
export function parseRegistryRef(input: string, original = input, opts: ParseRegistryOptions = {}): RegistryRef {
  let rest = input.trim();
  if (rest === '') throw invalid(original, 'it is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw invalid(original, `digest "${digest}" is not sha256: followed by 64 lower-case hex digits`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash && !(lastSlash < 0 && opts.allowMissingRepository && isHost(rest))) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw invalid(
        original,
        `tag "${tag}" is not valid`,
        'a tag is 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"',
      );
    }
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && isHost(parts[0] as string)) {
    registry = parts.shift() as string;
  } else if (parts.length === 1 && opts.allowMissingRepository && isHost(parts[0] as string)) {
    registry = parts.shift() as string;
  }
  if (!validHost(registry)) throw invalid(original, `registry host "${registry}" is not a valid host[:port]`);
  if (parts.length === 1 && parts[0] === '' && opts.allowMissingRepository) parts.length = 0;
  if (parts.length === 0) {
    if (opts.allowMissingRepository)
      return { registry, repository: '', ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
    throw invalid(original, 'the repository name is missing', 'add a repository after the host: HOST/REPO[:TAG]');
  }
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      const lower = part.toLowerCase();
      const why =
        part !== lower && COMPONENT.test(lower)
          ? `repository part "${part}" must be lower case (try "${lower}")`
          : `repository part "${part}" is not valid: use lower-case letters and digits, separated by ".", "_", "__" or "-"`;
      throw invalid(original, why);
    }
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (`${registry}/${repository}`.length > 255)
    throw invalid(original, 'host and repository are longer than 255 characters');
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Parses any supported spelling of an image location. */
export function parseImageLocation(text: string, opts: ParseRegistryOptions = {}): ImageLocation {
  if (text.startsWith('docker://')) return { transport: 'registry', ref: parseRegistryRef(text.slice(9), text, opts) };
  if (text.startsWith('oci://')) return { transport: 'registry', ref: parseRegistryRef(text.slice(6), text, opts) };
  if (text.startsWith('oci+native://'))
    return { transport: 'registry', ref: parseRegistryRef(text.slice(13), text, opts) };
  if (text.startsWith('oci:')) {
    const body = text.slice(4);
    // skopeo splits at the first colon: DIR itself cannot contain one.
    const colon = body.indexOf(':');
    const dir = colon >= 0 ? body.slice(0, colon) : body;
    const tag = colon >= 0 ? body.slice(colon + 1) : undefined;
    if (dir === '')
      throw invalid(text, 'the layout directory is missing', 'write oci:DIR[:TAG], e.g. oci:./out/my-model:v1');
    if (tag !== undefined && !TAG.test(tag)) {
      throw invalid(
        text,
        `tag "${tag}" is not valid`,
        'a tag is 1-128 characters of letters, digits, "_", "." and "-"',
      );
    }
    return { transport: 'layout', dir, ...(tag ? { tag } : {}) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw invalid(text, `unknown transport "${text.slice(0, text.indexOf('://'))}://"`);
  }
  return { transport: 'registry', ref: parseRegistryRef(text, text, opts) };
}

export function tagOf(location: ImageLocation): string | undefined {
  return location.transport === 'layout' ? location.tag : location.ref.tag;
}

/** The location with `tag` where it names none. */
export function withTag(location: ImageLocation, tag: string): ImageLocation {
  if (location.transport === 'layout') return { ...location, tag: location.tag ?? tag };
  return { transport: 'registry', ref: { ...location.ref, tag: location.ref.tag ?? tag } };
}

/**
 * What to ask a repository for: a layout tag (or, without one, its only image), a registry digest or tag. modelcar
 * never assumes "latest" for images it reads back; `fallbackTag` is for the one place a user expects it (the base).
 */
export function manifestReference(location: ImageLocation, fallbackTag?: string): string {
  if (location.transport === 'layout') return location.tag ?? '';
  const ref = location.ref.digest ?? location.ref.tag ?? fallbackTag;
  if (!ref) {
    throw new ModelcarError(
      'usage',
      `${formatLocation(location)} names no tag or digest`,
      'add :TAG or @sha256:DIGEST; modelcar never assumes "latest"',
    );
  }
  return ref;
}

/**
 * How an image just written is named to the user: `HOST/REPO:TAG@DIGEST`, or for a layout `oci:DIR:TAG DIGEST`
 * (skopeo's layout reference cannot carry a digest, so it goes beside it).
 */
export function formatWritten(location: ImageLocation, digest: string): string {
  if (location.transport === 'layout') return `${formatLocation(location)} ${digest}`;
  return formatRef({ ...location.ref, digest });
}

/** `host/repo[:tag][@digest]`, the canonical spelling. */
export function formatRef(ref: RegistryRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export function formatLocation(loc: ImageLocation): string {
  return loc.transport === 'layout'
    ? `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ''}`
    : `docker://${formatRef(loc.ref)}`;
}

/** The HTTP origin of a registry host: plain HTTP only for loopback, TLS everywhere else (podman and crane agree). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Docker Hub is reached at a different host than the one users write. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** Turns any text into a valid repository component (lower case, separators collapsed). */
export function sanitizeComponent(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '');
  return s === '' ? 'model' : s.slice(0, 128);
}

/** Turns any text into a valid tag. */
export function sanitizeTag(text: string): string {
  const s = text.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '');
  return s === '' ? 'model' : s.slice(0, 128);
}
