/** How a build's events read in the one progress renderer: a transfer per model layer, a line per finished one. */
import type { BuildEvent } from '../builder/build.js';
import { formatBytes, type PlannedLayer } from '../plan/plan.js';
import type { ProgressRenderer } from './progress.js';

function layerLabel(index: number, count: number, layer: PlannedLayer): string {
  const files = layer.files;
  const what = files.length === 1 ? (files[0]?.path ?? '') : `${files.length} files`;
  return `layer ${index + 1}/${count} (${what})`;
}

export function buildProgress(progress: ProgressRenderer): (e: BuildEvent) => void {
  let count = 0;
  const layerOfPath = new Map<string, number>();
  const labels = new Map<number, string>();
  return (e) => {
    switch (e.type) {
      case 'plan': {
        count = e.plan.layers.length;
        e.plan.layers.forEach((l, i) => {
          for (const f of l.files) layerOfPath.set(f.path, i);
        });
        progress.expect(e.plan.contentBytes);
        progress.line(
          `plan: ${e.plan.fileCount} files, ${formatBytes(e.plan.contentBytes)} in ${count} layer${count === 1 ? '' : 's'} -> ${e.destination}` +
            (e.skipped.length > 0 ? ` (${e.skipped.length} files skipped; --dry-run lists them)` : ''),
        );
        break;
      }
      case 'base-layer':
        if (e.outcome !== 'present')
          progress.line(`base layer ${e.digest.slice(0, 19)} ${e.outcome} (${formatBytes(e.size)})`);
        break;
      case 'layer-start': {
        const label = layerLabel(e.index, count, e.layer);
        labels.set(e.index, label);
        // Progress counts file bytes (what the source reads), not tar framing.
        progress.start(
          String(e.index),
          label,
          e.layer.files.reduce((n, f) => n + f.size, 0),
        );
        break;
      }
      case 'layer-restart':
        progress.restart(String(e.index));
        break;
      case 'bytes': {
        const index = layerOfPath.get(e.path);
        progress.advance(index === undefined ? '' : String(index), e.bytes);
        break;
      }
      case 'layer-done':
        progress.finish(
          String(e.index),
          `${labels.get(e.index) ?? `layer ${e.index + 1}/${count}`} ${e.digest.slice(0, 19)} ${e.outcome}`,
        );
        break;
      case 'manifest': {
        const seconds = (progress.elapsedMs / 1000).toFixed(1);
        progress.line(
          `manifest ${e.digest} written (${formatBytes(progress.bytesRead)} read, ${formatBytes(progress.bytesSkipped)} reused, ${seconds} s)`,
        );
        break;
      }
      case 'warning':
        progress.warn(e.message);
        break;
    }
  };
}
