import { shelllessModelcarStage } from './containerfile.js';
import { looksLikeImageWithoutOciScheme, ociRefOfStorageUri, pinOf } from './image-tag.js';
import type { LintInput, ManifestDoc } from './manifest-input.js';
import {
  apiOf,
  at,
  atPath,
  type ContainerSite,
  containers,
  isTekton,
  kindOf,
  list,
  nameOf,
  type Obj,
  obj,
  podSpecs,
  taskSpecs,
} from './manifest-walk.js';
import { formatRanges, type IdRange, inRanges } from './scc-range.js';
import { chmodExec, executesOwnFile, scriptOf, strings } from './shell-script.js';

/**
 * The manifest traps on the Hugging Face -> Tekton -> registry -> KServe path. Each rule knows the symptom users
 * see, the cause and the fix; a finding adds where (file, document, kind/name, YAML path) and what exactly.
 */
export type Severity = 'warn' | 'fail';

export interface Finding {
  rule: RuleId;
  severity: Severity;
  file: string;
  /** 1-based document number in the file. */
  document: number;
  kind: string;
  name: string;
  /** YAML path inside the document, e.g. `spec.steps[0].securityContext.capabilities.add[0]`. */
  path: string;
  message: string;
  /** Overrides the rule's generic symptom with one naming this finding's field or value. */
  symptom?: string;
  fix?: string;
}

export interface RuleText {
  title: string;
  symptom: string;
  cause: string;
  fix: string;
}

export interface LintOptions {
  /** From `openshift.io/sa.scc.uid-range`, when the namespace is known. */
  uidRanges?: IdRange[];
  /** From `openshift.io/sa.scc.supplemental-groups` (fsGroup must fall in it under restricted-v2). */
  groupRanges?: IdRange[];
}

const SECURE_CONTEXT = `securityContext:
  allowPrivilegeEscalation: false
  runAsNonRoot: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault`;

const SCC_SYMPTOM = (detail: string) =>
  `pods "<name>" is forbidden: unable to validate against any security context constraint: [provider restricted-v2: ${detail}]`;

export const RULES = {
  'tekton-v1beta1-field': {
    title: 'v1beta1 field in a tekton.dev/v1 object',
    symptom:
      'strict decoding error: unknown field "spec.serviceAccountName" (kubectl/oc apply); with non-strict clients no error at all: the field is dropped and the run uses the default service account',
    cause:
      'Tekton v1 renamed or removed this field (docs/migrating-v1beta1-to-v1.md). The API server prunes unknown fields and strict clients reject them; Tekton webhooks reject them inside embedded specs.',
    fix: 'Use the v1 name shown in the finding.',
  },
  'tekton-v1beta1-api': {
    title: 'deprecated tekton.dev/v1beta1 API',
    symptom:
      'Warning: tekton.dev/v1beta1 ... is deprecated; the object is converted and its v1beta1-only fields are lost on the way',
    cause: 'v1beta1 is still served but deprecated; v1 is the storage version since Tekton v0.50.',
    fix: 'apiVersion: tekton.dev/v1   # and rename fields: serviceAccountName -> taskRunTemplate.serviceAccountName, resources -> computeResources, timeout -> timeouts.pipeline',
  },
  'scc-capabilities': {
    title: 'capability that restricted-v2 forbids',
    symptom: SCC_SYMPTOM('.containers[0].capabilities.add: Invalid value: "SETFCAP": capability may not be added'),
    cause:
      'restricted-v2 (the SCC every service account can use) allows only NET_BIND_SERVICE to be added and requires dropping ALL. buildah/podman ask for SETFCAP, SETUID, SETGID or SYS_ADMIN.',
    fix: `${SECURE_CONTEXT}\n# and build the image without buildah: \`modelcar build\` writes the layers itself, rootless, with no capabilities.`,
  },
  'scc-privileged': {
    title: 'privileged container',
    symptom: SCC_SYMPTOM('.containers[0].privileged: Invalid value: true: Privileged containers are not allowed'),
    cause:
      'restricted-v2 sets allowPrivilegedContainer: false. The upstream catalog buildah Task uses privileged: true.',
    fix: `${SECURE_CONTEXT}\n# privileged: false (or remove it); build with \`modelcar build\` instead of buildah.`,
  },
  'scc-privilege-escalation': {
    title: 'allowPrivilegeEscalation: true',
    symptom: SCC_SYMPTOM(
      '.containers[0].allowPrivilegeEscalation: Invalid value: true: Allowing privilege escalation for containers is not allowed',
    ),
    cause: 'restricted-v2 sets allowPrivilegeEscalation: false.',
    fix: SECURE_CONTEXT,
  },
  'scc-run-as-root': {
    title: 'runAsUser: 0 (root)',
    symptom: SCC_SYMPTOM('.containers[0].runAsUser: Invalid value: 0: must be in the ranges: [1000650000, 1000659999]'),
    cause:
      "restricted-v2 runs containers as a UID from the namespace's openshift.io/sa.scc.uid-range; root is never in it.",
    fix: '# remove runAsUser; OpenShift picks the UID. Make the image work for any UID in group 0:\n#   RUN chgrp -R 0 /app && chmod -R g=u /app',
  },
  'scc-fixed-uid': {
    title: 'fixed runAsUser',
    symptom: SCC_SYMPTOM(
      '.containers[0].runAsUser: Invalid value: 1001: must be in the ranges: [1000650000, 1000659999]',
    ),
    cause:
      "restricted-v2 (MustRunAsRange) accepts only UIDs inside the namespace's openshift.io/sa.scc.uid-range, which differs per namespace. It works only under the `pipeline` SA's pipelines-scc (RunAsAny).",
    fix: '# remove runAsUser (and runAsGroup); OpenShift assigns the first UID of the namespace range.\nsecurityContext:\n  runAsNonRoot: true',
  },
  'scc-fixed-fsgroup': {
    title: 'fixed fsGroup',
    symptom: SCC_SYMPTOM('.spec.securityContext.fsGroup: Invalid value: []int64{1001}: 1001 is not an allowed group'),
    cause:
      "restricted-v2 (fsGroup MustRunAs) accepts only groups from the namespace's openshift.io/sa.scc.supplemental-groups.",
    fix: '# remove fsGroup; OpenShift sets it to the first group of the namespace range.',
  },
  'scc-host-path': {
    title: 'hostPath volume',
    symptom: SCC_SYMPTOM('.spec.volumes[0]: Invalid value: "hostPath": hostPath volumes are not allowed to be used'),
    cause:
      'restricted-v2 allows only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.',
    fix: 'volumes:\n  - name: scratch\n    emptyDir:\n      sizeLimit: 100Gi   # or a persistentVolumeClaim / volumeClaimTemplate workspace',
  },
  'exec-own-file': {
    title: 'step executes a file the pod wrote itself',
    symptom:
      "sh: /workspace/source/run.sh: Permission denied  (or, from Tekton's entrypoint: fork/exec /workspace/source/run.sh: permission denied)",
    cause:
      'Files a step writes get mode 0644 (umask 022), so executing them by path fails with EACCES. `chmod +x` papers over it only while the same UID owns the file: on a shared PVC written by a task that ran as another UID it fails with "Operation not permitted".',
    fix: '# Put the code in the step itself; Tekton writes `script:` files executable:\nscript: |\n  #!/bin/sh\n  set -eu\n  modelcar build ...\n# or run the file through an interpreter:  sh "$(workspaces.source.path)/run.sh"\n# or call the image\'s own binary:  command: [modelcar]  args: [build, ...]',
  },
  'exec-configmap-script': {
    title: 'script from a ConfigMap volume without execute bits',
    symptom: 'fork/exec /scripts/run.sh: permission denied',
    cause: 'ConfigMap and Secret volumes mount files with defaultMode 0644 unless told otherwise.',
    fix: 'volumes:\n  - name: scripts\n    configMap:\n      name: <configmap>\n      defaultMode: 0555\n# or run it through an interpreter: command: [sh, /scripts/run.sh]',
  },
  'buildah-credentials': {
    title: 'buildah/podman push without explicit registry credentials',
    symptom:
      'Error: pushing image ... : writing blob: initiating layer upload to /v2/<ns>/<name>/blobs/uploads/ in <registry>: authentication required  (or: unauthorized: authentication required)',
    cause:
      'Tekton\'s creds-init copies the service account\'s docker secrets into $HOME, but under an arbitrary UID $HOME is `/` (not writable): the copy fails with only a warning ("unsuccessful cred copy") and buildah finds no credentials.',
    fix: `# Mount a kubernetes.io/dockerconfigjson Secret and name it explicitly:
workspaces:
  - name: registry-auth
    optional: true
steps:
  - name: push
    env:
      - name: REGISTRY_AUTH_FILE
        value: $(workspaces.registry-auth.path)/.dockerconfigjson
# For the OpenShift internal registry: --creds "serviceaccount:$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"
# or let \`modelcar push\` read the service-account token itself.`,
  },
  'buildah-storage': {
    title: "buildah/podman storage on the container's root filesystem",
    symptom:
      'The node was low on resource: ephemeral-storage.  /  Pod ephemeral local storage usage exceeds the total limit of containers ...  /  Error: ... no space left on device',
    cause:
      "With no volume at /var/lib/containers, buildah keeps every layer (2-3x the model size) in the container's writable layer, on the node's ephemeral storage; the kubelet evicts the pod or the disk fills.",
    fix: `volumes:
  - name: varlibcontainers
    emptyDir:
      sizeLimit: 150Gi   # >= 3x the model
steps:
  - name: build
    volumeMounts:
      - name: varlibcontainers
        mountPath: /var/lib/containers
    computeResources:
      requests:
        ephemeral-storage: 150Gi
# or skip local container storage: \`modelcar build\` streams the model straight into registry layers.`,
  },
  'tekton-timeout': {
    title: 'run moving tens of GB with the default 1h timeout',
    symptom:
      'TaskRun "<name>" failed to finish within "1h0m0s"  (PipelineRun "<name>" failed to finish within "1h0m0s")',
    cause:
      'Without an explicit timeout, Tekton uses default-timeout-minutes: 60. Downloading, building and pushing a multi-GB model often takes longer.',
    fix: 'spec:\n  timeouts:\n    pipeline: 4h   # PipelineRun; size it for the model (>= tasks + finally)\n# TaskRun: spec.timeout: 4h',
  },
  'tekton-two-pvc': {
    title: 'one TaskRun binds two PVC-backed workspaces',
    symptom: '[User error] more than one PersistentVolumeClaim is bound  (reason TaskRunValidationFailed)',
    cause:
      "With the affinity assistant on (coschedule: workspaces, the default), a TaskRun may bind only one PVC-backed workspace, so its pod can be placed on that volume's node.",
    fix: '# Use one PVC workspace with subPaths for the task:\nworkspaces:\n  - name: model\n    workspace: shared\n    subPath: model\n  - name: cache\n    workspace: shared\n    subPath: cache\n# Secrets and CA bundles belong in secret/configMap workspaces, which do not count.',
  },
  'tekton-shared-rwo-pvc': {
    title: 'ReadWriteOnce PVC shared by several tasks with the affinity assistant disabled',
    symptom:
      'Multi-Attach error for volume "pvc-..." Volume is already used by pod(s) ...  (the TaskRun pod stays Pending/ContainerCreating)',
    cause:
      'feature-flags sets coschedule: disabled (or disable-affinity-assistant: "true"), so tasks sharing a ReadWriteOnce volume can be scheduled on different nodes.',
    fix: '# Re-enable co-scheduling (feature-flags: coschedule: workspaces), or run download, build and push as steps of one Task on an emptyDir, or use ReadWriteMany storage.',
  },
  'dockerconfigjson-auths': {
    title: 'dockerconfigjson Secret without its "auths" wrapper',
    symptom:
      'Failed to pull image "...": ... unauthorized: authentication required  (buildah/skopeo: "authentication required"; the secret is accepted by the API server but no credentials are found in it)',
    cause:
      'A kubernetes.io/dockerconfigjson Secret must hold {"auths": {"<host>": {"auth": "<base64 user:password>"}}}. The legacy .dockercfg layout (hosts at the top level) is ignored by the kubelet and by containers-auth readers.',
    fix: `apiVersion: v1
kind: Secret
type: kubernetes.io/dockerconfigjson
metadata:
  name: registry-auth
stringData:
  .dockerconfigjson: |
    {"auths": {"quay.io": {"auth": "<base64 of user:password>"}}}
# or: oc create secret docker-registry registry-auth --docker-server=quay.io --docker-username=... --docker-password-stdin`,
  },
  'image-latest': {
    title: 'image with :latest or no tag',
    symptom:
      'no error: every pod start pulls again (imagePullPolicy defaults to Always for :latest) and a rebuilt tag silently changes what runs',
    cause: 'A missing tag means :latest, which Kubernetes treats as mutable.',
    fix: 'image: registry.example.com/team/tool@sha256:<digest>   # or a fixed version tag',
  },
  'storage-uri-scheme': {
    title: 'storageUri names an OCI image without oci://',
    symptom:
      'no admission error: KServe takes it as "an absolute or relative local path"; the storage initializer then finds no model and the predictor never becomes Ready',
    cause: 'KServe only treats a storageUri as a ModelCar image when it starts with oci:// (or oci+native://).',
    fix: 'spec:\n  predictor:\n    model:\n      storageUri: oci://quay.io/org/model@sha256:<digest>',
  },
  'storage-uri-latest': {
    title: 'storageUri with :latest or no tag',
    symptom:
      'no error at deploy time: the modelcar image is pulled again on every pod start (imagePullPolicy Always), and a re-pushed tag serves a different model than the one registered',
    cause:
      'An untagged or :latest ModelCar reference is mutable and forces a re-pull of a multi-GB image on every restart or scale-up.',
    fix: 'storageUri: oci://quay.io/org/model@sha256:<digest>   # the digest `modelcar build` prints',
  },
  'storage-uri-tag': {
    title: 'storageUri pinned by tag, not digest',
    symptom: 'no error: a re-pushed tag changes the model being served without any change to the InferenceService',
    cause: 'Tags are mutable; the Model Registry records one image, the tag may point at another later.',
    fix: 'storageUri: oci://quay.io/org/model@sha256:<digest>   # the digest `modelcar build` prints',
  },
  'modelcar-no-shell': {
    title: 'ModelCar image without a shell',
    symptom:
      'modelcar-init / modelcar container: exec: "sh": executable file not found in $PATH  (StartError; the InferenceService never becomes Ready)',
    cause:
      "KServe's modelcar sidecar runs `sh -c 'ln -sf /proc/$$/root/models /mnt/models && sleep infinity'` and its init container runs `[ -d /models ] && [ \"$(ls -A /models)\" ]` inside the model image, so the base needs sh, ln, sleep and ls. scratch/distroless only work with oci+native:// image volumes (KServe >= 0.20, Kubernetes >= 1.33).",
    fix: 'FROM registry.access.redhat.com/ubi9/ubi-micro:9.6   # or busybox: has sh, ln, sleep, ls\nCOPY --chown=0:0 models /models\nRUN chmod -R a=rX /models\nUSER 1001\n# or let `modelcar build` pick a shell base and write the layers itself.',
  },
} satisfies Record<string, RuleText>;

export type RuleId = keyof typeof RULES;

export const RULE_SEVERITY: Record<RuleId, readonly Severity[]> = {
  'tekton-v1beta1-field': ['fail'],
  'tekton-v1beta1-api': ['warn'],
  'scc-capabilities': ['fail'],
  'scc-privileged': ['fail'],
  'scc-privilege-escalation': ['fail'],
  'scc-run-as-root': ['fail'],
  'scc-fixed-uid': ['warn', 'fail'],
  'scc-fixed-fsgroup': ['warn', 'fail'],
  'scc-host-path': ['fail'],
  'exec-own-file': ['fail', 'warn'],
  'exec-configmap-script': ['fail'],
  'buildah-credentials': ['fail'],
  'buildah-storage': ['warn'],
  'tekton-timeout': ['warn'],
  'tekton-two-pvc': ['fail'],
  'tekton-shared-rwo-pvc': ['warn'],
  'dockerconfigjson-auths': ['fail'],
  'image-latest': ['warn'],
  'storage-uri-scheme': ['fail'],
  'storage-uri-latest': ['fail'],
  'storage-uri-tag': ['warn'],
  'modelcar-no-shell': ['fail'],
};

type Emit = (
  doc: ManifestDoc,
  path: string,
  rule: RuleId,
  severity: Severity,
  message: string,
  extra?: { symptom?: string; fix?: string },
) => void;

/** Pure: the findings for already-parsed input. */
export function lintManifests(input: LintInput, opts: LintOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const emit: Emit = (doc, path, rule, severity, message, extra) => {
    findings.push({
      rule,
      severity,
      file: doc.file,
      document: doc.document,
      kind: kindOf(doc) || '?',
      name: nameOf(doc),
      path: `${doc.prefix}${path}`,
      message,
      ...extra,
    });
  };
  const heavy = heavyNames(input.docs);
  const coscheduleOff = input.docs.some(affinityAssistantDisabled);
  for (const doc of input.docs) {
    tektonV1beta1(doc, emit);
    for (const site of containers(doc)) {
      containerSecurity(site, opts, emit);
      if (site.role !== 'stepTemplate') {
        imageTag(site, emit);
        executables(site, emit);
        buildah(site, emit);
      }
    }
    podSecurity(doc, opts, emit);
    tektonTimeout(doc, heavy, emit);
    tektonWorkspaces(doc, input.docs, coscheduleOff, emit);
    dockerconfigjson(doc, emit);
    storageUris(doc, emit);
  }
  for (const cf of input.containerfiles) {
    const trap = shelllessModelcarStage(cf.text);
    if (trap) {
      const doc: ManifestDoc = { file: cf.file, document: 1, prefix: '', value: { kind: 'Containerfile' } };
      emit(
        doc,
        `line ${trap.line}`,
        'modelcar-no-shell',
        'fail',
        `final stage FROM ${trap.base} copies /models but has no shell`,
      );
    }
  }
  return findings;
}

// ---- Tekton v1beta1 names in v1 objects -------------------------------------------------------------------------

interface Renamed {
  field: string;
  v1: string;
  fix: string;
}

const PIPELINERUN_V1BETA1: Renamed[] = [
  {
    field: 'serviceAccountName',
    v1: 'spec.taskRunTemplate.serviceAccountName',
    fix: 'spec:\n  taskRunTemplate:\n    serviceAccountName: <sa>',
  },
  {
    field: 'serviceAccountNames',
    v1: 'spec.taskRunSpecs[].serviceAccountName',
    fix: 'spec:\n  taskRunSpecs:\n    - pipelineTaskName: <task>\n      serviceAccountName: <sa>',
  },
  {
    field: 'podTemplate',
    v1: 'spec.taskRunTemplate.podTemplate',
    fix: 'spec:\n  taskRunTemplate:\n    podTemplate:\n      ...',
  },
  { field: 'timeout', v1: 'spec.timeouts.pipeline', fix: 'spec:\n  timeouts:\n    pipeline: 4h' },
  { field: 'resources', v1: '(removed: PipelineResources)', fix: '# pass data with params and workspaces instead' },
];
const TASKRUN_V1BETA1: Renamed[] = [
  {
    field: 'stepOverrides',
    v1: 'spec.stepSpecs',
    fix: 'spec:\n  stepSpecs:\n    - name: <step>\n      computeResources: {...}',
  },
  {
    field: 'sidecarOverrides',
    v1: 'spec.sidecarSpecs',
    fix: 'spec:\n  sidecarSpecs:\n    - name: <sidecar>\n      computeResources: {...}',
  },
  { field: 'resources', v1: '(removed: PipelineResources)', fix: '# pass data with params and workspaces instead' },
];

function tektonV1beta1(doc: ManifestDoc, emit: Emit): void {
  if (!isTekton(doc)) return;
  if (apiOf(doc) === 'tekton.dev/v1beta1') {
    emit(doc, 'apiVersion', 'tekton-v1beta1-api', 'warn', 'tekton.dev/v1beta1 is deprecated; migrate to tekton.dev/v1');
    return;
  }
  if (apiOf(doc) !== 'tekton.dev/v1') return;
  const kind = kindOf(doc);
  const spec = obj(doc.value.spec) ?? {};
  const renamed = (path: string, r: Renamed, embedded: boolean) => {
    const unknown = path.replace(/\[\d+\]/g, '');
    emit(doc, path, 'tekton-v1beta1-field', 'fail', `${r.field} is a v1beta1 field; v1 uses ${r.v1}`, {
      symptom: embedded
        ? `admission webhook "webhook.pipeline.tekton.dev" denied the request: mutation failed: cannot decode incoming new object: json: unknown field "${r.field}"`
        : `Error from server (BadRequest): ... ${kind} in version "v1" cannot be handled as a ${kind}: strict decoding error: unknown field "${unknown}"  (non-strict clients: silently dropped)`,
      fix: r.fix,
    });
  };
  const table = kind === 'PipelineRun' ? PIPELINERUN_V1BETA1 : kind === 'TaskRun' ? TASKRUN_V1BETA1 : [];
  for (const r of table) if (r.field in spec) renamed(`spec.${r.field}`, r, false);
  if (kind === 'PipelineRun') {
    list(spec.taskRunSpecs).forEach((t, i) => {
      if ('taskServiceAccountName' in t) {
        renamed(
          `spec.taskRunSpecs[${i}].taskServiceAccountName`,
          {
            field: 'taskServiceAccountName',
            v1: 'spec.taskRunSpecs[].serviceAccountName',
            fix: 'taskRunSpecs:\n  - pipelineTaskName: <task>\n    serviceAccountName: <sa>',
          },
          false,
        );
      }
      if ('taskPodTemplate' in t) {
        renamed(
          `spec.taskRunSpecs[${i}].taskPodTemplate`,
          {
            field: 'taskPodTemplate',
            v1: 'spec.taskRunSpecs[].podTemplate',
            fix: 'taskRunSpecs:\n  - pipelineTaskName: <task>\n    podTemplate: {...}',
          },
          false,
        );
      }
    });
  }
  const bundle = (path: string, embedded: boolean) => {
    if (obj(atPath(doc.value, path))?.bundle !== undefined) {
      renamed(
        `${path}.bundle`,
        {
          field: 'bundle',
          v1: 'resolver: bundles',
          fix: `${path.split('.').pop()}:\n  resolver: bundles\n  params:\n    - {name: bundle, value: <image>}\n    - {name: name, value: <name>}\n    - {name: kind, value: task}`,
        },
        embedded,
      );
    }
  };
  if (kind === 'PipelineRun') bundle('spec.pipelineRef', false);
  if (kind === 'TaskRun') bundle('spec.taskRef', false);
  const pipelineBase = kind === 'Pipeline' ? 'spec' : kind === 'PipelineRun' ? 'spec.pipelineSpec' : undefined;
  if (pipelineBase) {
    const embedded = kind === 'PipelineRun';
    if (obj(atPath(doc.value, pipelineBase))?.resources !== undefined) {
      renamed(`${pipelineBase}.resources`, PIPELINERUN_V1BETA1[4] as Renamed, embedded);
    }
    for (const field of ['tasks', 'finally']) {
      list(atPath(doc.value, `${pipelineBase}.${field}`)).forEach((t, i) => {
        const p = `${pipelineBase}.${field}[${i}]`;
        if (t.resources !== undefined) renamed(`${p}.resources`, PIPELINERUN_V1BETA1[4] as Renamed, true);
        bundle(`${p}.taskRef`, true);
      });
    }
  }
  for (const task of taskSpecs(doc)) {
    const embedded = task.path !== 'spec';
    const computeResources = (path: string) =>
      renamed(
        `${path}.resources`,
        {
          field: 'resources',
          v1: `${path.replace(/\[\d+\]/g, '[]')}.computeResources`,
          fix: 'computeResources:\n  requests:\n    memory: 2Gi\n    ephemeral-storage: 50Gi',
        },
        embedded,
      );
    if (task.spec.resources !== undefined)
      renamed(`${task.path}.resources`, PIPELINERUN_V1BETA1[4] as Renamed, embedded);
    if (obj(task.spec.stepTemplate)?.resources !== undefined) computeResources(`${task.path}.stepTemplate`);
    for (const field of ['steps', 'sidecars']) {
      list(task.spec[field]).forEach((s, i) => {
        if (s.resources !== undefined) computeResources(`${task.path}.${field}[${i}]`);
      });
    }
  }
}

// ---- restricted-v2 SCC -------------------------------------------------------------------------------------------

function containerSecurity(site: ContainerSite, opts: LintOptions, emit: Emit): void {
  const sc = obj(site.c.securityContext);
  if (!sc) return;
  const p = `${site.path}.securityContext`;
  strings(obj(sc.capabilities)?.add).forEach((cap, i) => {
    if (cap.toUpperCase().replace(/^CAP_/, '') === 'NET_BIND_SERVICE') return;
    emit(site.doc, `${p}.capabilities.add[${i}]`, 'scc-capabilities', 'fail', `adds capability ${cap}`, {
      symptom: SCC_SYMPTOM(`.containers[0].capabilities.add: Invalid value: "${cap}": capability may not be added`),
    });
  });
  if (sc.privileged === true) emit(site.doc, `${p}.privileged`, 'scc-privileged', 'fail', 'privileged: true');
  if (sc.allowPrivilegeEscalation === true) {
    emit(
      site.doc,
      `${p}.allowPrivilegeEscalation`,
      'scc-privilege-escalation',
      'fail',
      'allowPrivilegeEscalation: true',
    );
  }
  runAsUser(site.doc, `${p}.runAsUser`, sc.runAsUser, opts, emit);
}

function podSecurity(doc: ManifestDoc, opts: LintOptions, emit: Emit): void {
  const sites = [...podSpecs(doc), ...taskSpecs(doc)];
  for (const pod of podSpecs(doc)) {
    const sc = obj(pod.spec.securityContext);
    if (!sc) continue;
    runAsUser(doc, `${pod.path}.securityContext.runAsUser`, sc.runAsUser, opts, emit);
    const fsGroup = sc.fsGroup;
    if (typeof fsGroup === 'number') {
      const path = `${pod.path}.securityContext.fsGroup`;
      const symptom = (ranges: string) =>
        SCC_SYMPTOM(
          `.spec.securityContext.fsGroup: Invalid value: []int64{${fsGroup}}: ${fsGroup} is not an allowed group${ranges}`,
        );
      if (opts.groupRanges && !inRanges(fsGroup, opts.groupRanges)) {
        emit(
          doc,
          path,
          'scc-fixed-fsgroup',
          'fail',
          `fsGroup ${fsGroup} is outside the namespace's supplemental-groups ${formatRanges(opts.groupRanges)}`,
          {
            symptom: symptom(''),
          },
        );
      } else {
        emit(
          doc,
          path,
          'scc-fixed-fsgroup',
          'warn',
          `fixed fsGroup ${fsGroup}: rejected under restricted-v2 in any namespace whose range does not hold it`,
        );
      }
    }
  }
  for (const site of sites) {
    list(site.spec.volumes).forEach((v, i) => {
      if (v.hostPath !== undefined) {
        emit(
          doc,
          `${site.path}.volumes[${i}].hostPath`,
          'scc-host-path',
          'fail',
          `volume ${String(v.name)} is a hostPath`,
        );
      }
    });
  }
}

function runAsUser(doc: ManifestDoc, path: string, uid: unknown, opts: LintOptions, emit: Emit): void {
  if (typeof uid !== 'number') return;
  const ranges = opts.uidRanges ? formatRanges(opts.uidRanges) : '[<namespace uid-range>]';
  const symptom = SCC_SYMPTOM(`.containers[0].runAsUser: Invalid value: ${uid}: must be in the ranges: ${ranges}`);
  if (uid === 0) {
    emit(doc, path, 'scc-run-as-root', 'fail', 'runAsUser: 0 runs as root', { symptom });
  } else if (opts.uidRanges && !inRanges(uid, opts.uidRanges)) {
    emit(doc, path, 'scc-fixed-uid', 'fail', `runAsUser ${uid} is outside the namespace's uid-range ${ranges}`, {
      symptom,
    });
  } else {
    emit(
      doc,
      path,
      'scc-fixed-uid',
      'warn',
      `fixed runAsUser ${uid}: rejected under restricted-v2 in any namespace whose uid-range does not hold it`,
      {
        symptom,
      },
    );
  }
}

// ---- images --------------------------------------------------------------------------------------------------------

function imageTag(site: ContainerSite, emit: Emit): void {
  const image = site.c.image;
  if (typeof image !== 'string') return;
  const pin = pinOf(image);
  if (pin.by === 'none' || (pin.by === 'tag' && pin.tag === 'latest')) {
    emit(
      site.doc,
      `${site.path}.image`,
      'image-latest',
      'warn',
      `image ${image} ${pin.by === 'none' ? 'has no tag (means :latest)' : 'uses :latest'}`,
    );
  }
}

function storageUris(doc: ManifestDoc, emit: Emit): void {
  if (!apiOf(doc).startsWith('serving.kserve.io/')) return;
  const check = (path: string, uri: string) => {
    const ref = ociRefOfStorageUri(uri);
    if (ref === undefined) {
      if (looksLikeImageWithoutOciScheme(uri)) {
        emit(doc, path, 'storage-uri-scheme', 'fail', `${uri} looks like an image reference but has no oci:// scheme`, {
          fix: `storageUri: oci://${uri.replace(/^docker:\/\//, '')}`,
        });
      }
      return;
    }
    const pin = pinOf(ref);
    if (pin.by === 'none' || (pin.by === 'tag' && pin.tag === 'latest')) {
      emit(
        doc,
        path,
        'storage-uri-latest',
        'fail',
        `${uri} ${pin.by === 'none' ? 'has no tag (means :latest)' : 'uses :latest'}`,
      );
    } else if (pin.by === 'tag') {
      emit(doc, path, 'storage-uri-tag', 'warn', `${uri} is pinned by tag ${pin.tag}, not by digest`);
    }
  };
  const walk = (x: unknown, path: string) => {
    if (Array.isArray(x)) {
      x.forEach((v, i) => {
        walk(v, `${path}[${i}]`);
      });
    } else if (obj(x)) {
      for (const [k, v] of Object.entries(x as Obj)) {
        const p = path ? `${path}.${k}` : k;
        if (
          (k === 'storageUri' || (k === 'uri' && /storageUris\[\d+\]$|^spec\.model$/.test(path))) &&
          typeof v === 'string'
        ) {
          check(p, v);
        } else walk(v, p);
      }
    }
  };
  walk(doc.value.spec, 'spec');
}

// ---- executables ---------------------------------------------------------------------------------------------------

const WRITABLE_DIRS = /^(\/workspace\/|\$\(workspaces\.|\/tekton\/home\/|\/tmp\/|\$HOME\/|~\/)/;

function executables(site: ContainerSite, emit: Emit): void {
  const script = scriptOf(site.c);
  if (script !== undefined) {
    const own = executesOwnFile(script);
    const where = typeof site.c.script === 'string' ? `${site.path}.script` : `${site.path}.args`;
    if (own) {
      emit(
        site.doc,
        where,
        'exec-own-file',
        'fail',
        `line ${own.line} runs ${own.file}, which the script wrote itself (mode 0644)`,
        {
          symptom: `sh: ${own.file}: Permission denied`,
        },
      );
    } else {
      const line = chmodExec(script);
      if (line !== undefined) {
        emit(
          site.doc,
          where,
          'exec-own-file',
          'warn',
          `line ${line} makes a file executable at run time (chmod); fails when another UID owns it`,
        );
      }
    }
  }
  const cmd0 = strings(site.c.command)[0];
  if (cmd0 === undefined) return;
  if (WRITABLE_DIRS.test(cmd0)) {
    emit(
      site.doc,
      `${site.path}.command[0]`,
      'exec-own-file',
      'warn',
      `command runs ${cmd0}, a file in a writable run-time directory: it is executable only if whoever wrote it set the mode`,
      {
        symptom: `fork/exec ${cmd0}: permission denied`,
      },
    );
    return;
  }
  const mount = list(site.effective.volumeMounts).find(
    (m) => typeof m.mountPath === 'string' && cmd0.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`),
  );
  const volume = mount && site.volumes.find((v) => v.name === mount.name);
  const source = volume && (obj(volume.configMap) ?? obj(volume.secret));
  if (source) {
    const rel = cmd0.slice(String(mount?.mountPath).replace(/\/$/, '').length + 1);
    const item = list(source.items).find((it) => it.path === rel);
    const mode =
      typeof item?.mode === 'number' ? item.mode : typeof source.defaultMode === 'number' ? source.defaultMode : 0o644;
    if ((mode & 0o111) === 0) {
      emit(
        site.doc,
        `${site.path}.command[0]`,
        'exec-configmap-script',
        'fail',
        `command runs ${cmd0} from volume ${String(volume?.name)} mounted with mode 0${mode.toString(8)}`,
        {
          symptom: `fork/exec ${cmd0}: permission denied`,
        },
      );
    }
  }
}

// ---- buildah / podman ----------------------------------------------------------------------------------------------

const CONTAINER_TOOL = /\b(buildah|podman)\b/;
const BUILDS = /\b(buildah|podman)\s+(?:--?\S+\s+)*(bud|build|build-using-dockerfile|from|commit|push|manifest)\b/;
const PUSHES = /\b(buildah|podman)\s+(?:--?\S+\s+)*(push|manifest\s+push)\b|\s--push\b/;
const HAS_CREDS = /--authfile\b|--creds\b|REGISTRY_AUTH_FILE|DOCKER_CONFIG|\b(buildah|podman)\s+login\b/;

function buildah(site: ContainerSite, emit: Emit): void {
  const c = site.effective;
  const text = [scriptOf(c) ?? '', ...strings(c.command), ...strings(c.args)].join('\n');
  const toolImage = typeof c.image === 'string' && CONTAINER_TOOL.test(c.image);
  if (!BUILDS.test(text) && !(toolImage && /\b(bud|build|push)\b/.test(text))) return;
  const env = list(c.env);
  const mounts = list(c.volumeMounts).map((m) => String(m.mountPath ?? ''));
  if (PUSHES.test(text) || (toolImage && /\bpush\b/.test(text))) {
    const envCreds = env.some((e) => e.name === 'REGISTRY_AUTH_FILE' || e.name === 'DOCKER_CONFIG');
    const mountCreds = mounts.some((m) => /\.docker|containers\/auth|auth\.json/.test(m));
    if (!envCreds && !mountCreds && !HAS_CREDS.test(text)) {
      emit(
        site.doc,
        site.path,
        'buildah-credentials',
        'fail',
        'pushes with buildah/podman but names no credentials (REGISTRY_AUTH_FILE, --authfile, --creds, DOCKER_CONFIG)',
      );
    }
  }
  const storage =
    mounts.some((m) => m.startsWith('/var/lib/containers') || m.includes('/.local/share/containers')) ||
    env.some((e) => e.name === 'CONTAINERS_STORAGE_CONF') ||
    /--root\b/.test(text);
  if (!storage) {
    emit(
      site.doc,
      site.path,
      'buildah-storage',
      'warn',
      "buildah/podman keeps image layers in /var/lib/containers on the container's root filesystem (no volume mounted there)",
    );
  }
}

// ---- Tekton runs: timeouts and workspaces -----------------------------------------------------------------------

const HEAVY_TOOLS =
  /\b(buildah|podman|skopeo|huggingface-cli|hf\s+download|snapshot_download|olot|modelcar|oras|git\s+lfs)\b/;
const TEN_GIB = 10 * 1024 ** 3;

/** `kind/name` of documents that move tens of GB: model tools in their steps, or >= 10Gi of storage asked for. */
function heavyNames(docs: readonly ManifestDoc[]): Set<string> {
  const out = new Set<string>();
  for (const doc of docs) if (isHeavy(doc)) out.add(`${kindOf(doc)}/${nameOf(doc)}`);
  return out;
}

function isHeavy(doc: ManifestDoc): boolean {
  if (!isTekton(doc)) return false;
  for (const site of containers(doc)) {
    const c = site.c;
    const text = [
      typeof c.image === 'string' ? c.image : '',
      scriptOf(c) ?? '',
      ...strings(c.command),
      ...strings(c.args),
    ];
    if (HEAVY_TOOLS.test(text.join('\n'))) return true;
  }
  let big = false;
  const walk = (x: unknown, key: string) => {
    if (Array.isArray(x)) for (const v of x) walk(v, key);
    else if (obj(x)) for (const [k, v] of Object.entries(x as Obj)) walk(v, k);
    else if ((key === 'storage' || key === 'ephemeral-storage' || key === 'sizeLimit') && (bytesOf(x) ?? 0) >= TEN_GIB)
      big = true;
  };
  walk(doc.value.spec, '');
  return big;
}

export function bytesOf(q: unknown): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(q.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
  };
  return Number(m[1]) * (m[2] ? (unit[m[2]] ?? 1) : 1);
}

function tektonTimeout(doc: ManifestDoc, heavy: Set<string>, emit: Emit): void {
  if (!isTekton(doc)) return;
  const kind = kindOf(doc);
  const spec = obj(doc.value.spec) ?? {};
  const ref = (r: unknown, k: string) => {
    const name = obj(r)?.name;
    return typeof name === 'string' && heavy.has(`${k}/${name}`);
  };
  if (kind === 'PipelineRun') {
    const timeouts = obj(spec.timeouts);
    if (timeouts?.pipeline !== undefined || spec.timeout !== undefined) return;
    const pipelineHeavy = heavy.has(`PipelineRun/${nameOf(doc)}`) || ref(spec.pipelineRef, 'Pipeline');
    const tasksHeavy = list(obj(spec.pipelineSpec)?.tasks).some((t) => ref(t.taskRef, 'Task'));
    if (pipelineHeavy || tasksHeavy) {
      emit(
        doc,
        timeouts ? 'spec.timeouts' : 'spec',
        'tekton-timeout',
        'warn',
        'moves a model but sets no spec.timeouts.pipeline: the run is cancelled after the default 1h',
        {
          symptom: `PipelineRun "${nameOf(doc)}" failed to finish within "1h0m0s"`,
        },
      );
    }
  }
  if (kind === 'TaskRun' && spec.timeout === undefined) {
    if (heavy.has(`TaskRun/${nameOf(doc)}`) || ref(spec.taskRef, 'Task')) {
      emit(
        doc,
        'spec',
        'tekton-timeout',
        'warn',
        'moves a model but sets no spec.timeout: the run is cancelled after the default 1h',
        {
          symptom: `TaskRun "${nameOf(doc)}" failed to finish within "1h0m0s"`,
          fix: 'spec:\n  timeout: 4h',
        },
      );
    }
  }
}

function affinityAssistantDisabled(doc: ManifestDoc): boolean {
  if (kindOf(doc) !== 'ConfigMap' || nameOf(doc) !== 'feature-flags') return false;
  const data = obj(doc.value.data) ?? {};
  return data.coschedule === 'disabled' || String(data['disable-affinity-assistant']) === 'true';
}

function tektonWorkspaces(doc: ManifestDoc, docs: readonly ManifestDoc[], coscheduleOff: boolean, emit: Emit): void {
  if (!isTekton(doc)) return;
  const kind = kindOf(doc);
  const bindings = list(at(doc.value, 'spec.workspaces'));
  const pvc = new Map<string, Obj>();
  for (const b of bindings) {
    if (typeof b.name !== 'string') continue;
    if (obj(b.volumeClaimTemplate) || obj(b.persistentVolumeClaim)) pvc.set(b.name, b);
  }
  if (kind === 'TaskRun' && pvc.size >= 2 && !coscheduleOff) {
    emit(
      doc,
      'spec.workspaces',
      'tekton-two-pvc',
      'fail',
      `binds ${pvc.size} PVC-backed workspaces (${[...pvc.keys()].join(', ')})`,
    );
  }
  if (kind !== 'PipelineRun' || pvc.size === 0) return;
  const refName = obj(at(doc.value, 'spec.pipelineRef'))?.name;
  const pipelineSpec =
    obj(at(doc.value, 'spec.pipelineSpec')) ??
    obj(docs.find((d) => kindOf(d) === 'Pipeline' && isTekton(d) && nameOf(d) === refName)?.value.spec);
  if (!pipelineSpec) return;
  const users = new Map<string, string[]>();
  for (const t of [...list(pipelineSpec.tasks), ...list(pipelineSpec.finally)]) {
    const bound = new Set(
      list(t.workspaces)
        .map((w) => String(w.workspace ?? w.name))
        .filter((w) => pvc.has(w)),
    );
    if (bound.size >= 2 && !coscheduleOff) {
      emit(
        doc,
        'spec.workspaces',
        'tekton-two-pvc',
        'fail',
        `pipeline task ${String(t.name)} binds ${bound.size} PVC-backed workspaces (${[...bound].join(', ')})`,
      );
    }
    for (const w of bound) users.set(w, [...(users.get(w) ?? []), String(t.name)]);
  }
  if (!coscheduleOff) return;
  for (const [w, tasks] of users) {
    const modes = strings(at(pvc.get(w), 'volumeClaimTemplate.spec.accessModes'));
    const rwo = modes.length === 0 || modes.includes('ReadWriteOnce') || modes.includes('ReadWriteOncePod');
    if (tasks.length >= 2 && rwo) {
      emit(
        doc,
        'spec.workspaces',
        'tekton-shared-rwo-pvc',
        'warn',
        `workspace ${w} (ReadWriteOnce) is shared by tasks ${tasks.join(', ')} while the affinity assistant is disabled`,
      );
    }
  }
}

// ---- Secrets -------------------------------------------------------------------------------------------------------

function dockerconfigjson(doc: ManifestDoc, emit: Emit): void {
  if (kindOf(doc) !== 'Secret' || doc.value.type !== 'kubernetes.io/dockerconfigjson') return;
  const key = '.dockerconfigjson';
  const plain = obj(doc.value.stringData)?.[key];
  const encoded = obj(doc.value.data)?.[key];
  let text: string;
  let path: string;
  if (typeof plain === 'string') {
    text = plain;
    path = `stringData["${key}"]`;
  } else if (typeof encoded === 'string') {
    path = `data["${key}"]`;
    if (!/^[A-Za-z0-9+/=\s]*$/.test(encoded)) {
      emit(doc, path, 'dockerconfigjson-auths', 'fail', 'data is not valid base64 (use stringData for plain JSON)', {
        symptom: `Secret "${nameOf(doc)}" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": illegal base64 data`,
      });
      return;
    }
    text = Buffer.from(encoded, 'base64').toString('utf8');
  } else {
    emit(doc, 'data', 'dockerconfigjson-auths', 'fail', `no ${key} key`, {
      symptom: `Secret "${nameOf(doc)}" is invalid: data[.dockerconfigjson]: Required value`,
    });
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never echo the content: it holds credentials.
    emit(doc, path, 'dockerconfigjson-auths', 'fail', `${key} is not JSON`, {
      symptom: `Secret "${nameOf(doc)}" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character ...`,
    });
    return;
  }
  if (!obj(obj(parsed)?.auths)) {
    const hosts = Object.keys(obj(parsed) ?? {}).filter((k) => k !== 'auths');
    emit(
      doc,
      path,
      'dockerconfigjson-auths',
      'fail',
      `${key} has no "auths" object${hosts.length ? ` (top-level keys: ${hosts.join(', ')})` : ''}`,
    );
  }
}
