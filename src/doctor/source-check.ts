import { isModelcarError, type ModelcarError, messageOf } from '../errors.js';
import { parseImageLocation } from '../oci/reference.js';
import { limitsFor } from '../oci/registry/profiles.js';
import { DEFAULT_PLAN_OPTIONS, formatBytes, planLayers } from '../plan/plan.js';
import { readIndexFiles, selectFiles } from '../plan/select.js';
import { HfSource } from '../source/hf.js';
import type { ModelSource, SourceEntry } from '../source/source.js';
import type { Check, CheckResult, DoctorContext } from './check.js';

/**
 * The model source, probed the way the build will use it: pin the revision, list the files, open one file (the
 * only way to learn whether a gated repo's license was accepted for this token), then plan the layers and hold each
 * file against the destination's layer limit.
 */
const TITLE = 'model source';

/** Which step an error from the source belongs to, by what it says. */
function stepOf(e: unknown): 'revision' | 'access' | 'reachable' {
  const text = messageOf(e);
  if (/revision .* not found|not name a commit/i.test(text)) return 'revision';
  if (/gated|token|access denied|not found on|HTTP 40[13]/i.test(text)) return 'access';
  return 'reachable';
}

function fromError(e: unknown, step: string, what: string): CheckResult {
  const err = e as ModelcarError;
  const gated = /gated/i.test(messageOf(e));
  return {
    id: `source.${step}`,
    title: TITLE,
    status: 'fail',
    summary: `${what}: ${messageOf(e)}`,
    ...(gated
      ? {
          symptom:
            'Cannot access gated repo for url https://huggingface.co/ORG/NAME/resolve/...: 403 Forbidden (GatedRepo)',
          cause:
            'The repository is gated: each account must accept its license on the model page, and the token must belong to an account that did (and, for manual gating, was approved).',
        }
      : step === 'revision'
        ? {
            symptom: 'RevisionNotFound: Invalid rev id',
            cause: 'The branch, tag or commit named after @ does not exist in the repository.',
          }
        : isModelcarError(e) && e.kind === 'network'
          ? { cause: 'The Hub (or HF_ENDPOINT) cannot be reached from here: DNS, proxy (HTTPS_PROXY) or firewall.' }
          : {}),
    ...(isModelcarError(e) && err.hint ? { fix: err.hint } : {}),
  };
}

/** The registry limit a plan must fit, from --max-layer-size or the destination's known profile. */
export function layerLimit(ctx: DoctorContext): { bytes: number; reason: string } | undefined {
  if (ctx.options.maxLayerBytes !== undefined)
    return { bytes: ctx.options.maxLayerBytes, reason: 'set by --max-layer-size' };
  const to = ctx.options.to;
  if (!to || to.startsWith('oci:')) return undefined;
  const loc = parseImageLocation(to, { allowMissingRepository: true });
  if (loc.transport !== 'registry') return undefined;
  const limits = limitsFor(loc.ref.registry);
  return limits.maxLayerBytes !== undefined ? { bytes: limits.maxLayerBytes, reason: limits.reason } : undefined;
}

async function probeRead(source: ModelSource, entry: SourceEntry, signal: AbortSignal): Promise<void> {
  const stream = await source.open(entry, 0);
  const onAbort = () => stream.destroy(signal.reason as Error);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const _ of stream) break;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

export const sourceCheck: Check = {
  id: 'source',
  title: TITLE,
  timeoutMs: 60_000,
  async run(ctx) {
    const spec = ctx.options.source;
    if (!spec || !ctx.options.openSource) {
      return { id: 'source', title: TITLE, status: 'skip', summary: 'no SOURCE given: source checks skipped' };
    }
    const source = ctx.options.openSource(spec);
    const results: CheckResult[] = [];
    try {
      let identity: Awaited<ReturnType<ModelSource['identity']>>;
      try {
        identity = await source.identity();
      } catch (e) {
        return [fromError(e, stepOf(e), `cannot open ${spec}`)];
      }
      results.push({
        id: 'source.revision',
        title: TITLE,
        status: 'ok',
        summary: `${spec} -> ${identity.uri}${identity.license ? ` (license ${identity.license})` : ''}${source instanceof HfSource ? `; ${source.endpoint} ${source.route}` : ''}`,
      });
      let entries: SourceEntry[];
      try {
        entries = await source.list();
      } catch (e) {
        return [...results, fromError(e, stepOf(e), `cannot list ${spec}`)];
      }
      const selection = selectFiles(entries, {
        include: ctx.options.include ?? [],
        exclude: ctx.options.exclude ?? [],
        keepDuplicateWeights: ctx.options.keepDuplicateWeights ?? false,
        indexFiles: await readIndexFiles(source, entries),
      });
      const selected = selection.selected;
      const bytes = selected.reduce((n, f) => n + f.size, 0);
      const skippedBytes = selection.skipped.reduce((n, f) => n + f.size, 0);
      if (selected.length === 0) {
        return [
          ...results,
          {
            id: 'source.files',
            title: TITLE,
            status: 'fail',
            summary: `${spec}: no files to package (${entries.length} listed, all skipped)`,
            fix: 'check --include/--exclude; `modelcar build SOURCE --dry-run` lists every skipped file and why',
          },
        ];
      }
      results.push({
        id: 'source.files',
        title: TITLE,
        status: 'ok',
        summary: `${selected.length} file${selected.length === 1 ? '' : 's'}, ${formatBytes(bytes)} to package${
          selection.skipped.length
            ? `; ${selection.skipped.length} skipped (${formatBytes(skippedBytes)}: ${selection.skipped
                .slice(0, 3)
                .map((s) => s.path)
                .join(', ')}${selection.skipped.length > 3 ? ', ...' : ''})`
            : ''
        }`,
        details: { files: selected.length, bytes, skipped: selection.skipped.length },
      });
      const smallest = [...selected].sort((a, b) => a.size - b.size)[0] as SourceEntry;
      try {
        await probeRead(source, smallest, ctx.signal);
        results.push({
          id: 'source.access',
          title: TITLE,
          status: 'ok',
          summary: `download allowed (read the first bytes of ${smallest.path})`,
        });
      } catch (e) {
        return [...results, fromError(e, 'access', `cannot download ${smallest.path}`)];
      }
      const limit = layerLimit(ctx);
      const tooBig = limit ? selected.filter((f) => f.size > limit.bytes) : [];
      if (limit && tooBig.length > 0) {
        results.push({
          id: 'source.limits',
          title: 'files the registry will reject',
          status: 'fail',
          summary: `${tooBig.length} file${tooBig.length === 1 ? '' : 's'} over the layer limit of ${formatBytes(limit.bytes)} (${limit.reason}): ${tooBig.map((f) => `${f.path} (${formatBytes(f.size)})`).join(', ')}`,
          symptom:
            'blob upload invalid / 413 Request Entity Too Large / "layer size exceeds the maximum allowed" after the whole file was uploaded',
          cause:
            'Every file is one layer at least (a file is never split), and this registry refuses layers over its limit.',
          fix: 'push to a registry with a larger limit (Quay: MAXIMUM_LAYER_SIZE; self-hosted distribution has none), or re-shard the weights: save_pretrained(..., max_shard_size="5GB")',
          details: { limit: limit.bytes, files: tooBig.map((f) => ({ path: f.path, size: f.size })) },
        });
      }
      // The plan without a limit: the sizes the disk, registry and serving checks measure.
      const plan = planLayers(selected, {
        ...DEFAULT_PLAN_OPTIONS,
        maxLayers: ctx.options.maxLayers ?? DEFAULT_PLAN_OPTIONS.maxLayers,
        baseLayers: 1,
        mtime: 0,
      });
      ctx.facts.model = {
        identity,
        files: plan.fileCount,
        contentBytes: plan.contentBytes,
        layerSizes: plan.layers.map((l) => l.size).sort((a, b) => b - a),
      };
      if (limit && tooBig.length === 0) {
        results.push({
          id: 'source.limits',
          title: 'files the registry will reject',
          status: 'ok',
          summary: `largest file ${formatBytes(Math.max(...selected.map((f) => f.size)))} fits the layer limit of ${formatBytes(limit.bytes)} (${limit.reason})`,
        });
      }
      return results;
    } finally {
      await source.close?.();
    }
  },
};
