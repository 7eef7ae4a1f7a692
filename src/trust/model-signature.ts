/**
 * OpenSSF Model Signing v1.0 verification of a model directory (ossf/model-signing-spec spec/v1.0.md §8): verify the
 * bundle's signature, check the statement and predicate, enumerate the directory's regular files (not following
 * symbolic links, `allow_symlinks: false`; the default exclusions and `ignore_paths`; the bundle file itself), hash
 * each with sha256 and compare with `resources`. Every missing, changed and unsigned file is reported by path.
 * What an init container runs on /mnt/models before serving, or a data scientist on a downloaded model.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import type { TrustPolicy } from './policy.js';
import {
  byCodePoint,
  MODEL_SIGNING_V1,
  OMS_DEFAULT_IGNORES,
  type OmsResource,
  omsRootDigest,
  type Statement,
} from './statements.js';
import { TrustFailure, verifyStatementBundle } from './verify-bundle.js';

export type ModelDifferenceKind = 'file-missing' | 'file-changed' | 'file-unsigned' | 'symlink';

export interface ModelDifference {
  readonly kind: ModelDifferenceKind;
  readonly path: string;
  readonly expected?: string;
  readonly got?: string;
  readonly message: string;
}

export interface ModelVerifyReport {
  readonly ok: boolean;
  readonly signer: string;
  readonly model: string;
  readonly files: number;
  readonly bytes: number;
  readonly differences: readonly ModelDifference[];
}

interface Serialization {
  method?: unknown;
  hash_type?: unknown;
  allow_symlinks?: unknown;
  ignore_paths?: unknown;
}

export async function readBundleFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelcarError('trust', `cannot read the model signature ${path}: ${messageOf(e)}`, 'check the path');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ModelcarError(
      'trust',
      `${path} is not a Sigstore bundle (not JSON)`,
      'give the OMS bundle (model.sig) that was signed for this model',
    );
  }
}

function predicateOf(
  statement: Statement<Record<string, unknown>>,
  what: string,
): { resources: OmsResource[]; s: Serialization } {
  if (statement.predicateType !== MODEL_SIGNING_V1) {
    throw new TrustFailure(
      'model signature',
      `${what} is a ${String(statement.predicateType)} statement, not an OpenSSF model signature (${MODEL_SIGNING_V1})`,
      'give the model signature bundle, not the provenance',
    );
  }
  const predicate = statement.predicate as { resources?: unknown; serialization?: Serialization } | undefined;
  const resources = predicate?.resources;
  const s = predicate?.serialization;
  if (!Array.isArray(resources) || !s) {
    throw new TrustFailure('model signature', `${what}: the predicate lacks resources or serialization`, 'sign again');
  }
  if (s.method !== 'files' || s.hash_type !== 'sha256') {
    throw new TrustFailure(
      'model signature',
      `${what} uses serialization ${String(s.method)}/${String(s.hash_type)}; modelcar verifies files/sha256`,
      'sign the model with method "files" and hash sha256 (model_signing sign --hash sha256)',
    );
  }
  for (const r of resources as OmsResource[]) {
    if (typeof r?.name !== 'string' || !/^[a-f0-9]{64}$/.test(String(r.digest)) || r.algorithm !== 'sha256') {
      throw new TrustFailure('model signature', `${what}: resource ${JSON.stringify(r)} is malformed`, 'sign again');
    }
  }
  return { resources: resources as OmsResource[], s };
}

/** Whether a path (relative, `/`-separated) is excluded: defaults at the root, ignore paths exactly or as a subtree. */
function ignoredBy(path: string, ignores: readonly string[]): boolean {
  const top = path.split('/')[0] as string;
  if ((OMS_DEFAULT_IGNORES as readonly string[]).includes(top)) return true;
  return ignores.some((i) => path === i || path.startsWith(`${i.replace(/\/+$/, '')}/`));
}

async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: hash.digest('hex'), size };
}

interface Found {
  files: Map<string, string>;
  symlinks: string[];
}

async function enumerate(root: string, ignores: readonly string[], skip: string | undefined): Promise<Found> {
  const files = new Map<string, string>();
  const symlinks: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const rel = relative(root, full).split(sep).join('/');
      if (ignoredBy(rel, ignores) || full === skip) continue;
      if (entry.isSymbolicLink()) symlinks.push(rel);
      else if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.set(rel, full);
    }
  }
  await walk(root);
  return { files, symlinks };
}

/**
 * Verifies `target` (a model directory, or a single file) against an OMS bundle. The directory itself may be a
 * symbolic link (KServe's /mnt/models is one); links inside it are not followed and fail the check.
 */
export async function verifyModelDirectory(
  target: string,
  bundleJson: unknown,
  policy: TrustPolicy,
  opts: { readonly bundlePath?: string; readonly ignoreUnsigned?: boolean } = {},
): Promise<ModelVerifyReport> {
  const what = `the model signature${opts.bundlePath ? ` ${opts.bundlePath}` : ''}`;
  const { statement, signer } = verifyStatementBundle(bundleJson, policy, what);
  const { resources, s } = predicateOf(statement, what);
  const root = await realpath(target).catch((e) => {
    throw new ModelcarError('usage', `cannot open ${target}: ${messageOf(e)}`, 'give the model directory to verify');
  });
  const ignores = Array.isArray(s.ignore_paths) ? (s.ignore_paths as unknown[]).map(String) : [];
  const skip = opts.bundlePath ? await realpath(opts.bundlePath).catch(() => undefined) : undefined;
  const single = (await lstat(root)).isFile();
  const found: Found = single
    ? { files: new Map([[basename(root), root]]), symlinks: [] }
    : await enumerate(root, ignores, skip);

  const subject = (statement.subject as { digest?: { sha256?: string } }[])[0]?.digest?.sha256;
  if (subject !== undefined && subject !== omsRootDigest(resources)) {
    throw new TrustFailure(
      'model signature',
      `${what}: the subject digest is not the root digest of its resources`,
      'the bundle was not produced by a conformant signer; sign the model again',
    );
  }
  const differences: ModelDifference[] = [];
  let bytes = 0;
  const signed = new Set<string>();
  for (const r of [...resources].sort((a, b) => byCodePoint(a.name, b.name))) {
    signed.add(r.name);
    const path = found.files.get(r.name);
    if (!path) {
      differences.push({ kind: 'file-missing', path: r.name, message: `${r.name} is signed but missing` });
      continue;
    }
    const got = await sha256File(path);
    bytes += got.size;
    if (got.digest !== r.digest) {
      differences.push({
        kind: 'file-changed',
        path: r.name,
        expected: r.digest,
        got: got.digest,
        message: `${r.name} has sha256 ${got.digest}, the signature says ${r.digest}`,
      });
    }
  }
  if (!opts.ignoreUnsigned) {
    for (const path of [...found.files.keys()].sort(byCodePoint)) {
      if (!signed.has(path)) {
        differences.push({ kind: 'file-unsigned', path, message: `${path} is in the directory but not signed` });
      }
    }
  }
  for (const path of found.symlinks) {
    differences.push({
      kind: 'symlink',
      path,
      message: `${path} is a symbolic link; the signature allows none (allow_symlinks: false)`,
    });
  }
  const model = String((statement.subject as { name?: string }[])[0]?.name ?? '');
  return { ok: differences.length === 0, signer, model, files: resources.length, bytes, differences };
}
