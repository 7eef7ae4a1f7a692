import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ModelcarError } from '../errors.js';
import type { Check, CheckResult, DoctorContext } from './check.js';
import { isObj, readLintInput } from './manifest-input.js';
import { type Finding, type LintOptions, lintManifests, RULES } from './manifest-rules.js';
import { parseRanges, SUPPLEMENTAL_GROUPS, UID_RANGE } from './scc-range.js';

/** `modelcar doctor --manifests PATH...`: every trap found in the given YAML and Containerfiles. */
export const manifestsCheck: Check = {
  id: 'manifests',
  title: 'manifest traps',
  // The cluster check reads the namespace's SCC ranges, which sharpen the runAsUser/fsGroup findings.
  after: ['cluster'],
  async run(ctx) {
    const paths = ctx.options.manifests ?? [];
    const input = await readLintInput(paths, ctx.readStdin);
    const results: CheckResult[] = input.problems.map((p) => ({
      id: 'manifests.parse',
      title: 'manifest could not be read',
      status: 'fail' as const,
      summary: `${p.file}${p.document ? ` doc ${p.document}` : ''}: ${p.message}`,
      fix: 'Fix the file so `oc apply --dry-run=client -f FILE` reads it.',
      details: { file: p.file, ...(p.document ? { document: p.document } : {}) },
    }));
    const lintOptions = await namespaceRanges(ctx);
    const findings = lintManifests(input, lintOptions.options);
    results.push(...findings.map(toResult));
    if (results.length === 0) {
      const docs = input.docs.length + input.containerfiles.length;
      results.push({
        id: 'manifests',
        title: 'manifest traps',
        status: 'ok',
        summary: `${docs} document${docs === 1 ? '' : 's'} in ${input.files} file${input.files === 1 ? '' : 's'}: no traps found${lintOptions.note}`,
      });
    }
    return results;
  },
};

export function toResult(f: Finding): CheckResult {
  const rule = RULES[f.rule];
  return {
    id: `manifests.${f.rule}`,
    title: rule.title,
    status: f.severity,
    summary: `${f.file} doc ${f.document} ${f.kind}/${f.name} at ${f.path}: ${f.message}`,
    symptom: f.symptom ?? rule.symptom,
    cause: rule.cause,
    fix: f.fix ?? rule.fix,
    details: { file: f.file, document: f.document, kind: f.kind, name: f.name, path: f.path, rule: f.rule },
  };
}

/** SCC ranges from `--namespace-annotations FILE` (wins: it is explicit) or from the cluster check's facts. */
async function namespaceRanges(ctx: DoctorContext): Promise<{ options: LintOptions; note: string }> {
  let annotations: Record<string, string> | undefined;
  let from = '';
  if (ctx.options.namespaceAnnotations) {
    annotations = await readAnnotations(ctx.options.namespaceAnnotations);
    from = ctx.options.namespaceAnnotations;
  } else if (ctx.facts.namespace) {
    annotations = ctx.facts.namespace.annotations;
    from = ctx.facts.namespace.from;
  }
  const uidRanges = parseRanges(annotations?.[UID_RANGE]);
  const groupRanges = parseRanges(annotations?.[SUPPLEMENTAL_GROUPS]);
  return {
    options: { ...(uidRanges ? { uidRanges } : {}), ...(groupRanges ? { groupRanges } : {}) },
    note: uidRanges || groupRanges ? ` (SCC ranges from ${from})` : '',
  };
}

/** A Namespace object (its metadata.annotations) or a flat `annotation: value` map, YAML or JSON. */
export async function readAnnotations(file: string): Promise<Record<string, string>> {
  let value: unknown;
  try {
    value = parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ModelcarError(
      'usage',
      `cannot read --namespace-annotations ${file}: ${(e as Error).message.split('\n')[0]}`,
      'Pass `oc get namespace NS -o yaml > ns.yaml` or a YAML map of openshift.io/sa.scc.* annotations.',
    );
  }
  const source = isObj(value) && isObj(value.metadata) ? value.metadata.annotations : value;
  const out: Record<string, string> = {};
  if (isObj(source)) for (const [k, v] of Object.entries(source)) if (typeof v === 'string') out[k] = v;
  return out;
}
