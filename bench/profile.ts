/**
 * Where modelcar's time goes on the push path: one build under `node --cpu-prof` with an event-loop delay monitor,
 * summarised as self time per function (hashing, socket writes, file reads, GC, idle) and the loop's delay.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { measure, type Step } from './measure.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  readonly wallSeconds: number;
  readonly sampledSeconds: number;
  readonly top: readonly { name: string; seconds: number; share: number }[];
  readonly loopDelay: Record<string, number>;
}

export function selfTimes(profile: CpuProfile): Map<string, number> {
  const names = new Map<number, string>();
  for (const n of profile.nodes) {
    const where = n.callFrame.url ? ` (${basename(n.callFrame.url)})` : '';
    names.set(n.id, `${n.callFrame.functionName || '(anonymous)'}${where}`);
  }
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = names.get(id) ?? '?';
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1e6);
  });
  return self;
}

export async function profileBuild(step: Step, dir: string, loopDelayScript: string): Promise<ProfileSummary> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const loopFile = join(dir, 'loop-delay.json');
  const profiled: Step = {
    ...step,
    args: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', loopDelayScript, ...step.args],
    env: { ...step.env, BENCH_LOOP_DELAY_FILE: loopFile },
  };
  const m = await measure([profiled]);
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  const self = selfTimes(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, seconds]) => ({ name, seconds, share: seconds / total }));
  return {
    wallSeconds: m.seconds,
    sampledSeconds: total,
    top,
    loopDelay: JSON.parse(await readFile(loopFile, 'utf8')) as Record<string, number>,
  };
}

export function renderProfile(p: ProfileSummary, what: string): string {
  const rows = p.top.map((t) => `| \`${t.name}\` | ${t.seconds.toFixed(2)} s | ${(t.share * 100).toFixed(1)}% |`);
  const d = p.loopDelay;
  return [
    '## Where modelcar spends its time (main thread profile)',
    '',
    `${what}: ${p.wallSeconds.toFixed(2)} s wall under \`node --cpu-prof\`; self time of the main thread by function ` +
      `(native work such as sha256 and socket writes is charged to the JS frame that called it). Event-loop delay: ` +
      `mean ${d.meanMs} ms, p50 ${d.p50Ms} ms, p99 ${d.p99Ms} ms, max ${d.maxMs} ms.`,
    '',
    '| function | self time | share |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
}
