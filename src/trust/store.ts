/**
 * What signing needs from a registry repository, in one place: read a manifest that may be absent, store blobs and
 * manifests (by digest or under a tag), and list an image's referrers through the OCI 1.1 referrers API, which a
 * registry without it (distribution 2.8, GHCR) answers with 404. Signatures live in registries only: containers/image
 * reads sigstore attachments from registries, and OpenShift nodes check them there.
 */
import { ModelcarError } from '../errors.js';
import { readSmallBlob } from '../image/read-image.js';
import { MediaType } from '../oci/media-types.js';
import { RegistryRepository } from '../oci/registry/repository.js';
import type { Descriptor, FetchedManifest, Repository } from '../oci/repository.js';
import type { ReferrerDescriptor } from './referrer.js';

/** Bounded as distribution and containers/image bound manifests. */
const MAX_INDEX_BYTES = 4 * 1024 * 1024;

export class TrustStore {
  private constructor(private readonly repo: RegistryRepository) {}

  static of(repo: Repository, what: string): TrustStore {
    if (!(repo instanceof RegistryRepository)) {
      throw new ModelcarError(
        'usage',
        `${what} needs an image in a registry; ${repo.label} is an OCI layout`,
        'push it to a registry first (modelcar copy oci:DIR:TAG HOST/REPO:TAG), then sign it there: signatures and attestations live beside the image in its repository',
      );
    }
    return new TrustStore(repo);
  }

  get label(): string {
    return this.repo.label;
  }

  /** The manifest under `reference`, or undefined when the registry has none. */
  async manifest(reference: string): Promise<FetchedManifest | undefined> {
    try {
      return await this.repo.fetchManifest(reference);
    } catch (e) {
      if (e instanceof ModelcarError && /not found/.test(e.message)) return undefined;
      throw e;
    }
  }

  async blob(desc: Descriptor): Promise<Buffer> {
    return readSmallBlob(this.repo, desc);
  }

  async putBlob(bytes: Buffer): Promise<void> {
    await this.repo.pushBlob({
      size: bytes.length,
      open: async function* () {
        yield bytes;
      },
    });
  }

  /** Stores a manifest, by digest when no tag is given; returns its digest. */
  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    return this.repo.pushManifest(bytes, mediaType, tag);
  }

  /** The referrers of `digest` from the referrers API; undefined when the registry has no such API. */
  async referrers(digest: string): Promise<ReferrerDescriptor[] | undefined> {
    const res = await this.repo.client.send({
      method: 'GET',
      url: `/v2/${this.repo.ref.repository}/referrers/${digest}`,
      scopes: [`repository:${this.repo.ref.repository}:pull`],
      headers: { accept: MediaType.ociIndex },
    });
    const type = String(res.headers['content-type'] ?? '');
    // The distribution spec: a registry with the API never answers 404 for a valid digest; one without it does.
    if (res.statusCode === 404 || res.statusCode === 405 || !type.startsWith(MediaType.ociIndex)) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new ModelcarError(
        'registry',
        `${this.repo.label}: listing the referrers of ${digest} failed (HTTP ${res.statusCode})`,
        'check the registry; the signature and attestations are written beside the image',
      );
    }
    const text = await res.body.text();
    if (text.length > MAX_INDEX_BYTES) {
      throw new ModelcarError(
        'registry',
        `${this.repo.label}: the referrers list of ${digest} is over 4 MiB`,
        'check the registry',
      );
    }
    const index = JSON.parse(text) as { manifests?: ReferrerDescriptor[] };
    return Array.isArray(index.manifests) ? index.manifests : [];
  }
}
