/**
 * Names derived from the source when the user gives none: the repository from the model's name, the tag from its
 * pinned revision, or, for a source without one (a local directory), from the image's own digest. Never `latest`.
 */
import { sanitizeComponent, sanitizeTag } from '../oci/reference.js';
import type { SourceIdentity } from '../source/source.js';

export function defaultRepositoryName(identity: SourceIdentity): string {
  return sanitizeComponent(identity.title);
}

export function defaultTag(identity: SourceIdentity, manifestDigest: string): string {
  if (identity.revision) return sanitizeTag(identity.revision.slice(0, 12));
  return `sha-${manifestDigest.slice('sha256:'.length, 'sha256:'.length + 12)}`;
}
