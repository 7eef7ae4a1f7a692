import { ModelcarError } from '../errors.js';

/** A Hugging Face model reference as a user writes it: `hf://ORG/NAME[@REVISION]`. */
export interface HfRef {
  /** `org/name`, as the Hub API spells the repo id. */
  readonly repo: string;
  readonly org: string;
  readonly name: string;
  /** Branch, tag, 40-hex commit sha or `refs/pr/N`; absent means the Hub's default branch. */
  readonly revision?: string;
}

const PREFIX = 'hf://';
// The Hub's own rule: alphanumerics, '-', '_', '.'; no '--' or '..'; '-' and '.' neither first nor last; <= 96.
const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function isHfRef(s: string): boolean {
  return s.startsWith(PREFIX);
}

export function isCommitSha(s: string): boolean {
  return COMMIT_SHA.test(s);
}

const USAGE_HINT = 'write hf://ORG/NAME or hf://ORG/NAME@REVISION (a branch, tag, commit sha or refs/pr/N)';

export function parseHfRef(input: string): HfRef {
  if (!isHfRef(input)) {
    throw new ModelcarError('usage', `${input}: not a Hugging Face reference`, USAGE_HINT);
  }
  const rest = input.slice(PREFIX.length);
  const at = rest.indexOf('@');
  const repo = at < 0 ? rest : rest.slice(0, at);
  const revision = at < 0 ? undefined : rest.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2) {
    throw new ModelcarError('usage', `${input}: expected exactly ORG/NAME after hf://`, USAGE_HINT);
  }
  const [org = '', name = ''] = parts;
  for (const part of [org, name]) {
    if (!REPO_PART.test(part) || part.includes('--') || part.includes('..')) {
      throw new ModelcarError(
        'usage',
        `${input}: "${part}" is not a valid Hub name`,
        "names use letters, digits, '-', '_' and '.', at most 96 characters, no '--' or '..'",
      );
    }
  }
  if (revision !== undefined) checkRevision(input, revision);
  return revision === undefined ? { repo, org, name } : { repo, org, name, revision };
}

function checkRevision(input: string, revision: string): void {
  // Git ref-name rules that matter here; the Hub answers RevisionNotFound for the rest.
  const bad =
    revision === '' ||
    /[\s~^:?*[\\]/.test(revision) ||
    [...revision].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) ||
    revision.includes('..') ||
    revision.includes('//') ||
    revision.startsWith('/') ||
    revision.endsWith('/') ||
    revision.endsWith('.lock');
  if (bad) throw new ModelcarError('usage', `${input}: "${revision}" is not a valid revision`, USAGE_HINT);
}

export function formatHfRef(ref: Pick<HfRef, 'repo'>, revision?: string): string {
  return `${PREFIX}${ref.repo}${revision ? `@${revision}` : ''}`;
}
