/**
 * A child process for the layout concurrency test: `node push-tags.js LAYOUT PREFIX COUNT` writes COUNT small
 * manifests tagged PREFIX-0 … PREFIX-(COUNT-1) into the layout through the real LayoutRepository, as fast as it can,
 * so several of these at once race on index.json as concurrent builds and copies do.
 */
import { LayoutRepository } from '../../src/oci/layout/layout.js';
import { MediaType } from '../../src/oci/media-types.js';
import { pushAndTag } from '../../src/oci/repository.js';

const [dir, prefix, count] = process.argv.slice(2);
if (!dir || !prefix || !count) throw new Error('usage: push-tags.js LAYOUT PREFIX COUNT');
const layout = new LayoutRepository(dir);
await layout.checkWritable();
for (let i = 0; i < Number(count); i++) {
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, tag: `${prefix}-${i}` }),
  );
  await pushAndTag(layout, manifest, MediaType.ociManifest, `${prefix}-${i}`);
}
