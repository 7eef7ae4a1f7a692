/**
 * Where the serving pods (and the pre-pull DaemonSet) may run: node selector labels and tolerations, spelt as kubectl
 * spells them (`--node-selector KEY=VALUE`, `--toleration KEY[=VALUE]:EFFECT` as in `kubectl taint`). Pure parsing.
 */
import { ModelcarError } from '../errors.js';
import { k8sValueProblem } from './k8s-values.js';

export interface Toleration {
  readonly key: string;
  readonly operator: 'Equal' | 'Exists';
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface Placement {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
}

export const NO_PLACEMENT: Placement = { nodeSelector: {}, tolerations: [] };

// Kubernetes' rules for label and taint keys and values, from the one module that holds them.
const isKey = (k: string) => k8sValueProblem('qualified-name', k) === undefined;
const isValue = (v: string) => k8sValueProblem('label-value', v) === undefined;
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

function usage(message: string, hint: string): ModelcarError {
  return new ModelcarError('usage', message, hint);
}

export function parseNodeSelector(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (value === undefined || !isKey(key) || !isValue(value)) {
      throw usage(
        `invalid --node-selector ${JSON.stringify(item)}`,
        'write LABEL=VALUE, e.g. --node-selector nvidia.com/gpu.present=true',
      );
    }
    out[key] = value;
  }
  return out;
}

export function parseToleration(item: string): Toleration {
  const m = /^([^=:]+)(?:=([^:]*))?:(\w+)$/.exec(item);
  const effect = EFFECTS.find((e) => e === m?.[3]);
  if (!m || !effect || !isKey(m[1] as string) || (m[2] !== undefined && !isValue(m[2]))) {
    throw usage(
      `invalid --toleration ${JSON.stringify(item)}`,
      'write KEY[=VALUE]:EFFECT as kubectl taint does, e.g. --toleration nvidia.com/gpu:NoSchedule (EFFECT: NoSchedule, PreferNoSchedule or NoExecute)',
    );
  }
  const key = m[1] as string;
  return m[2] === undefined ? { key, operator: 'Exists', effect } : { key, operator: 'Equal', value: m[2], effect };
}

/** The pod spec fields of a placement; empty when nothing was given. */
export function podPlacement(p: Placement): Record<string, unknown> {
  return {
    ...(Object.keys(p.nodeSelector).length > 0 ? { nodeSelector: { ...p.nodeSelector } } : {}),
    ...(p.tolerations.length > 0 ? { tolerations: p.tolerations.map((t) => ({ ...t })) } : {}),
  };
}
