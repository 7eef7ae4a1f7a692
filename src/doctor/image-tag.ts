/** How an image reference pins its content: by digest, by a tag, or not at all (which means `latest`). */
export type Pin = { by: 'digest' } | { by: 'tag'; tag: string } | { by: 'none' } | { by: 'templated' };

export function pinOf(ref: string): Pin {
  if (/\$\(|\$\{|\{\{/.test(ref)) return { by: 'templated' };
  if (/@sha256:[a-f0-9]{64}$/.test(ref)) return { by: 'digest' };
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  return colon < 0 ? { by: 'none' } : { by: 'tag', tag: last.slice(colon + 1) };
}

const OCI_SCHEMES = /^oci(\+(modelcar|native|fetch))?:\/\//;
const OTHER_SCHEMES = /^[a-z][a-z0-9+.-]*:\/\//i;
/** `host.tld[:port]/path[:tag|@sha256:...]`: what an image reference looks like without a scheme. */
const BARE_IMAGE = /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?\/[a-z0-9._/-]+(:[\w.-]+|@sha256:[a-f0-9]{64})?$/;

export function ociRefOfStorageUri(uri: string): string | undefined {
  return OCI_SCHEMES.test(uri) ? uri.replace(OCI_SCHEMES, '') : undefined;
}

/** A storageUri that names an OCI image but lacks `oci://` (bare `quay.io/...`, `docker://...`). */
export function looksLikeImageWithoutOciScheme(uri: string): boolean {
  if (OCI_SCHEMES.test(uri)) return false;
  if (uri.startsWith('docker://')) return true;
  return !OTHER_SCHEMES.test(uri) && BARE_IMAGE.test(uri);
}
