/**
 * The build: the only place that knows both a model source and an image target. Source -> selection -> layer plan
 * -> layers streamed into the destination -> config -> manifest (last, so a tag never points at a half-written
 * image). Everything before the first model byte is cheap and proves the build can finish: the destination is
 * writable, the base resolves, the plan fits the destination's limits.
 */
import { ModelcarError } from '../errors.js';
import { resolveBase } from '../image/base.js';
import {
  type BaseImage,
  buildConfig,
  buildManifest,
  type ImageMeta,
  type ModelLayer,
  scratchBase,
} from '../image/image.js';
import { type LayerFile, layerBytes } from '../image/layer.js';
import type { Journal } from '../journal/journal.js';
import { copyBlob } from '../oci/copy-blob.js';
import { digestOf } from '../oci/digest-stream.js';
import { MediaType } from '../oci/media-types.js';
import { openRepository, type RegistryOptions } from '../oci/open.js';
import { formatLocation, formatRef, type ImageLocation, manifestReference, tagOf, withTag } from '../oci/reference.js';
import { limitsFor } from '../oci/registry/profiles.js';
import { pushAndTag, type Repository } from '../oci/repository.js';
import type { Platform } from '../oci/spec.js';
import {
  checkFiles,
  DEFAULT_PLAN_OPTIONS,
  type LayerPlan,
  type PlannedLayer,
  type PlanOptions,
  planLayers,
} from '../plan/plan.js';
import { readIndexFiles, type SkippedFile, selectFiles } from '../plan/select.js';
import { closeAll } from '../run/close.js';
import { treeProblems } from '../source/listing.js';
import { nameMismatchWarning, namesFromSource } from '../source/names.js';
import type { ModelSource, SourceIdentity } from '../source/source.js';
import { type IgnoredDir, ignoredBy } from './own-output.js';
import { mapLimit } from './pool.js';
import { findLayer, journalKey, knownLayers } from './reuse.js';

export type BaseChoice =
  | { readonly kind: 'image'; readonly location: ImageLocation; readonly name: string }
  /** No base at all: only for KServe's image-volume mode, where no sidecar shell runs. */
  | { readonly kind: 'scratch' };

export interface BuildRequest {
  readonly source: ModelSource;
  readonly destination: ImageLocation;
  readonly base: BaseChoice;
  readonly platform: Platform;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly keepDuplicateWeights?: boolean;
  readonly plan?: Partial<
    Pick<PlanOptions, 'maxLayers' | 'largeFileThreshold' | 'smallGroupBytes' | 'maxLayerBytes' | 'maxLayerBytesReason'>
  >;
  readonly registry?: RegistryOptions;
  /** Layers moved at once. */
  readonly concurrency?: number;
  /** Plan only: no byte of the model is read and nothing is written. */
  readonly dryRun?: boolean;
  /** Fixed time for every timestamp (SOURCE_DATE_EPOCH); else the source's commit time; else the epoch. */
  readonly sourceDateEpoch?: number;
  /** Other images whose layers may be reused (same registry: mounted; elsewhere: copied, never re-read). */
  readonly cacheFrom?: readonly ImageLocation[];
  /** Directories of the source never packaged: this build's own OCI layouts inside a local model directory. */
  readonly ignoreDirs?: readonly IgnoredDir[];
  readonly onEvent?: (event: BuildEvent) => void;
  /** Layers committed by earlier runs (also ones cut short), to HEAD and skip instead of reading the model. */
  readonly journal?: Pick<Journal, 'layer' | 'rememberLayer' | 'save'>;
  /** Stops the build between chunks: open uploads are cancelled and no manifest is written. */
  readonly signal?: AbortSignal;
}

export type LayerOutcome = 'uploaded' | 'present' | 'reused' | 'mounted' | 'copied';

export type BuildEvent =
  | {
      readonly type: 'plan';
      readonly plan: LayerPlan;
      readonly skipped: readonly SkippedFile[];
      readonly destination: string;
    }
  | { readonly type: 'layer-start'; readonly index: number; readonly layer: PlannedLayer }
  | { readonly type: 'bytes'; readonly path: string; readonly bytes: number }
  /** The layer's upload starts over (the registry dropped the session): its files are read again from byte 0. */
  | { readonly type: 'layer-restart'; readonly index: number }
  | { readonly type: 'layer-done'; readonly index: number; readonly digest: string; readonly outcome: LayerOutcome }
  | { readonly type: 'base-layer'; readonly digest: string; readonly size: number; readonly outcome: LayerOutcome }
  | { readonly type: 'manifest'; readonly digest: string }
  | { readonly type: 'warning'; readonly message: string };

export interface BuiltLayer extends ModelLayer {
  readonly outcome: LayerOutcome;
}

export interface BuildResult {
  readonly source: SourceIdentity;
  /** The destination with its final repository and tag. */
  readonly destination: ImageLocation;
  /** `oci:DIR:TAG` or `HOST/REPO:TAG@sha256:...`; undefined on a dry run. */
  readonly reference?: string;
  readonly digest?: string;
  readonly plan: LayerPlan;
  readonly skipped: readonly SkippedFile[];
  readonly base: { readonly name?: string; readonly digest?: string; readonly layers: number };
  readonly layers: readonly BuiltLayer[];
}

/** A build that took longer than this proves its push access again before writing the manifest. */
const REPROBE_AFTER_MS = 10 * 60_000;

function fixedTime(request: BuildRequest, identity: SourceIdentity): number {
  if (request.sourceDateEpoch !== undefined) return request.sourceDateEpoch;
  if (identity.committedAt) return Math.floor(identity.committedAt.getTime() / 1000);
  return 0;
}

/** Fills in the repository (registry host only) from the source; a tag is added later if none was given. */
function withRepository(destination: ImageLocation, identity: SourceIdentity): ImageLocation {
  if (destination.transport === 'layout') return destination;
  const ref = destination.ref;
  if (ref.digest) {
    throw new ModelcarError(
      'usage',
      `the destination ${formatLocation(destination)} names a digest`,
      'a build makes a new digest: give a tag, or no tag to derive one from the source',
    );
  }
  if (ref.repository !== '') return destination;
  return { transport: 'registry', ref: { ...ref, repository: namesFromSource(identity).repository } };
}

/** For a source without a revision (a local directory): the image's own digest names it. Never `latest`. */
function digestTag(manifestDigest: string): string {
  return `sha-${manifestDigest.slice('sha256:'.length, 'sha256:'.length + 12)}`;
}

function referenceOf(destination: ImageLocation, digest: string): string {
  return destination.transport === 'layout' ? formatLocation(destination) : formatRef({ ...destination.ref, digest });
}

async function loadBase(
  request: BuildRequest,
  opened: Repository[],
): Promise<{ base: BaseImage; repository?: Repository }> {
  if (request.base.kind === 'scratch') return { base: scratchBase(request.platform) };
  const { location, name } = request.base;
  const repository = await openRepository(location, request.registry);
  opened.push(repository);
  // A base named without a tag means "latest", as podman and docker read it; our own outputs never do.
  const reference = manifestReference(location, 'latest');
  try {
    return { base: await resolveBase(repository, reference, name, request.platform), repository };
  } catch (e) {
    // Offline and air-gapped machines meet this first: say how to make a base without the network.
    if (e instanceof ModelcarError && e.kind === 'network') {
      throw new ModelcarError(
        'base',
        `cannot fetch the base image ${name}: ${e.message}`,
        'offline? make a base from a static busybox: modelcar base --busybox /bin/busybox --to oci:bases:busybox, then --base oci:bases:busybox (or mirror one with modelcar copy)',
        { cause: e },
      );
    }
    throw e;
  }
}

/** The layer size cap of a known registry (GHCR, Quay, ECR), checked by the planner before any byte moves. */
function destinationLimits(destination: ImageLocation): Partial<PlanOptions> {
  if (destination.transport === 'layout') return {};
  const limits = limitsFor(destination.ref.registry);
  return limits.maxLayerBytes === undefined
    ? {}
    : { maxLayerBytes: limits.maxLayerBytes, maxLayerBytesReason: limits.reason };
}

async function* abortable(bytes: AsyncIterable<Buffer>, signal: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of bytes) {
    if (signal.aborted) {
      throw signal.reason instanceof ModelcarError
        ? signal.reason
        : new ModelcarError(
            'interrupted',
            'stopped before the image was complete; no tag was written',
            'run the same command again: layers already committed are not sent twice',
          );
    }
    yield chunk;
  }
}

export async function build(request: BuildRequest): Promise<BuildResult> {
  const emit = request.onEvent ?? (() => {});
  const started = Date.now();
  const { source } = request;
  const identity = await source.identity();
  const listed = await source.list();
  const ignoreDirs = request.ignoreDirs ?? [];
  const entries = listed.filter((e) => !ignoredBy(e.path, ignoreDirs));
  const indexFiles = await readIndexFiles(source, entries);
  const selection = selectFiles(entries, {
    include: request.include ?? [],
    exclude: request.exclude ?? [],
    keepDuplicateWeights: request.keepDuplicateWeights ?? false,
    indexFiles,
  });
  for (const e of listed) {
    const dir = ignoredBy(e.path, ignoreDirs);
    if (dir) selection.skipped.push({ path: e.path, size: e.size, reason: dir.reason });
  }
  const mtime = fixedTime(request, identity);
  const names = namesFromSource(identity);
  // A source with a revision names its tag now, so this build can find the layers of the last one under it.
  let destination = withRepository(request.destination, identity);
  if (names.tag) destination = withTag(destination, names.tag);
  if (request.destination.transport === 'registry' && request.destination.ref.repository !== '') {
    const warning = nameMismatchWarning(request.destination.ref.repository, identity);
    if (warning) emit({ type: 'warning', message: warning });
  }

  const limits = { ...destinationLimits(destination), ...request.plan };
  // In the first second, before any network: a file no layer of the destination can hold fails the build here, and
  // so does a --cache-from image named without a tag or digest.
  checkFiles(selection.selected, limits);
  for (const message of treeProblems(selection.selected.map((f) => f.path)).warnings)
    emit({ type: 'warning', message });
  const cacheFrom = (request.cacheFrom ?? []).map((location) => ({ location, reference: manifestReference(location) }));

  const opened: Repository[] = [];
  try {
    const { base, repository: baseRepository } = await loadBase(request, opened);
    const plan = planLayers(selection.selected, {
      ...DEFAULT_PLAN_OPTIONS,
      ...limits,
      baseLayers: base.layers.length,
      mtime,
    });
    emit({ type: 'plan', plan, skipped: selection.skipped, destination: formatLocation(destination) });
    const baseSummary = { name: base.name, digest: base.digest, layers: base.layers.length };
    if (request.dryRun)
      return { source: identity, destination, plan, skipped: selection.skipped, base: baseSummary, layers: [] };

    const target = await openRepository(destination, request.registry);
    opened.push(target);
    // Before the first model byte: a credential problem costs seconds, not a two-hour download.
    await target.checkWritable();

    const concurrency = Math.max(1, request.concurrency ?? 3);
    if (baseRepository) {
      await mapLimit(base.layers, concurrency, async (desc) => {
        const outcome = await copyBlob(desc, baseRepository, target);
        emit({ type: 'base-layer', digest: desc.digest, size: desc.size, outcome });
      });
    }

    const cacheRepos = await Promise.all(
      cacheFrom.map(async ({ location, reference }) => {
        const repository = await openRepository(location, request.registry);
        opened.push(repository);
        return { repository, reference };
      }),
    );
    const tag = tagOf(destination);
    const known = await knownLayers([...(tag ? [{ repository: target, reference: tag }] : []), ...cacheRepos]);

    const layers = await mapLimit(plan.layers, concurrency, async (layer, index): Promise<BuiltLayer> => {
      emit({ type: 'layer-start', index, layer });
      const built = (await reuseLayer(layer)) ?? (await pushLayer(layer, index));
      emit({ type: 'layer-done', index, digest: built.digest, outcome: built.outcome });
      return built;
    });

    async function reuseLayer(layer: PlannedLayer): Promise<BuiltLayer | undefined> {
      const hit = findLayer(known, layer, mtime);
      if (!hit) return reuseJournaled(layer);
      // The annotation has every file's sha256, also where the source vouched only with a git sha1.
      const files = hit.files.map((f) => ({ ...f, sha256: f.sha256 ?? '' }));
      if (files.some((f) => !/^[a-f0-9]{64}$/.test(f.sha256))) return undefined;
      const done = (outcome: LayerOutcome): BuiltLayer => ({
        digest: hit.descriptor.digest,
        size: layer.size,
        files,
        outcome,
      });
      if (await target.hasBlob(hit.descriptor)) return done('reused');
      if (hit.repository === target) return undefined;
      const outcome = await copyBlob(hit.descriptor, hit.repository, target);
      return done(outcome === 'present' ? 'reused' : outcome);
    }

    /** A layer an earlier run committed, perhaps one cut short before its manifest: found by HEAD, not by reading. */
    async function reuseJournaled(layer: PlannedLayer): Promise<BuiltLayer | undefined> {
      const files = layer.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 ?? '' }));
      if (!request.journal || files.some((f) => f.sha256 === '')) return undefined;
      const record = request.journal.layer(journalKey(files, mtime));
      if (!record || record.size !== layer.size) return undefined;
      if (!(await target.hasBlob({ mediaType: MediaType.ociLayer, ...record }))) return undefined;
      return { ...record, files, outcome: 'reused' };
    }

    async function pushLayer(layer: PlannedLayer, index: number): Promise<BuiltLayer> {
      let files: Promise<LayerFile[]> | undefined;
      let opened = 0;
      const pushed = await target.pushBlob({
        size: layer.size,
        label: `layer ${index + 1} (${layer.files.length === 1 ? layer.files[0]?.path : `${layer.files.length} files`})`,
        // Called again when a transfer restarts: each call reads the files afresh.
        open: () => {
          if (opened++ > 0) emit({ type: 'layer-restart', index });
          const stream = layerBytes(layer, source, (path, bytes) => emit({ type: 'bytes', path, bytes }));
          files = stream.done;
          return request.signal ? abortable(stream.bytes, request.signal) : stream.bytes;
        },
      });
      const hashed = await (files as Promise<LayerFile[]>);
      layer.files.forEach((entry, i) => {
        const sha256 = hashed[i]?.sha256;
        if (!entry.sha256 && sha256) source.learned?.(entry, sha256);
      });
      if (request.journal) {
        request.journal.rememberLayer(journalKey(hashed, mtime), { digest: pushed.digest, size: pushed.size });
        // Saved per layer: a crash after this point does not cost this layer again.
        await request.journal.save();
      }
      return {
        digest: pushed.digest,
        size: pushed.size,
        files: hashed,
        outcome: pushed.uploaded ? 'uploaded' : 'present',
      };
    }

    const meta: ImageMeta = {
      created: new Date(mtime * 1000),
      title: identity.title,
      sourceUri: identity.uri,
      mtime,
      ...(identity.revision ? { revision: identity.revision } : {}),
      ...(identity.license ? { license: identity.license } : {}),
    };
    const config = buildConfig(base, layers, meta);
    const pushedConfig = await target.pushBlob({
      size: config.length,
      open: async function* () {
        yield config;
      },
    });
    const manifest = buildManifest(base, pushedConfig, layers, meta);
    if (Date.now() - started > REPROBE_AFTER_MS) await target.checkWritable();
    const manifestDigest = digestOf(manifest);
    destination = withTag(destination, digestTag(manifestDigest));
    const { digest } = await pushAndTag(target, manifest, MediaType.ociManifest, tagOf(destination));
    emit({ type: 'manifest', digest });
    return {
      source: identity,
      destination,
      reference: referenceOf(destination, digest),
      digest,
      plan,
      skipped: selection.skipped,
      base: baseSummary,
      layers,
    };
  } finally {
    await closeAll(opened);
  }
}
