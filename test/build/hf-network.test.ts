/**
 * Hugging Face the way its users expect, through the CLI: `--revision` as `@REV`; `HF_HUB_OFFLINE=1` builds from the
 * cache alone (no request reaches the Hub double) and names a missing file; a cache snapshot directory is named
 * after its repository; a mirror that serves only model info and `resolve` still builds the same image, with one
 * note line; a tree listing whose `Link: rel="next"` loops is refused.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertCleanFailure, buildJson, modelcar } from '../support/cli.js';
import { MiB, removeTemp, tempDir } from '../support/fixtures.js';
import { type HubDouble, type RepoSpec, startHubDouble } from '../support/hub-double.js';
import { layoutTags } from '../support/images.js';

const REPO: RepoSpec = {
  id: 'acme/Net-Model',
  license: 'mit',
  commits: [
    {
      date: '2024-07-01T08:00:00.000Z',
      files: [
        { path: 'README.md', content: '---\nlicense: mit\n---\n# net model\n' },
        { path: 'config.json', content: '{"model_type":"llama"}\n' },
        { path: 'tokenizer.json', content: '{"model":{}}\n' },
        { path: 'model-00001-of-00002.safetensors', size: 2 * MiB, seed: 'n1' },
        { path: 'model-00002-of-00002.safetensors', size: MiB, seed: 'n2' },
        {
          path: 'model.safetensors.index.json',
          content: JSON.stringify({
            metadata: { total_size: 3 * MiB },
            weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
          }),
        },
      ],
    },
    {
      files: [
        { path: 'config.json', content: '{"model_type":"old"}\n' },
        { path: 'model.safetensors', size: MiB },
      ],
    },
  ],
  refs: { v1: 1 },
};
const SCRATCH = ['--base', 'scratch', '--image-volume'];

describe('hf:// the way Hugging Face users expect', () => {
  let work: string;
  let hub: HubDouble;
  let mirror: HubDouble;
  let looping: HubDouble;
  let cache: string;
  let online: { digest: string; files: number };

  before(async () => {
    work = await tempDir();
    [hub, mirror, looping] = await Promise.all([
      startHubDouble({ repos: [REPO] }),
      startHubDouble({ repos: [REPO], mirrorOnly: true }),
      startHubDouble({ repos: [REPO], pageSize: 2, treePages: 'loop' }),
    ]);
    cache = join(work, 'hf-cache');
    online = await buildJson(
      [`hf://${REPO.id}`, '--cache', cache, '--to', `oci:${join(work, 'online')}:v1`, ...SCRATCH],
      {
        env: { HF_ENDPOINT: hub.url },
      },
    );
  });
  after(async () => {
    await Promise.all([hub?.close(), mirror?.close(), looping?.close()]);
    await removeTemp(work);
  });

  it('--revision REV is hf://ORG/NAME@REV, and the two must agree', async () => {
    const env = { HF_ENDPOINT: hub.url };
    const byFlag = await buildJson(
      [`hf://${REPO.id}`, '--revision', 'v1', '--to', `oci:${join(work, 'rev')}:a`, ...SCRATCH],
      { env },
    );
    const byRef = await buildJson([`hf://${REPO.id}@v1`, '--to', `oci:${join(work, 'rev')}:b`, ...SCRATCH], { env });
    assert.equal(byFlag.digest, byRef.digest);
    assert.notEqual(byFlag.digest, online.digest);
    const clash = await modelcar(['build', `hf://${REPO.id}@main`, '--revision', 'v1', '--dry-run'], { env });
    assert.equal(clash.code, 2);
    assertCleanFailure(clash, /hf:\/\/acme\/Net-Model@main and --revision v1 name different revisions/);
    const local = await modelcar(['build', work, '--revision', 'v1', '--dry-run']);
    assertCleanFailure(local, /--revision applies to hf:\/\/ sources/);
  });

  it('HF_HUB_OFFLINE=1 builds the same image from the cache alone, without one request to the Hub', async () => {
    hub.resetCounters();
    const r = await buildJson(
      [
        `hf://${REPO.id}`,
        '--cache',
        cache,
        '--to',
        `oci:${join(work, 'offline')}:v1`,
        '--source-date-epoch',
        '0',
        ...SCRATCH,
      ],
      { env: { HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '1' } },
    );
    assert.equal(hub.requests.length, 0, 'no request reached the Hub');
    assert.equal(r.files, online.files);
    assert.match(r.stderr, /note: HF_HUB_OFFLINE: building hf:\/\/acme\/Net-Model@[0-9a-f]{40} from the cache/);
    // The same files and bytes as online; only the time differs (the cache does not keep the commit date).
    const again = await buildJson(
      [`hf://${REPO.id}`, '--to', `oci:${join(work, 'online0')}:v1`, '--source-date-epoch', '0', ...SCRATCH],
      { env: { HF_ENDPOINT: hub.url } },
    );
    assert.equal(r.digest, again.digest);
  });

  it('HF_HUB_OFFLINE=1 names what the cache lacks: a revision, or a shard the index lists', async () => {
    const env = { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache };
    const missingRev = await modelcar(['build', `hf://${REPO.id}@v1`, '--to', `oci:${join(work, 'x')}`, ...SCRATCH], {
      env,
    });
    assertCleanFailure(
      missingRev,
      /hf:\/\/acme\/Net-Model@v1 is not in the cache .* \(no refs\/v1\); HF_HUB_OFFLINE is set/,
    );
    const repoDir = join(cache, 'models--acme--Net-Model');
    const [commit] = await readdir(join(repoDir, 'snapshots'));
    await rm(join(repoDir, 'snapshots', commit as string, 'model-00002-of-00002.safetensors'));
    const missingShard = await modelcar(['build', `hf://${REPO.id}`, '--to', `oci:${join(work, 'y')}`, ...SCRATCH], {
      env,
    });
    assertCleanFailure(
      missingShard,
      /model-00002-of-00002\.safetensors \(listed in model\.safetensors\.index\.json\) is not in the cache/,
    );
    assert.deepEqual(await layoutTags(join(work, 'y')), []);
  });

  it('names an image built from a cache snapshot directory after the repository, not the commit', async () => {
    const repoDir = join(cache, 'models--acme--Net-Model');
    const [commit] = await readdir(join(repoDir, 'snapshots'));
    const r = await buildJson([
      join(repoDir, 'snapshots', commit as string),
      '--to',
      `oci:${join(work, 'snap')}`,
      '--dry-run',
      ...SCRATCH,
    ]);
    assert.match(r.destination, new RegExp(`^oci:${join(work, 'snap')}:${(commit as string).slice(0, 12)}$`));
    const reg = await modelcar([
      'build',
      join(repoDir, 'snapshots', commit as string),
      '--to',
      'registry.example.com',
      '--dry-run',
      '--json',
      ...SCRATCH,
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(
      (JSON.parse(reg.stdout) as { destination: string }).destination,
      /^docker:\/\/registry\.example\.com\/net-model:/,
    );
  });

  it('builds through a mirror with only model info and resolve: the same image, with one note line', async () => {
    const r = await buildJson([`hf://${REPO.id}`, '--to', `oci:${join(work, 'mirror')}:v1`, ...SCRATCH], {
      env: { HF_ENDPOINT: mirror.url },
    });
    assert.equal(r.digest, online.digest, 'sizes, hashes and commit time came out the same');
    const notes = r.stderr.split('\n').filter((l) => /note: .*no tree\/commits API here/.test(l));
    assert.equal(notes.length, 1, r.stderr);
    assert.ok(mirror.requests.some((q) => q.method === 'HEAD' && q.url.includes('/resolve/')));
  });

  it('refuses a tree listing whose Link: rel="next" loops', async () => {
    const r = await modelcar(['build', `hf://${REPO.id}`, '--to', `oci:${join(work, 'loop')}`, ...SCRATCH], {
      env: { HF_ENDPOINT: looping.url },
    });
    assertCleanFailure(r, /the file listing of hf:\/\/acme\/Net-Model@[0-9a-f]{40} on http:\/\/127\.0\.0\.1:\d+ loops/);
    assert.ok(looping.requests.filter((q) => q.url.includes('/tree/')).length <= 3);
  });
});
