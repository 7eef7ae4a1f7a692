/**
 * One repository in a registry, behind the same Repository interface as a layout.
 * Upload: HEAD to skip what exists, POST a session, one streamed PATCH, PUT ?digest=, and the registry's
 * Range and Docker-Content-Digest checked against what we sent. An abandoned session is cancelled.
 */

import { createHash } from 'node:crypto';
import { ModelcarError } from '../../errors.js';
import { checkBlob, DigestCounter } from '../digest-stream.js';
import { MANIFEST_ACCEPT } from '../media-types.js';
import { formatRef, type RegistryRef } from '../reference.js';
import type { BlobToPush, Descriptor, FetchedManifest, PushedBlob, Repository } from '../repository.js';
import { describeFailure, type RegistryClient } from './client.js';

export class RegistryRepository implements Repository {
  readonly label: string;
  private readonly pull: string[];
  private readonly push: string[];

  constructor(
    readonly client: RegistryClient,
    readonly ref: RegistryRef,
  ) {
    this.label = formatRef({ registry: ref.registry, repository: ref.repository });
    this.pull = [`repository:${ref.repository}:pull`];
    this.push = [`repository:${ref.repository}:pull,push`];
  }

  private path(kind: 'blobs' | 'manifests', ref: string): string {
    return `/v2/${this.ref.repository}/${kind}/${ref}`;
  }

  private async fail(
    what: string,
    res: { statusCode: number; body: { text(): Promise<string> } },
    hint?: string,
  ): Promise<never> {
    const detail = await describeFailure(res as never);
    if (res.statusCode === 403) {
      throw new ModelcarError(
        'registry-auth',
        `${this.label}: ${what} was denied (HTTP 403: ${detail})`,
        hint ??
          `the credentials from ${this.client.credentialSource} lack permission; ask for push access to ${this.label}`,
      );
    }
    if (res.statusCode === 404 && /NAME_UNKNOWN|not found/i.test(detail)) {
      throw new ModelcarError(
        'registry',
        `${this.label}: ${what} failed: repository not found (${detail})`,
        hint ?? 'check the repository name; some registries need the repository created first',
      );
    }
    throw new ModelcarError(
      'registry',
      `${this.label}: ${what} failed (HTTP ${res.statusCode}: ${detail})`,
      hint ?? "see the registry's message above",
    );
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.client.send({
      method: 'GET',
      url: this.path('manifests', reference),
      scopes: this.pull,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      throw new ModelcarError(
        'base',
        `${this.label}:${reference} not found`,
        `check the repository and tag; list tags with: skopeo list-tags docker://${this.label}`,
      );
    }
    if (res.statusCode !== 200) await this.fail(`reading manifest ${reference}`, res);
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new ModelcarError(
        'integrity',
        `${this.label}@${reference}: the registry served a manifest whose digest is ${digest}`,
      );
    }
    const header = res.headers['content-type'];
    const mediaType =
      (typeof header === 'string' ? header : '').split(';')[0]?.trim() ||
      (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ||
      '';
    return { bytes, mediaType, digest };
  }

  async fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer>> {
    const res = await this.client.send({
      method: 'GET',
      url: this.path('blobs', desc.digest),
      scopes: this.pull,
      followRedirects: true,
    });
    if (res.statusCode !== 200) await this.fail(`reading blob ${desc.digest}`, res);
    return res.body;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const res = await this.client.send({ method: 'HEAD', url: this.path('blobs', desc.digest), scopes: this.pull });
    await res.body.dump();
    if (res.statusCode === 200) return Number(res.headers['content-length'] ?? desc.size) === desc.size;
    if (res.statusCode === 404) return false;
    return this.fail(`checking blob ${desc.digest}`, res as never);
  }

  /** Opens an upload session and returns its absolute URL. */
  private async startUpload(): Promise<string> {
    const res = await this.client.send({
      method: 'POST',
      url: `/v2/${this.ref.repository}/blobs/uploads/`,
      scopes: this.push,
      headers: { 'content-length': '0' },
    });
    if (res.statusCode !== 202) await this.fail('starting an upload', res);
    await res.body.dump();
    const location = res.headers.location;
    if (typeof location !== 'string')
      throw new ModelcarError('registry', `${this.label}: the registry opened an upload without a Location`);
    return new URL(location, this.client.url('/')).href;
  }

  private async cancelUpload(location: string): Promise<void> {
    try {
      const res = await this.client.send({ method: 'DELETE', url: location, scopes: this.push });
      await res.body.dump();
    } catch {
      // Best effort: registries purge stale sessions themselves.
    }
  }

  async mountBlob(desc: Descriptor, from: Repository): Promise<boolean> {
    if (
      !(from instanceof RegistryRepository) ||
      from.ref.registry !== this.ref.registry ||
      from.ref.repository === this.ref.repository
    ) {
      return false;
    }
    if (await this.hasBlob(desc)) return true;
    const url = `/v2/${this.ref.repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from.ref.repository)}`;
    // One token must carry both scopes: push here, pull there.
    const res = await this.client.send({
      method: 'POST',
      url,
      scopes: [...this.push, ...from.pull],
      headers: { 'content-length': '0' },
    });
    await res.body.dump();
    if (res.statusCode === 201) return true;
    // 202: the registry opened a normal upload instead; cancel it and let the caller copy.
    if (res.statusCode === 202 && typeof res.headers.location === 'string') {
      await this.cancelUpload(new URL(res.headers.location, this.client.url('/')).href);
    }
    return false;
  }

  async checkWritable(): Promise<void> {
    await this.cancelUpload(await this.startUpload());
  }

  async pushBlob(blob: BlobToPush): Promise<PushedBlob> {
    if (blob.digest && (await this.hasBlob({ mediaType: '', digest: blob.digest, size: blob.size }))) {
      return { digest: blob.digest, size: blob.size, uploaded: false };
    }
    const location = await this.startUpload();
    let committed = false;
    try {
      const counter = new DigestCounter();
      const patch = await this.client.send({
        method: 'PATCH',
        url: location,
        scopes: this.push,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
        body: counter.pass(blob.open()),
      });
      if (patch.statusCode !== 202 && patch.statusCode !== 201) await this.fail('uploading a blob', patch);
      await patch.body.dump();
      const got = { size: counter.bytes, digest: counter.digest() };
      checkBlob(`blob for ${this.label}`, blob, got);
      // distribution 2.8 ignores Content-Range and never answers 416: check the Range it says it holds.
      const range = patch.headers.range;
      if (
        typeof range === 'string' &&
        got.size > 0 &&
        range !== `0-${got.size - 1}` &&
        range !== `bytes=0-${got.size - 1}`
      ) {
        throw new ModelcarError(
          'registry',
          `${this.label}: the registry holds bytes ${range} of an upload of ${got.size} bytes`,
          'the connection lost data; run again',
        );
      }
      const next =
        typeof patch.headers.location === 'string' ? new URL(patch.headers.location, location).href : location;
      const put = new URL(next);
      put.searchParams.set('digest', got.digest);
      const res = await this.client.send({
        method: 'PUT',
        url: put.href,
        scopes: this.push,
        headers: { 'content-length': '0' },
      });
      if (res.statusCode !== 201) await this.fail('committing a blob', res);
      await res.body.dump();
      committed = true;
      const said = res.headers['docker-content-digest'];
      if (typeof said === 'string' && said !== got.digest) {
        throw new ModelcarError(
          'integrity',
          `${this.label}: the registry stored ${said} for a blob we sent as ${got.digest}`,
        );
      }
      return { ...got, uploaded: true };
    } finally {
      if (!committed) await this.cancelUpload(location);
    }
  }

  async pushManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const res = await this.client.send({
      method: 'PUT',
      url: this.path('manifests', tag ?? digest),
      scopes: this.push,
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200) await this.fail('writing the manifest', res);
    await res.body.dump();
    const said = res.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== digest) {
      throw new ModelcarError('integrity', `${this.label}: the registry stored manifest ${said}, we sent ${digest}`);
    }
    return digest;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
