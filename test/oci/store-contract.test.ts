/**
 * The store contract (src/oci/repository.ts), held against both stores: an OCI layout on disk and the real CNCF
 * registry. Absence is a value; manifests are stored by digest and tagged apart; a tag moves; an index's children
 * stay out of a layout's tag list; referrers are listed where the store can; failures carry their kind. skopeo reads
 * what was written as the independent check.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyImage } from '../../src/copy/copy.js';
import { ModelcarError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import { openRepository } from '../../src/oci/open.js';
import { parseImageLocation } from '../../src/oci/reference.js';
import { pushAndTag, type Repository, requireManifest } from '../../src/oci/repository.js';
import { resolveImage } from '../../src/oci/resolve.js';
import { type Descriptor, descriptorOf, type ManifestBytes } from '../../src/oci/spec.js';
import { blobOf, sha256 } from '../support/push-images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { tool } from '../support/tools.js';

const MISSING = `sha256:${'0'.repeat(64)}`;

async function pushBlob(repo: Repository, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const pushed = await repo.pushBlob(blobOf(bytes, { digest: true }));
  return { mediaType, digest: pushed.digest, size: pushed.size };
}

/** A small image of one platform, stored untagged. */
async function pushImageOf(repo: Repository, architecture: string, content: string): Promise<ManifestBytes> {
  const layer = await pushBlob(repo, Buffer.from(content), MediaType.ociLayer);
  const config = await pushBlob(
    repo,
    Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })),
    MediaType.ociConfig,
  );
  const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] };
  return repo.pushManifest(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
}

/** A signature-like artifact that refers to `subject` (OCI 1.1). */
async function pushReferrer(repo: Repository, subject: ManifestBytes, artifactType: string): Promise<ManifestBytes> {
  const empty = await pushBlob(repo, Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const payload = await pushBlob(repo, Buffer.from('signed'), 'application/octet-stream');
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: empty,
    layers: [payload],
    subject: descriptorOf(subject),
  };
  return repo.pushManifest(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
}

interface Store {
  readonly name: string;
  /** A fresh repository of this kind, and the skopeo spelling of `tag` in it. */
  open(name: string): Promise<{ repo: Repository; skopeoRef(tag: string): string; layoutDir?: string }>;
}

let registry: TestRegistry;
let work: string;

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'modelcar-store-'));
});

after(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const stores: Store[] = [
  {
    name: 'OCI layout',
    async open(name) {
      const dir = join(work, name);
      const repo = await openRepository(parseImageLocation(`oci:${dir}`));
      await repo.checkWritable();
      return { repo, skopeoRef: (tag) => `oci:${dir}:${tag}`, layoutDir: dir };
    },
  },
  {
    name: 'registry',
    async open(name) {
      const repo = await openRepository(parseImageLocation(`${registry.host}/contract/${name}`));
      return { repo, skopeoRef: (tag) => `docker://${registry.host}/contract/${name}:${tag}` };
    },
  },
];

for (const store of stores) {
  describe(`store contract: ${store.name}`, () => {
    test('what is not there is undefined, not an exception', async () => {
      const { repo } = await store.open('absent');
      try {
        assert.equal(await repo.fetchManifest('v1'), undefined);
        assert.equal(await repo.fetchManifest(MISSING), undefined);
        assert.equal(await repo.fetchBlob({ mediaType: MediaType.ociLayer, digest: MISSING, size: 1 }), undefined);
        assert.equal(await repo.hasBlob({ mediaType: MediaType.ociLayer, digest: MISSING, size: 1 }), false);
        assert.deepEqual(await repo.listTags(), []);
        await assert.rejects(requireManifest(repo, 'v1', 'model image'), (e: unknown) => {
          assert.ok(e instanceof ModelcarError);
          assert.equal(e.kind, 'not-found');
          assert.match(e.message, /^model image \S+:v1 not found$/);
          assert.ok(e.hint);
          return true;
        });
      } finally {
        await repo.close?.();
      }
    });

    test('a manifest is stored by digest without a tag, tagged later, and the tag moves', async () => {
      const { repo, skopeoRef } = await store.open('tagging');
      try {
        const first = await pushImageOf(repo, 'amd64', 'first');
        assert.equal(first.digest, sha256(first.bytes));
        assert.deepEqual((await repo.fetchManifest(first.digest))?.bytes, first.bytes);
        assert.deepEqual(await repo.listTags(), [], 'pushing a manifest names nothing');

        await repo.tag(first, 'v1');
        assert.deepEqual(await repo.listTags(), ['v1']);
        assert.equal((await repo.fetchManifest('v1'))?.digest, first.digest);

        const second = await pushImageOf(repo, 'amd64', 'second');
        await repo.tag(second, 'v1');
        await repo.tag(second, 'v2');
        assert.deepEqual(await repo.listTags(), ['v1', 'v2']);
        assert.equal((await repo.fetchManifest('v1'))?.digest, second.digest);
        // skopeo reads the tag back and checks every digest on the way.
        const inspected = JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', skopeoRef('v1')])) as {
          Digest: string;
        };
        assert.equal(inspected.Digest, second.digest);
      } finally {
        await repo.close?.();
      }
    });

    test('an index: children stored by digest, the index tagged; one platform resolved, config checked', async () => {
      const { repo, skopeoRef, layoutDir } = await store.open('index');
      try {
        const amd = await pushImageOf(repo, 'amd64', 'amd');
        const arm = await pushImageOf(repo, 'arm64', 'arm');
        const index = {
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [
            { ...descriptorOf(amd), platform: { os: 'linux', architecture: 'amd64' } },
            { ...descriptorOf(arm), platform: { os: 'linux', architecture: 'arm64' } },
          ],
        };
        await pushAndTag(repo, Buffer.from(JSON.stringify(index)), MediaType.ociIndex, 'multi');
        assert.deepEqual(await repo.listTags(), ['multi']);
        if (layoutDir) {
          const written = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as {
            manifests: Descriptor[];
          };
          assert.equal(written.manifests.length, 1, 'index.json lists the index only, not its children');
        }
        const resolved = await resolveImage(repo, 'multi', { platform: { os: 'linux', architecture: 'arm64' } });
        assert.equal(resolved.stored.digest, arm.digest);
        assert.deepEqual(resolved.platform, { os: 'linux', architecture: 'arm64' });
        await assert.rejects(
          resolveImage(repo, 'multi', { platform: { os: 'linux', architecture: 's390x' } }),
          (e: unknown) =>
            e instanceof ModelcarError && e.kind === 'usage' && /linux\/amd64, linux\/arm64/.test(e.hint ?? ''),
        );
        // A single image of another platform is refused too, naming what it is.
        await assert.rejects(
          resolveImage(repo, amd.digest, { platform: { os: 'linux', architecture: 'arm64' } }),
          /is a linux\/amd64 image, not linux\/arm64/,
        );
        const raw = await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', skopeoRef('multi')]);
        assert.equal(sha256(Buffer.from(raw)), sha256(Buffer.from(JSON.stringify(index))));
      } finally {
        await repo.close?.();
      }
    });

    test('referrers: listed where the store can; the registry without the API says so with undefined', async () => {
      const { repo } = await store.open('referrers');
      try {
        const image = await pushImageOf(repo, 'amd64', 'signed image');
        await repo.tag(image, 'v1');
        const sig = await pushReferrer(repo, image, 'application/vnd.example.signature');
        await pushReferrer(repo, image, 'application/vnd.example.sbom');
        const found = await repo.referrers(descriptorOf(image), 'application/vnd.example.signature');
        if (store.name === 'registry') {
          // Debian's distribution 2.8 has no referrers API (404): the caller falls back to the sha256-<hex> tag.
          assert.equal(found, undefined);
          assert.deepEqual((await repo.fetchManifest(sig.digest))?.bytes, sig.bytes, 'still stored by digest');
        } else {
          assert.deepEqual(
            found?.map((d) => [d.digest, d.artifactType]),
            [[sig.digest, 'application/vnd.example.signature']],
          );
          assert.equal((await repo.referrers(descriptorOf(image)))?.length, 2);
          assert.deepEqual(await repo.listTags(), ['v1'], 'referrers carry no tag');
        }
      } finally {
        await repo.close?.();
      }
    });

    test('copy of an index into this store keeps every digest and tags the root last', async () => {
      const source = await openRepository(parseImageLocation(`oci:${join(work, `copy-src-${store.name}`)}`));
      await source.checkWritable();
      const amd = await pushImageOf(source, 'amd64', 'copy amd');
      const arm = await pushImageOf(source, 'arm64', 'copy arm');
      const index = {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...descriptorOf(amd), platform: { os: 'linux', architecture: 'amd64' } },
          { ...descriptorOf(arm), platform: { os: 'linux', architecture: 'arm64' } },
        ],
      };
      const root = await pushAndTag(source, Buffer.from(JSON.stringify(index)), MediaType.ociIndex, 'all');
      const { repo, skopeoRef } = await store.open('copy-dst');
      try {
        const result = await copyImage(source, 'all', repo, { tag: 'mirrored' });
        assert.equal(result.digest, root.digest);
        assert.equal(result.manifests, 3);
        assert.deepEqual(await repo.listTags(), ['mirrored']);
        assert.equal((await repo.fetchManifest(arm.digest))?.digest, arm.digest);
        const out = join(work, `skopeo-out-${store.name}`);
        await tool('skopeo', ['copy', '--all', '--src-tls-verify=false', skopeoRef('mirrored'), `oci:${out}:x`]);
      } finally {
        await repo.close?.();
      }
    });
  });
}

describe('store failures carry their kind', () => {
  test('a registry that refuses us is registry-auth; one that is gone is network', async () => {
    const locked = await startRegistry({ basicAuth: { username: 'alice', password: 'wonderland' } });
    const gone = await startRegistry();
    try {
      const authFile = join(work, 'wrong-auth.json');
      const wrong = Buffer.from('alice:not-the-password').toString('base64');
      await writeFile(authFile, JSON.stringify({ auths: { [locked.host]: { auth: wrong } } }));
      const denied = await openRepository(parseImageLocation(`${locked.host}/contract/locked`), { authFile });
      await assert.rejects(
        denied.fetchManifest('v1'),
        (e: unknown) => e instanceof ModelcarError && e.kind === 'registry-auth' && e.hint !== undefined,
      );
      await gone.stop();
      const down = await openRepository(parseImageLocation(`${gone.host}/contract/down`), {
        retry: { baseDelayMs: 10, maxDelayMs: 20, maxElapsedMs: 200 },
      });
      await assert.rejects(
        down.fetchManifest('v1'),
        (e: unknown) => e instanceof ModelcarError && e.kind === 'network' && e.hint !== undefined,
      );
    } finally {
      await locked.stop();
      await gone.stop();
    }
  });
});
