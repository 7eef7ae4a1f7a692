/**
 * OpenShift pre-allocated ranges: `openshift.io/sa.scc.uid-range` and `openshift.io/sa.scc.supplemental-groups` hold
 * `START/LENGTH` blocks (several separated by commas); `START-END` is accepted too.
 */
export const UID_RANGE = 'openshift.io/sa.scc.uid-range';
export const SUPPLEMENTAL_GROUPS = 'openshift.io/sa.scc.supplemental-groups';

export interface IdRange {
  min: number;
  max: number;
}

export function parseRanges(annotation: string | undefined): IdRange[] | undefined {
  if (!annotation) return undefined;
  const out: IdRange[] = [];
  for (const part of annotation.split(',')) {
    const m = /^\s*(\d+)\s*([/-])\s*(\d+)\s*$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = Number(m[3]);
    out.push(m[2] === '/' ? { min: a, max: a + b - 1 } : { min: a, max: b });
  }
  return out.length > 0 ? out : undefined;
}

export function inRanges(value: number, ranges: readonly IdRange[]): boolean {
  return ranges.some((r) => value >= r.min && value <= r.max);
}

/** As the SCC admission error prints them: `[1000650000, 1000659999]`. */
export function formatRanges(ranges: readonly IdRange[]): string {
  return ranges.map((r) => `[${r.min}, ${r.max}]`).join(' ');
}
