import type { Command } from 'commander';
import { printable } from '../printable.js';
import { ModelRegistryClient } from '../registry-model/client.js';
import { type RegisterResult, registerModel } from '../registry-model/register.js';
import { tokenSource } from '../registry-model/token.js';
import { wholeNumber } from './arguments.js';

interface RegisterFlags {
  image: string;
  modelRegistry: string;
  modelName: string;
  modelVersion: string;
  tokenFile?: string;
  caFile?: string;
  tag?: string;
  sourceUri?: string;
  sourceRevision?: string;
  modelFormat?: string;
  modelFormatVersion?: string;
  fileCount?: number;
  totalBytes?: number;
  description?: string;
  author?: string;
  registryName?: string;
  signatureDigest?: string;
  provenanceDigest?: string;
  modelSignatureDigest?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('register')
    .summary('register a pushed image in the Kubeflow Model Registry')
    .description(
      'Register a pushed ModelCar image in the Kubeflow Model Registry: find-or-create the registered model, the ' +
        'version and its model artifact (uri oci://HOST/REPO@sha256:...). Running it again changes nothing. ' +
        'Token: --token-file, else $MODEL_REGISTRY_TOKEN, else the pod service-account token.',
    )
    .requiredOption('--image <ref>', 'the pushed image, pinned: HOST/REPO[:TAG]@sha256:<digest>')
    .requiredOption('--model-registry <url>', 'Model Registry REST URL, e.g. https://<name>-rest.<apps-domain>')
    .requiredOption('--model-name <name>', 'registered model name')
    // not --version: the program's own --version would swallow it (and it matches build --register's flags)
    .requiredOption('--model-version <version>', 'model version name; one version = one image digest')
    .option('--token-file <file>', 'file holding the bearer token (e.g. `oc whoami -t > token`)')
    .option('--ca-file <file>', 'PEM CA bundle to trust for the registry TLS certificate (added to the system roots)')
    .option('--tag <tag>', 'the tag pushed with the image, recorded as property image_tag')
    .option('--source-uri <uri>', 'where the model came from, e.g. hf://ORG/NAME (property source_uri)')
    .option('--source-revision <rev>', 'source commit (property source_revision)')
    .option('--model-format <name>', 'artifact modelFormatName, e.g. safetensors')
    .option('--model-format-version <v>', 'artifact modelFormatVersion, e.g. 1')
    .option('--file-count <n>', 'number of model files (property file_count)', wholeNumber(0, '--file-count'))
    .option('--total-bytes <n>', 'model size in bytes (property total_bytes)', wholeNumber(0, '--total-bytes'))
    .option('--description <text>', 'version description (also the model description when it is created)')
    .option('--author <name>', 'version author (also the model owner when it is created)')
    .option(
      '--registry-name <name>',
      'Model Registry instance name for the modelregistry.opendatahub.io/name label (default: from the URL)',
    )
    .option(
      '--signature-digest <digest>',
      'the image signature manifest (modelcar sign --json), property signature_digest',
    )
    .option('--provenance-digest <digest>', 'the SLSA provenance referrer, property provenance_digest')
    .option(
      '--model-signature-digest <digest>',
      'the OpenSSF model signature referrer, property model_signature_digest',
    )
    .option('--json', 'print one JSON object with the ids, labels and what changed')
    .action(async (flags: RegisterFlags) => {
      const client = new ModelRegistryClient({
        url: flags.modelRegistry,
        token: tokenSource(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}),
        ...(flags.caFile ? { caFile: flags.caFile } : {}),
      });
      let result: RegisterResult;
      try {
        result = await registerModel(client, {
          modelName: flags.modelName,
          versionName: flags.modelVersion,
          image: flags.image,
          ...(flags.tag ? { tag: flags.tag } : {}),
          ...(flags.modelFormat ? { modelFormatName: flags.modelFormat } : {}),
          ...(flags.modelFormatVersion ? { modelFormatVersion: flags.modelFormatVersion } : {}),
          ...(flags.sourceUri ? { sourceUri: flags.sourceUri } : {}),
          ...(flags.sourceRevision ? { sourceRevision: flags.sourceRevision } : {}),
          ...(flags.fileCount !== undefined ? { fileCount: flags.fileCount } : {}),
          ...(flags.totalBytes !== undefined ? { totalBytes: flags.totalBytes } : {}),
          ...(flags.description ? { description: flags.description } : {}),
          ...(flags.author ? { author: flags.author } : {}),
          ...(flags.registryName ? { registryName: flags.registryName } : {}),
          ...(flags.signatureDigest || flags.provenanceDigest || flags.modelSignatureDigest
            ? {
                trust: {
                  ...(flags.signatureDigest ? { signatureDigest: flags.signatureDigest } : {}),
                  ...(flags.provenanceDigest ? { provenanceDigest: flags.provenanceDigest } : {}),
                  ...(flags.modelSignatureDigest ? { modelSignatureDigest: flags.modelSignatureDigest } : {}),
                },
              }
            : {}),
          registryUrl: flags.modelRegistry,
        });
      } finally {
        await client.close();
      }
      for (const d of result.differences) process.stderr.write(`modelcar: warning: ${printable(d)} (left as it is)\n`);
      process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderText(result, flags));
    });
}

function renderText(r: RegisterResult, flags: RegisterFlags): string {
  const what = `model ${JSON.stringify(flags.modelName)} version ${JSON.stringify(flags.modelVersion)}`;
  const made = Object.entries(r.created)
    .filter(([, v]) => v)
    .map(([k]) => k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`));
  const lines = [
    r.unchanged ? `already registered, nothing changed: ${what}` : `registered ${what} (created: ${made.join(', ')})`,
  ];
  if (r.conflictsResolved > 0)
    lines.push(`another client created ${r.conflictsResolved} of these objects at the same time; reused them`);
  lines.push(
    `registered model id: ${r.registeredModelId}`,
    `model version id:    ${r.modelVersionId}`,
    `model artifact id:   ${r.modelArtifactId}`,
    `uri:                 ${r.uri}`,
    'InferenceService labels (modelcar deploy --registered-model-id/--model-version-id writes them):',
    ...Object.entries(r.labels).map(([k, v]) => `  ${k}: "${v}"`),
  );
  return `${lines.join('\n')}\n`;
}
