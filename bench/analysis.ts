/** The "what bounds each case" section, with the numbers of this run. */
import type { Summary } from './stats.js';

const MB = 1e6;

export function analysis(summaries: ReadonlyMap<string, Summary>, bytes: number): string[] {
  const rate = (id: string) => {
    const s = summaries.get(id);
    return s ? `${(bytes / s.seconds / MB).toFixed(0)} MB/s` : 'not measured';
  };
  return [
    `Registry cases: the curl limit moves the files at ${rate('curl-registry')}; that is docker-registry's ingest ` +
      '(it hashes every byte and writes it to its storage), so no client can push faster to this registry.',
    `modelcar DIR -> registry (${rate('modelcar-registry')}) reads each file once and hashes it twice (file sha256 ` +
      'for the layer annotations, layer digest for the blob) on its main thread while the registry hashes it again.',
    `buildah copies the model into its vfs storage, then gzips it on push (${rate('buildah')}): gzip of incompressible ` +
      'weights is the bound, and the copy costs a full model of staging disk.',
    `olot-style + skopeo (${rate('olot-skopeo')}): one tar copy of every file plus a separate hash pass, staged on ` +
      'disk, then a second read for the upload.',
    `Layout cases: cp + sha256sum (${rate('cp-layout')}) against modelcar (${rate('modelcar-layout')}): both are ` +
      "bound by the page cache copy and the disk's write-back.",
    `hf:// cases: the Hub double serves at ${rate('hub-raw')} unthrottled; with 40 MB/s per connection curl gets ` +
      `${rate('hub-raw-capped')} with one connection per file, and modelcar's parallel ranged downloads ` +
      `get ${rate('modelcar-hf-capped')}.`,
  ];
}
