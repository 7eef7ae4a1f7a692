/** Writes manifests to a directory or stdout. The only I/O of the generators. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { type Manifest, toYaml } from './manifest.js';

export async function writeManifests(dir: string, manifests: Manifest[]): Promise<string[]> {
  const written: string[] = [];
  try {
    await mkdir(dir, { recursive: true });
    for (const m of manifests) {
      const path = join(dir, m.file);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, toYaml([m]), { mode: m.sensitive ? 0o600 : 0o644 });
      written.push(path);
    }
  } catch (e) {
    throw new ModelcarError(
      'destination',
      `cannot write manifests to ${dir}: ${messageOf(e)}`,
      'pass a writable --output DIR',
      {
        cause: e,
      },
    );
  }
  return written;
}

/** stdout gets everything but secrets: a Secret on a terminal or in a CI log is a leaked Secret. */
export function renderToStdout(manifests: Manifest[]): string {
  if (manifests.some((m) => m.sensitive)) {
    throw new ModelcarError(
      'usage',
      'refusing to print a Secret to stdout',
      'pass --output DIR; the Secret is written there with mode 0600',
    );
  }
  return toYaml(manifests);
}
