/**
 * Kubernetes' own rules for the values the generators put into manifests, in one place so every generator (deploy,
 * pipeline, and any added later) refuses a value the API server would refuse, at the command line instead of at
 * `oc apply`. The rules and their wording follow k8s.io/apimachinery (pkg/util/validation, pkg/api/resource); a
 * refusal names the flag, the value, the rule, and where possible a value that passes.
 */
import { ModelcarError } from '../errors.js';

export type K8sValueKind =
  /** Namespaces, and names that become a label or a host name part (RFC 1123 label). */
  | 'dns1123-label'
  /** Most object names: Secrets, ServiceAccounts, PVCs, Tasks, Pipelines (RFC 1123 subdomain). */
  | 'dns1123-subdomain'
  /** Names that KServe turns into Service names, which must start with a letter (RFC 1035 label). */
  | 'dns1035-label'
  /** Values of labels such as the Model Registry ids. */
  | 'label-value'
  /** Keys of labels, annotations and taints: an optional RFC 1123 subdomain prefix and '/', then a name. */
  | 'qualified-name'
  /** A resource.Quantity greater than zero: CPU, memory, volume sizes. */
  | 'quantity';

interface Rule {
  readonly what: string;
  readonly max: number;
  readonly pattern: RegExp;
  /** As apimachinery words it. */
  readonly rule: string;
  /** A valid value like the refused one, when one can be derived. */
  readonly suggest?: (value: string, max: number) => string | undefined;
}

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';

/** Lower-cases and replaces what the rule forbids with '-': `My Model_v2` -> `my-model-v2`. */
function dashed(value: string, max: number, allowDots: boolean, letterFirst: boolean): string | undefined {
  const s = value
    .toLowerCase()
    .replace(allowDots ? /[^a-z0-9.]+/g : /[^a-z0-9]+/g, '-')
    .replace(letterFirst ? /^[^a-z]+/ : /^[^a-z0-9]+/, '')
    .slice(0, max)
    .replace(/[^a-z0-9]+$/, '');
  return s === '' ? undefined : s;
}

// Decimal number, then a binary-SI, decimal-SI or exponent suffix (quantity.go's serialisation format).
const QUANTITY = /^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

const RULES: Record<K8sValueKind, Rule> = {
  'dns1123-label': {
    what: 'RFC 1123 label',
    max: 63,
    pattern: new RegExp(`^${LABEL}$`),
    rule: "lower case alphanumeric characters or '-', starting and ending with an alphanumeric character",
    suggest: (v, max) => dashed(v, max, false, false),
  },
  'dns1123-subdomain': {
    what: 'RFC 1123 subdomain',
    max: 253,
    pattern: new RegExp(`^${LABEL}(\\.${LABEL})*$`),
    rule: "lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric character",
    suggest: (v, max) => dashed(v, max, true, false),
  },
  'dns1035-label': {
    what: 'RFC 1035 label',
    max: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    rule: "lower case alphanumeric characters or '-', starting with a letter and ending with an alphanumeric character",
    suggest: (v, max) => dashed(v, max, false, true),
  },
  'label-value': {
    what: 'label value',
    max: 63,
    pattern: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
    rule: "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character",
  },
  'qualified-name': {
    what: 'qualified name',
    max: 253 + 1 + 63,
    pattern: new RegExp(`^(${LABEL}(\\.${LABEL})*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$`),
    rule: "an optional DNS prefix and '/', then at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character (e.g. nvidia.com/gpu.present)",
  },
  quantity: {
    what: 'quantity',
    max: 64,
    pattern: QUANTITY,
    rule: 'a positive decimal number with an optional suffix: Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E or an exponent (e.g. 500m, 4, 1.5Gi, 100Gi)',
  },
};

/** Why `value` breaks the rule of `kind`, or undefined when Kubernetes accepts it. */
export function k8sValueProblem(kind: K8sValueKind, value: string): string | undefined {
  const r = RULES[kind];
  if (value.length > r.max) return `must be no more than ${r.max} characters`;
  if (kind === 'qualified-name' && value.includes('/') && value.slice(0, value.indexOf('/')).length > 253) {
    return 'its prefix must be no more than 253 characters';
  }
  if (!r.pattern.test(value)) return `a ${r.what} must consist of ${r.rule}`;
  if (kind === 'quantity' && !/[1-9]/.test(value.replace(/[eE][+-]?[0-9]+$/, ''))) return 'must be greater than zero';
  return undefined;
}

/**
 * The value when Kubernetes accepts it as `kind`; otherwise a usage error naming the flag, the rule and a value that
 * would pass. `max` tightens the length limit where the generator appends suffixes to the name.
 */
export function checkK8sValue(kind: K8sValueKind, value: string, flag: string, max?: number): string {
  const r = RULES[kind];
  const limit = Math.min(max ?? r.max, r.max);
  const problem =
    value.length > limit && value.length <= r.max
      ? `must be no more than ${limit} characters (generated names add suffixes to it)`
      : k8sValueProblem(kind, value);
  if (problem === undefined) return value;
  const suggestion = r.suggest?.(value, limit);
  const shown = JSON.stringify(value);
  throw new ModelcarError(
    'usage',
    `${flag} ${shown} is not a valid Kubernetes ${r.what}: ${problem}`,
    suggestion && k8sValueProblem(kind, suggestion) === undefined
      ? `use ${flag} ${suggestion}`
      : kind === 'quantity'
        ? `write e.g. ${flag} 4 or ${flag} 16Gi`
        : `pick a value that matches ${r.pattern.source}`,
  );
}

/** Checks each present value; `undefined` values (flags not given) pass. */
export function checkK8sValues(
  checks: readonly (readonly [K8sValueKind, string | undefined, string, number?])[],
): void {
  for (const [kind, value, flag, max] of checks) if (value !== undefined) checkK8sValue(kind, value, flag, max);
}
