import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { type BaseChoice, type BuildResult, build } from '../builder/build.js';
import { layoutsInside } from '../builder/own-output.js';
import { ExitCode, isModelcarError, ModelcarError, messageOf } from '../errors.js';
import { DEFAULT_BASE } from '../image/base.js';
import { Journal } from '../journal/journal.js';
import {
  formatLocation,
  formatRef,
  formatWritten,
  type ImageLocation,
  parseImageLocation,
  type RegistryRef,
} from '../oci/reference.js';
import { parsePlatform } from '../oci/spec.js';
import { DEFAULT_PLAN_OPTIONS, formatBytes } from '../plan/plan.js';
import { printable } from '../printable.js';
import type { RegisterResult } from '../registry-model/register.js';
import {
  checkRegistration,
  defaultModelName,
  type RegisterBuildOptions,
  registerBuild,
} from '../registry-model/register-build.js';
import { ensureWritableDir, makeDirs } from '../run/dirs.js';
import { stopOnSignals } from '../run/interrupt.js';
import { LocalSource } from '../source/local.js';
import {
  CACHE_HELP,
  FOLLOW_EXTERNAL_SYMLINKS_HELP,
  HF_CONNECTIONS_HELP,
  HF_TOKEN_FILE_HELP,
  openSource,
  parseConnections,
} from '../source/open.js';
import { signBuild } from '../trust/sign-build.js';
import type { SignResult } from '../trust/sign-image.js';
import { collect, parseSize, wholeNumber } from './arguments.js';
import { buildProgress } from './build-progress.js';
import { addHubOptions, type HubFlags, hubOptions } from './hub-flags.js';
import { type ProgressChoice, ProgressRenderer, progressMode, progressOption } from './progress.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';
import { describeSigned, signedJson } from './sign.js';
import { addSignOptions, SIGN_ENV_HELP, type SignFlags, signerFromFlags } from './sign-flags.js';

export const DEFAULT_DESTINATION = 'oci:modelcar-out';

interface BuildFlags extends RegistryFlags, SignFlags, HubFlags {
  to: string;
  base: string;
  imageVolume?: boolean;
  platform: string;
  include: string[];
  exclude: string[];
  keepDuplicateWeights?: boolean;
  maxLayers: number;
  maxLayerSize?: number;
  concurrency: number;
  cacheFrom: string[];
  followExternalSymlinks?: boolean;
  hfTokenFile?: string;
  cache?: string;
  hfConnections?: number;
  dryRun?: boolean;
  journal: boolean;
  json?: boolean;
  quiet?: boolean;
  progress?: ProgressChoice;
  register?: boolean;
  modelRegistry?: string;
  modelName?: string;
  modelVersion?: string;
  modelRegistryTokenFile?: string;
  resultDir?: string;
}

function baseChoice(flags: BuildFlags): BaseChoice {
  if (flags.base === 'scratch') {
    if (!flags.imageVolume) {
      throw new ModelcarError(
        'usage',
        "--base scratch makes an image without a shell, which KServe's modelcar sidecar cannot run",
        'add --image-volume if you serve with storageUri oci+native:// (KServe >= 0.20, Kubernetes >= 1.33); otherwise keep a base with a shell',
      );
    }
    return { kind: 'scratch' };
  }
  return { kind: 'image', location: parseImageLocation(flags.base), name: flags.base };
}

function summary(result: BuildResult, seconds: number): Record<string, unknown> {
  return {
    reference: result.reference ?? null,
    digest: result.digest ?? null,
    destination: formatLocation(result.destination),
    ...(result.destination.transport === 'registry'
      ? { storageUri: `oci://${result.destination.ref.registry}/${result.destination.ref.repository}@${result.digest}` }
      : {}),
    source: result.source.uri,
    revision: result.source.revision ?? null,
    base: result.base,
    files: result.plan.fileCount,
    bytes: result.plan.contentBytes,
    layers: (result.layers.length > 0 ? result.layers : result.plan.layers).map((l) => ({
      ...('digest' in l ? { digest: l.digest, outcome: l.outcome } : {}),
      size: l.size,
      files: l.files.map((f) => ({ path: f.path, size: f.size, ...(f.sha256 ? { sha256: f.sha256 } : {}) })),
    })),
    skipped: result.skipped,
    seconds: Number(seconds.toFixed(2)),
  };
}

function printPlan(result: BuildResult): void {
  const out = (s: string) => process.stdout.write(`${printable(s)}\n`);
  out(`destination: ${formatLocation(result.destination)}`);
  out(
    `base: ${result.base.name ?? 'scratch (image-volume only)'}${result.base.digest ? `@${result.base.digest}` : ''} (${result.base.layers} layer${result.base.layers === 1 ? '' : 's'})`,
  );
  out(
    `${result.plan.fileCount} files, ${formatBytes(result.plan.contentBytes)}, ${result.plan.layers.length} model layer${result.plan.layers.length === 1 ? '' : 's'}:`,
  );
  result.plan.layers.forEach((l, i) => {
    out(`  layer ${i + 1}: ${formatBytes(l.size)}, ${l.files.length} file${l.files.length === 1 ? '' : 's'}`);
    for (const f of l.files) out(`    /models/${f.path} (${formatBytes(f.size)})`);
  });
  if (result.skipped.length > 0) {
    const bytes = result.skipped.reduce((s, f) => s + f.size, 0);
    out(`skipped ${result.skipped.length} files, ${formatBytes(bytes)} (re-add with --include GLOB):`);
    for (const f of result.skipped) out(`  ${f.path} (${formatBytes(f.size)}): ${f.reason}`);
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('build')
    .summary('build a ModelCar image from a local directory or hf://ORG/NAME[@REV]')
    .argument('<source>', 'a local model directory (Hugging Face: hf://ORG/NAME[@REVISION])')
    .description(
      'Build a KServe ModelCar image from a model: files under /models, one layer per large file, uncompressed, ' +
        'deterministic (same input, same digest). Streams each file once into the destination; prints the digest.',
    )
    .option(
      '--to <dest>',
      'where the image goes: oci:DIR[:TAG] (an OCI layout), HOST[:PORT]/REPO[:TAG], docker://HOST/REPO[:TAG] or ' +
        'oci://HOST/REPO[:TAG]. With HOST alone the repository comes from the model name; without a tag, one is ' +
        'derived from the source revision (or the image digest). Never "latest".',
      DEFAULT_DESTINATION,
    )
    .option(
      '--base <image>',
      'base image with a shell (sh, ln, sleep, mkdir, ls) for the KServe sidecar, from a registry or oci:DIR:TAG; ' +
        'only its manifest and config are read, its layers are mounted or copied. "scratch" needs --image-volume.',
      DEFAULT_BASE,
    )
    .option(
      '--image-volume',
      'build for KServe image-volume mode (oci+native://, KServe >= 0.20, Kubernetes >= 1.33): allows --base scratch',
    )
    .option('--platform <os/arch>', 'platform of the base image to use', 'linux/amd64')
    .option(
      '--include <glob>',
      'also package files the defaults skip (repeatable), e.g. "*.bin" or "original/"',
      collect,
      [],
    )
    .option('--exclude <glob>', 'leave out matching files (repeatable); wins over --include', collect, [])
    .option(
      '--keep-duplicate-weights',
      'keep safetensors that repeat the indexed shards (e.g. consolidated.safetensors)',
    )
    .option(
      '--max-layers <n>',
      'layers in the whole image, base included (overlay mounts fail near 127)',
      wholeNumber(2, '--max-layers'),
      DEFAULT_PLAN_OPTIONS.maxLayers,
    )
    .option(
      '--max-layer-size <size>',
      "largest layer the destination accepts, e.g. 10GB (GHCR), 20GiB (Quay's default)",
      parseSize,
    )
    .option('--concurrency <n>', 'layers moved at once', wholeNumber(1, '--concurrency'), 3)
    .option(
      '--cache-from <ref>',
      'reuse matching layers of this image (repeatable); the destination tag is always tried',
      collect,
      [],
    )
    .option('--follow-external-symlinks', FOLLOW_EXTERNAL_SYMLINKS_HELP)
    .option('--hf-token-file <file>', HF_TOKEN_FILE_HELP)
    .addOption(new Option('--cache <dir>', CACHE_HELP).env('MODELCAR_CACHE_DIR'))
    .option('--hf-connections <n>', HF_CONNECTIONS_HELP, parseConnections)
    .option(
      '--no-journal',
      'do not use the local journal (~/.cache/modelcar) that lets a re-run skip hashing unchanged files and sending committed layers',
    )
    .option('--dry-run', 'print the layer plan (files, sizes, layers, what is skipped and why) and move no bytes')
    .option('--json', 'print one JSON object with the reference, digest and layers')
    .option('-q, --quiet', 'no progress output (warnings, retries and errors still print)')
    .addOption(progressOption())
    .option('--register', 'after the push, register the image in the Kubeflow Model Registry (needs --model-registry)')
    .addOption(
      new Option('--model-registry <url>', 'Model Registry REST URL, e.g. https://<name>-rest.<apps-domain>').env(
        'MODEL_REGISTRY_URL',
      ),
    )
    .option('--model-name <name>', 'registered model name (default: the Hub repo id or the directory name)')
    .option('--model-version <version>', 'model version name (default: the image tag)')
    .option(
      '--model-registry-token-file <file>',
      'bearer token for the Model Registry (default: $MODEL_REGISTRY_TOKEN, then the pod service-account token)',
    )
    .option(
      '--result-dir <dir>',
      'also write IMAGE_URL, IMAGE_DIGEST and MODEL_VERSION_ID files here (Tekton results)',
    );
  addSignOptions(cmd);
  addRegistryOptions(cmd);
  addHubOptions(cmd);
  cmd.addOption(
    new Option(
      '--source-date-epoch <seconds>',
      'fixed timestamp for the image (default: $SOURCE_DATE_EPOCH, the source commit time, else 0)',
    ).argParser(wholeNumber(0, '--source-date-epoch')),
  );
  cmd.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  modelcar base --busybox /bin/busybox --to oci:bases:busybox       # an offline base with a shell',
      '  modelcar build ./my-model --base oci:bases:busybox --to oci:out/my-model:v1',
      '  modelcar build ./my-model --to quay.io/acme/my-model:v1 --json',
      '  modelcar build hf://mistralai/Mistral-7B-Instruct-v0.3@main --to quay.io/acme --dry-run',
      '  modelcar build hf://ibm-granite/granite-3.1-8b-instruct --to $IMG --register --model-registry $MR',
      '',
      'Skipped by default (listed with the reason by --dry-run): *.bin/*.pth/*.pt/*.gguf and original/ when',
      'safetensors are present, weights that repeat the set model.safetensors.index.json lists, training state, git',
      'metadata. --include re-adds, --exclude removes.',
      '',
      'Environment:',
      '  HF_TOKEN, HF_ENDPOINT      Hugging Face token and Hub URL (the token only ever goes to the Hub)',
      '  HF_HUB_OFFLINE=1           build hf:// from the Hugging Face cache only (--cache, HF_HUB_CACHE), no network',
      '  HTTPS_PROXY, HTTP_PROXY, NO_PROXY   proxies as curl reads them (credentials in the URL are never printed)',
      '  SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS   more CAs; registries: /etc/containers/certs.d/HOST:PORT/',
      '  REGISTRY_AUTH_FILE         registry credentials (then containers auth.json, then docker config.json)',
      '  SOURCE_DATE_EPOCH          the fixed time of the image (else the source commit time, else 0)',
      '  MODEL_REGISTRY_URL, MODEL_REGISTRY_TOKEN   for --register',
      '  MODELCAR_CACHE_DIR         same as --cache;  XDG_CACHE_HOME  where the journal lives (modelcar/)',
      ...SIGN_ENV_HELP,
      '  MODELCAR_DEBUG=1           print the underlying cause of an error',
      '',
      'Checked before the first model byte: the destination accepts a push, the base resolves, every file fits the',
      "registry's layer limit, --result-dir is writable, and with --register the Model Registry accepts the token for",
      'reading and creating (proven without writing anything).',
      '',
      'Exit status: 0 done; 1 failed (no tag written); 2 bad command line; 3 pushed and tagged, but signing or',
      '--register failed after the push (the digest is on stdout and in --result-dir; the hint gives the command that',
      'retries only that step); 130 SIGINT, 143 SIGTERM (no new tag).',
      'More: docs/image-format.md, docs/registry.md, docs/huggingface.md, docs/troubleshooting.md.',
    ].join('\n'),
  );
  cmd.action(async (sourceArg: string, flags: BuildFlags & { sourceDateEpoch?: number }) => {
    const started = Date.now();
    const destination: ImageLocation = parseImageLocation(flags.to, { allowMissingRepository: true });
    if (flags.register && !flags.modelRegistry) {
      throw new ModelcarError(
        'usage',
        '--register needs the Model Registry URL',
        'add --model-registry URL (or set MODEL_REGISTRY_URL)',
      );
    }
    if (flags.register && destination.transport === 'layout') {
      throw new ModelcarError(
        'usage',
        '--register needs a registry destination, not an OCI layout',
        'push to a registry with --to HOST/REPO[:TAG], or copy the layout there first (modelcar copy)',
      );
    }
    const envEpoch = process.env.SOURCE_DATE_EPOCH;
    if (envEpoch !== undefined && !/^\d+$/.test(envEpoch)) {
      throw new ModelcarError(
        'usage',
        `SOURCE_DATE_EPOCH="${envEpoch}" is not a number of seconds`,
        'unset it or set it to e.g. $(git log -1 --format=%ct)',
      );
    }
    // The key is opened (and its password checked) before any byte moves; signing follows the manifest.
    const signing = flags.dryRun ? undefined : await signerFromFlags(flags);
    if (signing && destination.transport === 'layout') {
      throw new ModelcarError(
        'usage',
        'signing needs a registry destination, not an OCI layout',
        'push to a registry with --to HOST/REPO[:TAG] (signatures live beside the image there), or sign later with modelcar sign after modelcar copy',
      );
    }
    for (const w of signing?.warnings ?? []) process.stderr.write(`modelcar: warning: ${w}\n`);
    // Tekton results are the pipeline's only way to learn the digest: an unwritable directory fails now, not after
    // the push.
    if (flags.resultDir && !flags.dryRun) await ensureWritableDir(flags.resultDir, '--result-dir');
    // --no-journal: every run hashes every local file again (for read-only HOMEs or paranoid rebuilds).
    const journal = flags.journal ? new Journal() : undefined;
    const stop = stopOnSignals((name) =>
      process.stderr.write(`modelcar: ${name}: stopping; cancelling open uploads (again to exit at once)\n`),
    );
    const source = openSource(sourceArg, {
      followExternalSymlinks: flags.followExternalSymlinks === true,
      ...(journal ? { journal } : {}),
      ...(flags.hfTokenFile ? { hfTokenFile: flags.hfTokenFile } : {}),
      ...(flags.cache ? { cacheDir: flags.cache } : {}),
      ...(flags.hfConnections ? { connections: flags.hfConnections } : {}),
      ...hubOptions(flags),
    });
    if (flags.register && !flags.dryRun) {
      // Before the first model byte: a registry that refuses the token costs seconds, not a pushed, unregistered image.
      const name = flags.modelName ?? defaultModelName((await source.identity()).uri);
      await checkRegistration(registrationOptions(flags), name);
    }
    const base = baseChoice(flags);
    const cacheFrom = flags.cacheFrom.map((c) => parseImageLocation(c));
    const ignoreDirs =
      source instanceof LocalSource
        ? layoutsInside(source.root, [
            { location: destination, role: 'destination' },
            ...(base.kind === 'image' ? [{ location: base.location, role: 'base image' }] : []),
            ...cacheFrom.map((location) => ({ location, role: '--cache-from image' })),
          ])
        : [];
    const progress = new ProgressRenderer({
      mode: progressMode(flags.progress, { quiet: flags.quiet === true || flags.dryRun === true }),
    });
    let result: BuildResult;
    try {
      result = await build({
        signal: stop,
        ...(journal ? { journal } : {}),
        source,
        ignoreDirs,
        destination,
        base,
        platform: parsePlatform(flags.platform),
        include: flags.include,
        exclude: flags.exclude,
        keepDuplicateWeights: flags.keepDuplicateWeights === true,
        plan: {
          maxLayers: flags.maxLayers,
          ...(flags.maxLayerSize !== undefined
            ? { maxLayerBytes: flags.maxLayerSize, maxLayerBytesReason: 'set by --max-layer-size' }
            : {}),
        },
        registry: registryOptions(flags),
        concurrency: flags.concurrency,
        dryRun: flags.dryRun === true,
        cacheFrom,
        ...(flags.sourceDateEpoch !== undefined
          ? { sourceDateEpoch: flags.sourceDateEpoch }
          : envEpoch !== undefined
            ? { sourceDateEpoch: Number(envEpoch) }
            : {}),
        onEvent: buildProgress(progress),
      });
    } finally {
      progress.close();
    }
    // From here the image is pushed and tagged: whatever fails next (signing, registration), the pipeline still learns
    // the digest (stdout and every result file), and exit 3 says only the step after the push is to be retried.
    let afterPush: ModelcarError | undefined;
    let signed: SignResult | undefined;
    if (signing) {
      try {
        signed = await signBuild(result, {
          signer: signing.signer,
          externalParameters: {
            source: sourceArg,
            destination: flags.to,
            base: flags.base,
            platform: flags.platform,
            include: flags.include,
            exclude: flags.exclude,
            keepDuplicateWeights: flags.keepDuplicateWeights === true,
            imageVolume: flags.imageVolume === true,
            maxLayers: flags.maxLayers,
          },
          registry: registryOptions(flags),
          startedOn: new Date(started),
          finishedOn: new Date(),
          ...(epochOf(flags.sourceDateEpoch, envEpoch) !== undefined
            ? { fixedTime: new Date((epochOf(flags.sourceDateEpoch, envEpoch) as number) * 1000) }
            : {}),
        });
      } catch (e) {
        afterPush = failedAfterPush(result, 'signing', e, `modelcar sign ${result.reference} --sign-key ...`);
      }
    }
    if (signed && !flags.quiet && !flags.json) {
      process.stderr.write(`signed with ${signing?.description}\n`);
      for (const line of describeSigned(
        signed,
        formatRef({ ...(result.destination as { ref: RegistryRef }).ref, tag: undefined, digest: undefined }),
      )) {
        process.stderr.write(`  ${line}\n`);
      }
    }
    let registered: RegisterResult | undefined;
    // An image whose signing failed is not registered: the registration would record no signature.
    if (flags.register && !flags.dryRun && !afterPush) {
      try {
        registered = await registerImage(result, flags, signed);
      } catch (e) {
        afterPush = failedAfterPush(result, 'registering', e, registerCommand(result, flags));
      }
    }
    if (flags.resultDir && !flags.dryRun) await writeResults(flags.resultDir, result, registered);
    const seconds = (Date.now() - started) / 1000;
    if (flags.json) {
      const json = {
        dryRun: flags.dryRun === true,
        ...summary(result, seconds),
        ...(registered ? { registered } : {}),
        ...(signed ? { signed: signedJson(signed) } : {}),
        ...(afterPush ? { ...(flags.register ? { registered: null } : {}), failedAfterPush: afterPush.message } : {}),
      };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else if (flags.dryRun) {
      printPlan(result);
    } else {
      process.stdout.write(`${formatWritten(result.destination, result.digest as string)}\n`);
    }
    if (afterPush) throw afterPush;
  });
}

function epochOf(flag: number | undefined, env: string | undefined): number | undefined {
  return flag ?? (env !== undefined ? Number(env) : undefined);
}

function registrationOptions(flags: BuildFlags): RegisterBuildOptions {
  return {
    modelRegistry: flags.modelRegistry as string,
    ...(flags.modelName ? { name: flags.modelName } : {}),
    ...(flags.modelVersion ? { version: flags.modelVersion } : {}),
    ...(flags.modelRegistryTokenFile ? { tokenFile: flags.modelRegistryTokenFile } : {}),
    ...(flags.caFile ? { caFile: flags.caFile } : {}),
  };
}

function registerCommand(result: BuildResult, flags: BuildFlags): string {
  return `modelcar register --image ${result.reference} --model-registry ${flags.modelRegistry}${flags.modelName ? ` --model-name ${flags.modelName}` : ''}${flags.modelVersion ? ` --model-version ${flags.modelVersion}` : ''}`;
}

/** Exit 3: the image is there and tagged; only `step` (signing, registering) is to be done again, with `retry`. */
function failedAfterPush(result: BuildResult, step: string, e: unknown, retry: string): ModelcarError {
  const why = isModelcarError(e) ? e.message : messageOf(e);
  return new ModelcarError(
    isModelcarError(e) ? e.kind : 'internal',
    `pushed ${result.reference}, but ${step} it failed: ${why}`,
    `${isModelcarError(e) && e.hint ? `${e.hint}; then ` : ''}retry only that step: ${retry}`,
    { cause: e, exitCode: ExitCode.afterPush },
  );
}

async function registerImage(result: BuildResult, flags: BuildFlags, signed?: SignResult): Promise<RegisterResult> {
  const files = result.layers.flatMap((l) => l.files);
  const registered = await registerBuild(
    {
      image: result.reference as string,
      ...(result.destination.transport === 'registry' && result.destination.ref.tag
        ? { tag: result.destination.ref.tag }
        : {}),
      source: { uri: result.source.uri, ...(result.source.revision ? { revision: result.source.revision } : {}) },
      files,
      totalBytes: result.plan.contentBytes,
      ...(signed
        ? {
            trust: {
              signatureDigest: signed.signature.digest,
              provenanceDigest: signed.provenance.digest,
              modelSignatureDigest: signed.modelSignature.digest,
            },
          }
        : {}),
    },
    registrationOptions(flags),
  );
  if (!flags.quiet) {
    process.stderr.write(
      `${registered.unchanged ? 'already registered, nothing changed' : 'registered'}: model version ${registered.modelVersionId} (model ${registered.registeredModelId}, artifact ${registered.modelArtifactId})\n`,
    );
  }
  return registered;
}

/** Tekton results: small files the pipeline passes on (image, digest, version id). */
async function writeResults(dir: string, result: BuildResult, registered?: RegisterResult): Promise<void> {
  await makeDirs(dir);
  const url =
    result.destination.transport === 'registry'
      ? formatRef({ ...result.destination.ref, digest: undefined })
      : formatLocation(result.destination);
  await writeFile(join(dir, 'IMAGE_URL'), url);
  await writeFile(join(dir, 'IMAGE_DIGEST'), result.digest ?? '');
  await writeFile(join(dir, 'MODEL_VERSION_ID'), registered?.modelVersionId ?? '');
}
