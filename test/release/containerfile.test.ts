/**
 * The tool's own Containerfile, checked without a container engine: its structure (pinned bases, numeric non-root
 * USER, exec-form ENTRYPOINT, HOME for an arbitrary UID), that every path it copies exists, and that the runtime
 * layout it assembles starts the CLI as an unprivileged user through the `modelcar` name the pipeline's step calls.
 */
import assert from 'node:assert/strict';
import { access, chmod, copyFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/version.js';
import { run, unprivilegedRoot } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  line: number;
  op: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped, per stage. */
function parse(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let l = lines[i] ?? '';
    if (/^\s*(#|$)/.test(l)) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) l = `${l.slice(0, -1)} ${lines[++i]?.trim() ?? ''}`;
    const m = /^\s*(\w+)\s+(.*)$/.exec(l);
    assert.ok(m, `line ${start + 1} is not an instruction: ${l}`);
    const ins = { line: start + 1, op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() };
    if (ins.op === 'FROM') stages.push([]);
    assert.ok(stages.length > 0, 'the first instruction must be FROM');
    stages.at(-1)?.push(ins);
  }
  return stages;
}

const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op);

/** `COPY [--flags] SRC... DEST` → sources and destination. */
function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1) as string };
}

describe('Containerfile of the modelcar tool image', () => {
  let stages: Instruction[][];
  let build: Instruction[];
  let runtime: Instruction[];
  before(async () => {
    stages = parse(await readFile(join(ROOT, 'Containerfile'), 'utf8'));
    build = stages[0] as Instruction[];
    runtime = stages.at(-1) as Instruction[];
  });

  it('is multi-stage, every base pinned to a tag or digest and none to latest', () => {
    assert.ok(stages.length >= 2, 'a build stage and a small runtime stage');
    for (const stage of stages) {
      const from = stage[0] as Instruction;
      const image = from.args.split(/\s+/).find((w) => !w.startsWith('--')) as string;
      assert.match(image, /^[a-z0-9.-]+\.[a-z]+\/[^\s:@]+(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/, `FROM ${image}`);
      assert.doesNotMatch(image, /:latest$/, `line ${from.line}`);
    }
    assert.match((runtime[0] as Instruction).args, /ubi9\/nodejs-20-minimal/);
    assert.match((build[0] as Instruction).args, /node:20[.\d]*-/, 'the build uses the same Node major');
  });

  it('runs as a numeric non-root USER, with HOME where an arbitrary UID can write', () => {
    const user = all(runtime, 'USER').at(-1)?.args;
    assert.match(user ?? '', /^[1-9]\d*(:0)?$/, 'numeric, not root, group 0 if any');
    const env = all(runtime, 'ENV')
      .map((i) => i.args)
      .join(' ');
    assert.match(env, /\bHOME=\/tmp\b/);
    assert.match(env, /\bPATH=\/opt\/modelcar\/bin:\$PATH\b/, 'the pipeline step calls `modelcar` by name');
    assert.doesNotMatch(
      runtime.map((i) => i.args).join('\n'),
      /chmod\s+(-R\s+)?[0-7]?7[0-7]7/,
      'nothing world-writable',
    );
  });

  it('has an exec-form ENTRYPOINT that runs the CLI, and no shell in between', () => {
    const entry = all(runtime, 'ENTRYPOINT');
    assert.equal(entry.length, 1);
    const argv = JSON.parse((entry[0] as Instruction).args) as string[];
    assert.deepEqual(argv, ['node', '/opt/modelcar/bin/modelcar.js']);
  });

  it('installs without lifecycle scripts (prepare would compile before the sources are in) and drops dev deps', () => {
    const runs = all(build, 'RUN').map((i) => i.args);
    assert.ok(runs.some((r) => /\bnpm ci\b.*--ignore-scripts/.test(r)));
    assert.ok(runs.some((r) => /\bnpm prune --omit=dev\b/.test(r)));
  });

  it('copies only paths that exist: sources from the repository, the runtime from the build stage', async () => {
    for (const i of all(build, 'COPY')) {
      for (const src of copyArgs(i.args).sources) await access(join(ROOT, src));
    }
    const fromBuild = all(runtime, 'COPY').map((i) => copyArgs(i.args));
    assert.ok(fromBuild.every((c) => c.from === 'build'));
    // the build stage works in /src; these are the compiled outputs and what bin/modelcar.js imports
    const produced = fromBuild.flatMap((c) => c.sources).map((s) => s.replace(/^\/src\//, ''));
    assert.deepEqual(produced.sort(), ['bin', 'dist/src', 'node_modules', 'package.json']);
    for (const p of produced) await access(join(ROOT, p));
  });
});

describe('the runtime layout the Containerfile assembles', () => {
  let work: string;
  before(async () => {
    work = await tempDir('modelcar-image-');
    await chmod(work, 0o755);
    const app = join(work, 'opt/modelcar');
    await mkdir(join(app, 'bin'), { recursive: true });
    await mkdir(join(app, 'dist'), { recursive: true });
    // Links into a checkout the unprivileged user can reach (a clone may sit in a 0700 directory).
    const reachable = unprivilegedRoot();
    await symlink(join(reachable, 'dist/src'), join(app, 'dist/src'));
    await symlink(join(reachable, 'node_modules'), join(app, 'node_modules'));
    await copyFile(join(ROOT, 'package.json'), join(app, 'package.json'));
    await copyFile(join(ROOT, 'bin/modelcar.js'), join(app, 'bin/modelcar.js'));
    await chmod(join(app, 'bin/modelcar.js'), 0o755);
    // as the build stage does: `ln -s modelcar.js bin/modelcar`
    await symlink('modelcar.js', join(app, 'bin/modelcar'));
    await chmod(dirname(app), 0o755);
  });
  after(() => removeTemp(work));

  it('starts `modelcar` from PATH as an unprivileged user with HOME=/tmp', async () => {
    const r = await run(['modelcar', '--version'], {
      unprivileged: true,
      cwd: '/tmp',
      env: { PATH: `${join(work, 'opt/modelcar/bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: '/tmp' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
    const help = await run(['modelcar', 'pipeline', '--help'], {
      unprivileged: true,
      env: { PATH: `${join(work, 'opt/modelcar/bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: '/tmp' },
    });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--modelcar-image <ref>/);
  });
});
