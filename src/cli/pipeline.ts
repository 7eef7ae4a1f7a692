import type { Command } from 'commander';
import { parseDestinationRef } from '../deploy/image-ref.js';
import { checkK8sValue } from '../deploy/k8s-values.js';
import { kustomizeFiles } from '../deploy/kustomize.js';
import { dnsLabel } from '../deploy/manifest.js';
import {
  ASSUMED_THROUGHPUT_MBPS,
  DEFAULT_MODEL_REGISTRY_NAMESPACE,
  goDuration,
  type PipelineOptions,
  pipelineManifests,
  TIMEOUT_BASE_MINUTES,
  UNKNOWN_SIZE_TIMEOUT_MINUTES,
} from '../deploy/tekton.js';
import { renderToStdout, writeFilesInto, writeManifests } from '../deploy/write.js';
import { ModelcarError } from '../errors.js';
import { printable } from '../printable.js';
import { VERSION } from '../version.js';
import { positiveNumber } from './arguments.js';

/** Where release builds of the Containerfile are to be published; override with --modelcar-image. */
export const DEFAULT_MODELCAR_IMAGE = `quay.io/modelcar/modelcar:${VERSION}`;

interface PipelineFlags {
  source: string;
  sourcePvc?: string;
  to: string;
  namespace: string;
  name: string;
  modelcarImage: string;
  modelSize?: number;
  hfTokenSecret: string;
  registryAuthSecret?: string;
  signKeySecret?: string;
  modelRegistry?: string;
  modelRegistryNamespace?: string;
  cache?: string;
  inline?: boolean;
  output?: string;
  kustomize?: string;
  overlay?: string;
}

export function register(program: Command): void {
  program
    .command('pipeline')
    .summary('write a Tekton v1 pipeline that rebuilds the image on OpenShift (restricted-v2)')
    .description(
      'Write Tekton v1 manifests (ServiceAccount, RoleBinding, Task, Pipeline, PipelineRun) that run `modelcar build` ' +
        'in-cluster under the restricted-v2 SCC, plus optionally a Kustomize base and overlay for a GitOps repo.',
    )
    .requiredOption('--source <source>', 'hf://ORG/NAME[@REV] (streamed, no PVC), or a directory inside --source-pvc')
    .option('--source-pvc <claim>', 'existing PVC holding the model directory given as --source')
    .requiredOption(
      '--to <ref>',
      'destination HOST/REPO:TAG (never latest); the internal registry is HOST/<namespace>/<name>',
    )
    .requiredOption('-n, --namespace <ns>', 'namespace the pipeline runs in')
    .option('--name <name>', 'name of the Task, Pipeline and ServiceAccount', 'modelcar-build')
    .option(
      '--modelcar-image <ref>',
      'the modelcar tool image (built from the Containerfile); pin it',
      DEFAULT_MODELCAR_IMAGE,
    )
    .option(
      '--model-size <GB>',
      `model size, to size timeouts: ${TIMEOUT_BASE_MINUTES} min + 2 x size at ${ASSUMED_THROUGHPUT_MBPS} MB/s (default without it: ${goDuration(UNKNOWN_SIZE_TIMEOUT_MINUTES)})`,
      positiveNumber('--model-size', 'a positive number of GB'),
    )
    .option(
      '--hf-token-secret <name>',
      'Secret with key `token` for gated Hugging Face models (optional at run time)',
      'hf-token',
    )
    .option(
      '--registry-auth-secret <name>',
      'kubernetes.io/dockerconfigjson Secret for an external destination registry',
    )
    .option(
      '--sign-key-secret <name>',
      'Secret with cosign.key and cosign.password (cosign generate-key-pair k8s://NS/NAME): mounted read-only, and the build signs and attests the image in the same step',
    )
    .option('--model-registry <url>', 'Kubeflow Model Registry REST URL: adds --register to the build')
    .option(
      '--model-registry-namespace <ns>',
      `namespace of the Model Registry instance, for the RoleBinding to registry-user-<name> (default: ${DEFAULT_MODEL_REGISTRY_NAMESPACE})`,
    )
    .option('--cache <size>', 'an emptyDir cache with this size limit (e.g. 100Gi); default: none, fully streamed')
    .option(
      '--inline',
      'emit one self-contained PipelineRun (inline pipelineSpec/taskSpec) instead of Task + Pipeline + run',
    )
    .option('-o, --output <dir>', 'write one YAML file per object into DIR (default: multi-document YAML on stdout)')
    .option('--kustomize <dir>', 'also write a Kustomize base/ and overlays/<overlay>/ into DIR')
    .option('--overlay <name>', 'overlay name for --kustomize (default: the destination repository name)')
    .action(async (flags: PipelineFlags) => {
      const destination = parseDestinationRef(flags.to);
      const opts: PipelineOptions = {
        name: flags.name,
        namespace: flags.namespace,
        source: flags.source,
        ...(flags.sourcePvc ? { sourcePvc: flags.sourcePvc } : {}),
        destination,
        modelcarImage: flags.modelcarImage,
        ...(flags.modelSize !== undefined ? { modelSizeGB: flags.modelSize } : {}),
        hfTokenSecret: flags.hfTokenSecret,
        ...(flags.registryAuthSecret ? { registryAuthSecret: flags.registryAuthSecret } : {}),
        ...(flags.signKeySecret ? { signKeySecret: flags.signKeySecret } : {}),
        ...(flags.modelRegistry ? { modelRegistry: flags.modelRegistry } : {}),
        ...(flags.modelRegistryNamespace ? { modelRegistryNamespace: flags.modelRegistryNamespace } : {}),
        ...(flags.cache ? { cache: flags.cache } : {}),
      };
      const result = pipelineManifests(opts, flags.inline === true);
      for (const w of result.warnings) process.stderr.write(`modelcar: warning: ${printable(w)}\n`);
      if (flags.kustomize) {
        if (flags.inline)
          throw new ModelcarError(
            'usage',
            '--inline and --kustomize are exclusive',
            'a GitOps base keeps Task and Pipeline apart',
          );
        // A given overlay name is a directory and a name suffix: checked, never rewritten; the default is derived.
        const overlay = flags.overlay
          ? checkK8sValue('dns1123-label', flags.overlay, '--overlay')
          : dnsLabel(destination.repository.split('/').pop() ?? 'model');
        for (const path of await writeFilesInto(flags.kustomize, kustomizeFiles(result, opts, overlay), '--kustomize'))
          process.stderr.write(`wrote ${path}\n`);
      }
      if (flags.output) {
        for (const path of await writeManifests(flags.output, result.manifests))
          process.stderr.write(`wrote ${path}\n`);
      } else if (!flags.kustomize) {
        process.stdout.write(renderToStdout(result.manifests));
      }
    });
}
