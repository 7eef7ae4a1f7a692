import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { readImageModel } from '../deploy/image-model.js';
import { formatRef, type ImageRef, parseServingRef } from '../deploy/image-ref.js';
import { DEFAULT_MAX_MODEL_LEN_CAP, DEFAULT_RUNTIME_IMAGE, defaultName, deployManifests } from '../deploy/kserve.js';
import { readModelConfig, readModelDir } from '../deploy/model-dir.js';
import type { ModelFacts } from '../deploy/model-facts.js';
import { parseNodeSelector, parseToleration } from '../deploy/placement.js';
import { STORAGE_MODES, type StorageMode } from '../deploy/storage-mode.js';
import { renderToStdout, writeManifests } from '../deploy/write.js';
import { ModelcarError, messageOf } from '../errors.js';
import { openRepository, type RegistryOptions } from '../oci/open.js';
import { formatBytes } from '../plan/plan.js';
import { printable } from '../printable.js';
import { collect, positiveNumber, wholeNumber } from './arguments.js';
import { addPolicyOptions, type PolicyFlags, policyManifests } from './deploy-policy.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from './registry-flags.js';

/** Reads config.json and the safetensors headers out of the image by ranged blob reads. */
async function factsFromImage(image: ImageRef & { digest: string }, options: RegistryOptions): Promise<ModelFacts> {
  const repo = await openRepository({ transport: 'registry', ref: { ...image, tag: undefined } }, options);
  try {
    const read = await readImageModel(repo, image.digest);
    process.stderr.write(
      `read the model config from ${formatRef(image)} (${read.files.length} files under /models; ${formatBytes(read.bytesRead)} read)\n`,
    );
    return read.facts;
  } finally {
    await repo.close?.();
  }
}

interface DeployFlags extends RegistryFlags, PolicyFlags {
  image: string;
  modelDir?: string;
  modelConfig?: string;
  name?: string;
  namespace?: string;
  gpus: number;
  gpuMemory: number;
  runtimeImage: string;
  maxModelLen?: number;
  dtype?: string;
  quantization?: string;
  vllmArg: string[];
  mode: StorageMode;
  kind: 'inferenceservice' | 'llm';
  nodeSelector: string[];
  toleration: string[];
  prepull?: boolean;
  connection?: string;
  deploymentMode: 'RawDeployment' | 'Serverless';
  cpu: string;
  memory: string;
  pullSecret?: string;
  ociConnection?: string;
  pullSecretFile?: string;
  registeredModelId?: string;
  modelVersionId?: string;
  modelRegistryName?: string;
  output?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('deploy')
    .summary('write the KServe ServingRuntime and InferenceService for an image')
    .description(
      'Write a KServe ServingRuntime (vLLM) and InferenceService for a ModelCar image. vLLM arguments come from the ' +
        "model's own config.json; prints a GPU memory estimate and warns when the model will not fit.",
    )
    .requiredOption(
      '--image <ref>',
      'the ModelCar image, pinned by digest: HOST/REPO@sha256:<digest> (tags alone are refused). Without --model-dir or --model-config its config.json is read from the image (kilobytes, by ranged reads)',
    )
    .option(
      '--model-dir <dir>',
      'the model directory (config.json, params.json, weights) to derive vLLM arguments from',
    )
    .option(
      '--model-config <file>',
      'only the model config.json, when the weights are not at hand (sizes are then estimated)',
    )
    .option('--name <name>', 'InferenceService name (default: the image repository name)')
    .option('-n, --namespace <ns>', 'namespace to put in the manifests (default: none, i.e. the current one)')
    .option('--gpus <n>', 'GPUs per replica; also vLLM --tensor-parallel-size', wholeNumber(1, '--gpus'), 1)
    .option('--gpu-memory <GiB>', 'memory of one GPU, for the fit estimate', positiveNumber('--gpu-memory'), 80)
    .option(
      '--runtime-image <ref>',
      'vLLM OpenAI-compatible server image (pin it; a digest is best)',
      DEFAULT_RUNTIME_IMAGE,
    )
    .option(
      '--max-model-len <tokens>',
      `vLLM --max-model-len (default: the model's context, capped at ${DEFAULT_MAX_MODEL_LEN_CAP})`,
      wholeNumber(1, '--max-model-len'),
    )
    .option('--dtype <dtype>', "vLLM --dtype (default: the config's torch_dtype; left to vLLM for quantized models)")
    .option('--quantization <method>', 'vLLM --quantization (default: none; vLLM reads quantization_config itself)')
    .option(
      '--vllm-arg <arg>',
      'one more vLLM argument, e.g. --vllm-arg=--enable-prefix-caching (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'how KServe reads the image: modelcar = oci:// sidecar; image-volume = oci+native:// (KServe >= 0.20, ' +
          'Kubernetes >= 1.33, CRI-O or containerd >= 2.1); fetch = oci+fetch:// copy by the storage initializer ' +
          '(KServe after 0.20). `modelcar doctor --only cluster` says which one your cluster has',
      )
        .choices([...STORAGE_MODES])
        .default('modelcar'),
    )
    .addOption(
      new Option(
        '--kind <kind>',
        'inferenceservice: ServingRuntime + InferenceService; llm: LLMInferenceService (llm-d, serving.kserve.io/v1alpha2)',
      )
        .choices(['inferenceservice', 'llm'])
        .default('inferenceservice'),
    )
    .option(
      '--node-selector <label=value>',
      'run the serving pods (and --prepull) only on nodes with this label (repeatable)',
      collect,
      [],
    )
    .option(
      '--toleration <key[=value]:effect>',
      'tolerate this taint, spelt as kubectl taint does, e.g. nvidia.com/gpu:NoSchedule (repeatable)',
      collect,
      [],
    )
    .option(
      '--prepull',
      'also write a DaemonSet that pulls the model and runtime images onto those nodes (default: GPU nodes) ahead of the first pod',
    )
    .option(
      '--connection <name>',
      'write an OpenShift AI OCI connection Secret NAME (credentials from --pull-secret-file, else anonymous) and use it',
    )
    .addOption(
      new Option('--deployment-mode <mode>', 'KServe deployment mode annotation')
        .choices(['RawDeployment', 'Serverless'])
        .default('RawDeployment'),
    )
    .option('--cpu <quantity>', 'CPU request of the runtime container', '4')
    .option('--memory <quantity>', 'memory request and limit of the runtime container', '32Gi')
    .option(
      '--pull-secret <name>',
      'existing kubernetes.io/dockerconfigjson Secret for the image, set as imagePullSecrets',
    )
    .option(
      '--oci-connection <name>',
      'existing OpenShift AI OCI connection Secret, referenced by the opendatahub.io/connections annotation',
    )
    .option(
      '--pull-secret-file <file>',
      'also generate that Secret from this dockerconfigjson file (needs --output; written mode 0600, never to stdout)',
    )
    .option(
      '--registered-model-id <id>',
      'Model Registry registered model id (label modelregistry.opendatahub.io/registered-model-id)',
    )
    .option(
      '--model-version-id <id>',
      'Model Registry model version id (label modelregistry.opendatahub.io/model-version-id)',
    )
    .option('--model-registry-name <name>', 'Model Registry instance name (label modelregistry.opendatahub.io/name)')
    .option('-o, --output <dir>', 'write one YAML file per object into DIR (default: multi-document YAML on stdout)');
  addRegistryOptions(cmd);
  addPolicyOptions(cmd);
  cmd.action(async (flags: DeployFlags) => {
    const image = parseServingRef(flags.image);
    const policies = await policyManifests(flags, image, flags.namespace);
    if (flags.imagePolicyOnly) {
      // Only the policy: no model facts are needed and nothing is read from the registry.
      if (flags.output)
        for (const path of await writeManifests(flags.output, policies)) process.stderr.write(`wrote ${path}\n`);
      else process.stdout.write(renderToStdout(policies));
      return;
    }
    if (flags.modelDir && flags.modelConfig) {
      throw new ModelcarError(
        'usage',
        'pass --model-dir or --model-config, not both',
        'without either, the model config is read from the image itself',
      );
    }
    if ((flags.registeredModelId === undefined) !== (flags.modelVersionId === undefined)) {
      throw new ModelcarError(
        'usage',
        '--registered-model-id and --model-version-id go together',
        'pass both (modelcar build --register prints them)',
      );
    }
    if (flags.pullSecretFile && !flags.pullSecret && !flags.ociConnection && !flags.connection) {
      throw new ModelcarError(
        'usage',
        '--pull-secret-file needs a Secret name',
        'add --connection NAME (an OpenShift AI connection) or --pull-secret NAME',
      );
    }
    if (flags.pullSecretFile && !flags.output) {
      throw new ModelcarError(
        'usage',
        'refusing to print a Secret to stdout',
        'add --output DIR; the Secret is written there with mode 0600',
      );
    }
    let pullSecretJson: string | undefined;
    if (flags.pullSecretFile) {
      try {
        pullSecretJson = await readFile(flags.pullSecretFile, 'utf8');
      } catch (e) {
        throw new ModelcarError(
          'usage',
          `cannot read --pull-secret-file: ${messageOf(e)}`,
          'pass a readable dockerconfigjson file',
        );
      }
    }
    const facts = flags.modelDir
      ? await readModelDir(flags.modelDir)
      : flags.modelConfig
        ? await readModelConfig(flags.modelConfig)
        : await factsFromImage(image, registryOptions(flags));
    const result = deployManifests({
      image,
      facts,
      name: flags.name ?? defaultName(image),
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      gpus: flags.gpus,
      gpuMemoryGiB: flags.gpuMemory,
      runtimeImage: flags.runtimeImage,
      ...(flags.maxModelLen ? { maxModelLen: flags.maxModelLen } : {}),
      ...(flags.dtype ? { dtype: flags.dtype } : {}),
      ...(flags.quantization ? { quantization: flags.quantization } : {}),
      extraArgs: flags.vllmArg,
      mode: flags.mode,
      kind: flags.kind,
      placement: {
        nodeSelector: parseNodeSelector(flags.nodeSelector),
        tolerations: flags.toleration.map(parseToleration),
      },
      ...(flags.prepull ? { prepull: true } : {}),
      ...(flags.connection ? { connection: flags.connection } : {}),
      deploymentMode: flags.deploymentMode,
      cpu: flags.cpu,
      memory: flags.memory,
      ...(flags.pullSecret ? { pullSecret: flags.pullSecret } : {}),
      ...(flags.ociConnection ? { ociConnection: flags.ociConnection } : {}),
      ...(pullSecretJson !== undefined ? { pullSecretJson } : {}),
      ...(flags.registeredModelId ? { registeredModelId: flags.registeredModelId } : {}),
      ...(flags.modelVersionId ? { modelVersionId: flags.modelVersionId } : {}),
      ...(flags.modelRegistryName ? { modelRegistryName: flags.modelRegistryName } : {}),
    });
    for (const w of result.warnings) process.stderr.write(`modelcar: warning: ${printable(w)}\n`);
    result.manifests.push(...policies);
    if (flags.output) {
      for (const path of await writeManifests(flags.output, result.manifests)) process.stderr.write(`wrote ${path}\n`);
    } else {
      process.stdout.write(renderToStdout(result.manifests));
    }
  });
}
