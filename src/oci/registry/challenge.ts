/** Parses `WWW-Authenticate` headers (RFC 7235): several challenges, quoted strings, comma-separated params. */
export interface Challenge {
  readonly scheme: string; // lower case: 'bearer', 'basic'
  readonly params: Readonly<Record<string, string>>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  let current: { scheme: string; params: Record<string, string> } | undefined;
  const skip = () => {
    while (i < text.length && /[\s,]/.test(text[i] as string)) i++;
  };
  while (i < text.length) {
    skip();
    const tokenMatch = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(text.slice(i));
    if (!tokenMatch) break;
    const token = tokenMatch[0];
    i += token.length;
    while (text[i] === ' ') i++;
    if (text[i] === '=') {
      i++;
      while (text[i] === ' ') i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i] ?? '';
          i++;
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(text.slice(i));
        value = m ? m[0] : '';
        i += value.length;
      }
      if (current) current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
