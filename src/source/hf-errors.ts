import { type ErrorKind, ModelcarError } from '../errors.js';
import { isTransientStatus } from '../http/retry.js';

/** What an error message needs to name: the repo as the user wrote it, and where the token came from. */
export interface HubErrorContext {
  readonly endpoint: string;
  /** `org/name` */
  readonly repo: string;
  /** The revision as the user wrote it (absent: the default branch). */
  readonly revision?: string;
  /** Printable origin of the token in use (e.g. `HF_TOKEN`), absent when none was sent. */
  readonly tokenSource?: string;
}

export interface HubReply {
  readonly status: number;
  /** The Hub's `X-Error-Code` header: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, ... */
  readonly code?: string;
  /** The Hub's `X-Error-Message` header or JSON `error` field. */
  readonly message?: string;
  /** The file being fetched, when there is one. */
  readonly path?: string;
  /** Request URL without its query (signed CDN URLs carry credentials there). */
  readonly url: string;
}

const TOKEN_HINT = 'pass a token with HF_TOKEN or --hf-token-file';
const NEW_TOKEN = 'https://huggingface.co/settings/tokens';

/** A refusal from the Hub, with the answer it came from (a mirror without an API answers 404/405/501). */
export class HubError extends ModelcarError {
  constructor(
    kind: ErrorKind,
    message: string,
    hint: string | undefined,
    readonly reply: HubReply,
  ) {
    super(kind, message, hint);
  }
}

/** Turns a refusal from the Hub into one line that says what is wrong and a hint that says what to do. */
export function hubError(ctx: HubErrorContext, reply: HubReply): HubError {
  const e = describeRefusal(ctx, reply);
  return new HubError(e.kind, e.message, e.hint, reply);
}

function describeRefusal(ctx: HubErrorContext, reply: HubReply): ModelcarError {
  const page = `${ctx.endpoint}/${ctx.repo}`;
  const ref = `hf://${ctx.repo}${ctx.revision ? `@${ctx.revision}` : ''}`;
  const token = ctx.tokenSource;
  if (reply.code === 'GatedRepo') {
    return reply.status === 401 || !token
      ? new ModelcarError(
          'hub',
          `${ref} is a gated repository and no Hugging Face token was given`,
          `accept its license on ${page} with your account, then ${TOKEN_HINT}`,
        )
      : new ModelcarError(
          'hub',
          `${ref} is a gated repository and the token from ${token} has not been granted access`,
          `accept its license on ${page} with the token's account (manual approval can take a while), or use a token of an account that has access`,
        );
  }
  if (reply.code === 'RepoNotFound' || (reply.status === 404 && !reply.code && !reply.path)) {
    return new ModelcarError(
      'hub',
      `${ref}: repository not found on ${ctx.endpoint}`,
      token
        ? `check the name, and that the account of the token from ${token} can see it`
        : `check the name; if the repository is private, ${TOKEN_HINT}`,
    );
  }
  if (reply.code === 'RevisionNotFound') {
    return new ModelcarError(
      'hub',
      `${ref}: revision "${ctx.revision ?? 'main'}" not found`,
      `use a branch, tag, commit sha or refs/pr/N that exists; see ${page}/tree/main`,
    );
  }
  if (reply.code === 'EntryNotFound' || (reply.status === 404 && reply.path)) {
    return new ModelcarError(
      'hub',
      `${ref}: ${reply.path ?? 'file'} not found at this revision`,
      'the file was listed but cannot be downloaded; run again, and check the repository if it persists',
    );
  }
  if (reply.status === 401 && token) {
    return new ModelcarError(
      'hub',
      `the Hugging Face token from ${token} was rejected (HTTP 401${reply.message ? `: ${reply.message}` : ''})`,
      `create a new token at ${NEW_TOKEN} and ${TOKEN_HINT}`,
    );
  }
  if (reply.status === 401 || reply.status === 403) {
    return new ModelcarError(
      'hub',
      `${ref}: access denied (HTTP ${reply.status}${reply.message ? `: ${reply.message}` : ''})`,
      token ? `check that the token from ${token} has read access` : TOKEN_HINT,
    );
  }
  return new ModelcarError(
    isTransientStatus(reply.status) ? 'network' : 'hub',
    `${reply.url}: HTTP ${reply.status}${reply.message ? `: ${reply.message}` : ''}`,
    isTransientStatus(reply.status)
      ? 'the Hub or its CDN is busy or failing; run again later'
      : 'check the repository and revision',
  );
}
