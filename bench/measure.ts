/**
 * Runs a case's commands one after another and measures them as one: wall time, the peak RSS of each command's
 * process tree, and the peak of what the case staged on disk.
 */
import { spawn } from 'node:child_process';
import { allocatedUnder } from './disk-usage.js';
import { processCpu, reapedChildrenCpu, treeRss } from './proc-tree.js';

export interface Step {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Variables of the bench's own environment the command must not see. */
  readonly unset?: readonly string[];
  readonly cwd?: string;
}

export interface Measurement {
  readonly seconds: number;
  readonly steps: readonly { label: string; seconds: number }[];
  readonly peakRss: number;
  /** CPU seconds (user + system) of the commands' process trees. */
  readonly cpuSeconds: number;
  /** CPU seconds the watched server (the registry) spent meanwhile. */
  readonly serverCpuSeconds: number;
  /** Peak growth of the staging directories over their size before the first step. */
  readonly peakDisk: number;
  /** Each step's stdout. */
  readonly stdout: readonly string[];
}

const SAMPLE_MS = 100;

function runStep(step: Step, sample: (pid: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...step.env };
    for (const name of step.unset ?? []) delete env[name];
    const child = spawn(step.command, [...step.args], {
      cwd: step.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
    });
    const timer = setInterval(() => child.pid && sample(child.pid), SAMPLE_MS);
    child.once('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearInterval(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${step.label}: ${step.command} exited with ${code ?? signal}\n${err.trim()}`));
    });
  });
}

export interface MeasureOptions {
  /** Where the case may stage bytes. */
  readonly stagingDirs?: readonly string[];
  /** A server whose CPU time the case costs (the registry). */
  readonly serverPid?: number;
}

export async function measure(steps: readonly Step[], opts: MeasureOptions = {}): Promise<Measurement> {
  const stagingDirs = opts.stagingDirs ?? [];
  const baseline = allocatedUnder(stagingDirs);
  const cpuBefore = reapedChildrenCpu();
  const serverBefore = opts.serverPid ? processCpu(opts.serverPid) : 0;
  let peakRss = 0;
  let peakDisk = 0;
  const sample = (pid: number) => {
    peakRss = Math.max(peakRss, treeRss(pid));
    if (stagingDirs.length > 0) peakDisk = Math.max(peakDisk, allocatedUnder(stagingDirs) - baseline);
  };
  const timings: { label: string; seconds: number }[] = [];
  const stdout: string[] = [];
  const began = process.hrtime.bigint();
  for (const step of steps) {
    const start = process.hrtime.bigint();
    stdout.push(await runStep(step, sample));
    timings.push({ label: step.label, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
  }
  // A step shorter than one sample interval still leaves its files behind to count.
  if (stagingDirs.length > 0) peakDisk = Math.max(peakDisk, allocatedUnder(stagingDirs) - baseline);
  return {
    seconds: Number(process.hrtime.bigint() - began) / 1e9,
    steps: timings,
    peakRss,
    cpuSeconds: reapedChildrenCpu() - cpuBefore,
    serverCpuSeconds: opts.serverPid ? processCpu(opts.serverPid) - serverBefore : 0,
    peakDisk,
    stdout,
  };
}
