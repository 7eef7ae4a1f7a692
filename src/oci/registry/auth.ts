/**
 * Registry authentication: anonymous, Basic, and the Docker token flow (GET the realm with Basic credentials, or the
 * OAuth2 POST with a refresh token). Tokens are cached per scope set with their expiry and refreshed before they
 * run out; a 401 in the middle of a push re-authenticates once (see client.ts).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { ModelcarError, messageOf } from '../../errors.js';
import type { Challenge } from './challenge.js';
import type { Credential } from './credentials.js';
import { debug, shortUrl } from './log.js';
import {
  DEFAULT_RETRY,
  isTransientError,
  isTransientStatus,
  nextDelay,
  type RetryPolicy,
  retryAfterMs,
} from './retry.js';

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
    private readonly credential: Credential,
    private readonly dispatcher: Dispatcher,
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
    const startedAt = this.now();
    for (let failures = 0; ; ) {
      try {
        return await this.fetchTokenOnce(c, scopes);
      } catch (e) {
        if (!(e instanceof TransientTokenFailure)) throw e;
        const delay = nextDelay(++failures, startedAt, this.retry, e.retryAfter);
        if (delay === undefined) throw e.error;
        debug(`token service of ${this.registry}: ${e.error.message}; retry ${failures}`);
        await sleep(delay);
      }
    }
  }

  private async fetchTokenOnce(c: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm)
      throw new ModelcarError('registry-auth', `${this.registry} asked for a bearer token but named no realm`);
    const service = c.params.service;
    const cred = this.credential;
    let res: Dispatcher.ResponseData;
    try {
      if (cred.kind === 'identity-token') {
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: cred.token,
          client_id: 'modelcar',
        });
        if (service) form.set('service', service);
        if (scopes.length > 0) form.set('scope', scopes.join(' '));
        res = await request(realm, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        });
      } else {
        const url = new URL(realm);
        if (service) url.searchParams.set('service', service);
        for (const s of scopes) url.searchParams.append('scope', s);
        const headers: Record<string, string> = {};
        if (cred.kind === 'basic')
          headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
        res = await request(url, { method: 'GET', dispatcher: this.dispatcher, headers });
      }
    } catch (e) {
      const error = new ModelcarError(
        'network',
        `cannot reach the token service of ${this.registry} at ${shortUrl(realm)}: ${messageOf(e)}`,
        "check that the registry's auth service is reachable from here",
      );
      throw isTransientError(e) ? new TransientTokenFailure(error) : error;
    }
    const text = await res.body.text();
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
    if (!token)
      throw new ModelcarError('registry-auth', `the token service of ${this.registry} answered without a token`);
    const issued = body.issued_at ? Date.parse(body.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) ? Math.min(issued, this.now()) : this.now();
    const lifetimeMs = (body.expires_in ?? DEFAULT_TOKEN_LIFETIME_S) * 1000;
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
