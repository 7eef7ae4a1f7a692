/**
 * A Kustomize base + overlay for a GitOps repository: the base holds the ServiceAccount, RoleBinding, Task, Pipeline
 * and a named PipelineRun; the overlay patches only the run's params. GitOps tools apply (and `apply` cannot use
 * generateName), so the run has a fixed name: a changed name in the overlay is a new run.
 */
import { stringify } from 'yaml';
import { formatRef } from './image-ref.js';
import type { K8sObject, Manifest } from './manifest.js';
import type { PipelineOptions, PipelineResult } from './tekton.js';

export interface KustomizeFile {
  /** Path relative to the --kustomize DIR. */
  path: string;
  content: string;
}

function yamlFile(path: string, obj: unknown, comment?: string): KustomizeFile {
  return { path, content: `${comment ? `# ${comment}\n` : ''}${stringify(obj, { lineWidth: 0 })}` };
}

export function kustomizeFiles(result: PipelineResult, o: PipelineOptions, overlay: string): KustomizeFile[] {
  const base: Manifest[] = result.manifests.filter((m) => m.doc.kind !== 'PipelineRun');
  const run: K8sObject = result.namedRun;
  const runFile = 'pipelinerun.yaml';
  const files: KustomizeFile[] = base.map((m) => yamlFile(`base/${m.file}`, m.doc, m.comment));
  files.push(yamlFile(`base/${runFile}`, run, 'Named run (GitOps apply). Rename it in the overlay to run again.'));
  files.push(
    yamlFile('base/kustomization.yaml', {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [...base.map((m) => m.file), runFile],
    }),
  );
  const params = [
    { name: 'source', value: o.source },
    { name: 'destination', value: formatRef(o.destination) },
    { name: 'modelcar-image', value: o.modelcarImage },
    ...(o.modelRegistry ? [{ name: 'model-registry-url', value: o.modelRegistry }] : []),
  ];
  const runName = String(run.metadata.name);
  files.push(
    yamlFile(
      `overlays/${overlay}/pipelinerun-params.yaml`,
      [
        { op: 'replace', path: '/spec/params', value: params },
        { op: 'replace', path: '/metadata/name', value: `${runName}-${overlay}`.slice(0, 63).replace(/-+$/, '') },
      ],
      'JSON 6902 patch: the model, destination and tool image for this overlay, and a run name of its own.',
    ),
    yamlFile(`overlays/${overlay}/kustomization.yaml`, {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../../base'],
      patches: [
        {
          path: 'pipelinerun-params.yaml',
          target: { group: 'tekton.dev', version: 'v1', kind: 'PipelineRun', name: runName },
        },
      ],
    }),
  );
  return files;
}
