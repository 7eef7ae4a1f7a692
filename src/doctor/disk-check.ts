import { stat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseImageLocation } from '../oci/reference.js';
import { formatBytes } from '../plan/plan.js';
import type { Check, CheckResult } from './check.js';

/**
 * Local disk the build writes: an OCI layout destination holds every layer, a --cache directory every downloaded
 * file. Streaming to a registry writes nothing locally, which is the answer to "how big must the PVC be".
 */
const MARGIN = 1.1;
const SLACK = 512 * 1024 * 1024;

/** The nearest existing directory at or above `path` (what statfs can measure before the build creates it). */
async function existingDir(path: string): Promise<string> {
  let p = resolve(path);
  for (;;) {
    try {
      if ((await stat(p)).isDirectory()) return p;
    } catch {
      /* not there yet */
    }
    const up = dirname(p);
    if (up === p) return p;
    p = up;
  }
}

interface Need {
  readonly what: string;
  readonly path: string;
  readonly bytes: number;
}

export const diskCheck: Check = {
  id: 'disk',
  title: 'local disk',
  after: ['source'],
  async run(ctx) {
    const model = ctx.facts.model;
    const to = ctx.options.to;
    const layout = to?.startsWith('oci:') ? parseImageLocation(to) : undefined;
    const needs: Need[] = [];
    if (layout?.transport === 'layout' && model) {
      const layers = model.layerSizes.reduce((n, s) => n + s, 0);
      needs.push({ what: `OCI layout ${layout.dir}`, path: layout.dir, bytes: layers });
    }
    if (ctx.options.cacheDir && model) {
      needs.push({ what: `--cache ${ctx.options.cacheDir}`, path: ctx.options.cacheDir, bytes: model.contentBytes });
    }
    if (needs.length === 0) {
      if (to && !layout && !ctx.options.cacheDir) {
        return {
          id: 'disk',
          title: this.title,
          status: 'ok',
          summary:
            'stream mode: model bytes go from the source straight into registry layers; no PVC or scratch disk is needed (a 1 Gi emptyDir is plenty)',
        };
      }
      return {
        id: 'disk',
        title: this.title,
        status: 'skip',
        summary: model
          ? 'no --to or --cache: nothing is written locally'
          : 'model size unknown (source check did not pass)',
      };
    }
    // Needs on one filesystem add up.
    const byDevice = new Map<string, { dir: string; needs: Need[] }>();
    for (const n of needs) {
      const dir = await existingDir(n.path);
      const dev = String((await stat(dir)).dev);
      const entry = byDevice.get(dev) ?? { dir, needs: [] };
      entry.needs.push(n);
      byDevice.set(dev, entry);
    }
    const results: CheckResult[] = [];
    for (const { dir, needs: group } of byDevice.values()) {
      const fs = await statfs(dir);
      const free = fs.bavail * fs.bsize;
      const need = group.reduce((s, n) => s + n.bytes, 0);
      const want = Math.ceil(need * MARGIN) + SLACK;
      const what = group.map((n) => `${n.what} (${formatBytes(n.bytes)})`).join(' + ');
      const base = {
        id: 'disk.space',
        title: this.title,
        details: { path: dir, freeBytes: free, needBytes: need, wantBytes: want },
      };
      if (free < need) {
        results.push({
          ...base,
          status: 'fail',
          summary: `${formatBytes(free)} free at ${dir}, the build needs ${formatBytes(need)} for ${what}`,
          symptom: 'write /workspace/...: no space left on device  (ENOSPC)',
          cause: 'The volume is smaller than what the build writes there.',
          fix: `free space or grow the volume to at least ${formatBytes(want)}; in a pipeline: volumeClaimTemplate storage: ${Math.ceil(want / 1024 ** 3)}Gi. Or stream to a registry (--to HOST/REPO without --cache): no disk needed.`,
        });
      } else if (free < want) {
        results.push({
          ...base,
          status: 'warn',
          summary: `${formatBytes(free)} free at ${dir}: enough for ${what} (${formatBytes(need)}) but without the ${Math.round((MARGIN - 1) * 100)}% margin`,
          fix: `leave at least ${formatBytes(want)} free`,
        });
      } else {
        results.push({
          ...base,
          status: 'ok',
          summary: `${formatBytes(free)} free at ${dir}; the build writes ${formatBytes(need)} (${what})`,
        });
      }
    }
    return results;
  },
};
