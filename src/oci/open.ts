/**
 * Opens a Repository for any image location a user can write: an OCI layout directory or a registry repository with
 * its credentials and TLS settings. The one place that turns a parsed location into I/O.
 */
import { LayoutRepository } from './layout/layout.js';
import type { ImageLocation } from './reference.js';
import { RegistryClient, type TransportOptions } from './registry/client.js';
import { type Credential, type CredentialOptions, resolveCredential } from './registry/credentials.js';
import { limitsFor } from './registry/profiles.js';
import { RegistryRepository, type UploadOptions } from './registry/repository.js';
import type { Repository } from './repository.js';

export type RegistryOptions = TransportOptions &
  Pick<CredentialOptions, 'authFile' | 'saTokenHosts'> &
  Pick<UploadOptions, 'chunkSize'> & {
    /** A credential given on the command line (`copy --dest-creds`): wins over every file. */
    readonly credential?: Credential;
  };

export async function openRepository(location: ImageLocation, opts: RegistryOptions = {}): Promise<Repository> {
  if (location.transport === 'layout') return new LayoutRepository(location.dir);
  const { registry, repository } = location.ref;
  const credential = opts.credential ?? (await resolveCredential(registry, repository, opts));
  // The registry's known chunk rules apply; --chunk-size only chooses chunked mode and the size within them.
  const { maxChunkBytes, monolithicOnly } = limitsFor(registry);
  return new RegistryRepository(new RegistryClient(registry, credential, opts), location.ref, {
    ...(opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {}),
    ...(maxChunkBytes !== undefined ? { maxChunkBytes } : {}),
    ...(monolithicOnly ? { monolithicOnly } : {}),
  });
}
