/**
 * One repository in a registry, behind the same Repository interface as a layout.
 * Upload: HEAD to skip what exists, POST a session, one streamed PATCH, PUT ?digest=, and the registry's
 * Range and Docker-Content-Digest checked against what we sent. An abandoned session is cancelled.
 */

import type { Dispatcher } from 'undici';
import { ModelcarError } from '../../errors.js';
import { BODY_LIMITS, readCapped } from '../../http/body.js';
import { debug } from '../../http/events.js';
import { isTransientError, isTransientStatus, Retrier, retryAfterMs } from '../../http/retry.js';
import { checkBlob, DigestCounter, digestOf } from '../digest-stream.js';
import { MANIFEST_ACCEPT, MediaType } from '../media-types.js';
import { formatRef, isSafeReference, type RegistryRef } from '../reference.js';
import type { BlobToPush, PushedBlob, Repository } from '../repository.js';
import { type Descriptor, type ManifestBytes, manifestBytes } from '../spec.js';
import { describeFailure, type RegistryClient } from './client.js';

const READ_HINT = 'check the name and that your credentials may pull from this repository';
const TAGS_PAGE = 1000;
const MAX_TAG_PAGES = 100;

/** The next page of a paginated list, from `Link: </v2/...?last=x&n=y>; rel="next"` (same origin only). */
function nextLink(header: string | string[] | undefined, origin: string): string | undefined {
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(header ?? ''));
  if (!m?.[1]) return undefined;
  const next = new URL(m[1], origin);
  return next.origin === new URL(origin).origin ? `${next.pathname}${next.search}` : undefined;
}

export interface UploadOptions {
  /** Upload in PATCHes of this many bytes (resumable at chunk boundaries) instead of one streamed PATCH. */
  readonly chunkSize?: number;
  /** The registry refuses chunks larger than this (GHCR: 4 MiB). */
  readonly maxChunkBytes?: number;
  /** The registry takes one PATCH per session (ECR drops the body of a second one): no chunks, no resume. */
  readonly monolithicOnly?: boolean;
}

/** An open upload session: where to send next, and how many bytes the registry holds. */
interface Session {
  location: string;
  offset: number;
  readonly size: number;
  /** OCI-Chunk-Min-Length from the registry. */
  readonly minChunk?: number;
}

export class RegistryRepository implements Repository {
  readonly label: string;
  private readonly pull: string[];
  private readonly push: string[];

  constructor(
    readonly client: RegistryClient,
    readonly ref: RegistryRef,
    private readonly upload: UploadOptions = {},
  ) {
    this.label = formatRef({ registry: ref.registry, repository: ref.repository });
    this.pull = [`repository:${ref.repository}:pull`];
    this.push = [`repository:${ref.repository}:pull,push`];
  }

  private path(kind: 'blobs' | 'manifests', ref: string): string {
    // Digests come from manifests and indexes a server sent: one that is not a digest never reaches a URL.
    if (!isSafeReference(kind, ref)) {
      throw new ModelcarError(
        'integrity',
        `${this.label}: refusing to fetch ${kind === 'blobs' ? 'blob' : 'manifest'} ${JSON.stringify(ref)}: not a ${kind === 'blobs' ? 'digest' : 'digest or tag'}`,
        'the manifest or index that names it is malformed; rebuild or re-push that image',
      );
    }
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

  async fetchManifest(reference: string): Promise<ManifestBytes | undefined> {
    const res = await this.client.send({
      method: 'GET',
      url: this.path('manifests', reference),
      scopes: this.pull,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 200) await this.fail(`reading manifest ${reference}`, res, READ_HINT);
    const bytes = await readCapped(res, BODY_LIMITS.manifest, `${this.label}:${reference}: the manifest`);
    const digest = digestOf(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new ModelcarError(
        'integrity',
        `${this.label}@${reference}: the registry served a manifest whose digest is ${digest}`,
        'the registry or a proxy in between changed the bytes; do not use this image until that is explained',
      );
    }
    const header = res.headers['content-type'];
    const mediaType =
      (typeof header === 'string' ? header : '').split(';')[0]?.trim() ||
      (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ||
      '';
    return { bytes, mediaType, digest };
  }

  async fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer> | undefined> {
    const res = await this.client.send({
      method: 'GET',
      url: this.path('blobs', desc.digest),
      scopes: this.pull,
      followRedirects: true,
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 200) await this.fail(`reading blob ${desc.digest}`, res, READ_HINT);
    return res.body;
  }

  async fetchBlobRange(desc: Descriptor, offset: number, length: number): Promise<Buffer | undefined> {
    if (length <= 0 || offset >= desc.size) return Buffer.alloc(0);
    const last = Math.min(offset + length, desc.size) - 1;
    const res = await this.client.send({
      method: 'GET',
      url: this.path('blobs', desc.digest),
      scopes: this.pull,
      followRedirects: true,
      headers: { range: `bytes=${offset}-${last}` },
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode === 206) return Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) await this.fail(`reading blob ${desc.digest}`, res, READ_HINT);
    // A server that ignores Range sends the whole blob: keep the asked part, then hang up on the rest.
    return sliceOf(res.body, offset, last + 1 - offset);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const res = await this.client.send({ method: 'HEAD', url: this.path('blobs', desc.digest), scopes: this.pull });
    await res.body.dump();
    if (res.statusCode === 200) return Number(res.headers['content-length'] ?? desc.size) === desc.size;
    if (res.statusCode === 404) return false;
    return this.fail(`checking blob ${desc.digest}`, res as never);
  }

  /** Opens an upload session. */
  private async startUpload(size = 0): Promise<Session> {
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
    const min = Number(res.headers['oci-chunk-min-length']);
    return {
      location: new URL(location, this.client.url('/')).href,
      offset: 0,
      size,
      ...(Number.isFinite(min) && min > 0 ? { minChunk: min } : {}),
    };
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
    await this.cancelUpload((await this.startUpload()).location);
  }

  /**
   * Uploads one blob and survives what real networks do to long uploads. After a dropped connection, a stall, a
   * 429/5xx or an expired token, it asks the upload URL what the registry kept: where the session lives on, the
   * upload resumes from that offset; where the registry cancelled it (distribution 2.8 does when a PATCH body was
   * cut), this one blob restarts in a new session. Bounded by the retry policy, counted from the last progress.
   */
  async pushBlob(blob: BlobToPush): Promise<PushedBlob> {
    if (blob.digest && (await this.hasBlob({ mediaType: '', digest: blob.digest, size: blob.size }))) {
      return { digest: blob.digest, size: blob.size, uploaded: false };
    }
    const retrier = new Retrier(`${this.label}: upload of ${blob.label ?? blob.digest ?? 'a blob'}`, this.client.retry);
    const checkpoints = new Checkpoints();
    let session: Session | undefined;
    let authFailures = 0;
    try {
      for (;;) {
        const current = session ?? (await this.startUpload(blob.size));
        session = current;
        const before = current.offset;
        try {
          const digest = await this.transfer(blob, current, checkpoints);
          const done = await this.commit(current, digest, blob);
          session = undefined;
          return done;
        } catch (e) {
          const fault = asFault(e);
          if (!fault) throw e;
          if (current.offset > before) retrier.progressed();
          authFailures = fault.auth ? authFailures + 1 : 0;
          const reason = `interrupted at byte ${current.offset}: ${fault.reason}`;
          const more =
            authFailures <= 1 &&
            (await retrier.again(reason, fault.retryAfter !== undefined ? { retryAfterMs: fault.retryAfter } : {}));
          if (!more) throw fault.error(this.label);
          session = fault.sessionGone ? await this.dropSession(current) : await this.recover(current);
          if (session === undefined) this.stats.restarts++;
          else this.stats.resumes++;
        }
      }
    } finally {
      if (session) await this.cancelUpload(session.location);
    }
  }

  /** Counts of how uploads recovered, for tests and debug output. */
  readonly stats = { resumes: 0, restarts: 0 };

  /** Asks the registry what it kept of an interrupted upload; undefined (restart) when the session is gone. */
  private async recover(session: Session): Promise<Session | undefined> {
    if (this.upload.monolithicOnly) return this.dropSession(session);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.client.send({ method: 'GET', url: session.location, scopes: this.push });
    } catch {
      return this.dropSession(session);
    }
    await res.body.dump();
    const end = rangeEnd(res.headers.range);
    // "0-0" is how distribution says both "nothing" and "one byte": start afresh rather than guess.
    if ((res.statusCode !== 204 && res.statusCode !== 200) || end === undefined || end < 1) {
      return this.dropSession(session);
    }
    const offset = end + 1;
    if (offset > session.size) return this.dropSession(session);
    const location =
      typeof res.headers.location === 'string'
        ? new URL(res.headers.location, session.location).href
        : session.location;
    debug(`${this.label}: the registry kept ${offset} bytes; resuming there`);
    return { ...session, location, offset };
  }

  private async dropSession(session: Session): Promise<undefined> {
    await this.cancelUpload(session.location);
    return undefined;
  }

  /** Sends the blob's bytes from the session's offset to the end; returns the digest of the whole blob. */
  private async transfer(blob: BlobToPush, session: Session, checkpoints: Checkpoints): Promise<string> {
    const { counter, body } = bytesFrom(blob, session.offset, checkpoints);
    const chunk = this.chunkSize(session);
    if (chunk === undefined) {
      const length = blob.size - session.offset;
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
      };
      if (session.offset > 0) headers['content-range'] = `${session.offset}-${blob.size - 1}`;
      await this.patch(session, headers, counter.pass(body), blob.size);
    } else {
      for await (const piece of rechunk(body, chunk)) {
        counter.update(piece);
        await this.patch(
          session,
          {
            'content-type': 'application/octet-stream',
            'content-length': String(piece.length),
            'content-range': `${session.offset}-${session.offset + piece.length - 1}`,
          },
          piece,
          session.offset + piece.length,
        );
        checkpoints.set(session.offset, counter);
      }
      if (blob.size === 0) await this.patch(session, { 'content-length': '0' }, Buffer.alloc(0), 0);
    }
    const got = { size: counter.bytes, digest: counter.digest() };
    checkBlob(`blob for ${this.label}`, blob, got);
    return got.digest;
  }

  /** One PATCH; on success the session moves to `endOffset` and the registry's next Location. */
  private async patch(
    session: Session,
    headers: Record<string, string>,
    body: Buffer | AsyncIterable<Buffer>,
    endOffset: number,
  ): Promise<void> {
    const res = await this.client.send({
      method: 'PATCH',
      url: session.location,
      scopes: this.push,
      headers,
      body,
      once: true,
    });
    if (res.statusCode !== 202 && res.statusCode !== 201 && res.statusCode !== 204)
      await this.fault('uploading a blob', res);
    await res.body.dump();
    // distribution 2.8 ignores Content-Range and never answers 416: check the Range it says it holds.
    const end = rangeEnd(res.headers.range);
    if (end !== undefined && endOffset > 0 && end !== endOffset - 1) {
      throw new UploadFault(`the registry holds bytes 0-${end}, we sent up to ${endOffset - 1}`);
    }
    if (typeof res.headers.location === 'string')
      session.location = new URL(res.headers.location, session.location).href;
    session.offset = endOffset;
  }

  /** PUT ?digest= closes the session; the registry's Docker-Content-Digest must name what we hashed. */
  private async commit(session: Session, digest: string, blob: BlobToPush): Promise<PushedBlob> {
    const put = new URL(session.location);
    put.searchParams.set('digest', digest);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.client.send({
        method: 'PUT',
        url: put.href,
        scopes: this.push,
        headers: { 'content-length': '0' },
        once: true,
      });
    } catch (e) {
      // The answer may be what was lost: if the blob is there now, the commit happened.
      if (await this.hasBlob({ mediaType: '', digest, size: blob.size }).catch(() => false)) {
        return { digest, size: blob.size, uploaded: true };
      }
      throw e;
    }
    if (res.statusCode !== 201) {
      if (res.statusCode === 404 && (await this.hasBlob({ mediaType: '', digest, size: blob.size }))) {
        await res.body.dump();
        return { digest, size: blob.size, uploaded: true };
      }
      await this.fault('committing a blob', res, true);
    }
    await res.body.dump();
    const said = res.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== digest) {
      throw new ModelcarError(
        'integrity',
        `${this.label}: the registry stored ${said} for a blob we sent as ${digest}`,
      );
    }
    return { digest, size: blob.size, uploaded: true };
  }

  /** Turns a failed upload request into a fault the engine retries, or into the final error. */
  private async fault(what: string, res: Dispatcher.ResponseData, badDigestRestarts = false): Promise<never> {
    if (res.statusCode === 401) {
      await res.body.dump();
      throw new UploadFault(`${what}: the registry asked to authenticate again (HTTP 401)`, { auth: true });
    }
    if (isTransientStatus(res.statusCode)) {
      const retryAfter = retryAfterMs(res.headers['retry-after']);
      const detail = await describeFailure(res);
      throw new UploadFault(`${what}: HTTP ${res.statusCode} (${detail})`, {
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      });
    }
    if (res.statusCode === 404 || res.statusCode === 416 || (badDigestRestarts && res.statusCode === 400)) {
      const detail = await describeFailure(res);
      if (res.statusCode !== 400 || /DIGEST_INVALID|BLOB_UPLOAD_INVALID/.test(detail)) {
        throw new UploadFault(`${what}: HTTP ${res.statusCode} (${detail})`, { sessionGone: true });
      }
      return this.fail(what, { statusCode: res.statusCode, body: { text: async () => detail } });
    }
    return this.fail(what, res);
  }

  /** The PATCH size in chunked mode; undefined for one streamed PATCH. */
  private chunkSize(session: Session): number | undefined {
    const { chunkSize, maxChunkBytes, monolithicOnly } = this.upload;
    if (monolithicOnly || chunkSize === undefined) return undefined;
    const wanted = Math.min(chunkSize, maxChunkBytes ?? Number.POSITIVE_INFINITY);
    // The registry's minimum wins over ours: it would refuse smaller chunks.
    return Math.max(wanted, session.minChunk ?? 0);
  }

  async pushManifest(bytes: Buffer, mediaType: string): Promise<ManifestBytes> {
    const stored = manifestBytes(bytes, mediaType);
    await this.putManifest(stored, stored.digest);
    return stored;
  }

  /** The distribution API has no "tag this digest": the manifest's bytes are PUT again under the tag. */
  async tag(manifest: ManifestBytes, tag: string): Promise<void> {
    await this.putManifest(manifest, tag);
  }

  private async putManifest(manifest: ManifestBytes, reference: string): Promise<void> {
    const res = await this.client.send({
      method: 'PUT',
      url: this.path('manifests', reference),
      scopes: this.push,
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200)
      await this.fail(reference === manifest.digest ? 'writing the manifest' : `tagging ${reference}`, res);
    await res.body.dump();
    const said = res.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== manifest.digest) {
      throw new ModelcarError(
        'integrity',
        `${this.label}: the registry stored manifest ${said}, we sent ${manifest.digest}`,
        'the registry rewrote the manifest; push to a registry that stores manifests as sent',
      );
    }
  }

  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${this.ref.repository}/tags/list?n=${TAGS_PAGE}`;
    const seen = new Set<string>();
    // Bounded: a registry whose Link header loops or never ends cannot keep us here.
    for (let page = 0; url !== undefined && page < MAX_TAG_PAGES && !seen.has(url); page++) {
      seen.add(url);
      const res = await this.client.send({ method: 'GET', url, scopes: this.pull });
      if (res.statusCode === 404) {
        await res.body.dump();
        return [];
      }
      if (res.statusCode !== 200) await this.fail('listing tags', res, READ_HINT);
      const body = (await this.readJson(res, 'the tag list')) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      url = nextLink(res.headers.link, this.client.url('/'));
    }
    return [...new Set(tags)].sort();
  }

  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[] | undefined> {
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const res = await this.client.send({
      method: 'GET',
      url: `/v2/${this.ref.repository}/referrers/${subject.digest}${query}`,
      scopes: this.pull,
      headers: { accept: MediaType.ociIndex },
    });
    // The spec: a registry with the API answers 200 (an empty index for an unknown subject); 404 means no API.
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 200) await this.fail(`listing referrers of ${subject.digest}`, res, READ_HINT);
    const index = (await this.readJson(res, `the referrers of ${subject.digest}`)) as { manifests?: Descriptor[] };
    const found = Array.isArray(index.manifests) ? index.manifests : [];
    // A registry that ignores the filter says so in OCI-Filters-Applied; filter here either way.
    return artifactType === undefined ? found : found.filter((d) => d.artifactType === artifactType);
  }

  /** A JSON answer, read with the API size cap; anything else is the registry's fault, named. */
  private async readJson(res: Dispatcher.ResponseData, what: string): Promise<unknown> {
    const text = (await readCapped(res, BODY_LIMITS.apiJson, `${this.label}: ${what}`)).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw new ModelcarError(
        'registry',
        `${this.label}: ${what} is not JSON`,
        'the registry (or a proxy answering in its place) is broken; check the registry address',
      );
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** A failure of one upload request that a retry may get past. */
class UploadFault extends Error {
  readonly auth: boolean;
  readonly sessionGone: boolean;
  readonly retryAfter: number | undefined;
  private readonly final: ModelcarError | undefined;

  constructor(
    readonly reason: string,
    opts: { auth?: boolean; sessionGone?: boolean; retryAfter?: number; final?: ModelcarError } = {},
  ) {
    super(reason);
    this.final = opts.final;
    this.auth = opts.auth ?? false;
    this.sessionGone = opts.sessionGone ?? false;
    this.retryAfter = opts.retryAfter;
  }

  error(label: string): ModelcarError {
    if (this.final) return this.final;
    return this.auth
      ? new ModelcarError(
          'registry-auth',
          `${label}: the registry refused our credentials again after re-authenticating`,
          'check the credentials and that they may push here; log in again',
        )
      : new ModelcarError(
          'registry',
          `${label}: ${this.reason}; gave up after retries`,
          'run again; the push resumes where the registry kept data',
        );
  }
}

/** Transient network errors and upload faults become faults; anything else (source, integrity) is final. */
function asFault(e: unknown): UploadFault | undefined {
  if (e instanceof UploadFault) return e;
  if (e instanceof ModelcarError && e.kind === 'network' && isTransientError(e)) {
    return new UploadFault(e.message, { final: e });
  }
  return undefined;
}

/** The end of a `Range: 0-N` (or `bytes=0-N`) header. */
function rangeEnd(header: string | string[] | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(header ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/** Hash states at offsets the registry confirmed, so a resume need not re-read what precedes them. */
class Checkpoints {
  private readonly byOffset = new Map<number, DigestCounter>();

  set(offset: number, counter: DigestCounter): void {
    // Only the latest matters: a registry reports the last chunk it committed.
    this.byOffset.clear();
    this.byOffset.set(offset, counter.snapshot());
  }

  get(offset: number): DigestCounter | undefined {
    return this.byOffset.get(offset)?.snapshot();
  }
}

/**
 * The blob's bytes from `offset` (not yet hashed), with a counter holding the hash of everything before it. From a
 * checkpoint and the source's openAt() no byte is read twice; otherwise the prefix is read and hashed again
 * locally, never resent.
 */
function bytesFrom(
  blob: BlobToPush,
  offset: number,
  checkpoints: Checkpoints,
): { counter: DigestCounter; body: AsyncIterable<Buffer> } {
  if (offset === 0) return { counter: new DigestCounter(), body: blob.open() };
  const saved = checkpoints.get(offset);
  if (saved && blob.openAt) return { counter: saved, body: blob.openAt(offset) };
  const counter = new DigestCounter();
  return { counter, body: hashPrefix(blob.open(), offset, counter) };
}

/** Hashes the first `skip` bytes into `counter` and yields only the rest. */
async function* hashPrefix(
  source: AsyncIterable<Buffer>,
  skip: number,
  counter: DigestCounter,
): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of source) {
    if (seen >= skip) {
      yield chunk;
      continue;
    }
    const head = chunk.subarray(0, Math.min(chunk.length, skip - seen));
    counter.update(head);
    seen += chunk.length;
    if (chunk.length > head.length) yield chunk.subarray(head.length);
  }
}

/** Cuts a stream into pieces of exactly `size` bytes (the last one shorter). */
async function* rechunk(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts);
      rest = rest.subarray(take);
      parts = [];
      held = 0;
    }
    if (rest.length > 0) {
      parts.push(rest);
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts);
}

/** Bytes [offset, offset+length) of a stream read from its start; the stream is destroyed once they are in. */
async function sliceOf(
  body: AsyncIterable<Buffer> & { destroy?: () => void },
  offset: number,
  length: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let at = 0;
  let got = 0;
  for await (const chunk of body) {
    const start = Math.max(0, offset - at);
    at += chunk.length;
    if (start >= chunk.length) continue;
    const part = chunk.subarray(start, start + (length - got));
    parts.push(part);
    got += part.length;
    if (got >= length) break;
  }
  body.destroy?.();
  return Buffer.concat(parts);
}
