/**
 * What a build shows while it runs: a live display on a TTY (per file and total: bytes, rate, ETA), plain lines
 * when stderr is a pipe (CI logs), nothing with --quiet. Always on stderr: stdout is for the result.
 */
import type { BuildEvent } from '../builder/build.js';
import { formatBytes, type PlannedLayer } from '../plan/plan.js';

export type ProgressStyle = 'live' | 'lines' | 'none';

export function progressStyle(opts: { json: boolean; quiet: boolean }): ProgressStyle {
  if (opts.quiet) return 'none';
  return process.stderr.isTTY && !opts.json ? 'live' : 'lines';
}

function rate(bytes: number, ms: number): string {
  return ms <= 0 ? '-' : `${formatBytes((bytes * 1000) / ms)}/s`;
}

/** Time left at the rate bytes have been read so far (reused layers count as done but not as read). */
function eta(done: number, read: number, total: number, ms: number): string {
  if (read <= 0 || done >= total) return '';
  const s = Math.round(((total - done) * ms) / read / 1000);
  return ` ETA ${s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`}`;
}

export function progressReporter(
  style: ProgressStyle,
  write = (s: string) => process.stderr.write(s),
): (e: BuildEvent) => void {
  if (style === 'none') {
    return (e) => {
      if (e.type === 'warning') write(`modelcar: warning: ${e.message}\n`);
    };
  }
  const start = Date.now();
  let total = 0;
  let done = 0;
  let read = 0;
  const files = new Map<string, { size: number; done: number }>();
  const layers = new Map<number, PlannedLayer>();
  let drawn = 0;
  let lastDraw = 0;

  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 200) return;
    lastDraw = now;
    const active = [...files.entries()].filter(([, f]) => f.done > 0 && f.done < f.size).slice(0, 6);
    const lines = active.map(([path, f]) => `  ${path}  ${formatBytes(f.done)} / ${formatBytes(f.size)}`);
    const ms = now - start;
    lines.push(`  total ${formatBytes(done)} / ${formatBytes(total)}  ${rate(read, ms)}${eta(done, read, total, ms)}`);
    // Move up over the previous frame and clear it before drawing the new one.
    write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}\x1b[J${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const line = (s: string) => {
    if (style === 'live' && drawn > 0) {
      write(`\x1b[${drawn}F\x1b[J`);
      drawn = 0;
    }
    write(`${s}\n`);
  };

  return (e) => {
    switch (e.type) {
      case 'plan':
        total = e.plan.contentBytes;
        for (const l of e.plan.layers) for (const f of l.files) files.set(f.path, { size: f.size, done: 0 });
        line(
          `plan: ${e.plan.fileCount} files, ${formatBytes(e.plan.contentBytes)} in ${e.plan.layers.length} layer${e.plan.layers.length === 1 ? '' : 's'} -> ${e.destination}` +
            (e.skipped.length > 0 ? ` (${e.skipped.length} files skipped; --dry-run lists them)` : ''),
        );
        break;
      case 'base-layer':
        if (e.outcome !== 'present') line(`base layer ${e.digest.slice(0, 19)} ${e.outcome} (${formatBytes(e.size)})`);
        break;
      case 'bytes': {
        const f = files.get(e.path);
        if (f) f.done += e.bytes;
        done += e.bytes;
        read += e.bytes;
        if (style === 'live') draw();
        break;
      }
      case 'layer-done': {
        // A reused layer reads no bytes: count its files as done so the total and ETA stay true.
        for (const file of layers.get(e.index)?.files ?? []) {
          const f = files.get(file.path);
          if (f && f.done < f.size) {
            done += f.size - f.done;
            f.done = f.size;
          }
        }
        line(`layer ${e.index + 1} ${e.digest.slice(0, 19)} ${e.outcome}`);
        break;
      }
      case 'manifest':
        line(
          `manifest ${e.digest} written (${formatBytes(read)} read, ${formatBytes(done - read)} reused, ${((Date.now() - start) / 1000).toFixed(1)} s)`,
        );
        break;
      case 'warning':
        line(`modelcar: warning: ${e.message}`);
        break;
      case 'layer-start':
        layers.set(e.index, e.layer);
        break;
    }
  };
}
