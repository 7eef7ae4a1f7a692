/** BENCHMARKS.md from one run: machine, versions, the table of medians and ratios, targets, analysis, reproduce. */
import type { BenchCase, Group } from './cases.js';

/** What the table needs of a case (kept in results.json, so a report can be written again without a run). */
export type CaseInfo = Pick<BenchCase, 'id' | 'label' | 'group' | 'isLimit' | 'limits' | 'skip'>;

import type { MachineFacts } from './machine.js';
import { limitOf, type Summary } from './stats.js';

export interface ScaleRow {
  readonly weightBytes: number;
  readonly seconds: number;
  readonly peakRss: number;
  readonly peakDisk: number;
  readonly rerunSeconds?: number;
  readonly note?: string;
}

export interface ReportInput {
  readonly date: string;
  readonly command: string;
  readonly machine: MachineFacts;
  readonly versions: Record<string, string>;
  readonly model: { readonly files: number; readonly totalBytes: number; readonly shards: number };
  readonly repeats: number;
  readonly cases: readonly CaseInfo[];
  readonly summaries: ReadonlyMap<string, Summary>;
  readonly errors: ReadonlyMap<string, readonly string[]>;
  readonly notes: readonly string[];
  readonly scale?: readonly ScaleRow[];
  /** Markdown of the profile section, when one was taken. */
  readonly profile?: string;
}

const MB = 1e6;
const GROUP_TITLES: Record<Group, string> = {
  registry: 'Local directory to the local registry',
  layout: 'Local directory to an OCI layout',
  hf: 'Hugging Face (Hub double) to the registry, streamed',
  'hf-capped': 'Hugging Face, 40 MB/s per connection (as a CDN often gives one connection)',
  rerun: 'Re-running an unchanged build',
};

export function mib(n: number): string {
  return n < 2 ** 30 ? `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MiB` : `${(n / 2 ** 30).toFixed(2)} GiB`;
}

function ratio(a: number, b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '';
  if (b === 0) return a === 0 ? '1.00x' : '';
  return `${(a / b).toFixed(2)}x`;
}

function row(c: CaseInfo, input: ReportInput): string {
  const s = input.summaries.get(c.id);
  const errors = input.errors.get(c.id) ?? [];
  if (c.skip) return `| ${c.label} | skipped: ${c.skip} | | | | | | | |`;
  if (!s) return `| ${c.label} | failed: ${(errors[0] ?? 'no run').split('\n')[0]} | | | | | | | |`;
  const limit = c.isLimit ? s : limitOf(c, input.summaries);
  const steps = s.steps.map((st) => `${st.label} ${st.seconds.toFixed(1)} s`).join(', ');
  const facts = Object.entries(s.facts).map(([k, v]) => `${k} ${v}`);
  const failures = errors.length > 0 ? [`${errors.length} failed run(s): ${errors[0]?.split('\n')[0]}`] : [];
  const notes = [steps, ...facts, ...failures].filter(Boolean).join('; ');
  // A re-run moves no model bytes: a rate would mean nothing there.
  const throughput = c.group === 'rerun' ? '-' : `${(input.model.totalBytes / s.seconds / MB).toFixed(0)} MB/s`;
  return [
    '',
    c.isLimit ? `**${c.label}**` : c.label,
    `${s.seconds.toFixed(2)} s`,
    throughput,
    c.isLimit ? 'limit' : ratio(s.seconds, limit?.seconds),
    `${mib(s.peakRss)}${c.isLimit ? '' : limit ? ` (${ratio(s.peakRss, limit.peakRss)})` : ''}`,
    mib(s.peakDisk),
    `${s.cpuSeconds.toFixed(1)} s / ${s.serverCpuSeconds.toFixed(1)} s`,
    String(s.runs),
    notes,
    '',
  ]
    .join(' | ')
    .trim();
}

interface Target {
  readonly text: string;
  readonly measured: string;
  readonly met?: boolean;
}

function seconds(input: ReportInput, id: string): number | undefined {
  return input.summaries.get(id)?.seconds;
}

function targets(input: ReportInput): Target[] {
  const out: Target[] = [];
  const mc = seconds(input, 'modelcar-registry');
  const curl = seconds(input, 'curl-registry');
  const check = (text: string, value: number | undefined, fmt: (v: number) => string, ok: (v: number) => boolean) =>
    out.push(
      value === undefined || !Number.isFinite(value)
        ? { text, measured: 'not measured' }
        : { text, measured: fmt(value), met: ok(value) },
    );
  const x = (v: number) => `${v.toFixed(2)}x`;
  check(
    'build + push to the local registry <= 1.3x the curl limit',
    mc && curl ? mc / curl : undefined,
    x,
    (v) => v <= 1.3,
  );
  const buildah = seconds(input, 'buildah');
  check('>= 6x faster than buildah bud + push', buildah && mc ? buildah / mc : undefined, x, (v) => v >= 6);
  const olot = seconds(input, 'olot-skopeo');
  check('>= 2x faster than olot-style + skopeo', olot && mc ? olot / mc : undefined, x, (v) => v >= 2);
  for (const id of ['modelcar-hf', 'modelcar-hf-capped']) {
    const c = input.cases.find((k) => k.id === id);
    const s = seconds(input, id);
    const limit = c ? limitOf(c, input.summaries) : undefined;
    check(
      `${id === 'modelcar-hf' ? 'streamed hf:// build' : 'streamed hf:// build at 40 MB/s per connection'} <= 1.4x the slower of (Hub raw download, registry limit)`,
      s && limit ? s / limit.seconds : undefined,
      x,
      (v) => v <= 1.4,
    );
  }
  const rerun = seconds(input, 'rerun-hf');
  check(
    `re-run of an unchanged hf:// build < 2 s (${mib(input.model.totalBytes)} model)`,
    rerun,
    (v) => `${v.toFixed(2)} s`,
    (v) => v < 2,
  );
  const hf = input.summaries.get('modelcar-hf');
  // "256 MB" of memory read as Kubernetes and ps count it: 256 MiB (268 MB).
  const rssCap = 256 * 2 ** 20;
  check('stream mode: peak RSS < 256 MiB', hf?.peakRss, mib, (v) => v < rssCap);
  check('stream mode: zero staging disk', hf?.peakDisk, mib, (v) => v < 1 * MB);
  for (const r of input.scale ?? []) {
    if (r.note) continue;
    check(
      `stream mode at ${mib(r.weightBytes)}: peak RSS < 256 MiB, zero staging`,
      r.peakRss,
      (v) => `${mib(v)}, staging ${mib(r.peakDisk)}`,
      (v) => v < rssCap && r.peakDisk < MB,
    );
  }
  return out;
}

export function renderReport(input: ReportInput, analysis: readonly string[], reproduce: readonly string[]): string {
  const m = input.machine;
  const lines: string[] = [
    '# Benchmarks',
    '',
    `Latest run: ${input.date}, \`${input.command}\`. Model: ${input.model.files} files, ${mib(input.model.totalBytes)} ` +
      `(${input.model.shards} random weight shards plus json/tokenizer files); ${input.repeats} run(s) per case, cases ` +
      'alternated; medians. Wall time is end to end (process start to exit); peak RSS is the sum over the whole process ' +
      "tree (sampled from /proc every 100 ms; the registry's own memory is not counted, it is the same server for all); " +
      'staging disk is the peak of what the case wrote outside its destination (its TMPDIR, HOME and container storage); ' +
      "CPU is user + system seconds of the tool's process tree and of the registry while the case ran (less noisy " +
      'than wall time on a shared machine).',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memory}; disk (source fstype size avail): ${m.disk}; kernel ${m.kernel}`,
    `- load average when the run started: ${m.load} (other work on the machine shows up as noise)`,
    ...Object.entries(input.versions).map(([k, v]) => `- ${k}: ${v}`),
    ...input.notes.map((n) => `- note: ${n}`),
    '',
    '## Results',
    '',
    '| Case | median wall | throughput | wall vs limit | peak RSS (vs limit) | peak staging disk | CPU: tool / registry | runs | notes |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  let group: Group | undefined;
  for (const c of input.cases) {
    if (c.group !== group) {
      group = c.group;
      lines.push(`| _${GROUP_TITLES[group]}_ | | | | | | | | |`);
    }
    lines.push(row(c, input));
  }
  lines.push('', '## Targets (issue 5)', '', '| Target | measured | met |', '|---|---|---|');
  for (const t of targets(input))
    lines.push(`| ${t.text} | ${t.measured} | ${t.met === undefined ? '-' : t.met ? 'yes' : 'no'} |`);
  if (input.scale && input.scale.length > 0) {
    lines.push(
      '',
      '## Stream mode as the model grows',
      '',
      '| weights | hf:// build wall | peak RSS | peak staging disk | unchanged re-run | note |',
      '|---|---|---|---|---|---|',
    );
    for (const r of input.scale) {
      lines.push(
        r.note
          ? `| ${mib(r.weightBytes)} | | | | | ${r.note} |`
          : `| ${mib(r.weightBytes)} | ${r.seconds.toFixed(1)} s | ${mib(r.peakRss)} | ${mib(r.peakDisk)} | ${r.rerunSeconds === undefined ? '' : `${r.rerunSeconds.toFixed(2)} s`} | |`,
      );
    }
  }
  lines.push('', '## What bounds each case', '', ...analysis.map((a) => `- ${a}`));
  if (input.profile) lines.push('', input.profile.trim());
  lines.push('', '## Reproduce', '', ...reproduce, '');
  return lines.join('\n');
}
