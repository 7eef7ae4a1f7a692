/**
 * The rules our generated manifests promise, checked over the documents themselves: what OpenShift's restricted-v2
 * SCC admits with no extra grant, the v1-only Tekton shape, and pinned images. Returns one line per violation.
 */
type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

/** Every Task spec in the documents: standalone Tasks and inline taskSpecs of Pipelines and PipelineRuns. */
export function taskSpecs(docs: readonly Obj[]): Array<{ at: string; spec: Obj }> {
  const out: Array<{ at: string; spec: Obj }> = [];
  const fromPipeline = (ps: unknown, at: string) => {
    if (!isObj(ps)) return;
    for (const list of ['tasks', 'finally']) {
      arr(ps[list]).forEach((t, i) => {
        if (isObj(t) && isObj(t.taskSpec)) out.push({ at: `${at}/${list}/${i}/taskSpec`, spec: t.taskSpec });
      });
    }
  };
  for (const d of docs) {
    const spec = d.spec;
    if (d.kind === 'Task' && isObj(spec)) out.push({ at: `Task/${String((d.metadata as Obj)?.name)}`, spec });
    if (d.kind === 'Pipeline') fromPipeline(spec, 'Pipeline');
    if (d.kind === 'PipelineRun' && isObj(spec)) fromPipeline(spec.pipelineSpec, 'PipelineRun/pipelineSpec');
  }
  return out;
}

/** Every key/value pair anywhere in a value, with its JSON path. */
function* walk(value: unknown, path = ''): Generator<{ path: string; key: string; value: unknown }> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* walk(value[i], `${path}/${i}`);
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      yield { path: `${path}/${k}`, key: k, value: v };
      yield* walk(v, `${path}/${k}`);
    }
  }
}

function checkContainerSecurity(sc: unknown, at: string, out: string[]): void {
  if (!isObj(sc)) {
    out.push(`${at}: no securityContext`);
    return;
  }
  if (sc.privileged === true) out.push(`${at}: privileged`);
  const caps = isObj(sc.capabilities) ? sc.capabilities : {};
  if (arr(caps.add).length > 0) out.push(`${at}: adds capabilities ${JSON.stringify(caps.add)}`);
  if (!arr(caps.drop).includes('ALL')) out.push(`${at}: does not drop ALL capabilities`);
  if (sc.runAsNonRoot !== true) out.push(`${at}: runAsNonRoot is not true`);
  if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
  if (!isObj(sc.seccompProfile) || sc.seccompProfile.type !== 'RuntimeDefault')
    out.push(`${at}: seccompProfile is not RuntimeDefault`);
}

/** restricted-v2 and Tekton v1 rules for the build pipeline documents. */
export function pipelinePolicyViolations(docs: readonly Obj[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    for (const { path, key, value } of walk(d)) {
      const at = `${String(d.kind)}${path}`;
      if (key === 'runAsUser' || key === 'runAsGroup' || key === 'fsGroup') out.push(`${at}: fixed ${key}`);
      if (key === 'privileged' && value === true) out.push(`${at}: privileged`);
      if (key === 'hostPath' || key === 'hostNetwork' || key === 'hostPID') out.push(`${at}: ${key}`);
      if (key === 'script') out.push(`${at}: a script written at run time`);
    }
    if (d.kind === 'PipelineRun') {
      const spec = d.spec as Obj;
      for (const old of ['serviceAccountName', 'podTemplate', 'timeout'])
        if (old in spec) out.push(`PipelineRun/spec/${old}: v1beta1 field`);
      const sa = (spec.taskRunTemplate as Obj | undefined)?.serviceAccountName;
      if (typeof sa !== 'string' || sa === '') out.push('PipelineRun: no taskRunTemplate.serviceAccountName');
      if (!isObj(spec.timeouts) || typeof spec.timeouts.pipeline !== 'string')
        out.push('PipelineRun: no explicit timeouts.pipeline');
    }
  }
  for (const { at, spec } of taskSpecs(docs)) {
    const template = isObj(spec.stepTemplate) ? spec.stepTemplate : {};
    if ('resources' in template) out.push(`${at}/stepTemplate: resources (v1 calls it computeResources)`);
    const volumes = new Map(
      arr(spec.volumes)
        .filter(isObj)
        .map((v) => [String(v.name), v]),
    );
    arr(spec.steps).forEach((s, i) => {
      const step = s as Obj;
      const where = `${at}/steps/${i}`;
      if ('resources' in step) out.push(`${where}: resources (v1 calls it computeResources)`);
      if (!isObj(step.computeResources)) out.push(`${where}: no computeResources`);
      const command = arr(step.command);
      if (command[0] !== 'modelcar') out.push(`${where}: does not run the modelcar CLI through command`);
      checkContainerSecurity(
        { ...(template.securityContext as Obj | undefined), ...(step.securityContext as Obj | undefined) },
        where,
        out,
      );
      const env = [...arr(template.env), ...arr(step.env)].filter(isObj);
      const home = env.find((e) => e.name === 'HOME')?.value;
      const mounts = [...arr(template.volumeMounts), ...arr(step.volumeMounts)].filter(isObj);
      const homeMount = mounts.find(
        (m) => typeof home === 'string' && (home === m.mountPath || home.startsWith(`${String(m.mountPath)}/`)),
      );
      if (typeof home !== 'string') out.push(`${where}: HOME not set (an arbitrary UID gets HOME=/)`);
      else if (!homeMount || !isObj(volumes.get(String(homeMount.name))?.emptyDir))
        out.push(`${where}: HOME ${home} is not on an emptyDir`);
    });
  }
  return out;
}

/** No image or reference anywhere uses the tag `latest`. */
export function latestTags(docs: readonly Obj[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    for (const { path, value } of walk(d)) {
      if (typeof value === 'string' && /:latest(@|$|\s)/.test(value)) out.push(`${String(d.kind)}${path}: ${value}`);
    }
  }
  return out;
}

/** The storageUri of every InferenceService, which must name an image by digest. */
export function storageUris(docs: readonly Obj[]): string[] {
  return docs
    .filter((d) => d.kind === 'InferenceService')
    .map((d) => String((((d.spec as Obj).predictor as Obj).model as Obj | undefined)?.storageUri));
}

export const PINNED_STORAGE_URI = /^oci(\+native|\+fetch)?:\/\/[^@\s]+@sha256:[a-f0-9]{64}$/;

/** restricted-v2 rules for the serving runtime's containers (KServe adds the modelcar sidecar itself). */
export function servingPolicyViolations(docs: readonly Obj[]): string[] {
  const out: string[] = [];
  for (const d of docs.filter((x) => x.kind === 'ServingRuntime')) {
    arr((d.spec as Obj).containers).forEach((c, i) => {
      checkContainerSecurity((c as Obj).securityContext, `ServingRuntime/spec/containers/${i}`, out);
    });
    for (const { path, key } of walk(d)) {
      if (key === 'runAsUser' || key === 'fsGroup') out.push(`ServingRuntime${path}: fixed ${key}`);
    }
  }
  // The pod templates we write in full: the pre-pull DaemonSet and the LLMInferenceService's main container.
  const templates: Array<{ kind: string; spec: unknown; at: string }> = [
    ...docs
      .filter((x) => x.kind === 'DaemonSet')
      .map((d) => ({ kind: 'DaemonSet', spec: ((d.spec as Obj).template as Obj).spec, at: 'spec/template/spec' })),
    ...docs
      .filter((x) => x.kind === 'LLMInferenceService')
      .map((d) => ({ kind: 'LLMInferenceService', spec: (d.spec as Obj).template, at: 'spec/template' })),
  ];
  for (const t of templates) {
    if (!isObj(t.spec)) continue;
    arr(t.spec.containers).forEach((c, i) => {
      checkContainerSecurity((c as Obj).securityContext, `${t.kind}/${t.at}/containers/${i}`, out);
    });
    for (const { path, key, value } of walk(t.spec)) {
      if (key === 'runAsUser' || key === 'fsGroup') out.push(`${t.kind}${path}: fixed ${key}`);
      if (key === 'hostPath' || key === 'hostNetwork' || key === 'hostPID') out.push(`${t.kind}${path}: ${key}`);
      if (key === 'privileged' && value === true) out.push(`${t.kind}${path}: privileged`);
    }
  }
  return out;
}
