/**
 * Debug lines about registry traffic (MODELCAR_DEBUG=1): what was retried and why. Everything passes through
 * redact(), so a credential that slipped into a message or URL never reaches the terminal or a CI log.
 */

const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 <redacted>'],
  [/([?&](?:_state|token|access_token|refresh_token|password|secret)=)[^&\s"]*/gi, '$1<redacted>'],
  [/("(?:token|access_token|refresh_token|password|identitytoken|auth|Secret)"\s*:\s*")[^"]*/gi, '$1<redacted>'],
  // A JWT anywhere (three base64url parts): bearer tokens and service-account tokens alike.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, '<redacted-jwt>'],
  [/(\/\/)[^/@\s:]+:[^/@\s]+@/g, '$1<redacted>@'],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

export function debug(line: string): void {
  if (process.env.MODELCAR_DEBUG) process.stderr.write(`modelcar: ${redact(line)}\n`);
}

/** A URL for messages: origin and path, never the query (upload state) or userinfo. */
export function shortUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return redact(url);
  }
}
