/**
 * `modelcar doctor --only cluster` reads the Kubernetes version, each node's container runtime and architecture, and
 * KServe's config from a Kubernetes API double, and recommends `deploy --mode`: image volumes only where KServe,
 * Kubernetes and every GPU node's runtime all support them.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ClusterFacts, type NodeFacts, recommendMode } from '../../src/doctor/serving-platform.js';
import { modelcar } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { KubeApiDouble, type KubeApiOptions } from '../support/kube-api-double.js';
import { type DoctorJson, result } from './doctor-json.js';

const STORAGE_020 = JSON.stringify({
  image: 'kserve/storage-initializer:v0.20.0',
  enableModelcar: true,
  enableOciModelSupport: true,
  ociModelMode: 'modelcar',
  cpuModelcar: '10m',
  memoryModelcar: '15Mi',
});
const STORAGE_015 = JSON.stringify({ image: 'kserve/storage-initializer:v0.15.0', enableModelcar: true });

function options(extra: Partial<KubeApiOptions>): KubeApiOptions {
  return { token: 'sha256~t', username: 'alice', allow: [], namespaces: { ml: {} }, ...extra };
}

describe('doctor --only cluster: the storage mode the cluster has', () => {
  let work: string;
  const apis: KubeApiDouble[] = [];
  before(async () => {
    work = await tempDir();
  });
  after(async () => {
    for (const a of apis) {
      assert.deepEqual(a.violations, []);
      await a.close();
    }
    await removeTemp(work);
  });

  async function doctor(o: KubeApiOptions): Promise<DoctorJson> {
    const api = await new KubeApiDouble(o).start();
    apis.push(api);
    const kubeconfig = join(work, `kubeconfig-${apis.length}`);
    await writeFile(kubeconfig, api.kubeconfig('ml'));
    const r = await modelcar(['doctor', '--only', 'cluster', '--kubeconfig', kubeconfig, '--json']);
    assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
    return JSON.parse(r.stdout) as DoctorJson;
  }

  it('recommends image volumes on OpenShift with CRI-O and KServe 0.20, and asks for arm64 when GPU nodes are arm64', async () => {
    const report = await doctor(
      options({
        version: 'v1.33.5',
        openshift: true,
        nodes: [
          { name: 'gh200-1', ephemeralStorage: '900Gi', gpus: 1, runtime: 'cri-o://1.33.3', architecture: 'arm64' },
          { name: 'h100-1', ephemeralStorage: '900Gi', gpus: 8, runtime: 'cri-o://1.33.3' },
          { name: 'infra-1', ephemeralStorage: '100Gi', runtime: 'cri-o://1.33.3' },
        ],
        configMaps: { 'redhat-ods-applications/inferenceservice-config': { storageInitializer: STORAGE_020 } },
        deployments: {
          'redhat-ods-applications/kserve-controller-manager': 'quay.io/opendatahub/kserve-controller:v0.20.0',
        },
      }),
    );
    const versions = result(report, 'cluster.versions');
    assert.equal(versions.status, 'ok');
    assert.match(versions.summary, /Kubernetes v1\.33\.5 \(OpenShift\)/);
    assert.match(versions.summary, /3 nodes \(2 with GPUs\): cri-o 1\.33\.3; arm64, amd64/);
    assert.match(versions.summary, /KServe v0\.20\.0 in redhat-ods-applications, ociModelMode modelcar/);
    const mode = result(report, 'cluster.storage-mode');
    assert.equal(mode.status, 'ok');
    assert.match(mode.summary, /^use deploy --mode image-volume \(oci\+native:\/\/\)/);
    const arch = result(report, 'cluster.architectures');
    assert.equal(arch.status, 'warn');
    assert.match(String(arch.fix), /--platform linux\/amd64,linux\/arm64/);
  });

  it('recommends the modelcar sidecar on containerd 1.7 with KServe 0.15, naming each blocker', async () => {
    const report = await doctor(
      options({
        version: 'v1.31.4',
        nodes: [{ name: 'gpu-a', ephemeralStorage: '500Gi', gpus: 2, runtime: 'containerd://1.7.27' }],
        configMaps: { 'kserve/inferenceservice-config': { storageInitializer: STORAGE_015 } },
        deployments: { 'kserve/kserve-controller-manager': 'kserve/kserve-controller:v0.15.2' },
      }),
    );
    const mode = result(report, 'cluster.storage-mode');
    assert.equal(mode.status, 'ok');
    assert.match(mode.summary, /^use deploy --mode modelcar \(oci:\/\/\)/);
    assert.match(mode.summary, /KServe v0\.15\.2 in kserve predates oci\+native:\/\//);
    assert.match(mode.summary, /Kubernetes v1\.31\.4 is older than 1\.33/);
    assert.match(
      mode.summary,
      /gpu-a runs containerd 1\.7\.27: image volumes need CRI-O >= 1\.31 or containerd >= 2\.1/,
    );
    assert.equal(
      report.checks.find((c) => c.id === 'cluster.architectures'),
      undefined,
    );
  });

  it('says so when KServe cannot be found', async () => {
    const report = await doctor(options({ version: 'v1.35.1', nodes: [] }));
    const versions = result(report, 'cluster.versions');
    assert.equal(versions.status, 'warn');
    assert.match(versions.summary, /KServe not found/);
    assert.match(String(versions.cause), /inferenceservice-config/);
  });
});

describe('recommendMode', () => {
  const node = (runtime: NodeFacts['runtime'], runtimeVersion: string): NodeFacts => ({
    name: 'n',
    runtime,
    runtimeVersion,
    architecture: 'amd64',
    gpus: 1,
  });
  const facts = (kubernetes: string, nodes: NodeFacts[], openshift = false): ClusterFacts => ({
    kubernetes,
    openshift,
    nodes,
    kserve: { namespace: 'kserve', version: 'v0.20.1' },
  });

  it('needs containerd 2.1, not 2.0, and CRI-O 1.31', () => {
    assert.equal(recommendMode(facts('v1.35.0', [node('containerd', '2.0.5')])).mode, 'modelcar');
    assert.equal(recommendMode(facts('v1.35.0', [node('containerd', '2.1.0')])).mode, 'image-volume');
    assert.equal(recommendMode(facts('v1.35.0', [node('cri-o', '1.30.9')])).mode, 'modelcar');
    assert.equal(recommendMode(facts('v1.35.0', [node('cri-o', '1.31.0')])).mode, 'image-volume');
  });

  it('counts the ImageVolume gate on by default from 1.35, or on OpenShift from 1.33', () => {
    const advice = recommendMode(facts('v1.34.2', [node('cri-o', '1.34.1')]));
    assert.equal(advice.mode, 'modelcar');
    assert.match(advice.blockers.join(), /feature gate/);
    assert.equal(recommendMode(facts('v1.34.2', [node('cri-o', '1.34.1')], true)).mode, 'image-volume');
  });
});
