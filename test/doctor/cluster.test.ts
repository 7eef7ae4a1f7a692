/**
 * `modelcar doctor` with a cluster: a Kubernetes API double on loopback answers SelfSubjectAccessReview as the real
 * API does. Allowed and denied verbs, the internal-registry push permission, an expired token, the namespace's SCC
 * range feeding the manifest linter, and node ephemeral storage against the image size.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { modelcar } from '../support/cli.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { KubeApiDouble } from '../support/kube-api-double.js';
import { type DoctorJson, result } from './doctor-json.js';

const SA = 'system:serviceaccount:ml:pipeline';
const INTERNAL = 'image-registry.openshift-image-registry.svc:5000';

describe('doctor: cluster permissions', () => {
  let work: string;
  let api: KubeApiDouble;
  let model: string;

  before(async () => {
    work = await tempDir();
    model = join(work, 'model');
    await writeFiles(model, { 'config.json': '{}', 'model.safetensors': pseudoRandomBytes('w', 4 * MiB) });
    api = await new KubeApiDouble({
      token: 'sha256~good',
      username: SA,
      allow: [
        {
          verb: 'create',
          group: 'tekton.dev',
          resource: 'pipelineruns',
          namespace: 'ml',
          reason: 'RBAC: allowed by RoleBinding "edit/ml" of ClusterRole "edit" to ServiceAccount "pipeline/ml"',
        },
        {
          verb: 'update',
          group: 'image.openshift.io',
          resource: 'imagestreams',
          subresource: 'layers',
          namespace: 'models',
          reason: 'RBAC: allowed by RoleBinding "system:image-builder/models"',
        },
      ],
      namespaces: {
        ml: {
          'openshift.io/sa.scc.uid-range': '1000650000/10000',
          'openshift.io/sa.scc.supplemental-groups': '1000650000/10000',
        },
      },
      nodes: [
        { name: 'cpu-1', ephemeralStorage: '500Gi' },
        { name: 'gpu-1', ephemeralStorage: '6Mi', gpus: 1 },
      ],
    }).start();
  });
  afterEach(() => {
    assert.deepEqual(api.violations, [], 'every request must have the shape the real API accepts');
  });
  after(async () => {
    await api?.close();
    await removeTemp(work);
  });

  const doctor = async (args: string[], token?: string): Promise<DoctorJson & { code: number }> => {
    const kubeconfig = join(work, `kubeconfig-${token ?? 'good'}`);
    await writeFile(kubeconfig, api.kubeconfig('ml', token));
    const r = await modelcar(['doctor', ...args, '--kubeconfig', kubeconfig, '--json']);
    assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
    return { ...(JSON.parse(r.stdout) as DoctorJson), code: r.code };
  };

  it('reports allowed and denied verbs with the error text and the RoleBinding that fixes it', async () => {
    const report = await doctor([]);
    assert.equal(report.code, 1);
    assert.match(result(report, 'cluster.reachable').summary, new RegExp(`as ${SA}.*namespace ml`));
    const runs = result(report, 'cluster.access.pipelineruns-create');
    assert.equal(runs.status, 'ok');
    const isvc = result(report, 'cluster.access.inferenceservices-create');
    assert.equal(isvc.status, 'fail');
    assert.equal(
      isvc.symptom,
      `inferenceservices.serving.kserve.io is forbidden: User "${SA}" cannot create resource "inferenceservices" in API group "serving.kserve.io" in the namespace "ml"`,
    );
    assert.match(String(isvc.fix), /oc create rolebinding .* --serviceaccount=ml:pipeline -n ml/);
    assert.match(result(report, 'cluster.namespace').summary, /1000650000\/10000/);
  });

  it('asks for imagestreams/layers update in the target namespace when pushing to the internal registry', async () => {
    // --only cluster: the registry itself is not on loopback here, and tests talk to nothing else.
    const report = await doctor(['--to', `${INTERNAL}/models/granite:v1`, '--only', 'cluster']);
    assert.ok(report.checks.every((c) => c.id.startsWith('cluster')));
    const layers = result(report, 'cluster.access.imagestreams-layers-update');
    assert.equal(layers.status, 'ok');
    assert.ok(
      api.reviews.some((r) => r.resource === 'imagestreams' && r.subresource === 'layers' && r.namespace === 'models'),
    );
  });

  it('fails with the login hint when the token is rejected', async () => {
    const report = await doctor([], 'sha256~expired');
    const auth = result(report, 'cluster.auth');
    assert.equal(auth.status, 'fail');
    assert.match(String(auth.symptom), /You must be logged in to the server \(Unauthorized\)/);
  });

  it("lints a fixed runAsUser against the namespace's real UID range", async () => {
    const pod = join(work, 'pod.yaml');
    await writeFile(
      pod,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: quay.io/a/b:1\n      securityContext: {runAsUser: 1001}\n',
    );
    const report = await doctor(['--manifests', pod]);
    const uid = result(report, 'manifests.scc-fixed-uid');
    assert.equal(uid.status, 'fail');
    assert.match(uid.summary, /outside the namespace's uid-range/);
  });

  it('holds the image size against the ephemeral storage of the GPU nodes only', async () => {
    const report = await doctor([model, '--to', `oci:${join(work, 'out')}`]);
    const serving = result(report, 'serving');
    assert.equal(serving.status, 'fail', JSON.stringify(serving));
    assert.match(serving.summary, /1 GPU node: gpu-1 6\.0 MiB/);
    assert.match(String(serving.fix), /pvc:\/\//);
  });
});
