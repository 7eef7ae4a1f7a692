import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** One parsed YAML document (or one item of a `kind: List`). */
export interface ManifestDoc {
  file: string;
  /** 1-based position of the document in its file, as people count them. */
  document: number;
  /** Path prefix inside the document: '' or `items[3].` for List items. */
  prefix: string;
  value: Record<string, unknown>;
}

export interface Containerfile {
  file: string;
  text: string;
}

export interface ParseProblem {
  file: string;
  document?: number;
  message: string;
}

export interface LintInput {
  docs: ManifestDoc[];
  containerfiles: Containerfile[];
  problems: ParseProblem[];
  files: number;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;
const CONTAINERFILE = /^(Containerfile|Dockerfile)(\..+)?$|\.(Containerfile|Dockerfile)$/i;

/** Reads files, directories (recursively: *.yaml, *.yml, *.json, Containerfile*, Dockerfile*) and `-` (stdin). */
export async function readLintInput(paths: readonly string[], readStdin: () => Promise<string>): Promise<LintInput> {
  const input: LintInput = { docs: [], containerfiles: [], problems: [], files: 0 };
  for (const p of paths) {
    if (p === '-') {
      addText(input, '<stdin>', await readStdin());
      continue;
    }
    let files: string[];
    try {
      files = (await stat(p)).isDirectory() ? await listDir(p) : [p];
    } catch (e) {
      input.problems.push({ file: p, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      continue;
    }
    for (const f of files) {
      try {
        addText(input, f, await readFile(f, 'utf8'));
      } catch (e) {
        input.problems.push({ file: f, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      }
    }
  }
  return input;
}

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listDir(full)));
    else if (MANIFEST_EXT.test(e.name) || CONTAINERFILE.test(e.name)) out.push(full);
  }
  return out;
}

export function addText(input: LintInput, file: string, text: string): void {
  input.files++;
  if (
    CONTAINERFILE.test(basename(file)) ||
    (/^\s*(#.*\n\s*)*(ARG\s.*\n\s*)*FROM\s/i.test(text) && !/^\s*\w+:/m.test(text))
  ) {
    input.containerfiles.push({ file, text });
    return;
  }
  // YAML 1.1 as the Kubernetes API server reads it (sigs.k8s.io/yaml): `0755` is octal, `yes` is true.
  const docs = parseAllDocuments(text, { version: '1.1' });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const document = i + 1;
    if (doc.errors.length > 0) {
      input.problems.push({ file, document, message: doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML' });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (!isObj(value)) {
      input.problems.push({ file, document, message: 'not a Kubernetes object (expected a mapping)' });
      return;
    }
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, j) => {
        if (isObj(item)) input.docs.push({ file, document, prefix: `items[${j}].`, value: item });
      });
      return;
    }
    input.docs.push({ file, document, prefix: '', value });
  });
}

export function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
