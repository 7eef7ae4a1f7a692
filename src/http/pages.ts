/**
 * A bound on pagination: a listing that follows `Link: rel="next"` (or a page token) stops at a page cap and at the
 * first page it was already given, naming the server as the cause. Used around the fetch a paginating library gets.
 */
import { type ErrorKind, ModelcarError } from '../errors.js';
import { safeUrl } from './redact.js';

export interface PageLimits {
  /** What is being listed, for messages: "the file listing of hf://org/name". */
  readonly what: string;
  /** @default 1000 */
  readonly maxPages?: number;
  readonly kind?: ErrorKind;
}

export const DEFAULT_MAX_PAGES = 1000;

/** `fetchFn`, refusing a URL it was already asked for and more than `maxPages` requests. */
export function pageGuard(fetchFn: typeof fetch, limits: PageLimits): typeof fetch {
  const seen = new Set<string>();
  const max = limits.maxPages ?? DEFAULT_MAX_PAGES;
  const kind = limits.kind ?? 'network';
  return (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (seen.has(url)) {
      throw new ModelcarError(
        kind,
        `${limits.what} loops: the server sent us back to a page it already gave (${safeUrl(url)})`,
        'the server (or a mirror in between) paginates wrongly; report it to whoever runs it',
      );
    }
    if (seen.size >= max) {
      throw new ModelcarError(
        kind,
        `${limits.what} goes on past ${max} pages; stopping`,
        'the server (or a mirror in between) paginates without end; report it to whoever runs it',
      );
    }
    seen.add(url);
    return fetchFn(input, init);
  }) as typeof fetch;
}
