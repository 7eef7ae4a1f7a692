/**
 * The doctor framework: a check is a probe that returns results, each naming a cause and a fix. The runner runs
 * checks concurrently (a check may wait for others with `after`), bounds each with a timeout, and the renderers turn
 * the results into text or one JSON object. To add a check: write a `Check`, add it to `selectChecks` in `doctor.ts`.
 */

import type { RegistryOptions } from '../oci/open.js';
import { printable } from '../printable.js';
import type { ModelSource, SourceIdentity } from '../source/source.js';
import type { KubeClient } from './kube-client.js';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable dotted id, e.g. `cluster.access.pipelineruns-create` or `manifests.scc-capabilities`. */
  id: string;
  title: string;
  status: Status;
  /** One line: what was found. */
  summary: string;
  /** The exact text users see when this goes wrong (an error message from the API, a tool or a log). */
  symptom?: string;
  cause?: string;
  /** A command or a YAML snippet that fixes it. May span lines. */
  fix?: string;
  /** Machine-readable facts (file, path, reason...). Never secrets. */
  details?: Record<string, unknown>;
}

/** Options shared by every check; a new check adds the fields it needs here and one flag in src/cli/doctor.ts. */
export interface DoctorOptions {
  /** The model, as `build` takes it: a directory or hf://ORG/NAME[@REV]. */
  source?: string;
  /** Opens `source`; the CLI passes `openSource` with the user's Hub options, tests may pass their own endpoint. */
  openSource?: (spec: string) => ModelSource;
  include?: readonly string[];
  exclude?: readonly string[];
  keepDuplicateWeights?: boolean;
  /** `--to`, as `build` takes it. */
  to?: string;
  /** `--base`, as `build` takes it. */
  base?: string;
  registry?: RegistryOptions;
  /** The build would add a ModelPack manifest (`--modelpack`): registries that refuse artifacts matter. */
  modelpack?: boolean;
  /** `--max-layers` @default 100 */
  maxLayers?: number;
  /** `--max-layer-size`, over the registry's known limit. */
  maxLayerBytes?: number;
  /** `--cache DIR`: downloaded files are kept here. */
  cacheDir?: string;
  /** Kubeflow Model Registry REST URL. */
  modelRegistry?: string;
  modelRegistryTokenFile?: string;
  /** Namespace of the Model Registry service (for `get services`). */
  modelRegistryNamespace?: string;
  /** `--sign-key`, `--sign-password-file`: the build would sign with this key. */
  signKey?: string;
  signPasswordFile?: string;
  /** `--sign-identity-token-file` and the Sigstore instance: the build would sign keyless. */
  signIdentityTokenFile?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  /** Files, directories or `-` (stdin) holding YAML manifests or Containerfiles to lint. */
  manifests?: string[];
  /** A Namespace YAML or a flat annotation map, standing in for the cluster's namespace annotations. */
  namespaceAnnotations?: string;
  kubeconfig?: string;
  namespace?: string;
  /** Run only the checks with these ids (`--only registry cluster`). */
  only?: readonly string[];
  /** Do not contact a cluster even when credentials are present. */
  offline?: boolean;
  /** Per-check timeout. @default 20000 */
  timeoutMs?: number;
}

/** Facts one check learns and a later check uses (declare the order with `after`). */
export interface DoctorFacts {
  /** The target namespace's annotations, from the cluster or `--namespace-annotations`. */
  namespace?: { name: string; annotations: Record<string, string>; from: string };
  /** What the build would package, from the source check. */
  model?: ModelFacts;
  /** A reachable Kubernetes API, from the cluster check. */
  kube?: KubeClient;
}

export interface ModelFacts {
  readonly identity: SourceIdentity;
  readonly files: number;
  readonly contentBytes: number;
  /** Sizes of the planned model layers (tar framing included), largest first. */
  readonly layerSizes: readonly number[];
}

export interface DoctorContext {
  options: DoctorOptions;
  env: NodeJS.ProcessEnv;
  facts: DoctorFacts;
  /** Aborted when the check times out; pass it to network calls. */
  signal: AbortSignal;
  /** Read stdin once (for `-`); tests replace it. */
  readStdin: () => Promise<string>;
}

export interface Check {
  id: string;
  title: string;
  /** Ids of checks that must finish first (their facts are then in `ctx.facts`). */
  after?: string[];
  /** Overrides `DoctorOptions.timeoutMs` for this check. */
  timeoutMs?: number;
  run(ctx: DoctorContext): Promise<CheckResult | CheckResult[]>;
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export const DEFAULT_CHECK_TIMEOUT_MS = 20_000;

/** Runs every check once; results keep the order of `checks`. Never throws: a thrown error is a `fail` result. */
export async function runChecks(checks: readonly Check[], base: Omit<DoctorContext, 'signal'>): Promise<DoctorReport> {
  const running = new Map<string, Promise<CheckResult[]>>();
  const start = (check: Check): Promise<CheckResult[]> => {
    let p = running.get(check.id);
    if (!p) {
      const deps = (check.after ?? [])
        .map((id) => checks.find((c) => c.id === id))
        .filter((c): c is Check => c !== undefined);
      p = Promise.all(deps.map(start)).then(() =>
        runOne(check, base, check.timeoutMs ?? base.options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS),
      );
      running.set(check.id, p);
    }
    return p;
  };
  const results = (await Promise.all(checks.map(start))).flat();
  return { ok: results.every((r) => r.status !== 'fail'), checks: results };
}

async function runOne(check: Check, base: Omit<DoctorContext, 'signal'>, timeoutMs: number): Promise<CheckResult[]> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<CheckResult[]>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${seconds(timeoutMs)}`));
      resolve([
        {
          id: check.id,
          title: check.title,
          status: 'fail',
          summary: `timed out after ${seconds(timeoutMs)}`,
          cause: 'The probe did not answer in time (a hung connection, a firewall dropping packets, or a slow server).',
          fix: 'Rerun with a longer `--timeout`, or check connectivity to the endpoint this check talks to.',
        },
      ]);
    }, timeoutMs);
  });
  const ran = (async () => {
    try {
      const out = await check.run({ ...base, signal: controller.signal });
      return Array.isArray(out) ? out : [out];
    } catch (e) {
      const hint = (e as { hint?: unknown }).hint;
      return [
        {
          id: check.id,
          title: check.title,
          status: 'fail' as const,
          summary: e instanceof Error ? e.message : String(e),
          ...(typeof hint === 'string' ? { fix: hint } : {}),
        },
      ];
    }
  })();
  try {
    return await Promise.race([ran, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

const MARKS: Record<Status, { text: string; colour: string }> = {
  ok: { text: 'ok  ', colour: '\x1b[32m' },
  warn: { text: 'warn', colour: '\x1b[33m' },
  fail: { text: 'FAIL', colour: '\x1b[31m' },
  skip: { text: 'skip', colour: '\x1b[2m' },
};

/** Human text: one line per result, then symptom, cause and fix indented below it. */
export function renderText(report: DoctorReport, opts: { colour: boolean }): string {
  const paint = (status: Status, s: string) => (opts.colour ? `${MARKS[status].colour}${s}\x1b[0m` : s);
  const lines: string[] = [];
  for (const r of report.checks) {
    lines.push(`${paint(r.status, MARKS[r.status].text)} ${r.id}: ${printable(r.summary)}`);
    if (r.status === 'ok') continue;
    if (r.symptom) lines.push(...block('symptom', r.symptom));
    if (r.cause) lines.push(...block('cause', r.cause));
    if (r.fix) lines.push(...block('fix', r.fix));
  }
  const count = (s: Status) => report.checks.filter((r) => r.status === s).length;
  lines.push(
    '',
    `${report.ok ? 'no failures' : 'failures found'}: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail, ${count('skip')} skip`,
  );
  return `${lines.join('\n')}\n`;
}

function block(label: string, text: string): string[] {
  // Multi-line blocks keep their line breaks; any other control character is escaped.
  const body = text.replace(/\s+$/, '').split('\n').map(printable);
  if (body.length === 1) return [`     ${label}: ${body[0]}`];
  return [`     ${label}:`, ...body.map((l) => `       ${l}`)];
}

/** `--json`: exactly one object, `{ok, checks}`. */
export function renderJson(report: DoctorReport): string {
  return `${JSON.stringify({ ok: report.ok, checks: report.checks }, null, 2)}\n`;
}

/** Exit code: 1 when any check failed; warnings and skips are 0. */
export function exitCodeOf(report: DoctorReport): number {
  return report.ok ? 0 : 1;
}
