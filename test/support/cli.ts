/**
 * Runs the real CLI (`node bin/modelcar.js ...`) as a child process, the way a user or CI job does, with a clean
 * environment: no credentials or SOURCE_DATE_EPOCH leak in from the machine running the tests.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool } from './tools.js';

/** The checkout, from dist/test/support/cli.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** bin/modelcar.js of the checkout. */
export const MODELCAR_BIN = join(ROOT, 'bin/modelcar.js');

/** An empty HOME shared by every run in this process, so ~/.docker/config.json of the machine is never read. */
const emptyHome = mkdtempSync(join(tmpdir(), 'modelcar-home-'));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Each stderr line with the milliseconds since the start at which it arrived: proves output came during a run. */
  readonly stderrLines: readonly { readonly at: number; readonly line: string }[];
  /** The signal that ended the process, if one did. */
  readonly signal: NodeJS.Signals | null;
}

export interface CliOptions {
  readonly cwd?: string;
  /** Added to the clean environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run as an unprivileged user (nobody) even when the tests run as root, as CI does. */
  readonly unprivileged?: boolean;
  readonly timeoutMs?: number;
  /** Called with each complete stderr line as it arrives (e.g. to signal the process at a chosen point). */
  readonly onStderrLine?: (line: string, child: ChildProcess) => void;
}

const NOBODY = 65534;

function cleanEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const keep = ['PATH', 'LANG', 'LC_ALL', 'TMPDIR', 'NODE_OPTIONS'];
  const env: NodeJS.ProcessEnv = { HOME: emptyHome, NO_COLOR: '1' };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

let reachable: string | undefined;

/**
 * A checkout the unprivileged user can read: the checkout itself when it can, else (a clone inside a 0700 directory
 * such as `mktemp -d`) a copy of what the CLI needs in a world-readable temporary directory, hard-linked where the
 * file system allows. Made once per test process.
 */
export function unprivilegedRoot(): string {
  if (reachable) return reachable;
  const [cmd, ...args] = asUnprivileged(['test', '-r', MODELCAR_BIN]);
  const probe = spawnSync(cmd as string, args);
  if (probe.status === 0) {
    reachable = ROOT;
    return ROOT;
  }
  const copy = mkdtempSync(join(tmpdir(), 'modelcar-cli-'));
  chmodSync(copy, 0o755);
  for (const part of ['bin', 'dist', 'node_modules', 'package.json']) {
    const linked = spawnSync('cp', ['-al', join(ROOT, part), copy]);
    if (linked.status !== 0) {
      const copied = spawnSync('cp', ['-a', join(ROOT, part), copy]);
      if (copied.status !== 0) throw new Error(`cannot copy ${part} for the unprivileged user: ${copied.stderr}`);
    }
  }
  reachable = copy;
  return copy;
}

/** `[command, ...args]` that runs `args` as nobody when we are root; unchanged otherwise. */
export function asUnprivileged(command: readonly string[]): string[] {
  if (process.getuid?.() !== 0) return [...command];
  return [requireTool('setpriv'), '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', ...command];
}

export function run(command: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const argv = opts.unprivileged ? asUnprivileged(command) : [...command];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: opts.cwd,
      env: cleanEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
    });
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    let partial = '';
    const stderrLines: { at: number; line: string }[] = [];
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        stderrLines.push({ at: Date.now() - started, line });
        opts.onStderrLine?.(line, child);
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, stderrLines, signal }),
    );
  });
}

/** Runs `modelcar ARGS...`. */
export function modelcar(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const bin = opts.unprivileged ? join(unprivilegedRoot(), 'bin/modelcar.js') : MODELCAR_BIN;
  return run([process.execPath, bin, ...args], opts);
}

/** Runs `modelcar ARGS...`, fails the test with its stderr unless it exits 0. */
export async function modelcarOk(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const r = await modelcar(args, opts);
  assert.equal(r.code, 0, `modelcar ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}

export interface BuildJson {
  readonly reference: string;
  readonly digest: string;
  readonly destination: string;
  readonly storageUri?: string;
  readonly base: { readonly name?: string; readonly digest?: string; readonly layers: number };
  readonly files: number;
  readonly bytes: number;
  readonly layers: readonly {
    readonly digest?: string;
    readonly outcome?: string;
    readonly size: number;
    readonly files: readonly { readonly path: string; readonly size: number; readonly sha256?: string }[];
  }[];
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
}

/** `modelcar build ARGS... --json`, parsed; fails the test unless it exits 0. */
export async function buildJson(args: readonly string[], opts: CliOptions = {}): Promise<BuildJson & CliResult> {
  const r = await modelcarOk(['build', ...args, '--json'], opts);
  return { ...(JSON.parse(r.stdout) as BuildJson), ...r };
}

/**
 * Asserts the CLI failed the way every failure should look: a non-zero exit, exactly one `modelcar: error:` line
 * matching `message`, a hint line, and no stack trace or internal error.
 */
export function assertCleanFailure(r: CliResult, message: RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0:\n${r.stdout}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('modelcar: error: '));
  assert.equal(errors.length, 1, `expected one error line on stderr:\n${r.stderr}`);
  assert.match(errors[0] as string, message);
  assert.match(r.stderr, /^ {2}hint: \S/m, `expected a hint line:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at .+:\d+:\d+\)?\n/, `unexpected crash output:\n${r.stderr}`);
}
