import { messageOf } from '../errors.js';
import { parseImageLocation } from '../oci/reference.js';
import { OPENSHIFT_INTERNAL_REGISTRY } from '../oci/registry/credentials.js';
import type { Check, CheckResult, DoctorContext } from './check.js';
import { findKube, type KubeClient, kubeClient } from './kube-client.js';
import { SUPPLEMENTAL_GROUPS, UID_RANGE } from './scc-range.js';
import { readClusterFacts, servingPlatformResults } from './serving-platform.js';

/**
 * Cluster permissions, asked of the API server itself with SelfSubjectAccessReview (what `oc auth can-i` does):
 * exactly the verbs the pipeline, the push to the internal registry, the deploy and the Model Registry lookup use.
 * Read-only: an access review creates nothing.
 */
interface Access {
  readonly id: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace: string;
  readonly why: string;
  readonly fix: (user: string) => string;
}

const SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

function subjectFlag(user: string): string {
  const sa = /^system:serviceaccount:([^:]+):(.+)$/.exec(user);
  return sa ? `--serviceaccount=${sa[1]}:${sa[2]}` : `--user=${user}`;
}

function accessList(ctx: DoctorContext, ns: string): Access[] {
  const list: Access[] = [
    {
      id: 'pipelineruns-create',
      verb: 'create',
      group: 'tekton.dev',
      resource: 'pipelineruns',
      namespace: ns,
      why: 'running the build as a Tekton PipelineRun (modelcar pipeline)',
      fix: (u) => `oc create rolebinding modelcar-edit --clusterrole=edit ${subjectFlag(u)} -n ${ns}`,
    },
    {
      id: 'inferenceservices-create',
      verb: 'create',
      group: 'serving.kserve.io',
      resource: 'inferenceservices',
      namespace: ns,
      why: 'deploying the model (modelcar deploy | oc apply)',
      fix: (u) => `oc create rolebinding modelcar-edit --clusterrole=edit ${subjectFlag(u)} -n ${ns}`,
    },
  ];
  const to = ctx.options.to;
  if (to && !to.startsWith('oci:')) {
    const loc = parseImageLocation(to, { allowMissingRepository: true });
    if (loc.transport === 'registry' && loc.ref.registry === OPENSHIFT_INTERNAL_REGISTRY) {
      const target = loc.ref.repository.split('/')[0] || ns;
      list.push({
        id: 'imagestreams-layers-update',
        verb: 'update',
        group: 'image.openshift.io',
        resource: 'imagestreams',
        subresource: 'layers',
        namespace: target,
        why: `pushing to the internal registry in namespace ${target}`,
        fix: (u) => `oc policy add-role-to-user system:image-builder ${u} -n ${target}`,
      });
    }
  }
  const mrNs = ctx.options.modelRegistryNamespace;
  if (mrNs) {
    list.push({
      id: 'model-registry-services-get',
      verb: 'get',
      group: '',
      resource: 'services',
      namespace: mrNs,
      why: `finding the Model Registry service in ${mrNs}`,
      fix: (u) =>
        `oc adm policy add-role-to-user registry-user-<registry-name> ${u} -n ${mrNs}   # the role the dashboard grants "Model Registry users"`,
    });
  }
  return list;
}

async function whoAmI(kube: KubeClient, signal: AbortSignal): Promise<string | undefined> {
  try {
    const r = await kube.post(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      signal,
    );
    const user = (r.body.status as { userInfo?: { username?: string } } | undefined)?.userInfo?.username;
    return r.status < 300 && typeof user === 'string' ? user : undefined;
  } catch {
    return undefined;
  }
}

function forbiddenText(user: string, a: Access): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const full = a.group ? `${a.resource}.${a.group}` : a.resource;
  return `${full} is forbidden: User "${user}" cannot ${a.verb} resource "${res}" in API group "${a.group}" in the namespace "${a.namespace}"`;
}

export const clusterCheck: Check = {
  id: 'cluster',
  title: 'cluster permissions',
  async run(ctx) {
    if (ctx.options.offline) {
      return { id: 'cluster', title: this.title, status: 'skip', summary: '--offline: no cluster contacted' };
    }
    const target = findKube({
      ...(ctx.options.kubeconfig ? { kubeconfig: ctx.options.kubeconfig } : {}),
      ...(ctx.options.namespace ? { namespace: ctx.options.namespace } : {}),
      env: ctx.env,
    });
    if (!target) {
      return {
        id: 'cluster',
        title: this.title,
        status: 'skip',
        summary: 'no kubeconfig and no in-pod service account: cluster permissions not checked',
        fix: 'oc login (or pass --kubeconfig FILE), then run doctor again',
      };
    }
    const kube = kubeClient(target, ctx.env);
    const results: CheckResult[] = [];
    const ns = target.namespace;
    let user: string | undefined;
    try {
      const probe = await kube.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`, ctx.signal);
      if (probe.status === 401) {
        await kube.close();
        return {
          id: 'cluster.auth',
          title: 'cluster credentials',
          status: 'fail',
          summary: `the API server ${target.server} rejected the token from ${target.from} (HTTP 401)`,
          symptom: 'error: You must be logged in to the server (Unauthorized)',
          cause: 'The token expired (oc login tokens last 24 h by default) or was revoked.',
          fix: 'oc login --server=... again, or pass --kubeconfig with a current token',
        };
      }
      user = (await whoAmI(kube, ctx.signal)) ?? 'the current user';
      results.push({
        id: 'cluster.reachable',
        title: 'cluster reachable',
        status: 'ok',
        summary: `${target.server} as ${user} (from ${target.from}), namespace ${ns}; ${kube.route}`,
      });
      if (probe.status === 200) {
        const annotations = (probe.body.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
        const found: Record<string, string> = { ...(annotations ?? {}) };
        ctx.facts.namespace = { name: ns, annotations: found, from: `namespace ${ns} on ${target.server}` };
        const range = found[UID_RANGE];
        results.push({
          id: 'cluster.namespace',
          title: 'namespace security ranges',
          status: 'ok',
          summary: range
            ? `namespace ${ns}: restricted-v2 assigns a UID from ${range} and fsGroup from ${found[SUPPLEMENTAL_GROUPS] ?? range}; modelcar needs no fixed UID and no capability`
            : `namespace ${ns} has no openshift.io/sa.scc.* annotations (not OpenShift, or not assigned yet)`,
        });
      } else {
        results.push({
          id: 'cluster.namespace',
          title: 'namespace security ranges',
          status: 'warn',
          summary: `cannot read namespace ${ns} (HTTP ${probe.status}): its SCC UID range is unknown`,
          fix: `pass --namespace-annotations FILE (oc get namespace ${ns} -o yaml > ns.yaml, by someone who can)`,
        });
      }
      for (const a of accessList(ctx, ns)) results.push(await review(kube, a, user, ctx.signal));
      results.push(...servingPlatformResults(await readClusterFacts(kube, ctx.signal)));
      ctx.facts.kube = kube;
      return results;
    } catch (e) {
      await kube.close();
      return [
        ...results,
        {
          id: 'cluster.reachable',
          title: 'cluster reachable',
          status: 'fail',
          summary: `${messageOf(e)} (cluster from ${target.from})`,
          cause:
            'Wrong server address, no route from here (a proxy? NO_PROXY?), or a certificate this machine does not trust.',
          fix: `${(e as { hint?: string }).hint ? `${(e as { hint?: string }).hint}; ` : ''}check \`oc whoami --show-server\`; from a pod, the service account must be mounted (automountServiceAccountToken)`,
        },
      ];
    }
  },
};

async function review(kube: KubeClient, a: Access, user: string, signal: AbortSignal): Promise<CheckResult> {
  const attrs = {
    namespace: a.namespace,
    verb: a.verb,
    group: a.group,
    resource: a.resource,
    ...(a.subresource ? { subresource: a.subresource } : {}),
  };
  const r = await kube.post(
    SSAR_PATH,
    { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } },
    signal,
  );
  const what = `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''} in ${a.namespace}`;
  const id = `cluster.access.${a.id}`;
  const title = `may ${what}`;
  if (r.status !== 201 && r.status !== 200) {
    return {
      id,
      title,
      status: 'warn',
      summary: `could not ask the API server whether ${user} may ${what} (HTTP ${r.status}: ${String(r.body.message ?? '')})`,
      fix: `oc auth can-i ${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''} -n ${a.namespace}`,
    };
  }
  const status = (r.body.status ?? {}) as {
    allowed?: boolean;
    denied?: boolean;
    reason?: string;
    evaluationError?: string;
  };
  if (status.allowed === true) {
    return { id, title, status: 'ok', summary: `${user} may ${what} (${a.why})`, details: { ...attrs } };
  }
  return {
    id,
    title,
    status: 'fail',
    summary: `${user} may not ${what}, needed for ${a.why}${status.reason ? ` (${status.reason})` : ''}`,
    symptom: forbiddenText(user, a),
    cause: `No Role or ClusterRole bound to ${user} grants ${a.verb} on ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${status.evaluationError ? `; the authorizer also said: ${status.evaluationError}` : ''}.`,
    fix: a.fix(user),
    details: { ...attrs, ...(status.reason ? { reason: status.reason } : {}) },
  };
}
