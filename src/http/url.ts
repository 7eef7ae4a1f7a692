/** The one parser for URLs a user or a server hands us (proxies, realms, HF_ENDPOINT, --model-registry). */
import type { ModelcarError } from '../errors.js';

export type UrlProblem = 'not a URL' | 'not http(s)';

/** `text` as an http:// or https:// URL, or the caller's own error naming what was wrong. */
export function httpUrl(text: string, refuse: (problem: UrlProblem, url?: URL) => ModelcarError): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('not http(s)', url);
  return url;
}
