/**
 * A hostile or broken Hub, through the CLI: listings whose paths, sizes and ids are not what a repository can hold,
 * answers that are not JSON, names built to forge terminal output, and a --cache directory with planted symlinks.
 * Each is refused (or escaped) and named as the server's doing; nothing is written outside its directory, no tag
 * points at anything, and no local file is read into an image.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertCleanFailure,
  buildJson,
  type CliResult,
  MODELCAR_BIN,
  modelcar,
  modelcarOk,
  run,
} from '../support/cli.js';
import { removeTemp, tempDir } from '../support/fixtures.js';
import { type HubDouble, type RepoSpec, startHubDouble } from '../support/hub-double.js';
import { layoutTags, readLayoutImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';

const SCRATCH = ['--base', 'scratch', '--image-volume', '--no-journal'];
const TINY: RepoSpec = {
  id: 'acme/tiny',
  commits: [
    {
      files: [
        { path: 'config.json', content: '{"model_type":"llama"}\n' },
        { path: 'model.safetensors', size: 200_000, seed: 'weights' },
        { path: 'tokenizer.json', content: '{"model":{}}\n' },
      ],
    },
  ],
};
const CASES: RepoSpec = {
  id: 'acme/cases',
  commits: [
    {
      files: [
        { path: 'config.json', content: '{"model_type":"llama"}\n' },
        { path: 'Config.json', content: '{"model_type":"other"}\n' },
      ],
    },
  ],
};

type Entry = Record<string, unknown>;
const ESC = '\x1b';
/** A token of our own, searched for in every output: it goes to the Hub only and is never printed. */
const HF_TOKEN = 'hf_hostileHub9c41d7e2TokenNeverPrinted';

/** The tree rewrite that changes the entry at `path` with `change`. */
const changeEntry = (path: string, change: (e: Entry) => void) => (json: unknown) =>
  (json as Entry[]).map((e) => {
    if (e.path === path) change(e);
    return e;
  });

function assertNoForgedOutput(r: CliResult): void {
  const all = r.stdout + r.stderr;
  assert.ok(!all.includes(HF_TOKEN), 'the Hugging Face token is never printed');
  assert.ok(!all.includes(ESC), 'no raw escape character reaches the terminal');
  assert.doesNotMatch(all, /^(plan|files):/m, 'no forged line');
  assert.doesNotMatch(all, /NaN/, 'no NaN');
}

describe('a hostile Hub', () => {
  let work: string;
  let hub: HubDouble;
  let env: Record<string, string>;
  let n = 0;
  const dest = () => join(work, `dest-${++n}`);

  before(async () => {
    work = await tempDir();
    hub = await startHubDouble({ repos: [TINY, CASES] });
    env = { HF_ENDPOINT: hub.url, HF_TOKEN };
  });
  after(async () => {
    assert.equal(hub.cdnSawAuthorization, false, 'the token never went to the CDN');
    await hub?.close();
    await removeTemp(work);
  });

  async function refused(message: RegExp, extra: string[] = []): Promise<CliResult> {
    const out = dest();
    const r = await modelcar(['build', 'hf://acme/tiny', ...SCRATCH, '--to', `oci:${out}:t`, ...extra], { env });
    hub.hostile = {};
    assertCleanFailure(r, message);
    assertNoForgedOutput(r);
    assert.deepEqual(await layoutTags(out), [], 'no tag');
    return r;
  }

  it('a listing with both X and X/y is refused, naming the endpoint and both paths', async () => {
    hub.hostile = {
      rewrite: {
        tree: (json) => [
          ...(json as Entry[]),
          { type: 'file', path: 'config.json/extra.json', size: 2, oid: 'a'.repeat(40) },
        ],
      },
    };
    await refused(
      /the file listing \(http:\/\/127\.0\.0\.1:\d+\/api\/models\/acme\/tiny\/tree\/[0-9a-f]{40}\) holds "config\.json" is a file and also the directory of "config\.json\/extra\.json"/,
    );
  });

  it('sizes that are negative, fractional, missing or 2^60 are refused, never shown as NaN', async () => {
    for (const size of [-1, 1.5, undefined, 2 ** 60]) {
      hub.hostile = {
        rewrite: {
          tree: changeEntry('model.safetensors', (e) => {
            e.size = size;
            (e.lfs as Entry).size = size;
          }),
        },
      };
      const shown = size === undefined ? 'missing' : String(size).replace('.', '\\.');
      await refused(new RegExp(`a size that is not a whole number of bytes \\(${shown}\\) for model\\.safetensors`));
    }
  });

  it('ids that are not hashes are refused before the cache is touched', async () => {
    const cache = join(work, 'cache-ids');
    hub.hostile = {
      rewrite: { tree: changeEntry('model.safetensors', (e) => ((e.lfs as Entry).oid = '../../../../escape')) },
    };
    await refused(/an LFS oid that is not 64 hex digits \("\.\.\/\.\.\/\.\.\/\.\.\/escape"\)/, ['--cache', cache]);
    hub.hostile = { rewrite: { tree: changeEntry('config.json', (e) => (e.oid = 'not-a-sha1')) } };
    await refused(/a git oid that is not 40 hex digits \("not-a-sha1"\) for config\.json/, ['--cache', cache]);
    const written = (await readdir(cache, { recursive: true })).map(String);
    assert.ok(!written.some((f) => f.includes('blobs')), `no blob was written: ${written.join(', ')}`);
    await assert.rejects(lstat(join(work, 'escape')), { code: 'ENOENT' });
  });

  it('a name with a newline or an escape sequence is refused, and the error line shows it escaped', async () => {
    const forged = `a.json\nplan: 1 files, 1 B in 1 layer -> oci:/tmp/forged\n${ESC}[2J`;
    hub.hostile = { rewrite: { tree: changeEntry('config.json', (e) => (e.path = forged)) } };
    const r = await refused(/a path with a control character \("a\.json\\nplan: .*\\u001b\[2J"\)/);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('modelcar:')).length, 1);
  });

  it('paths that climb out are refused', async () => {
    for (const path of ['../evil.json', '/etc/passwd', 'a/../../b', 'a//b']) {
      hub.hostile = { rewrite: { tree: changeEntry('config.json', (e) => (e.path = path)) } };
      await refused(/the file listing .* holds an? (absolute path|path with an empty, "\." or "\.\." part)/);
    }
  });

  it('an HTML page, invalid JSON or JSON of the wrong shape is named as that endpoint’s answer', async () => {
    hub.hostile = {
      raw: {
        'model-info': {
          contentType: 'text/html; charset=utf-8',
          body: '<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head><body>login</body></html>',
        },
      },
    };
    await refused(
      /^modelcar: error: http:\/\/127\.0\.0\.1:\d+\/api\/models\/acme\/tiny\/revision\/main answered GET with an HTML page titled "Sign in - Corporate Proxy", not JSON$/,
    );
    hub.hostile = { raw: { tree: { contentType: 'application/json', body: '{"oops": ' } } };
    await refused(/\/api\/models\/acme\/tiny\/tree\/[0-9a-f]{40} answered GET with body "\{"oops":", not JSON/);
    hub.hostile = { rewrite: { tree: () => ({}) } };
    await refused(/\/tree\/[0-9a-f]{40} answered GET with JSON that is not a list/);
    hub.hostile = { rewrite: { tree: () => [1, 2, 3] } };
    await refused(/the file listing .* holds an entry that is not an object/);
    hub.hostile = { rewrite: { 'model-info': () => [1, 2, 3] } };
    await refused(/\/revision\/main answered GET with JSON that is not an object/);
  });

  it('names that differ only in case are built, with a warning', async () => {
    const out = dest();
    const r = await buildJson(['hf://acme/cases', ...SCRATCH, '--to', `oci:${out}:t`], { env });
    assert.equal(r.files, 2);
    assert.match(r.stderr, /warning: "Config\.json" and "config\.json" differ only in case or Unicode form/);
  });

  it('a model card licence with escape sequences reaches inspect escaped', async () => {
    const out = dest();
    const licence = `evil${ESC}[2J\nfiles:\n  /models/backdoor.bin  1 B`;
    hub.hostile = {
      rewrite: { 'model-info': (j) => ({ ...(j as Entry), cardData: { license: 'other', license_name: licence } }) },
    };
    await modelcarOk(['build', 'hf://acme/tiny', ...SCRATCH, '--to', `oci:${out}:t`, '-q'], { env });
    hub.hostile = {};
    const image = await readLayoutImage(out, 't');
    assert.equal(image.manifest.annotations?.['org.opencontainers.image.licenses'], licence, 'kept exactly');
    const r = await modelcarOk(['inspect', `oci:${out}:t`]);
    assert.ok(!r.stdout.includes(ESC), 'no raw escape character reaches the terminal');
    assert.equal(r.stdout.match(/^files:/gm)?.length, 1, 'inspect prints its own files: line, no forged one');
    assert.match(
      r.stdout,
      /org\.opencontainers\.image\.licenses: evil\\x1b\[2J\\nfiles:\\n {2}\/models\/backdoor\.bin/,
    );
  });

  describe('--cache with planted symlinks', () => {
    it('refuses a cache directory that is a symlink out of the cache, writing nothing there', async () => {
      const cache = join(work, 'cache-linked');
      const outside = join(work, 'outside');
      await mkdir(join(cache, 'models--acme--tiny'), { recursive: true });
      await mkdir(outside);
      await symlink(outside, join(cache, 'models--acme--tiny', 'blobs'));
      const out = dest();
      const r = await modelcar(['build', 'hf://acme/tiny', ...SCRATCH, '--to', `oci:${out}:t`, '--cache', cache], {
        env,
      });
      assertCleanFailure(
        r,
        /--cache .*: models--acme--tiny\/blobs is a symlink or not a directory; refusing to follow it/,
      );
      assert.deepEqual(await readdir(outside), []);
    });

    it('never reads a local file through a planted snapshot or blob link', async () => {
      const secret = join(work, 'secret.txt');
      const secretText = 'SECRET-hostile-7f3a9c-'.padEnd(200_000, 'x');
      await writeFile(secret, secretText);
      const cache = join(work, 'cache-planted');
      const repo = join(cache, 'models--acme--tiny');
      const commit = hub.shaOf('acme/tiny');
      const sha256 = hub.fileInfo('acme/tiny', 'model.safetensors').sha256;
      await mkdir(join(repo, 'snapshots', commit), { recursive: true });
      await mkdir(join(repo, 'blobs'), { recursive: true });
      await symlink(secret, join(repo, 'snapshots', commit, 'model.safetensors'));
      await symlink(secret, join(repo, 'blobs', sha256));
      const out = dest();
      await modelcarOk(['build', 'hf://acme/tiny', ...SCRATCH, '--to', `oci:${out}:t`, '--cache', cache, '-q'], {
        env,
      });
      for (const blob of await readdir(join(out, 'blobs', 'sha256'))) {
        const bytes = await readFile(join(out, 'blobs', 'sha256', blob));
        assert.ok(!bytes.includes('SECRET-hostile-7f3a9c'), `blob ${blob} holds none of the local file`);
      }
      assert.ok(
        (await lstat(join(repo, 'blobs', sha256))).isFile(),
        'the planted link was replaced by the verified copy',
      );
      assert.equal(await readFile(secret, 'utf8'), secretText, 'the link target is untouched');
      assert.ok(hub.bytesServed.get('model.safetensors'), 'the bytes came from the Hub');
    });
  });

  it('a full cache disk is named with the path and the space needed', async () => {
    const mnt = join(work, 'cache-full');
    await mkdir(mnt);
    const script = 'mount -t tmpfs -o size=65536 tmpfs "$0" || exit 99; shift; exec "$@"';
    const args = ['build', 'hf://acme/tiny', ...SCRATCH, '--to', `oci:${dest()}:t`, '--cache', mnt];
    const r = await run(
      [requireTool('unshare'), '-rm', 'sh', '-c', script, mnt, process.execPath, MODELCAR_BIN, ...args],
      {
        env,
      },
    );
    assertCleanFailure(
      r,
      /^modelcar: error: disk full at .*\/cache-full\/models--acme--tiny\/blobs: the cached copy of model\.safetensors needs 195 KiB, \d+(\.\d+)? (B|KiB) free$/,
    );
  });
});
