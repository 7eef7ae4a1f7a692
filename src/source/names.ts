import { sanitizeComponent, sanitizeTag } from '../oci/reference.js';
import { isCommitSha, isHfRef, parseHfRef } from './hf-ref.js';
import type { SourceIdentity } from './source.js';

/** An image name derived from where the model came from, for when the user gives no tag. */
export interface SourceNames {
  /** One valid OCI repository path component, e.g. `mistral-7b-instruct-v0.3`. */
  readonly repository: string;
  /** `main-1a2b3c4` for a branch or tag, the 12-char commit for a commit; absent when the source has no commit. */
  readonly tag?: string;
}

/** Where the name comes from: the Hub's `org` and `name`, or a directory's name. */
function sourceName(identity: SourceIdentity): { org?: string; name: string } {
  if (isHfRef(identity.uri)) {
    const { org, name } = parseHfRef(identity.uri);
    return { org, name };
  }
  return { name: identity.title };
}

export function namesFromSource(identity: SourceIdentity): SourceNames {
  const repository = sanitizeComponent(sourceName(identity).name);
  const commit = identity.revision;
  if (!commit) return { repository };
  const ref = identity.ref;
  const tag =
    ref && !isCommitSha(ref) && !commit.startsWith(ref)
      ? sanitizeTag(`${ref}-${commit.slice(0, 7)}`)
      : sanitizeTag(commit.slice(0, 12));
  return { repository, tag };
}

// Words that say nothing about which model it is: sizes, versions and the usual suffixes.
const GENERIC = new Set([
  'model',
  'models',
  'instruct',
  'chat',
  'base',
  'hf',
  'it',
  'gguf',
  'fp16',
  'bf16',
  'fp8',
  'int4',
  'int8',
  'awq',
  'gptq',
  'latest',
  'modelcar',
  'serving',
  'image',
]);

function words(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (w.length < 3 || GENERIC.has(w) || /^v?\d+(\.\d+)*[bmk]?$/.test(w)) continue;
    out.add(w);
  }
  return out;
}

/**
 * A warning when the repository name the user gave shares no distinctive word with the source (say
 * `--name llama-8b` for a Mistral repo): probably a copy-paste slip that would publish a model under a wrong name.
 * `given` may be a bare name or a whole image reference; only its last path component counts.
 */
export function nameMismatchWarning(given: string, identity: SourceIdentity): string | undefined {
  const last = given.replace(/@.*$/, '').split('/').pop() ?? given;
  const name = last.replace(/:[^:]*$/, '');
  const mine = words(name);
  if (mine.size === 0) return undefined;
  const { org, name: src } = sourceName(identity);
  const theirs = words(`${org ?? ''} ${src}`);
  for (const w of mine) if (theirs.has(w)) return undefined;
  const from = org ? `${org}/${src}` : src;
  return `the image name "${name}" shares no word with the source "${from}"; check that this is the model you mean to publish under that name`;
}
