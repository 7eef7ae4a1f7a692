/**
 * Bad input: each case gets one clear `modelcar: error:` line with a hint, a non-zero exit, and leaves nothing under
 * the destination's tag (the layout's index.json has no such tag; the registry answers 404 for the manifest).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, buildJson, type CliOptions, modelcar, run } from '../support/cli.js';
import { removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { type BusyboxBase, busyboxBase, layoutTags, readLayoutImage } from '../support/images.js';
import { freePort, startRegistry, type TestRegistry } from '../support/registry.js';

const SMALL_MODEL = { 'config.json': '{"model_type":"test"}\n', 'model.safetensors': Buffer.alloc(1000, 7) };

/** HEAD of a manifest by tag: the HTTP status the registry answers. */
async function manifestStatus(registry: TestRegistry, repo: string, tag: string, auth?: string): Promise<number> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Accept: 'application/vnd.oci.image.manifest.v1+json',
      ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
    },
  });
  return res.status;
}

describe('modelcar build refuses bad input cleanly', () => {
  let work: string;
  let model: string;
  let base: BusyboxBase;
  let registry: TestRegistry;
  let n = 0;
  /** A fresh layout destination for each case. */
  const dest = () => join(work, `dest-${++n}`);

  async function failsLayout(args: readonly string[], message: RegExp, opts: CliOptions = {}): Promise<string> {
    const dir = dest();
    const r = await modelcar(['build', ...args, '--to', `oci:${dir}:t`], opts);
    assertCleanFailure(r, message);
    assert.deepEqual(await layoutTags(dir), [], 'no tag may be written');
    return r.stderr;
  }

  before(async () => {
    work = await tempDir();
    // Cases that run as an unprivileged user need to reach into the work directory.
    await chmod(work, 0o755);
    registry = await startRegistry();
    base = await busyboxBase(work, registry);
    model = (await writeFiles(join(work, 'model'), SMALL_MODEL)).dir;
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('a missing source directory', async () => {
    await failsLayout([join(work, 'no-such-dir'), '--base', base.layout], /no-such-dir/);
  });

  it('an empty source directory', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty);
    await failsLayout([empty, '--base', base.layout], /model directory .*empty has no files/);
  });

  it('an unreadable file (as an unprivileged user; root reads everything)', async () => {
    const dir = join(work, 'unreadable');
    await writeFiles(dir, SMALL_MODEL);
    await chmod(dir, 0o755);
    const out = join(work, 'out-nobody');
    await mkdir(out, { mode: 0o777 });
    await chmod(out, 0o777);
    const args = [dir, '--base', 'scratch', '--image-volume'];
    await chmod(join(dir, 'config.json'), 0o000);
    const r = await modelcar(['build', ...args, '--to', `oci:${out}:t`], { unprivileged: true });
    assertCleanFailure(r, /config\.json is not readable/);
    assert.deepEqual(await layoutTags(out), []);
    // The same build as the same user succeeds once the file is readable: the mode was the only problem.
    await chmod(join(dir, 'config.json'), 0o644);
    await buildJson([...args, '--to', `oci:${out}:t`], { unprivileged: true });
    assert.deepEqual(await layoutTags(out), ['t']);
  });

  it('a symlink that points outside the source', async () => {
    const dir = join(work, 'escaping');
    await writeFiles(dir, SMALL_MODEL);
    await writeFile(join(work, 'secret.txt'), 'not part of the model\n');
    await symlink(join(work, 'secret.txt'), join(dir, 'tokenizer.json'));
    const stderr = await failsLayout(
      [dir, '--base', base.layout],
      /tokenizer\.json is a symlink to .*secret\.txt, outside the model directory; refusing to follow it/,
    );
    assert.match(stderr, /--follow-external-symlinks/);
  });

  it('a FIFO in the source', async () => {
    const dir = join(work, 'fifo');
    await writeFiles(dir, SMALL_MODEL);
    const mk = await run(['mkfifo', join(dir, 'pipe')]);
    assert.equal(mk.code, 0, mk.stderr);
    await failsLayout([dir, '--base', base.layout], /pipe is not a regular file/);
  });

  it('invalid references', async () => {
    for (const [to, message] of [
      ['Bad/Upper:tag', /invalid image reference "Bad\/Upper:tag": repository part "Bad" must be lower case/],
      ['oci:', /invalid image reference "oci:": the layout directory is missing/],
      [`${registry.host}/ok/repo:bad tag`, /tag "bad tag" is not valid/],
      [`${registry.host}/ok/repo@sha256:abc`, /digest "sha256:abc" is not sha256:/],
    ] as const) {
      const r = await modelcar(['build', model, '--base', base.layout, '--to', to]);
      assertCleanFailure(r, message);
    }
    const badBase = await modelcar(['build', model, '--base', 'Upper/Case:1', '--to', `oci:${dest()}:t`]);
    assertCleanFailure(badBase, /invalid image reference "Upper\/Case:1"/);
  });

  it('an unreachable registry (a closed loopback port)', async () => {
    const port = await freePort();
    const r = await modelcar([
      'build',
      model,
      '--base',
      'scratch',
      '--image-volume',
      '--to',
      `127.0.0.1:${port}/models/x:t`,
    ]);
    assertCleanFailure(r, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port}`));
  });

  it('an unknown base image, in a registry and in a layout', async () => {
    const r = await modelcar([
      'build',
      model,
      '--base',
      `${registry.host}/bases/nothing:1`,
      '--to',
      `${registry.host}/models/nobase:t`,
    ]);
    assertCleanFailure(r, /bases\/nothing:1.* not found/);
    assert.equal(await manifestStatus(registry, 'models/nobase', 't'), 404);
    await failsLayout(
      [model, '--base', `${base.layout.replace(/:busybox$/, '')}:nope`],
      /base image oci:.*:nope not found/,
    );
  });

  it('--base scratch without --image-volume', async () => {
    const stderr = await failsLayout([model, '--base', 'scratch'], /--base scratch makes an image without a shell/);
    assert.match(stderr, /--image-volume/);
  });

  it('a destination directory that is a file, a non-layout directory, or read-only', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    assertCleanFailure(
      await modelcar(['build', model, '--base', base.layout, '--to', `oci:${file}:t`]),
      /a-file exists and is not a directory/,
    );
    const full = join(work, 'not-a-layout');
    await writeFiles(full, { 'notes.txt': 'mine\n' });
    assertCleanFailure(
      await modelcar(['build', model, '--base', base.layout, '--to', `oci:${full}:t`]),
      /not-a-layout is not empty and is not an OCI layout/,
    );
    const readOnly = join(work, 'read-only');
    await mkdir(readOnly, { mode: 0o555 });
    await chmod(readOnly, 0o555);
    const r = await modelcar(['build', model, '--base', 'scratch', '--image-volume', '--to', `oci:${readOnly}/out:t`], {
      unprivileged: true,
    });
    assertCleanFailure(r, /cannot write to .*read-only\/out: EACCES/);
  });

  it('a failed build leaves the tag on the image it named before', async () => {
    const dir = dest();
    const good = await buildJson([model, '--base', base.layout, '--to', `oci:${dir}:t`]);
    const r = await modelcar(['build', join(work, 'no-such-dir'), '--base', base.layout, '--to', `oci:${dir}:t`]);
    assertCleanFailure(r, /no-such-dir/);
    assert.equal((await readLayoutImage(dir, 't')).digest, good.digest);
  });
});

describe('modelcar build with wrong registry credentials', () => {
  let work: string;
  let registry: TestRegistry;
  let model: string;
  const user = 'tester';
  const password = 'right-pa55word';
  const wrong = 'wrong-s3cret-never-printed';

  before(async () => {
    work = await tempDir();
    registry = await startRegistry({ basicAuth: { username: user, password } });
    model = (await writeFiles(join(work, 'model'), SMALL_MODEL)).dir;
  });
  after(async () => {
    await registry?.stop();
    await removeTemp(work);
  });

  it('fails with one line naming the registry, never prints the password, writes no manifest', async () => {
    const authfile = join(work, 'auth.json');
    const auth = Buffer.from(`${user}:${wrong}`).toString('base64');
    await writeFile(authfile, JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const r = await modelcar([
      'build',
      model,
      '--base',
      'scratch',
      '--image-volume',
      '--to',
      `${registry.host}/models/secret:t`,
      '--authfile',
      authfile,
    ]);
    assertCleanFailure(r, new RegExp(`${registry.host.replace(/\./g, '\\.')} refused the credentials`));
    for (const secret of [wrong, auth]) assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), 'secret printed');
    assert.equal(await manifestStatus(registry, 'models/secret', 't', `${user}:${password}`), 404);
  });

  it('without credentials, says to log in', async () => {
    const r = await modelcar([
      'build',
      model,
      '--base',
      'scratch',
      '--image-volume',
      '--to',
      `${registry.host}/models/anon:t`,
    ]);
    assertCleanFailure(r, /refused|requires|credentials/);
    assert.match(r.stderr, /hint: .*(log in|--authfile)/);
    assert.equal(await manifestStatus(registry, 'models/anon', 't', `${user}:${password}`), 404);
  });
});
