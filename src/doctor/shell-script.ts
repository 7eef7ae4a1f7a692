/**
 * Just enough shell reading to spot the "Permission denied" trap: a script that writes a file and then executes it
 * by path. Heuristic by design (no full shell parser): it looks at redirections, `tee`, `curl -o`, `wget -O` and at
 * the first word of each simple command.
 */

const SHELLS = new Set([
  'sh',
  'bash',
  'ash',
  'dash',
  'zsh',
  'ksh',
  '/bin/sh',
  '/bin/bash',
  '/usr/bin/bash',
  '/usr/bin/sh',
]);

/** The shell text a container runs: Tekton `script`, or the argument of `sh -c` in command/args. */
export function scriptOf(c: { script?: unknown; command?: unknown; args?: unknown }): string | undefined {
  if (typeof c.script === 'string') return c.script;
  const argv = [...strings(c.command), ...strings(c.args)];
  const shell = argv.findIndex((a) => SHELLS.has(a));
  if (shell < 0) return undefined;
  const dashC = argv.findIndex((a, i) => i > shell && /^-\w*c$/.test(a));
  return dashC >= 0 ? argv[dashC + 1] : undefined;
}

export function strings(x: unknown): string[] {
  return Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
}

function unquote(word: string): string {
  return word.replace(/^["']|["']$/g, '');
}

/** Files the script creates: `> f`, `>> f`, `tee f`, `curl -o f`, `wget -O f`, `cat <<EOF > f`. */
export function writtenFiles(script: string): string[] {
  const out = new Set<string>();
  for (const m of script.matchAll(/(?<![<>&0-9])>>?\|?\s*("[^"]+"|'[^']+'|[^\s;&|()<>]+)/g))
    out.add(unquote(m[1] ?? ''));
  for (const m of script.matchAll(/\btee\s+(?:-a\s+)?("[^"]+"|'[^']+'|[^\s;&|()<>]+)/g)) out.add(unquote(m[1] ?? ''));
  for (const m of script.matchAll(/\b(?:curl\b[^\n]*?\s-o|wget\b[^\n]*?\s-O)\s*("[^"]+"|'[^']+'|[^\s;&|()<>]+)/g)) {
    out.add(unquote(m[1] ?? ''));
  }
  return [...out].filter((f) => f !== '' && f !== '/dev/null' && !f.startsWith('/dev/std') && !f.startsWith('&'));
}

/** First words of the simple commands in the script (after `exec`, `&&`, `||`, `;`, `|`, `then`, `do`). */
export function commandWords(script: string): { word: string; line: number }[] {
  const out: { word: string; line: number }[] = [];
  script.split('\n').forEach((text, i) => {
    const code = text.replace(/(^|\s)#.*$/, '');
    for (const segment of code.split(/&&|\|\||;|\|/)) {
      const words = segment.trim().split(/\s+/).filter(Boolean);
      while (words.length > 0 && /^(exec|then|do|else|time|nohup|[A-Za-z_][A-Za-z0-9_]*=.*)$/.test(words[0] ?? '')) {
        words.shift();
      }
      const w = words[0];
      if (w) out.push({ word: unquote(w), line: i + 1 });
    }
  });
  return out;
}

/** Files the script both writes and then runs by path (the EACCES trap), with the line that runs it. */
export function executesOwnFile(script: string): { file: string; line: number } | undefined {
  const written = writtenFiles(script);
  if (written.length === 0) return undefined;
  for (const { word, line } of commandWords(script)) {
    if (!word.includes('/')) continue;
    const hit = written.find((f) => f === word || `./${f}` === word || f === `./${word}`);
    if (hit) return { file: hit, line };
  }
  return undefined;
}

/** `chmod +x`, `chmod u+x`, `chmod 755` and friends. */
export function chmodExec(script: string): number | undefined {
  const i = script
    .split('\n')
    .findIndex((l) =>
      /\bchmod\s+(?:-\w+\s+)*(?:[ugoa]*\+[rwXst]*x|0?[0-7]?[1357][0-7]{2}\b|[0-7]?[0-7][1357][0-7]\b)/.test(l),
    );
  return i >= 0 ? i + 1 : undefined;
}
