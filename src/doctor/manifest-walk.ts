import { isObj, type ManifestDoc } from './manifest-input.js';

/**
 * Where containers live in the kinds we lint: core workloads, Tekton Tasks/Runs (also embedded taskSpecs), KServe
 * predictors and ServingRuntimes. Paths are YAML paths inside the document (`spec.steps[0]`).
 */
export type Obj = Record<string, unknown>;

export interface PodSite {
  doc: ManifestDoc;
  path: string;
  spec: Obj;
}

export interface TaskSpecSite {
  doc: ManifestDoc;
  path: string;
  spec: Obj;
}

export interface ContainerSite {
  doc: ManifestDoc;
  path: string;
  role: 'container' | 'initContainer' | 'step' | 'sidecar' | 'stepTemplate';
  /** The container as written. */
  c: Obj;
  /** For steps: merged with the Task's stepTemplate (env, volumeMounts, securityContext), as Tekton runs it. */
  effective: Obj;
  /** Volumes of the pod or Task the container belongs to. */
  volumes: Obj[];
}

export function obj(x: unknown): Obj | undefined {
  return isObj(x) ? x : undefined;
}

export function list(x: unknown): Obj[] {
  return Array.isArray(x) ? x.map((v) => (isObj(v) ? v : {})) : [];
}

export function at(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const key of path.split('.')) {
    // atPath turns `tasks[0]` into `tasks.0`: step into arrays too, or embedded taskSpecs are never seen.
    if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
    else if (isObj(cur)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

export function kindOf(doc: ManifestDoc): string {
  return typeof doc.value.kind === 'string' ? doc.value.kind : '';
}

export function apiOf(doc: ManifestDoc): string {
  return typeof doc.value.apiVersion === 'string' ? doc.value.apiVersion : '';
}

export function nameOf(doc: ManifestDoc): string {
  const m = obj(doc.value.metadata);
  return typeof m?.name === 'string' ? m.name : typeof m?.generateName === 'string' ? `${m.generateName}*` : '?';
}

export function isTekton(doc: ManifestDoc): boolean {
  return apiOf(doc).startsWith('tekton.dev/');
}

const WORKLOAD_TEMPLATE: Record<string, string> = {
  Pod: 'spec',
  Deployment: 'spec.template.spec',
  StatefulSet: 'spec.template.spec',
  DaemonSet: 'spec.template.spec',
  ReplicaSet: 'spec.template.spec',
  Job: 'spec.template.spec',
  CronJob: 'spec.jobTemplate.spec.template.spec',
  DeploymentConfig: 'spec.template.spec',
};

export function taskSpecs(doc: ManifestDoc): TaskSpecSite[] {
  if (!isTekton(doc)) return [];
  const out: TaskSpecSite[] = [];
  const add = (path: string) => {
    const spec = obj(atPath(doc.value, path));
    if (spec) out.push({ doc, path, spec });
  };
  const pipelineTasks = (base: string) => {
    for (const field of ['tasks', 'finally']) {
      list(at(doc.value, `${base}.${field}`)).forEach((_, i) => {
        add(`${base}.${field}[${i}].taskSpec`);
      });
    }
  };
  switch (kindOf(doc)) {
    case 'Task':
    case 'ClusterTask':
      add('spec');
      break;
    case 'TaskRun':
      add('spec.taskSpec');
      break;
    case 'Pipeline':
      pipelineTasks('spec');
      break;
    case 'PipelineRun':
      pipelineTasks('spec.pipelineSpec');
      break;
  }
  return out;
}

export function podSpecs(doc: ManifestDoc): PodSite[] {
  const out: PodSite[] = [];
  const add = (path: string) => {
    const spec = obj(atPath(doc.value, path));
    if (spec) out.push({ doc, path, spec });
  };
  const kind = kindOf(doc);
  const workload = WORKLOAD_TEMPLATE[kind];
  if (workload && !isTekton(doc)) add(workload);
  if (isTekton(doc) && kind === 'TaskRun') add('spec.podTemplate');
  if (isTekton(doc) && kind === 'PipelineRun') {
    add('spec.taskRunTemplate.podTemplate');
    add('spec.podTemplate');
    list(at(doc.value, 'spec.taskRunSpecs')).forEach((_, i) => {
      add(`spec.taskRunSpecs[${i}].podTemplate`);
      add(`spec.taskRunSpecs[${i}].taskPodTemplate`);
    });
  }
  if (apiOf(doc).startsWith('serving.kserve.io/')) {
    if (kind === 'InferenceService') for (const c of ['predictor', 'transformer', 'explainer']) add(`spec.${c}`);
    if (kind === 'ServingRuntime' || kind === 'ClusterServingRuntime') add('spec');
  }
  return out;
}

/** `at` with `[i]` indexes, for paths built by the walkers. */
export function atPath(root: unknown, path: string): unknown {
  return at(root, path.replace(/\[(\d+)\]/g, '.$1'));
}

export function containers(doc: ManifestDoc): ContainerSite[] {
  const out: ContainerSite[] = [];
  for (const pod of podSpecs(doc)) {
    const volumes = list(pod.spec.volumes);
    for (const [field, role] of [
      ['containers', 'container'],
      ['initContainers', 'initContainer'],
    ] as const) {
      list(pod.spec[field]).forEach((c, i) => {
        out.push({ doc, path: `${pod.path}.${field}[${i}]`, role, c, effective: c, volumes });
      });
    }
  }
  for (const task of taskSpecs(doc)) {
    const volumes = list(task.spec.volumes);
    const template = obj(task.spec.stepTemplate);
    if (template) {
      out.push({
        doc,
        path: `${task.path}.stepTemplate`,
        role: 'stepTemplate',
        c: template,
        effective: template,
        volumes,
      });
    }
    list(task.spec.steps).forEach((c, i) => {
      out.push({ doc, path: `${task.path}.steps[${i}]`, role: 'step', c, effective: mergeStep(template, c), volumes });
    });
    list(task.spec.sidecars).forEach((c, i) => {
      out.push({ doc, path: `${task.path}.sidecars[${i}]`, role: 'sidecar', c, effective: c, volumes });
    });
  }
  return out;
}

/** Tekton's stepTemplate merge, for the fields our rules read: step values win, env merges by name. */
function mergeStep(template: Obj | undefined, step: Obj): Obj {
  if (!template) return step;
  const env = new Map<string, Obj>();
  for (const e of [...list(template.env), ...list(step.env)]) env.set(String(e.name), e);
  return {
    ...template,
    ...step,
    env: [...env.values()],
    volumeMounts: [...list(template.volumeMounts), ...list(step.volumeMounts)],
    securityContext: { ...obj(template.securityContext), ...obj(step.securityContext) },
  };
}
