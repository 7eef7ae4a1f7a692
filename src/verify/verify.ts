/**
 * `verify`: stream every layer of an image back and check it against what the image promises (layer digests, the
 * per-file sha256 in the layer annotations) and, optionally, against the model source it was built from. Each layer
 * is hashed and walked as tar in one pass, one layer at a time: memory stays constant whatever the model size.
 */
import { createHash } from 'node:crypto';
import type { LayerFile } from '../image/layer.js';
import { annotatedFiles, readLayer } from '../image/read-image.js';
import type { Repository } from '../oci/repository.js';
import { resolveImage } from '../oci/resolve.js';
import type { Descriptor, Platform } from '../oci/spec.js';
import { readIndexFiles, selectFiles } from '../plan/select.js';
import type { ModelSource, SourceEntry } from '../source/source.js';

export type DifferenceKind =
  | 'layer-digest'
  | 'layer-size'
  | 'layer-unreadable'
  | 'file-sha256'
  | 'file-size'
  | 'file-missing'
  | 'file-extra'
  | 'source-missing'
  | 'source-extra'
  | 'source-size'
  | 'source-sha256';

export interface Difference {
  readonly kind: DifferenceKind;
  /** 1-based position among all layers of the image (base layers included), as `inspect` numbers them. */
  readonly layer?: number;
  readonly layerDigest?: string;
  /** Path under /models. */
  readonly path?: string;
  /** First differing byte inside the file, when it could be located (needs --against). */
  readonly fileOffset?: number;
  /** Where the file's content starts inside the (uncompressed) layer. */
  readonly layerOffset?: number;
  readonly expected?: string;
  readonly got?: string;
  /** One line, precise enough to act on. */
  readonly message: string;
}

export interface VerifiedLayer {
  readonly index: number;
  readonly digest: string;
  readonly size: number;
  readonly kind: 'model' | 'base';
  readonly files: number;
  readonly ok: boolean;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly manifestDigest: string;
  readonly layers: readonly VerifiedLayer[];
  readonly files: number;
  readonly bytes: number;
  /** Every difference found, in image order (capped); the first is the one to look at. */
  readonly differences: readonly Difference[];
  readonly against?: string;
}

export interface VerifyOptions {
  readonly platform?: Platform;
  /** Compare with the model source too: its selected files must be exactly the image's files, byte for byte. */
  readonly against?: {
    readonly source: ModelSource;
    readonly include?: readonly string[];
    readonly exclude?: readonly string[];
    readonly keepDuplicateWeights?: boolean;
  };
  /** A layer starts to stream, and its blob bytes as they arrive (for progress). */
  readonly onLayerStart?: (index: number, desc: Descriptor) => void;
  readonly onBytes?: (index: number, bytes: number) => void;
  readonly onLayer?: (layer: VerifiedLayer) => void;
  /** Each model file as its bytes were read from its layer (what signed statements are compared with). */
  readonly onFile?: (file: { readonly path: string; readonly size: number; readonly sha256: string }) => void;
}

const MAX_DIFFERENCES = 100;

interface ImageFile extends LayerFile {
  readonly layer: number;
  readonly desc: Descriptor;
  readonly layerOffset: number;
}

export async function verifyImage(
  repo: Repository,
  reference: string,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const image = await resolveImage(repo, reference, opts.platform ? { platform: opts.platform } : {});
  const differences: Difference[] = [];
  const add = (d: Difference) => {
    if (differences.length < MAX_DIFFERENCES) differences.push(d);
  };
  const files = new Map<string, ImageFile>();
  const layers: VerifiedLayer[] = [];
  const anyAnnotated = image.manifest.layers.some((l) => annotatedFiles(l) !== undefined);
  for (const [i, desc] of image.manifest.layers.entries()) {
    opts.onLayerStart?.(i + 1, desc);
    const layer = await verifyLayer(repo, desc, i + 1, anyAnnotated, add, files, (n) => opts.onBytes?.(i + 1, n));
    layers.push(layer);
    opts.onLayer?.(layer);
  }
  for (const f of files.values()) opts.onFile?.({ path: f.path, size: f.size, sha256: f.sha256 });
  let against: string | undefined;
  if (opts.against) {
    against = (await opts.against.source.identity()).uri;
    await compareWithSource(repo, files, opts.against, add);
  }
  return {
    ok: differences.length === 0,
    manifestDigest: image.stored.digest,
    layers,
    files: files.size,
    bytes: [...files.values()].reduce((n, f) => n + f.size, 0),
    differences,
    ...(against ? { against } : {}),
  };
}

async function verifyLayer(
  repo: Repository,
  desc: Descriptor,
  index: number,
  anyAnnotated: boolean,
  add: (d: Difference) => void,
  files: Map<string, ImageFile>,
  onBytes: (bytes: number) => void,
): Promise<VerifiedLayer> {
  const declared = annotatedFiles(desc);
  const where = `layer ${index} (${desc.digest})`;
  const at = { layer: index, layerDigest: desc.digest };
  // Base layers are only hashed; their files are read when no layer declares any (an image not built by modelcar).
  const walk = declared !== undefined || !anyAnnotated;
  const expected = new Map((declared ?? []).map((f) => [f.path, f]));
  const seen = new Set<string>();
  let found = 0;
  let ok = true;
  const flag = (d: Difference) => {
    ok = false;
    add(d);
  };
  try {
    const read = await readLayer(repo, desc, { onBytes });
    for await (const e of read.entries) {
      if (!walk || e.type !== 'file' || !e.path.startsWith('models/')) continue;
      const path = e.path.slice('models/'.length);
      const sha256 = e.sha256 as string;
      found++;
      files.set(path, { path, size: e.size, sha256, layer: index, desc, layerOffset: e.offset });
      if (declared === undefined) continue;
      seen.add(path);
      const want = expected.get(path);
      const range = `bytes ${e.offset}-${e.offset + e.size - 1} of the layer`;
      if (!want) {
        flag({
          kind: 'file-extra',
          ...at,
          path,
          message: `${where}: /models/${path} is in the layer but not in its annotation`,
        });
      } else if (want.size !== e.size) {
        flag({
          kind: 'file-size',
          ...at,
          path,
          layerOffset: e.offset,
          expected: String(want.size),
          got: String(e.size),
          message: `${where}: /models/${path} is ${e.size} bytes, the annotation says ${want.size}`,
        });
      } else if (want.sha256 !== sha256) {
        flag({
          kind: 'file-sha256',
          ...at,
          path,
          layerOffset: e.offset,
          expected: want.sha256,
          got: sha256,
          message: `${where}: /models/${path} (${range}) has sha256 ${sha256}, the annotation says ${want.sha256}`,
        });
      }
    }
    const got = read.result();
    if (got.size !== desc.size) {
      flag({
        kind: 'layer-size',
        ...at,
        expected: String(desc.size),
        got: String(got.size),
        message: `${where}: the blob is ${got.size} bytes, the manifest says ${desc.size}`,
      });
    } else if (got.digest !== desc.digest) {
      flag({
        kind: 'layer-digest',
        ...at,
        expected: desc.digest,
        got: got.digest,
        message: `${where}: the blob's content is ${got.digest}, the manifest says ${desc.digest}`,
      });
    }
  } catch (e) {
    flag({ kind: 'layer-unreadable', ...at, message: `${where}: ${(e as Error).message}` });
  }
  for (const f of declared ?? []) {
    if (!seen.has(f.path)) {
      flag({
        kind: 'file-missing',
        ...at,
        path: f.path,
        message: `${where}: /models/${f.path} is in the annotation but not in the layer`,
      });
    }
  }
  return { index, digest: desc.digest, size: desc.size, kind: declared ? 'model' : 'base', files: found, ok };
}

async function compareWithSource(
  repo: Repository,
  files: Map<string, ImageFile>,
  against: NonNullable<VerifyOptions['against']>,
  add: (d: Difference) => void,
): Promise<void> {
  const { source } = against;
  const entries = await source.list();
  const selection = selectFiles(entries, {
    include: against.include ?? [],
    exclude: against.exclude ?? [],
    keepDuplicateWeights: against.keepDuplicateWeights ?? false,
    indexFiles: await readIndexFiles(source, entries),
  });
  const wanted = new Map(selection.selected.map((e) => [e.path, e]));
  for (const entry of selection.selected) {
    const file = files.get(entry.path);
    if (!file) {
      add({
        kind: 'source-missing',
        path: entry.path,
        message: `/models/${entry.path} is in the source but not in the image`,
      });
      continue;
    }
    const at = { layer: file.layer, layerDigest: file.desc.digest, path: entry.path, layerOffset: file.layerOffset };
    if (file.size !== entry.size) {
      add({
        kind: 'source-size',
        ...at,
        expected: String(entry.size),
        got: String(file.size),
        message: `/models/${entry.path} (layer ${file.layer}) is ${file.size} bytes in the image, ${entry.size} in the source`,
      });
      continue;
    }
    const sourceSha = entry.sha256 ?? (await hashEntry(source, entry));
    if (sourceSha !== file.sha256) {
      const offset = await firstDifference(repo, file, source, entry);
      add({
        kind: 'source-sha256',
        ...at,
        ...(offset !== undefined ? { fileOffset: offset } : {}),
        expected: sourceSha,
        got: file.sha256,
        message: `/models/${entry.path} (layer ${file.layer}) differs from the source${offset !== undefined ? ` first at byte ${offset}` : ''}: image sha256 ${file.sha256}, source ${sourceSha}`,
      });
    }
  }
  for (const path of files.keys()) {
    if (!wanted.has(path)) {
      const file = files.get(path) as ImageFile;
      const skipped = selection.skipped.find((s) => s.path === path);
      add({
        kind: 'source-extra',
        layer: file.layer,
        layerDigest: file.desc.digest,
        path,
        message: `/models/${path} (layer ${file.layer}) is in the image but ${skipped ? `the source selection skips it (${skipped.reason}; pass --include)` : 'not in the source'}`,
      });
    }
  }
}

async function hashEntry(source: ModelSource, entry: SourceEntry): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await source.open(entry, 0)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Streams the file out of its layer again beside the source's bytes and returns the first offset where they differ. */
async function firstDifference(
  repo: Repository,
  file: ImageFile,
  source: ModelSource,
  entry: SourceEntry,
): Promise<number | undefined> {
  const theirs = (await source.open(entry, 0))[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let found: number | undefined;
  const target = `models/${file.path}`;
  try {
    const read = await readLayer(repo, file.desc, {
      async onData(e, chunk, fileOffset) {
        if (found !== undefined || e.path !== target) return;
        let pos = 0;
        while (pos < chunk.length && found === undefined) {
          if (pending.length === 0) {
            const next = await theirs.next();
            if (next.done) {
              found = fileOffset + pos;
              return;
            }
            pending = next.value as Buffer;
          }
          const n = Math.min(pending.length, chunk.length - pos);
          for (let k = 0; k < n; k++) {
            if (chunk[pos + k] !== pending[k]) {
              found = fileOffset + pos + k;
              return;
            }
          }
          pending = pending.subarray(n);
          pos += n;
        }
      },
    });
    for await (const e of read.entries) if (e.path === target || found !== undefined) break;
  } catch {
    // The layer itself is unreadable: that difference is already reported.
  } finally {
    await theirs.return?.();
  }
  return found;
}
