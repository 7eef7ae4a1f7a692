/**
 * The one redaction function. Every secret modelcar reads (registry passwords and tokens, bearer tokens it is
 * issued, Hugging Face and Model Registry tokens, kube tokens, proxy credentials, userinfo in HF_ENDPOINT or a proxy
 * URL) is registered here the moment it is read, and every string that reaches output — error messages and hints,
 * retry lines, doctor reports, debug lines — passes through redact(). Patterns catch what was never registered
 * (an Authorization value in a server's error body, a JWT, `token=` parameters, URL userinfo).
 */

const known = new Set<string>();

/**
 * Shorter values are not registered: redacting every "abc" in every message would garble output, and a secret that
 * short is still caught where it matters by the patterns (Authorization values, userinfo, token parameters).
 */
const MIN_SECRET_LENGTH = 4;

/** Registers a secret so that redact() removes it from any text, in its raw, URL-encoded and Basic forms. */
export function addSecret(value: string | undefined): void {
  if (value === undefined || value.length < MIN_SECRET_LENGTH) return;
  known.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) known.add(encoded);
}

/** Registers a user and password, and the base64 of `user:password` a Basic header carries. */
export function addCredentialPair(username: string, password: string): void {
  addSecret(password);
  addSecret(Buffer.from(`${username}:${password}`).toString('base64'));
}

/** Registers the userinfo of a URL (proxy URLs, HF_ENDPOINT) and returns it unchanged. */
export function addUrlSecrets(url: string | URL): void {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    if (u.password) {
      addSecret(decodeURIComponent(u.password));
      addSecret(u.password);
      addCredentialPair(decodeURIComponent(u.username), decodeURIComponent(u.password));
    } else if (u.username) {
      // A token alone in the user part (https://TOKEN@host) is a secret too.
      addSecret(decodeURIComponent(u.username));
    }
  } catch {
    // Not a URL: nothing to learn.
  }
}

const PATTERNS: readonly [RegExp, string][] = [
  [/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 <redacted>'],
  [
    /([?&](?:_state|token|access_token|refresh_token|password|secret|sig|signature|x-amz-signature)=)[^&\s"']*/gi,
    '$1<redacted>',
  ],
  [/("(?:token|access_token|refresh_token|password|identitytoken|auth|Secret)"\s*:\s*")[^"]*/gi, '$1<redacted>'],
  // A JWT anywhere (three base64url parts): bearer tokens and service-account tokens alike.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, '<redacted-jwt>'],
  // Hugging Face tokens have a recognisable shape.
  [/\bhf_[A-Za-z0-9]{20,}\b/g, 'hf_<redacted>'],
  // Userinfo in any URL: scheme://user:password@host or scheme://token@host.
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1<redacted>@'],
];

/** `text` with every known secret and everything that looks like one replaced. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) out = out.split(secret).join('<redacted>');
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A URL fit for messages: scheme, host and path; never userinfo, query (signatures, upload state) or fragment. */
export function safeUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return redact(`${u.protocol}//${u.host}${u.pathname}`);
  } catch {
    return redact(String(url));
  }
}

/** Forgets every registered secret (tests only: one process runs many scenarios). */
export function forgetSecrets(): void {
  known.clear();
}
