/**
 * `deploy` and `pipeline` refuse values Kubernetes would refuse (exit 2, the rule, a hint) before writing anything,
 * and write Secret files so that an existing file's mode or a planted symlink cannot leak them.
 */
import assert from 'node:assert/strict';
import { lstat, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, modelcar, modelcarOk } from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { LLAMA_8B_CONFIG, writeModel } from '../support/model-fixtures.js';

const IMAGE = `quay.io/acme/llama@sha256:${'7f'.repeat(32)}`;

describe('deploy and pipeline values', () => {
  let work: string;
  let model: string;
  let n = 0;
  before(async () => {
    work = await tempDir();
    model = await writeModel(join(work, 'llama'), { json: { 'config.json': LLAMA_8B_CONFIG } });
  });
  after(() => removeTemp(work));

  const deploy = ['deploy', '--image', IMAGE, '--model-dir'];

  it('deploy refuses each value Kubernetes would refuse, naming the rule, and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['-n', 'Prod'], /^modelcar: error: --namespace "Prod" is not a valid Kubernetes RFC 1123 label/],
      [['--name', 'My Model'], /--name "My Model" is not a valid Kubernetes RFC 1035 label/],
      [['--cpu', 'lots'], /--cpu "lots" is not a valid Kubernetes quantity/],
      [['--memory', '-4Gi'], /--memory "-4Gi" is not a valid Kubernetes quantity/],
      [['--cpu', '0'], /--cpu "0" .*greater than zero/],
      [['--pull-secret', 'my secret'], /--pull-secret "my secret" is not a valid Kubernetes RFC 1123 subdomain/],
      [['--oci-connection', 'Conn'], /--oci-connection "Conn" is not a valid/],
      [
        ['--registered-model-id', '../..', '--model-version-id', '2'],
        /--registered-model-id "\.\.\/\.\." is not a valid Kubernetes label value/,
      ],
      [
        ['--registered-model-id', '1', '--model-version-id', 'a'.repeat(64)],
        /--model-version-id "a{64}" .*no more than 63 characters/,
      ],
      [['--model-registry-name', 'Registry_1'], /--model-registry-name "Registry_1" is not a valid/],
    ];
    for (const [flags, message] of cases) {
      const out = join(work, `refused-${++n}`);
      const r = await modelcar([...deploy, model, ...flags, '-o', out]);
      assertCleanFailure(r, message);
      assert.equal(r.code, 2, `${flags.join(' ')} is a usage error`);
      await assert.rejects(readdir(out), { code: 'ENOENT' }, `${flags.join(' ')}: nothing written`);
    }
  });

  it('deploy offers a valid name in the hint and accepts the quantities Kubernetes accepts', async () => {
    const refused = await modelcar([...deploy, model, '--name', 'My Model']);
    assert.match(refused.stderr, /hint: use --name my-model/);
    const r = await modelcarOk([...deploy, model, '--name', 'my-model', '--cpu', '500m', '--memory', '1.5Gi']);
    assert.match(r.stdout, /cpu: 500m/);
    assert.match(r.stdout, /memory: 1\.5Gi/);
  });

  const pipeline = [
    'pipeline',
    '--source',
    'hf://ibm-granite/granite-3.1-8b-instruct',
    '--to',
    'image-registry.openshift-image-registry.svc:5000/ml/granite:r1',
    '--modelcar-image',
    'quay.io/modelcar/modelcar:0.1.0',
  ];

  it('pipeline refuses each value Kubernetes would refuse and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['-n', 'Prod'], /--namespace "Prod" is not a valid Kubernetes RFC 1123 label/],
      [['-n', 'ml', '--name', '../..'], /--name "\.\.\/\.\." is not a valid/],
      [['-n', 'ml', '--hf-token-secret', 'hf token'], /--hf-token-secret "hf token" is not a valid/],
      [['-n', 'ml', '--cache', 'lots'], /--cache "lots" is not a valid Kubernetes quantity/],
      [['-n', 'ml', '--model-registry-namespace', 'Bad_NS'], /--model-registry-namespace "Bad_NS"/],
      [['-n', 'ml', '--source', 'models/x', '--source-pvc', 'Models PVC'], /--source-pvc "Models PVC" is not a valid/],
      [['-n', 'ml', '--overlay', '../../escape'], /--overlay "\.\.\/\.\.\/escape" is not a valid/],
    ];
    for (const [flags, message] of cases) {
      const dir = join(work, `refused-${++n}`);
      const r = await modelcar([...pipeline, ...flags, '--kustomize', dir, '-o', join(dir, 'out')]);
      assertCleanFailure(r, message);
      assert.equal(r.code, 2, `${flags.join(' ')} is a usage error`);
      await assert.rejects(readdir(dir), { code: 'ENOENT' }, `${flags.join(' ')}: nothing written`);
    }
    await assert.rejects(readdir(join(work, 'escape')), { code: 'ENOENT' });
  });

  describe('the Secret file', () => {
    let auth: string;
    before(async () => {
      auth = join(work, 'auth.json');
      await writeFile(auth, JSON.stringify({ auths: { 'quay.io': { auth: 'cm9ib3Q6czNjcjN0LXB1bGwtNDI=' } } }));
    });
    const withSecret = (out: string) => [
      ...deploy,
      model,
      '--pull-secret',
      'quay-pull',
      '--pull-secret-file',
      auth,
      '-o',
      out,
    ];

    it('replaces an existing 0644 file with a 0600 one', async () => {
      const out = join(work, 'secret-0644');
      await modelcarOk(['deploy', '--image', IMAGE, '--model-dir', model, '-o', out]);
      await writeFile(join(out, 'secret.yaml'), 'old\n', { mode: 0o644 });
      await modelcarOk(withSecret(out));
      assert.equal((await stat(join(out, 'secret.yaml'))).mode & 0o777, 0o600);
      assert.match(await readFile(join(out, 'secret.yaml'), 'utf8'), /^kind: Secret$/m, 'the new content is in place');
      assert.deepEqual(
        (await readdir(out)).filter((f) => f.startsWith('.')),
        [],
        'no temporary file is left behind',
      );
    });

    it('replaces a symlink instead of writing through it', async () => {
      const out = join(work, 'secret-link');
      await modelcarOk(['deploy', '--image', IMAGE, '--model-dir', model, '-o', out]);
      const elsewhere = join(work, 'world-readable.txt');
      await writeFile(elsewhere, 'untouched\n', { mode: 0o644 });
      await symlink(elsewhere, join(out, 'secret.yaml'));
      await modelcarOk(withSecret(out));
      assert.equal(await readFile(elsewhere, 'utf8'), 'untouched\n', 'the link target is not written');
      const st = await lstat(join(out, 'secret.yaml'));
      assert.ok(st.isFile(), 'secret.yaml is now a regular file');
      assert.equal(st.mode & 0o777, 0o600);
    });
  });
});
