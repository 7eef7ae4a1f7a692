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
