/**
 * Registry authentication: anonymous, Basic, and the Docker token flow (GET the realm with Basic credentials, or the
 * OAuth2 POST with a refresh token). Tokens are cached per scope set with their expiry and refreshed before they
 * run out; a 401 in the middle of a push re-authenticates once (see client.ts).
 */

import { ModelcarError } from '../../errors.js';
import { BODY_LIMITS, readCapped } from '../../http/body.js';
import type { HttpClient, Response } from '../../http/client.js';
import { addSecret, safeUrl } from '../../http/redact.js';
import {
  DEFAULT_RETRY,
  isTransientError,
  isTransientStatus,
  Retrier,
  type RetryPolicy,
  retryAfterMs,
} from '../../http/retry.js';
import { httpUrl } from '../../http/url.js';
import type { Challenge } from './challenge.js';
import type { Credential } from './credentials.js';

interface CachedToken {
  readonly token: string;
  /** ms since epoch: fetch a new one from then on. */
  readonly refreshAt: number;
}

/**
 * Refresh this long before the token's own expiry (a request started just before expiry must still pass), or a
 * quarter of its lifetime for short-lived tokens, so a 60 s token is not refreshed on every request.
 */
const REFRESH_MARGIN_MS = 30_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;

export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private challenge: Challenge | undefined;
  /** Tokens fetched so far (tests and debug logs read it). */
  issued = 0;

  constructor(
    private readonly registry: string,
    /** The registry's own origin: whether it is plain HTTP by the user's choice decides where Basic may go. */
    private readonly registryOrigin: string,
    private readonly credential: Credential,
    private readonly http: HttpClient,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly now: () => number = Date.now,
  ) {}

  get credentialSource(): string {
    return this.credential.source;
  }

  /** Remembers how the registry asked us to authenticate. */
  learn(challenge: Challenge | undefined): void {
    if (challenge) this.challenge = challenge;
  }

  get knowsChallenge(): boolean {
    return this.challenge !== undefined;
  }

  /** Forget a token the registry refused, so the next header() fetches a new one. */
  invalidate(scopes: readonly string[]): void {
    this.tokens.delete(scopes.join(' '));
  }

  /** The Authorization header for a request needing these scopes, or undefined for anonymous access. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      if (this.credential.kind !== 'basic') return undefined;
      return `Basic ${Buffer.from(`${this.credential.username}:${this.credential.password}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') return undefined;
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) return `Bearer ${cached.token}`;
    const fresh = await this.fetchToken(c, scopes);
    this.tokens.set(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  private async fetchToken(c: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const retrier = new Retrier(`the token service of ${this.registry}`, this.retry, this.now);
    for (;;) {
      try {
        return await this.fetchTokenOnce(c, scopes);
      } catch (e) {
        if (!(e instanceof TransientTokenFailure)) throw e;
        const more = await retrier.again(
          e.error.message,
          e.retryAfter !== undefined ? { retryAfterMs: e.retryAfter } : {},
        );
        if (!more) throw e.error;
      }
    }
  }

  /**
   * Where the credential may be sent to get a token: the realm the challenge names, over https; over plain http only
   * when the registry itself is plain http by the user's choice (loopback, --plain-http). Anything else would hand the
   * password to whoever answers an http:// URL a server (or a man in the middle) chose.
   */
  private realmFor(realm: string): URL {
    const url = httpUrl(
      realm,
      (problem) =>
        new ModelcarError(
          'registry-auth',
          `${this.registry} names a token realm that is ${problem}: ${safeUrl(realm)}`,
        ),
    );
    const registryPlain = this.registryOrigin.startsWith('http:');
    if (url.protocol === 'http:' && !registryPlain && this.credential.kind !== 'anonymous') {
      throw new ModelcarError(
        'registry-auth',
        `${this.registry} sends us to the token service ${safeUrl(url)} over plain http; refusing to send the credentials from ${this.credential.source} there in clear`,
        "the registry's auth configuration is wrong or the answer was tampered with; its token realm must be https",
      );
    }
    return url;
  }

  private async fetchTokenOnce(c: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm)
      throw new ModelcarError('registry-auth', `${this.registry} asked for a bearer token but named no realm`);
    const url = this.realmFor(realm);
    const service = c.params.service;
    const cred = this.credential;
    let res: Response;
    try {
      if (cred.kind === 'identity-token') {
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: cred.token,
          client_id: 'modelcar',
        });
        if (service) form.set('service', service);
        if (scopes.length > 0) form.set('scope', scopes.join(' '));
        res = await this.http.send({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          headersTimeoutMs: 60_000,
          bodyTimeoutMs: 60_000,
        });
      } else {
        if (service) url.searchParams.set('service', service);
        for (const s of scopes) url.searchParams.append('scope', s);
        res = await this.http.send({
          method: 'GET',
          url,
          ...(cred.kind === 'basic'
            ? {
                credentials: {
                  authorization: `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`,
                  origin: url.origin,
                },
              }
            : {}),
          headersTimeoutMs: 60_000,
          bodyTimeoutMs: 60_000,
        });
      }
    } catch (e) {
      if (!(e instanceof ModelcarError) || !isTransientError(e)) throw e;
      throw new TransientTokenFailure(e);
    }
    const text = (
      await readCapped(res, BODY_LIMITS.token, `the answer of the token service of ${this.registry}`)
    ).toString('utf8');
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new ModelcarError(
        'registry-auth',
        `${this.registry} refused the credentials from ${cred.source} (HTTP ${res.statusCode})`,
        cred.kind === 'anonymous'
          ? 'log in first (podman login / docker login) or pass --authfile'
          : 'check the username and password or token; log in again',
      );
    }
    if (isTransientStatus(res.statusCode)) {
      throw new TransientTokenFailure(
        new ModelcarError('registry-auth', `the token service of ${this.registry} answered HTTP ${res.statusCode}`),
        retryAfterMs(res.headers['retry-after']),
      );
    }
    if (res.statusCode >= 300) {
      throw new ModelcarError(
        'registry-auth',
        `the token service of ${this.registry} answered HTTP ${res.statusCode}`,
        "the registry's auth service is failing; try again later",
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(text);
    } catch {
      throw new ModelcarError('registry-auth', `the token service of ${this.registry} did not answer with JSON`);
    }
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || token === '')
      throw new ModelcarError('registry-auth', `the token service of ${this.registry} answered without a token`);
    addSecret(token);
    const issued = body.issued_at ? Date.parse(body.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) ? Math.min(issued, this.now()) : this.now();
    const expiresIn =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const lifetimeMs = expiresIn * 1000;
    this.issued++;
    return { token, refreshAt: start + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 4) };
  }
}

/** A token fetch that may pass when tried again (the token service is busy or the connection dropped). */
class TransientTokenFailure extends Error {
  constructor(
    readonly error: ModelcarError,
    readonly retryAfter?: number,
  ) {
    super(error.message);
  }
}
