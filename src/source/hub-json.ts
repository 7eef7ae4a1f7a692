/**
 * The Hub's JSON answers, checked before `@huggingface/hub` parses them: an HTML page (a login wall, a captive
 * portal, a mirror that is not a Hub), invalid JSON or JSON of the wrong shape is named as that server's answer to
 * that request, never left to surface as a TypeError inside the library ("internal error ... a bug in modelcar").
 */
import { ModelcarError } from '../errors.js';
import { safeUrl } from '../http/redact.js';
import { describeBody } from '../printable.js';

const HINT =
  'HF_ENDPOINT (or a proxy in between) does not answer like a Hugging Face Hub: point HF_ENDPOINT at https://huggingface.co or at a mirror that speaks the Hub API';

/** What a JSON endpoint must answer: the tree and commit listings are lists, model info is an object. */
function expectedShape(pathname: string): 'list' | 'object' | undefined {
  if (!pathname.startsWith('/api/')) return undefined;
  if (/\/(tree|commits|paths-info)(\/|$)/.test(pathname)) return 'list';
  return 'object';
}

/**
 * A `fetch` for `@huggingface/hub` whose JSON answers are read and checked before the library sees them; the body
 * size is bounded by the HTTP layer's fetch underneath (BODY_LIMITS.hubJson).
 */
export function hubJsonFetch(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const shape = expectedShape(url.pathname);
    if (!res.ok || !shape) return res;
    const what = `${safeUrl(url)} answered ${init?.method ?? 'GET'}`;
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ModelcarError(
        'hub',
        `${what} with ${describeBody(res.headers.get('content-type') ?? '', text)}, not JSON`,
        HINT,
      );
    }
    const isList = Array.isArray(json);
    if ((shape === 'list') !== isList || json === null || typeof json !== 'object') {
      throw new ModelcarError(
        'hub',
        `${what} with JSON that is not ${shape === 'list' ? 'a list' : 'an object'} (${describeBody('', text)})`,
        HINT,
      );
    }
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
