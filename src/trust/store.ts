/**
 * What signing needs from an image's repository, over the store contract: small manifests and blobs read whole and
 * checked, bytes stored, manifests stored by digest or under a tag, and the referrers API (undefined where the
 * registry has none: distribution 2.8, GHCR). Signatures live in registries only: containers/image reads sigstore
 * attachments from registries, and OpenShift nodes check them there; a layout would hold signatures no one reads.
 */
import { ModelcarError } from '../errors.js';
import { RegistryRepository } from '../oci/registry/repository.js';
import { pushAndTag, type Repository } from '../oci/repository.js';
import { readSmallBlob } from '../oci/resolve.js';
import type { Descriptor, ManifestBytes } from '../oci/spec.js';

export class TrustStore {
  private constructor(private readonly repo: Repository) {}

  static of(repo: Repository, what: string): TrustStore {
    if (!(repo instanceof RegistryRepository)) {
      throw new ModelcarError(
        'usage',
        `${what} needs an image in a registry; ${repo.label} is an OCI layout`,
        'push it to a registry first (modelcar copy oci:DIR:TAG HOST/REPO:TAG) and sign it there: signatures and attestations live beside the image in its repository',
      );
    }
    return new TrustStore(repo);
  }

  get label(): string {
    return this.repo.label;
  }

  /** The manifest under a tag or digest, or undefined when there is none. */
  manifest(reference: string): Promise<ManifestBytes | undefined> {
    return this.repo.fetchManifest(reference);
  }

  blob(desc: Descriptor): Promise<Buffer> {
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

  /** Stores a manifest (under `tag` when given); returns its digest. */
  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    return (await pushAndTag(this.repo, bytes, mediaType, tag)).digest;
  }

  /** The referrers of `subject` through the referrers API; undefined when the registry has no such API. */
  referrers(subject: Descriptor): Promise<Descriptor[] | undefined> {
    return this.repo.referrers(subject);
  }
}
