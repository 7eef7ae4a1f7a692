import { type Command, InvalidArgumentError, Option } from 'commander';
import { exitCodeOf, renderJson, renderText } from '../doctor/check.js';
import { runDoctor } from '../doctor/doctor.js';
import { ModelcarError } from '../errors.js';
import { redact } from '../http/redact.js';
import { DEFAULT_BASE } from '../image/base.js';
import { DEFAULT_PLAN_OPTIONS } from '../plan/plan.js';
import { CACHE_HELP, FOLLOW_EXTERNAL_SYMLINKS_HELP, HF_TOKEN_FILE_HELP, openSource } from '../source/open.js';
import { collect, parseSize } from './arguments.js';
import { addHubOptions, type HubFlags, hubOptions } from './hub-flags.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';
import { addSignOptions, type SignFlags } from './sign-flags.js';

interface DoctorFlags extends RegistryFlags, HubFlags, SignFlags {
  to?: string;
  base: string;
  include: string[];
  exclude: string[];
  keepDuplicateWeights?: boolean;
  modelpack?: boolean;
  maxLayers: number;
  maxLayerSize?: number;
  hfTokenFile?: string;
  cache?: string;
  followExternalSymlinks?: boolean;
  manifests?: string[];
  namespaceAnnotations?: string;
  kubeconfig?: string;
  namespace?: string;
  modelRegistry?: string;
  modelRegistryTokenFile?: string;
  modelRegistryNamespace?: string;
  offline?: boolean;
  only?: string[];
  timeout: number;
  json?: boolean;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('--timeout takes a number of seconds > 0');
  return n;
}

export function register(program: Command): void {
  const cmd = program
    .command('doctor')
    .summary('check source, disk, registry, cluster and manifests before anything runs')
    .argument('[source]', 'the model, as build takes it: a local directory or hf://ORG/NAME[@REVISION]')
    .description(
      'Find what would make a build, a pipeline or a deployment fail, before it runs: the source (Hub, revision, ' +
        'token, gated license, file sizes), local disk, the destination registry (TLS, credentials, push and mount ' +
        'permission, limits), cluster permissions, node storage for serving, the Model Registry, and traps in ' +
        'Tekton/KServe/Pod YAML (--manifests). Each finding says ok, warn or FAIL, the cause and the fix. ' +
        'Writes nothing anywhere. Exit 1 when any check fails.',
    )
    .option('--to <dest>', 'the build destination: oci:DIR[:TAG] or HOST[:PORT]/REPO[:TAG]')
    .option('--base <image>', 'the base image the build would use', DEFAULT_BASE)
    .option('--include <glob>', 'as for build (repeatable)', collect, [])
    .option('--exclude <glob>', 'as for build (repeatable)', collect, [])
    .option('--keep-duplicate-weights', 'as for build')
    .option('--modelpack', 'as for build: also check that the registry takes ModelPack manifests')
    .option('--max-layers <n>', 'as for build', (v) => Number(v), DEFAULT_PLAN_OPTIONS.maxLayers)
    .option('--max-layer-size <size>', "the destination's layer limit, e.g. 10GB (else known per registry)", parseSize)
    .option('--hf-token-file <file>', HF_TOKEN_FILE_HELP)
    .option('--cache <dir>', CACHE_HELP)
    .option('--follow-external-symlinks', FOLLOW_EXTERNAL_SYMLINKS_HELP)
    .option('--manifests <file...>', 'lint these YAML files, directories or - (stdin) for Tekton/KServe/Pod traps')
    .option(
      '--namespace-annotations <file>',
      "the namespace's openshift.io/sa.scc.* annotations (oc get namespace NS -o yaml) when no cluster is reachable",
    )
    .option(
      '--kubeconfig <file>',
      'cluster to check (default: $KUBECONFIG, ~/.kube/config, the in-pod service account)',
    )
    .option('-n, --namespace <ns>', 'namespace the pipeline and the InferenceService run in (default: the context)')
    .addOption(new Option('--model-registry <url>', 'Model Registry REST URL to check').env('MODEL_REGISTRY_URL'))
    .option(
      '--model-registry-token-file <file>',
      'bearer token for the Model Registry (default: $MODEL_REGISTRY_TOKEN)',
    )
    .option('--model-registry-namespace <ns>', 'namespace of the Model Registry service (checks get services there)')
    .option('--offline', 'do not contact a cluster even when credentials are present')
    .option(
      '--only <group...>',
      'run only these check groups: source, disk, registry, cluster, serving, model-registry, manifests',
    )
    .option('--timeout <seconds>', 'per-check timeout', seconds, 20)
    .option('--json', 'print one JSON object {ok, checks}');
  addSignOptions(cmd);
  addRegistryOptions(cmd);
  addHubOptions(cmd);
  cmd.action(async (source: string | undefined, flags: DoctorFlags) => {
    const signing = flags.signKey || flags.signIdentityTokenFile;
    if (!source && !flags.to && !flags.manifests && !flags.modelRegistry && !signing && flags.offline) {
      throw new ModelcarError(
        'usage',
        'nothing to check: no source, destination, manifests or Model Registry, and --offline skips the cluster',
        'name what the build will use, e.g. modelcar doctor hf://ORG/NAME --to quay.io/acme/model:v1 (or --manifests FILE)',
      );
    }
    const report = await runDoctor({
      options: {
        ...(source ? { source } : {}),
        openSource: (spec) =>
          openSource(spec, {
            ...(flags.hfTokenFile ? { hfTokenFile: flags.hfTokenFile } : {}),
            ...(flags.followExternalSymlinks ? { followExternalSymlinks: true } : {}),
            ...(flags.cache ? { cacheDir: flags.cache } : {}),
            ...hubOptions(flags),
          }),
        include: flags.include,
        exclude: flags.exclude,
        keepDuplicateWeights: flags.keepDuplicateWeights === true,
        ...(flags.modelpack ? { modelpack: true } : {}),
        ...(flags.to ? { to: flags.to } : {}),
        base: flags.base,
        registry: registryOptions(flags),
        maxLayers: flags.maxLayers,
        ...(flags.maxLayerSize !== undefined ? { maxLayerBytes: flags.maxLayerSize } : {}),
        ...(flags.cache ? { cacheDir: flags.cache } : {}),
        ...(flags.manifests ? { manifests: flags.manifests } : {}),
        ...(flags.namespaceAnnotations ? { namespaceAnnotations: flags.namespaceAnnotations } : {}),
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
        ...(flags.modelRegistry ? { modelRegistry: flags.modelRegistry } : {}),
        ...(flags.signKey ? { signKey: flags.signKey } : {}),
        ...(flags.signPasswordFile ? { signPasswordFile: flags.signPasswordFile } : {}),
        ...(flags.signIdentityTokenFile
          ? { signIdentityTokenFile: flags.signIdentityTokenFile, fulcioUrl: flags.fulcioUrl, rekorUrl: flags.rekorUrl }
          : {}),
        ...(flags.modelRegistryTokenFile ? { modelRegistryTokenFile: flags.modelRegistryTokenFile } : {}),
        ...(flags.modelRegistryNamespace ? { modelRegistryNamespace: flags.modelRegistryNamespace } : {}),
        ...(flags.offline ? { offline: true } : {}),
        ...(flags.only ? { only: flags.only } : {}),
        timeoutMs: flags.timeout * 1000,
      },
      env: process.env,
      facts: {},
      readStdin: async () => {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
    });
    // Findings quote servers and files: the whole report passes the one redaction function.
    process.stdout.write(
      redact(
        flags.json
          ? renderJson(report)
          : renderText(report, { colour: process.stdout.isTTY === true && process.env.NO_COLOR === undefined }),
      ),
    );
    process.exitCode = exitCodeOf(report);
  });
}
