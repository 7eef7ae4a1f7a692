/**
 * OCI layouts a build writes or reads can sit inside the local model directory it packages (`cd my-model &&
 * modelcar build .` writes to ./modelcar-out). Their files are never part of the model: without this, the second
 * build would pack the first one's image into its own.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { formatLocation, type ImageLocation } from '../oci/reference.js';

export interface IgnoredDir {
  /** POSIX path relative to the source root. */
  readonly dir: string;
  /** Plain words for the plan's skipped list. */
  readonly reason: string;
}

/** The layout directories among `layouts` that lie inside `sourceRoot`, as source-relative paths. */
export function layoutsInside(
  sourceRoot: string,
  layouts: readonly { readonly location: ImageLocation; readonly role: string }[],
): IgnoredDir[] {
  const out: IgnoredDir[] = [];
  for (const { location, role } of layouts) {
    if (location.transport !== 'layout') continue;
    const rel = relative(resolve(sourceRoot), resolve(location.dir));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue;
    out.push({
      dir: rel.split(sep).join('/'),
      reason: `the ${role} ${formatLocation(location)}, not part of the model`,
    });
  }
  return out;
}

/** The ignored directory that holds `path`, if any. */
export function ignoredBy(path: string, dirs: readonly IgnoredDir[]): IgnoredDir | undefined {
  return dirs.find((d) => path.startsWith(`${d.dir}/`));
}
