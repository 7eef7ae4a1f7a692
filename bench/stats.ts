/** Medians and the per-case summary the table is made of. */
import type { BenchCase } from './cases.js';
import type { Measurement } from './measure.js';
import type { CaseInfo } from './report.js';

export interface CaseResult {
  readonly benchCase: BenchCase;
  readonly runs: Measurement[];
  readonly facts: Record<string, string>[];
  readonly errors: string[];
}

export interface Summary {
  readonly id: string;
  readonly label: string;
  readonly runs: number;
  readonly seconds: number;
  readonly peakRss: number;
  readonly peakDisk: number;
  readonly cpuSeconds: number;
  readonly serverCpuSeconds: number;
  /** Median seconds of each step, when a case has several (buildah bud / push). */
  readonly steps: readonly { label: string; seconds: number }[];
  readonly facts: Record<string, string>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(result: CaseResult): Summary | undefined {
  const { runs, benchCase } = result;
  if (runs.length === 0) return undefined;
  const stepLabels = runs[0]?.steps.map((s) => s.label) ?? [];
  // The last run's facts stand for all: they are invariants (bytes moved), checked on every run.
  return {
    id: benchCase.id,
    label: benchCase.label,
    runs: runs.length,
    seconds: median(runs.map((r) => r.seconds)),
    peakRss: median(runs.map((r) => r.peakRss)),
    peakDisk: median(runs.map((r) => r.peakDisk)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    serverCpuSeconds: median(runs.map((r) => r.serverCpuSeconds)),
    steps:
      stepLabels.length > 1
        ? stepLabels.map((label, i) => ({ label, seconds: median(runs.map((r) => r.steps[i]?.seconds ?? 0)) }))
        : [],
    facts: result.facts[result.facts.length - 1] ?? {},
  };
}

/** The limit a case is held to: the slowest of its limit cases. */
export function limitOf(c: CaseInfo, summaries: ReadonlyMap<string, Summary>): Summary | undefined {
  let worst: Summary | undefined;
  for (const id of c.limits ?? []) {
    const s = summaries.get(id);
    if (s && (!worst || s.seconds > worst.seconds)) worst = s;
  }
  return worst;
}
