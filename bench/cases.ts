/**
 * The benchmark cases: each is a list of commands measured as one, the directories it may stage bytes in, and
 * what it must prove (byte counters) besides its time. Limits are cases too: the same bytes moved by curl or cp.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HubDouble } from '../test/support/hub-double.js';
import type { TestRegistry } from '../test/support/registry.js';
import type { CountingProxy } from './counting-proxy.js';
import type { Tools } from './machine.js';
import { type Measurement, measure, type Step } from './measure.js';
import type { SyntheticModel } from './model.js';

export interface BenchContext {
  readonly work: string;
  readonly model: SyntheticModel;
  readonly registry: TestRegistry;
  /** Relay to the same registry that counts uploaded bytes (re-run cases). */
  readonly proxy: CountingProxy;
  readonly hub: HubDouble;
  readonly hubRepo: string;
  /** OCI layout holding the busybox base at tag `busybox`. */
  readonly baseLayout: string;
  readonly tools: Tools;
  /** bin/modelcar.js */
  readonly modelcar: string;
  /** Compiled bench/olot-layout.js */
  readonly olotScript: string;
  /** Why hf:// cases cannot run yet; undefined when they can. */
  readonly hfUnavailable?: string;
}

export type Group = 'registry' | 'layout' | 'hf' | 'hf-capped' | 'rerun';

export interface BenchCase {
  readonly id: string;
  readonly label: string;
  readonly group: Group;
  /** A physical limit rather than a tool. */
  readonly isLimit?: boolean;
  /** Cases whose slowest median is this case's limit. */
  readonly limits?: readonly string[];
  /** Why it cannot run here (tool missing, feature not landed); the table prints this instead of numbers. */
  readonly skip?: string;
  /** Once, untimed, before the first run (e.g. the build a re-run repeats). */
  setup?(): Promise<void>;
  prepare?(run: number): Promise<void>;
  steps(run: number): Step[];
  /** Where the case may stage bytes (its sandbox); destinations are not staging. */
  staging(run: number): string[];
  /** Facts to report; throws when the case broke a promise (e.g. a re-run downloaded model bytes). */
  verify?(m: Measurement, run: number): Record<string, string>;
  cleanup?(run: number): Promise<void>;
}

const MiB = 2 ** 20;

function sandbox(ctx: BenchContext, id: string): { dir: string; env: Record<string, string> } {
  const dir = join(ctx.work, 'sandbox', id);
  return { dir, env: { TMPDIR: join(dir, 'tmp'), HOME: join(dir, 'home') } };
}

async function freshSandbox(ctx: BenchContext, id: string): Promise<void> {
  const { dir, env } = sandbox(ctx, id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(env.TMPDIR as string, { recursive: true });
  await mkdir(env.HOME as string, { recursive: true });
}

/** Monolithic upload per file: POST a session, PUT the whole file with ?digest= (known ahead: no client hashing). */
const CURL_PUSH = `
host=$1; repo=$2; shift 2; pids=""
while [ $# -gt 0 ]; do
  file=$1; digest=$2; shift 2
  loc=$(curl -sSf -X POST -D - -o /dev/null "http://$host/v2/$repo/blobs/uploads/" | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')
  case "$loc" in http*) ;; *) loc="http://$host$loc" ;; esac
  case "$loc" in *\\?*) sep='&' ;; *) sep='?' ;; esac
  curl -sSf -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$file" -o /dev/null "$loc\${sep}digest=sha256:$digest" &
  pids="$pids $!"
done
for p in $pids; do wait $p || exit 1; done
`;

/** Every file of the model fetched once, one connection per file, all at once; redirects followed to the CDN. */
const CURL_FETCH = `
pids=""
for url in "$@"; do curl -sSfL -o /dev/null "$url" & pids="$pids $!"; done
for p in $pids; do wait $p || exit 1; done
`;

export function modelcarBuild(ctx: BenchContext, source: string, to: string, env: Record<string, string>): Step {
  return {
    label: 'modelcar build',
    command: process.execPath,
    args: [ctx.modelcar, 'build', source, '--to', to, '--base', `oci:${ctx.baseLayout}:busybox`, '--json', '-q'],
    env,
    // Stream mode, anonymous, and a first build: no download cache, no token, and the journal in the sandbox's HOME.
    unset: [
      'MODELCAR_CACHE_DIR',
      'MODELCAR_CACHE_HOME',
      'XDG_CACHE_HOME',
      'HF_TOKEN',
      'HF_TOKEN_PATH',
      'HF_HUB_CACHE',
      'SOURCE_DATE_EPOCH',
    ],
  };
}

function hfEnv(ctx: BenchContext, id: string): Record<string, string> {
  return { ...sandbox(ctx, id).env, HF_ENDPOINT: ctx.hub.url };
}

function lfsBytesServed(ctx: BenchContext): number {
  return ctx.model.files.filter((f) => f.weight).reduce((sum, f) => sum + (ctx.hub.bytesServed.get(f.path) ?? 0), 0);
}

function weightBytes(ctx: BenchContext): number {
  return ctx.model.files.filter((f) => f.weight).reduce((s, f) => s + f.size, 0);
}

function fmtMiB(n: number): string {
  return `${(n / MiB).toFixed(n < 10 * MiB ? 2 : 0)} MiB`;
}

export function benchCases(ctx: BenchContext): BenchCase[] {
  const { model, registry } = ctx;
  const hfSource = `hf://${ctx.hubRepo}`;
  const capped = 40_000_000;
  const withSandbox = (id: string) => ({
    prepare: () => freshSandbox(ctx, id),
    staging: () => [sandbox(ctx, id).dir],
    cleanup: () => rm(sandbox(ctx, id).dir, { recursive: true, force: true }),
  });
  const hubFetch = (id: string): Step => ({
    label: 'curl download',
    command: 'sh',
    args: ['-c', CURL_FETCH, 'sh', ...model.files.map((f) => `${ctx.hub.url}/${ctx.hubRepo}/resolve/main/${f.path}`)],
    env: sandbox(ctx, id).env,
  });
  const downloadedOnce = (): Record<string, string> => {
    const served = lfsBytesServed(ctx);
    if (served < weightBytes(ctx))
      throw new Error(`the Hub double served ${served} of ${weightBytes(ctx)} weight bytes`);
    return { downloaded: `${(served / weightBytes(ctx)).toFixed(2)}x the weights` };
  };
  const outDir = (id: string, run: number) => join(ctx.work, 'out', `${id}-${run}`);
  const buildah = ctx.tools.paths.buildah;
  const skopeo = ctx.tools.paths.skopeo;
  const storage = (id: string) => {
    const dir = sandbox(ctx, id).dir;
    return ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
  };

  return [
    {
      id: 'curl-registry',
      label: 'limit: curl PUT of the files',
      group: 'registry',
      isLimit: true,
      ...withSandbox('curl-registry'),
      steps: (run) => [
        {
          label: 'curl upload',
          command: 'sh',
          args: [
            '-c',
            CURL_PUSH,
            'sh',
            registry.host,
            `bench/curl-${run}`,
            ...model.files.flatMap((f) => [join(model.dir, f.path), f.sha256]),
          ],
          env: sandbox(ctx, 'curl-registry').env,
        },
      ],
    },
    {
      id: 'modelcar-registry',
      label: 'modelcar build DIR --to registry',
      group: 'registry',
      limits: ['curl-registry'],
      ...withSandbox('modelcar-registry'),
      steps: (run) => [
        modelcarBuild(ctx, model.dir, `${registry.host}/bench/modelcar:r${run}`, sandbox(ctx, 'modelcar-registry').env),
      ],
    },
    {
      id: 'buildah',
      label: 'buildah bud (COPY) + buildah push',
      group: 'registry',
      limits: ['curl-registry'],
      ...(buildah ? {} : { skip: 'buildah not installed (run the bench as root to install it)' }),
      ...withSandbox('buildah'),
      async prepare() {
        await freshSandbox(ctx, 'buildah');
        const containerfile = `FROM oci:${ctx.baseLayout}:busybox\nCOPY . /models/\nUSER 1001\n`;
        await writeFile(join(sandbox(ctx, 'buildah').dir, 'Containerfile'), containerfile);
      },
      steps: (run) => {
        const { dir, env } = sandbox(ctx, 'buildah');
        const isolated = { ...env, STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' };
        const image = `localhost/bench-buildah:r${run}`;
        return [
          {
            label: 'buildah bud',
            command: buildah ?? 'buildah',
            args: [...storage('buildah'), 'bud', '-q', '-f', join(dir, 'Containerfile'), '-t', image, model.dir],
            env: isolated,
          },
          {
            label: 'buildah push',
            command: buildah ?? 'buildah',
            args: [
              ...storage('buildah'),
              'push',
              '-q',
              '--tls-verify=false',
              image,
              `docker://${registry.host}/bench/buildah:r${run}`,
            ],
            env: isolated,
          },
        ];
      },
    },
    {
      id: 'olot-skopeo',
      label: 'olot-style layout + skopeo copy',
      group: 'registry',
      limits: ['curl-registry'],
      ...(skopeo ? {} : { skip: 'skopeo not installed (run the bench as root to install it)' }),
      ...withSandbox('olot-skopeo'),
      steps: (run) => {
        const { dir, env } = sandbox(ctx, 'olot-skopeo');
        const layout = join(dir, 'layout');
        return [
          {
            label: 'olot-style layout',
            command: process.execPath,
            args: [ctx.olotScript, model.dir, ctx.baseLayout, 'busybox', layout, `r${run}`, String(run + 1)],
            env,
          },
          {
            label: 'skopeo copy',
            command: skopeo ?? 'skopeo',
            args: [
              'copy',
              '-q',
              '--preserve-digests',
              '--dest-tls-verify=false',
              `oci:${layout}:r${run}`,
              `docker://${registry.host}/bench/olot:r${run}`,
            ],
            env,
          },
        ];
      },
    },
    {
      id: 'cp-layout',
      label: 'limit: cp -r + one sha256 pass',
      group: 'layout',
      isLimit: true,
      ...withSandbox('cp-layout'),
      async prepare() {
        await freshSandbox(ctx, 'cp-layout');
        await mkdir(join(ctx.work, 'out'), { recursive: true });
      },
      steps: (run) => [
        {
          label: 'cp + sha256sum',
          command: 'sh',
          args: ['-c', 'cp -r "$1" "$2" && sha256sum "$2"/* > /dev/null', 'sh', model.dir, outDir('cp-layout', run)],
          env: sandbox(ctx, 'cp-layout').env,
        },
      ],
      cleanup: async (run) => {
        await rm(outDir('cp-layout', run), { recursive: true, force: true });
        await rm(sandbox(ctx, 'cp-layout').dir, { recursive: true, force: true });
      },
    },
    {
      id: 'modelcar-layout',
      label: 'modelcar build DIR --to oci:DIR',
      group: 'layout',
      limits: ['cp-layout'],
      ...withSandbox('modelcar-layout'),
      steps: (run) => [
        modelcarBuild(
          ctx,
          model.dir,
          `oci:${outDir('modelcar-layout', run)}:r${run}`,
          sandbox(ctx, 'modelcar-layout').env,
        ),
      ],
      cleanup: async (run) => {
        await rm(outDir('modelcar-layout', run), { recursive: true, force: true });
        await rm(sandbox(ctx, 'modelcar-layout').dir, { recursive: true, force: true });
      },
    },
    {
      id: 'hub-raw',
      label: 'limit: curl download from the Hub double',
      group: 'hf',
      isLimit: true,
      ...withSandbox('hub-raw'),
      async prepare() {
        await freshSandbox(ctx, 'hub-raw');
        ctx.hub.resetCounters();
      },
      steps: () => [hubFetch('hub-raw')],
      verify: downloadedOnce,
    },
    {
      id: 'modelcar-hf',
      label: 'modelcar build hf:// --to registry (stream)',
      group: 'hf',
      limits: ['hub-raw', 'curl-registry'],
      ...(ctx.hfUnavailable ? { skip: ctx.hfUnavailable } : {}),
      ...withSandbox('modelcar-hf'),
      async prepare() {
        await freshSandbox(ctx, 'modelcar-hf');
        ctx.hub.resetCounters();
      },
      steps: (run) => [modelcarBuild(ctx, hfSource, `${registry.host}/bench/hf:r${run}`, hfEnv(ctx, 'modelcar-hf'))],
      verify: downloadedOnce,
    },
    {
      id: 'hub-raw-capped',
      label: 'limit: curl download, 40 MB/s per connection',
      group: 'hf-capped',
      isLimit: true,
      ...withSandbox('hub-raw-capped'),
      async prepare() {
        await freshSandbox(ctx, 'hub-raw-capped');
        ctx.hub.resetCounters();
        ctx.hub.rateLimit = capped;
      },
      steps: () => [hubFetch('hub-raw-capped')],
      verify: downloadedOnce,
      async cleanup() {
        ctx.hub.rateLimit = 0;
        await rm(sandbox(ctx, 'hub-raw-capped').dir, { recursive: true, force: true });
      },
    },
    {
      id: 'modelcar-hf-capped',
      label: 'modelcar build hf://, 40 MB/s per connection',
      group: 'hf-capped',
      limits: ['hub-raw-capped', 'curl-registry'],
      ...(ctx.hfUnavailable ? { skip: ctx.hfUnavailable } : {}),
      ...withSandbox('modelcar-hf-capped'),
      async prepare() {
        await freshSandbox(ctx, 'modelcar-hf-capped');
        ctx.hub.resetCounters();
        ctx.hub.rateLimit = capped;
      },
      steps: (run) => [
        modelcarBuild(ctx, hfSource, `${registry.host}/bench/hf-capped:r${run}`, hfEnv(ctx, 'modelcar-hf-capped')),
      ],
      verify: downloadedOnce,
      async cleanup() {
        ctx.hub.rateLimit = 0;
        await rm(sandbox(ctx, 'modelcar-hf-capped').dir, { recursive: true, force: true });
      },
    },
    signCase(ctx),
    rerun(ctx, 'rerun-hf', 'unchanged re-run, hf:// --to registry', hfSource, (id) => hfEnv(ctx, id)),
    rerun(ctx, 'rerun-local', 'unchanged re-run, DIR --to registry', model.dir, (id) => sandbox(ctx, id).env),
  ];

  /**
   * Signing an image already pushed: one image signature and two DSSE attestations (SLSA, OpenSSF model signing), key
   * based, into the registry with the tag fallback. The model's bytes are not read again: the statements list the
   * files' sha256 from the image, so the cost should not grow with the model.
   */
  function signCase(ctx: BenchContext): BenchCase {
    const id = 'modelcar-sign';
    const ref = `${ctx.registry.host}/bench/sign:v1`;
    const env = () => ({ ...sandbox(ctx, id).env, COSIGN_PASSWORD: 'bench' });
    const key = () => join(sandbox(ctx, id).dir, 'cosign.key');
    return {
      id,
      label: 'modelcar sign REF --sign-key (signature + 2 attestations)',
      group: 'registry',
      staging: () => [sandbox(ctx, id).dir],
      async setup() {
        await freshSandbox(ctx, id);
        await measure([
          modelcarBuild(ctx, ctx.model.dir, ref, env()),
          {
            label: 'modelcar key generate',
            command: process.execPath,
            args: [ctx.modelcar, 'key', 'generate', '--output-key-prefix', key().replace(/\.key$/, '')],
            env: env(),
          },
        ]);
      },
      steps: () => [
        {
          label: 'modelcar sign',
          command: process.execPath,
          args: [ctx.modelcar, 'sign', ref, '--sign-key', key(), '--json'],
          env: env(),
        },
      ],
    };
  }

  function rerun(
    ctx: BenchContext,
    id: string,
    label: string,
    source: string,
    env: (id: string) => Record<string, string>,
  ): BenchCase {
    // Through the counting relay: what reaches the registry is measured, not taken from modelcar's report.
    const to = `${ctx.proxy.host}/bench/${id}:v1`;
    const isHf = source.startsWith('hf://');
    return {
      id,
      label,
      group: 'rerun',
      ...(isHf && ctx.hfUnavailable ? { skip: ctx.hfUnavailable } : {}),
      // The sandbox (HOME with modelcar's journal) lives from the first build through every re-run, as a user's does.
      staging: () => [sandbox(ctx, id).dir],
      async setup() {
        await freshSandbox(ctx, id);
        await measure([modelcarBuild(ctx, source, to, env(id))]);
      },
      async prepare() {
        ctx.hub.resetCounters();
        ctx.proxy.reset();
      },
      steps: () => [modelcarBuild(ctx, source, to, env(id))],
      verify() {
        const uploaded = ctx.proxy.sent();
        const facts: Record<string, string> = { uploaded: fmtMiB(uploaded) };
        if (isHf) facts.downloaded = fmtMiB(lfsBytesServed(ctx));
        if (isHf && (lfsBytesServed(ctx) > 0 || uploaded > 16 * MiB)) {
          throw new Error(`re-run moved model bytes: ${JSON.stringify(facts)}`);
        }
        return facts;
      },
    };
  }
}
