/** Parsers for command-line values, shared by every command so the same flag reads the same everywhere. */
import { InvalidArgumentError } from 'commander';

/** `10GB`, `20GiB`, `52000MiB`, or plain bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size; write e.g. 10GB, 20GiB or 52000MiB`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const power = { B: 0, K: 1, M: 2, G: 3, T: 4 }[unit[0] as 'B' | 'K' | 'M' | 'G' | 'T'];
  const base = unit.includes('I') || unit === 'B' ? 1024 : 1000;
  return Math.floor(Number(m[1]) * base ** power);
}

/** For a repeatable option: each use adds one value. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Digits only (no `1e3`, `0x10` or sign), at least `min`. */
export function wholeNumber(min: number, flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number >= ${min}`);
    return n;
  };
}

export function positiveNumber(flag: string, what = 'a positive number') {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${flag} must be ${what}`);
    return n;
  };
}
