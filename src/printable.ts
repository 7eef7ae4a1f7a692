/**
 * Text that came from outside (file names from a listing or an image, a model card, a server's answer) reaches the
 * terminal only through `printable`: a newline in a name cannot print a fake line, an ANSI escape cannot move the
 * cursor or recolour the screen, a bidirectional override cannot make one name display as another. Every text
 * renderer (errors, warnings, progress, plans, inspect, verify) uses it; JSON output is escaped by JSON itself.
 */

// C0 and C1 controls, DEL, the Unicode line separators and the bidirectional overrides and isolates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function hasControlCharacter(s: string): boolean {
  CONTROL.lastIndex = 0;
  return CONTROL.test(s);
}

/** `s` with every control character written as an escape (`\n`, `\x1b`, `\u202e`): one line, nothing hidden. */
export function printable(s: string): string {
  return s.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function looksLikeHtml(contentType: string, text: string): boolean {
  return contentType.includes('html') || /^\s*<(!doctype|html)/i.test(text);
}

function clip(s: string): string {
  const one = printable(s);
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}

/** A short, printable account of a body that is not what was expected: the page title, or the first line of text. */
export function describeBody(contentType: string, text: string): string {
  if (text.trim() === '') return 'an empty body';
  if (looksLikeHtml(contentType, text)) {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    return title ? `an HTML page titled "${clip(title)}"` : 'an HTML page';
  }
  const first = text.trim().split(/\r?\n/, 1)[0] ?? '';
  return `body "${clip(first)}"`;
}
