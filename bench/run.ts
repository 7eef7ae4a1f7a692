/**
 * `npm run bench`: modelcar against the machine's limit and the tools people use today, written to BENCHMARKS.md.
 *
 *   npm run bench                       2 x 1 GiB shards, 3 runs per case, writes ./BENCHMARKS.md
 *   npm run bench -- --quick            2 x 64 MiB, 1 run, writes <work>/BENCHMARKS.quick.md
 *   npm run bench -- --size 4GiB --shards 4 --repeats 5 --only modelcar-registry,curl-registry
 *   npm run bench -- --scale            adds stream-mode rows at 2 GiB and 8 GiB weights
 *   npm run bench -- --profile          adds a main-thread CPU profile of one DIR -> registry build
 *   npm run bench -- --render BENCHMARKS.md.json   writes the report again from saved results
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSize } from '../src/cli/arguments.js';
import { type HubDouble, startHubDouble } from '../test/support/hub-double.js';
import { startRegistry } from '../test/support/registry.js';
import { analysis } from './analysis.js';
import { type BenchCase, type BenchContext, benchCases, modelcarBuild } from './cases.js';
import { startCountingProxy } from './counting-proxy.js';
import { ensureTools, machineFacts, versions } from './machine.js';
import { measure } from './measure.js';
import { hubFiles, syntheticModel } from './model.js';
import { childNamed } from './proc-tree.js';
import { profileBuild, renderProfile } from './profile.js';
import { mib, type ReportInput, renderReport, type ScaleRow } from './report.js';
import { type CaseResult, type Summary, summarize } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const HUB_REPO = 'bench/model';

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      size: { type: 'string' },
      shards: { type: 'string' },
      repeats: { type: 'string' },
      only: { type: 'string' },
      work: { type: 'string' },
      out: { type: 'string' },
      scale: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      render: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const weightBytes = parseSize(values.size ?? (quick ? '128MiB' : '2GiB'));
  const shards = Number(values.shards ?? 2);
  const repeats = Number(values.repeats ?? (quick ? 1 : 3));
  if (!Number.isInteger(shards) || shards < 1) throw new Error('--shards must be a whole number >= 1');
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be a whole number >= 1');
  const work = resolve(values.work ?? join(tmpdir(), 'modelcar-bench'));
  return {
    quick,
    weightBytes,
    shards,
    repeats,
    only: values.only ? new Set(values.only.split(',')) : undefined,
    work,
    out: resolve(values.out ?? (quick ? join(work, 'BENCHMARKS.quick.md') : join(repoRoot, 'BENCHMARKS.md'))),
    scale: values.scale === true,
    profile: values.profile === true,
    render: values.render ? resolve(values.render) : undefined,
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function modelcar(args: string[], env: Record<string, string> = {}): { ok: boolean; output: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'modelcar.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * Why hf:// builds cannot run with this modelcar (the source landed separately), or undefined. Asynchronous: the
 * Hub double answers from this process's event loop.
 */
async function hfProbe(hubUrl: string, base: string, work: string): Promise<string | undefined> {
  const args = ['build', `hf://${HUB_REPO}`, '--dry-run', '--to', `oci:${join(work, 'probe')}`];
  try {
    await measure([
      {
        label: 'hf:// probe',
        command: process.execPath,
        args: [join(repoRoot, 'bin', 'modelcar.js'), ...args, '--base', `oci:${base}:busybox`],
        env: { HF_ENDPOINT: hubUrl },
      },
    ]);
    return undefined;
  } catch (e) {
    const lines = String(e instanceof Error ? e.message : e).split('\n');
    const first = lines.slice(1).find((l) => l.trim() !== '') ?? lines[0] ?? 'no output';
    return `hf:// builds do not run with this modelcar (${first.trim().slice(0, 160)})`;
  }
}

async function runCase(c: BenchCase, run: number, result: CaseResult, serverPid?: number): Promise<void> {
  try {
    await c.prepare?.(run);
    const m = await measure(c.steps(run), { stagingDirs: c.staging(run), ...(serverPid ? { serverPid } : {}) });
    result.facts.push(c.verify?.(m, run) ?? {});
    result.runs.push(m);
    log(
      `${c.id} run ${run}: ${m.seconds.toFixed(2)} s, cpu ${m.cpuSeconds.toFixed(1)} s + registry ${m.serverCpuSeconds.toFixed(1)} s, rss ${mib(m.peakRss)}, staging ${mib(m.peakDisk)}`,
    );
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    result.errors.push(message);
    log(`${c.id} run ${run} failed: ${message}`);
  } finally {
    await c.cleanup?.(run).catch(() => {});
  }
}

/** Stream mode at growing sizes: one hf:// build and one unchanged re-run per size, each from its own Hub double. */
async function scaleRows(ctx: BenchContext, sizes: readonly number[]): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  for (const weightBytes of sizes) {
    if (ctx.hfUnavailable) {
      rows.push({ weightBytes, seconds: 0, peakRss: 0, peakDisk: 0, note: ctx.hfUnavailable });
      continue;
    }
    const shards = Math.max(1, Math.ceil(weightBytes / 2 ** 30));
    let hub: HubDouble | undefined;
    try {
      log(`scale: serving ${mib(weightBytes)} from a Hub double`);
      hub = await startHubDouble({
        repos: [{ id: HUB_REPO, commits: [{ files: hubFiles({ weightBytes, shards }) }] }],
      });
      const sandbox = join(ctx.work, 'sandbox', 'scale');
      await rm(sandbox, { recursive: true, force: true });
      await mkdir(join(sandbox, 'tmp'), { recursive: true });
      const step = modelcarBuild(ctx, `hf://${HUB_REPO}`, `${ctx.registry.host}/bench/scale-${weightBytes}:v1`, {
        TMPDIR: join(sandbox, 'tmp'),
        HOME: sandbox,
        HF_ENDPOINT: hub.url,
      });
      const first = await measure([step], { stagingDirs: [sandbox] });
      const again = await measure([step], { stagingDirs: [sandbox] });
      rows.push({
        weightBytes,
        seconds: first.seconds,
        peakRss: first.peakRss,
        peakDisk: first.peakDisk,
        rerunSeconds: again.seconds,
      });
      log(
        `scale ${mib(weightBytes)}: ${first.seconds.toFixed(1)} s, rss ${mib(first.peakRss)}, re-run ${again.seconds.toFixed(2)} s`,
      );
    } catch (e) {
      rows.push({ weightBytes, seconds: 0, peakRss: 0, peakDisk: 0, note: `failed: ${String(e).split('\n')[0]}` });
    } finally {
      await hub?.close();
    }
  }
  return rows;
}

/** One run's results as saved beside the report (FILE.md.json): `--render FILE.md.json` writes the report again. */
interface SavedRun extends Omit<ReportInput, 'summaries' | 'errors'> {
  readonly summaries: Summary[];
  readonly errors: [string, string[]][];
}

const REPRODUCE = [
  'On a Debian bookworm machine with Node >= 20.18 (as root the bench installs the Debian packages it lacks:',
  'docker-registry, skopeo, umoci, busybox-static, buildah, curl; as a normal user, missing peers are skipped with a note):',
  '',
  '```sh',
  'npm ci',
  'npm run bench                        # 2 x 1 GiB shards, 3 runs per case: some 15 minutes on 2 cores',
  'npm run bench -- --quick             # 2 x 64 MiB, 1 run: checks the bench itself in a minute',
  'npm run bench -- --scale --profile   # adds stream-mode rows at 2 and 8 GiB and a CPU profile of modelcar',
  'npm run bench -- --render BENCHMARKS.md.json   # writes BENCHMARKS.md again from saved results',
  '```',
  '',
  'Options: `--size 4GiB --shards 4 --repeats 5 --only ID,ID --work DIR --out FILE`. The synthetic model is kept in',
  'the work directory (default `$TMPDIR/modelcar-bench`) between runs. Run it on an otherwise idle machine: other',
  'work on the cores shows up in every wall time (the CPU column is steadier).',
];

async function writeReport(saved: SavedRun, out: string): Promise<void> {
  const summaries = new Map(saved.summaries.map((s) => [s.id, s]));
  const input: ReportInput = { ...saved, summaries, errors: new Map(saved.errors) };
  const markdown = renderReport(input, analysis(summaries, saved.model.totalBytes, saved.machine.cores), [
    ...REPRODUCE,
    '',
    `Case ids: ${saved.cases.map((c) => `\`${c.id}\``).join(', ')}.`,
  ]);
  await writeFile(out, markdown);
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${out}`);
}

async function main(): Promise<void> {
  const opts = options();
  if (opts.render) {
    await writeReport(JSON.parse(await readFile(opts.render, 'utf8')) as SavedRun, opts.out);
    return;
  }
  const started = new Date();
  const tools = ensureTools(log);
  await mkdir(opts.work, { recursive: true });
  const modelcarBin = join(repoRoot, 'bin', 'modelcar.js');

  log(`model: ${mib(opts.weightBytes)} in ${opts.shards} shards under ${opts.work}`);
  const model = await syntheticModel(opts.work, { weightBytes: opts.weightBytes, shards: opts.shards });
  const baseLayout = join(opts.work, 'base');
  if (!(await exists(join(baseLayout, 'index.json')))) {
    const r = modelcar(['base', '--busybox', tools.paths.busybox as string, '--to', `oci:${baseLayout}:busybox`]);
    if (!r.ok) throw new Error(`modelcar base failed: ${r.output}`);
  }

  const registry = await startRegistry();
  const registryPid = childNamed('docker-registry');
  // Interrupted: stop the registry it started rather than leave it running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      registry.stop().finally(() => process.exit(130));
    });
  }
  const proxy = await startCountingProxy(registry.port);
  log(`serving the model from a Hub double (${mib(model.totalBytes)} in memory)`);
  const hub = await startHubDouble({ repos: [{ id: HUB_REPO, commits: [{ files: hubFiles(model.shape) }] }] });
  try {
    for (const f of model.files) {
      if (hub.fileInfo(HUB_REPO, f.path).sha256 !== f.sha256)
        throw new Error(`Hub double bytes of ${f.path} differ from disk`);
    }
    const hfUnavailable = await hfProbe(hub.url, baseLayout, opts.work);
    if (hfUnavailable) log(hfUnavailable);
    const ctx: BenchContext = {
      work: opts.work,
      model,
      registry,
      proxy,
      hub,
      hubRepo: HUB_REPO,
      baseLayout,
      tools,
      modelcar: modelcarBin,
      olotScript: join(here, 'olot-layout.js'),
      ...(hfUnavailable ? { hfUnavailable } : {}),
    };
    const cases = benchCases(ctx).filter((c) => !opts.only || opts.only.has(c.id));
    const results = new Map<string, CaseResult>(
      cases.map((c) => [c.id, { benchCase: c, runs: [], facts: [], errors: [] }]),
    );
    const runnable = cases.filter((c) => !c.skip);
    for (const c of runnable) {
      try {
        await c.setup?.();
      } catch (e) {
        (results.get(c.id) as CaseResult).errors.push(`setup: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (let run = 0; run < opts.repeats; run++) {
      // Alternate, and rotate the order each round so no case always runs right after the same neighbour.
      const order = runnable.map((_, i) => runnable[(i + run) % runnable.length] as BenchCase);
      for (const c of order) {
        if ((results.get(c.id) as CaseResult).errors.some((e) => e.startsWith('setup:'))) continue;
        await runCase(c, run, results.get(c.id) as CaseResult, registryPid);
      }
    }
    const summaries = new Map<string, Summary>();
    for (const [id, r] of results) {
      const s = summarize(r);
      if (s) summaries.set(id, s);
    }

    const scale = opts.scale
      ? await scaleRows(ctx, opts.quick ? [64 * 2 ** 20, 256 * 2 ** 20] : [2 * 2 ** 30, 8 * 2 ** 30])
      : undefined;
    let profile: string | undefined;
    if (opts.profile) {
      log('profiling one DIR -> registry build');
      const step = benchCases(ctx)
        .find((c) => c.id === 'modelcar-registry')
        ?.steps(999)[0];
      if (step) {
        const p = await profileBuild(step, join(opts.work, 'profile'), join(here, 'loop-delay.js'));
        profile = renderProfile(p, `modelcar build DIR --to registry, ${mib(model.totalBytes)}`);
      }
    }

    const args = process.argv.slice(2).join(' ');
    const saved: SavedRun = {
      date: started.toISOString(),
      command: `npm run bench${args ? ` -- ${args}` : ''}`,
      machine: machineFacts(opts.work),
      versions: versions(tools, modelcarBin),
      model: { files: model.files.length, totalBytes: model.totalBytes, shards: opts.shards },
      repeats: opts.repeats,
      cases: cases.map(({ id, label, group, isLimit, limits, skip }) => ({ id, label, group, isLimit, limits, skip })),
      summaries: [...summaries.values()],
      errors: [...results].map(([id, r]) => [id, r.errors]),
      notes: tools.notes,
      ...(scale ? { scale } : {}),
      ...(profile ? { profile } : {}),
    };
    await writeFile(`${opts.out}.json`, JSON.stringify(saved, null, 2));
    await writeReport(saved, opts.out);
  } finally {
    await hub.close();
    await proxy.close();
    await registry.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
