/**
 * What a run shows while bytes move, for people and for logs, in one renderer used by build, copy, verify and
 * inspect. Always on stderr: stdout is for the result (--json stays clean).
 *
 * - `tty`: a live display redrawn in place (each transfer and a total: bytes, rate, ETA). Rows are cut to the
 *   terminal width, so a narrow terminal never leaves stale wrapped rows behind.
 * - `plain` (CI logs, a pipe): a line per active transfer about every 10 s and whenever it passes 25%, 50% and 75%,
 *   with bytes, rate and ETA, so a 10 GB shard is never minutes of silence.
 * - `none` (`--progress=none`, `-q`): no progress.
 *
 * In every mode, each retry, wait and note of the network layer (src/http/events.ts) and each warning is a line of
 * its own: a transfer that is quietly retrying looks exactly like a hung one.
 */
import { Option } from 'commander';
import { describeEvent, formatDelay, type NetworkEvent, setNetworkListener } from '../http/events.js';
import { formatBytes } from '../plan/plan.js';
import { printable } from '../printable.js';

export type ProgressMode = 'tty' | 'plain' | 'none';
export const PROGRESS_CHOICES = ['auto', 'tty', 'plain', 'none'] as const;
export type ProgressChoice = (typeof PROGRESS_CHOICES)[number];

/** `--progress`: auto picks tty when stderr is a terminal, else plain; -q means none unless --progress says more. */
export function progressMode(
  choice: ProgressChoice | undefined,
  opts: { quiet?: boolean; isTTY?: boolean } = {},
): ProgressMode {
  const chosen = choice ?? (opts.quiet ? 'none' : 'auto');
  if (chosen !== 'auto') return chosen;
  return (opts.isTTY ?? process.stderr.isTTY === true) ? 'tty' : 'plain';
}

export function progressOption(): Option {
  return new Option(
    '--progress <mode>',
    'progress on stderr: tty (live display), plain (a line per transfer every 10 s and at each 25%, for logs), ' +
      'none; auto = tty on a terminal, else plain. Retries and waits always get a line.',
  ).choices(PROGRESS_CHOICES);
}

export interface ProgressSettings {
  readonly mode: ProgressMode;
  readonly write?: (text: string) => void;
  readonly now?: () => number;
  /** Terminal width for the live display. */
  readonly columns?: () => number | undefined;
  /** Plain mode: a line per active transfer this often. @default 10000 */
  readonly intervalMs?: number;
  /** Start the cadence timer (tests drive `tick()` themselves). @default true */
  readonly timer?: boolean;
}

interface Transfer {
  readonly label: string;
  readonly total: number;
  done: number;
  startedAt: number;
  movedAt: number;
  /** Plain mode: when the last line for it was printed, and the next quarter (1..3) that earns a line. */
  lineAt: number;
  nextQuarter: number;
}

const TTY_REDRAW_MS = 100;
const TTY_TICK_MS = 1000;
/** A rate over less time than this is noise (the first frame printed `145.87332053742801 B/s ETA 46852m44s`). */
const MIN_RATE_WINDOW_MS = 1000;
const MAX_ROWS = 6;

export function formatRate(bytes: number, ms: number): string | undefined {
  if (ms < MIN_RATE_WINDOW_MS || bytes <= 0) return undefined;
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

/** `ETA 42s`, `ETA 3m05s`, `ETA 1h02m`; undefined when unknown or silly (over 4 days). */
export function formatEta(remaining: number, bytes: number, ms: number): string | undefined {
  if (ms < MIN_RATE_WINDOW_MS || bytes <= 0 || remaining <= 0) return undefined;
  const s = Math.round((remaining * ms) / bytes / 1000);
  if (s < 1 || s > 96 * 3600) return undefined;
  if (s >= 3600) return `ETA ${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `ETA ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `ETA ${s}s`;
}

function percent(done: number, total: number): string {
  return total > 0 ? `${Math.floor((Math.min(done, total) * 100) / total)}%` : '';
}

export class ProgressRenderer {
  readonly mode: ProgressMode;
  private readonly write: (text: string) => void;
  private readonly now: () => number;
  private readonly columns: () => number | undefined;
  private readonly intervalMs: number;
  private readonly transfers = new Map<string, Transfer>();
  private readonly startedAt: number;
  private expected = 0;
  /** Bytes counted as done: read, or skipped because the destination had them. */
  private doneBytes = 0;
  /** Bytes actually read and moved, for the rate. */
  private readBytes = 0;
  /** Lengths of the rows of the live frame now on screen. */
  private frame: number[] = [];
  private drawnAt = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly stopListening: () => void;
  private closed = false;

  constructor(settings: ProgressSettings) {
    this.mode = settings.mode;
    this.write = settings.write ?? ((s) => process.stderr.write(s));
    this.now = settings.now ?? Date.now;
    this.columns = settings.columns ?? (() => process.stderr.columns);
    this.intervalMs = settings.intervalMs ?? 10_000;
    this.startedAt = this.now();
    const previous = setNetworkListener((e) => this.notice(e));
    this.stopListening = () => setNetworkListener(previous);
    if (settings.timer !== false && this.mode !== 'none') {
      this.timer = setInterval(() => this.tick(), this.mode === 'tty' ? TTY_TICK_MS : Math.min(this.intervalMs, 1000));
      this.timer.unref();
    }
  }

  /** A line that stays (plan, a finished layer, the manifest). Not shown in mode none. */
  line(text: string): void {
    if (this.mode === 'none') return;
    this.permanent(text);
  }

  /** Shown in every mode. */
  warn(message: string): void {
    this.permanent(`modelcar: warning: ${message}`);
  }

  /** A retry, wait or note of the network layer: shown in every mode, above the live display. */
  notice(e: NetworkEvent): void {
    this.permanent(describeEvent(e));
  }

  /** The bytes the whole run will move, for the total row and its ETA. */
  expect(totalBytes: number): void {
    this.expected = totalBytes;
  }

  start(id: string, label: string, total: number): void {
    const now = this.now();
    this.transfers.set(id, {
      label: printable(label),
      total,
      done: 0,
      startedAt: now,
      movedAt: now,
      lineAt: now,
      nextQuarter: 1,
    });
  }

  advance(id: string, bytes: number): void {
    const t = this.transfers.get(id);
    this.readBytes += bytes;
    this.doneBytes += bytes;
    if (!t) return;
    t.done += bytes;
    t.movedAt = this.now();
    if (this.mode === 'plain' && t.total > 0 && t.nextQuarter <= 3 && t.done * 4 >= t.total * t.nextQuarter) {
      while (t.nextQuarter <= 3 && t.done * 4 >= t.total * t.nextQuarter) t.nextQuarter++;
      this.plainLine(t);
    } else if (this.mode === 'tty') {
      this.draw(false);
    }
  }

  /** The transfer starts over from byte 0 (a restarted upload re-reads its files). */
  restart(id: string): void {
    const t = this.transfers.get(id);
    if (!t) return;
    this.doneBytes -= t.done;
    t.done = 0;
    t.nextQuarter = 1;
    t.startedAt = this.now();
  }

  /** The transfer ended; bytes it did not move (the destination had them) count as done. `text` is its line. */
  finish(id: string, text?: string): void {
    const t = this.transfers.get(id);
    if (t) {
      if (t.done < t.total) this.doneBytes += t.total - t.done;
      this.transfers.delete(id);
    }
    if (text !== undefined) this.line(text);
    else if (this.mode === 'tty') this.draw(true);
  }

  /** Seconds since the renderer started and the bytes read, for summaries. */
  get elapsedMs(): number {
    return this.now() - this.startedAt;
  }

  get bytesRead(): number {
    return this.readBytes;
  }

  /** Bytes counted as done without being read (reused layers). */
  get bytesSkipped(): number {
    return this.doneBytes - this.readBytes;
  }

  /** Clears the live display and stops the timer; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.stopListening();
    this.clearFrame();
  }

  /** The cadence: plain lines for transfers not reported for an interval; a fresh frame on a TTY. */
  tick(): void {
    if (this.closed) return;
    if (this.mode === 'tty') {
      this.draw(true);
      return;
    }
    if (this.mode !== 'plain') return;
    const now = this.now();
    for (const t of this.transfers.values()) if (now - t.lineAt >= this.intervalMs) this.plainLine(t);
  }

  private plainLine(t: Transfer): void {
    const now = this.now();
    t.lineAt = now;
    const ms = now - t.startedAt;
    const parts = [`${formatBytes(t.done)} / ${formatBytes(t.total)} (${percent(t.done, t.total)})`];
    const idle = now - t.movedAt;
    if (idle >= this.intervalMs) parts.push(`no bytes for ${formatDelay(idle)}`);
    else {
      const rate = formatRate(t.done, ms);
      if (rate) parts.push(rate);
      const eta = formatEta(t.total - t.done, t.done, ms);
      if (eta) parts.push(eta);
    }
    this.permanent(`${t.label}: ${parts.join(', ')}`);
  }

  /** A whole line: names and server text in it go through `printable`, so they cannot forge lines or move the cursor. */
  private permanent(line: string): void {
    const text = printable(line);
    if (this.closed) {
      this.write(`${text}\n`);
      return;
    }
    this.clearFrame();
    this.write(`${text}\n`);
    if (this.mode === 'tty') this.draw(true);
  }

  /** The live frame, each row at most `width` characters: a long label is cut, never the numbers. */
  private rows(width: number): string[] {
    const now = this.now();
    const rows: string[] = [];
    const active = [...this.transfers.values()].filter((t) => t.done > 0 || now - t.startedAt >= TTY_TICK_MS);
    for (const t of active.slice(0, MAX_ROWS)) {
      const ms = now - t.startedAt;
      const numbers = [`${formatBytes(t.done)} / ${formatBytes(t.total)}`, percent(t.done, t.total)];
      const rate = formatRate(t.done, ms);
      if (rate) numbers.push(rate);
      const tail = `  ${numbers.filter((s) => s !== '').join('  ')}`;
      const room = Math.max(8, width - tail.length - 2);
      const label = t.label.length > room ? `${t.label.slice(0, room - 1)}…` : t.label;
      rows.push(`  ${label}${tail}`);
    }
    if (active.length > MAX_ROWS) rows.push(`  ... and ${active.length - MAX_ROWS} more`);
    if (this.expected > 0 && rows.length > 0) {
      const ms = now - this.startedAt;
      const total = [
        `  total ${formatBytes(this.doneBytes)} / ${formatBytes(this.expected)}`,
        percent(this.doneBytes, this.expected),
        formatRate(this.readBytes, ms) ?? '',
        formatEta(this.expected - this.doneBytes, this.readBytes, ms) ?? '',
      ];
      rows.push(total.filter((s) => s !== '').join('  '));
    }
    return rows;
  }

  private draw(force: boolean): void {
    if (this.mode !== 'tty' || this.closed) return;
    const now = this.now();
    if (!force && now - this.drawnAt < TTY_REDRAW_MS) return;
    this.drawnAt = now;
    // One row per line: cut to the width (minus one, so the cursor never wraps on its own).
    const width = Math.max(20, (this.columns() ?? 80) - 1);
    const rows = this.rows(width).map((r) => (r.length > width ? `${r.slice(0, width - 1)}…` : r));
    this.clearFrame();
    if (rows.length === 0) return;
    this.write(`${rows.join('\n')}\n`);
    this.frame = rows.map((r) => r.length);
  }

  private clearFrame(): void {
    if (this.frame.length === 0) return;
    // Rows drawn at an older, wider width may have been re-wrapped by a terminal that was narrowed since.
    const width = Math.max(1, this.columns() ?? 80);
    const rows = this.frame.reduce((n, len) => n + Math.max(1, Math.ceil(len / width)), 0);
    this.write(`\x1b[${rows}F\x1b[J`);
    this.frame = [];
  }
}
