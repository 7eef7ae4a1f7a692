/**
 * Every failure a user can meet is a ModelcarError: a one-line message saying what is wrong, and a hint saying what
 * to do. The CLI prints both and exits non-zero; nothing else in the code prints errors.
 */
export type ErrorKind =
  | 'usage' // bad flags or arguments
  | 'reference' // an image reference that does not parse
  | 'source' // the model source is missing, empty, unreadable or unsafe
  | 'hub' // the Hugging Face Hub refused or failed
  | 'integrity' // bytes did not match the sha256 they were promised to have
  | 'limit' // the plan breaks a registry or layout limit
  | 'base' // the base image cannot be found or used
  | 'not-found' // an image, tag or blob that was asked for is not in the store
  | 'destination' // the destination cannot be written
  | 'registry' // the registry answered with an error
  | 'registry-auth' // the registry refused our credentials
  | 'network' // a connection could not be made or was lost for good
  | 'model-registry' // the Kubeflow Model Registry refused or failed
  | 'cluster' // the Kubernetes API refused or failed
  | 'trust' // a key, signature or attestation is missing, unreadable or does not verify
  | 'interrupted' // the user stopped the run (Ctrl-C, SIGTERM)
  | 'internal';

/**
 * The process exit status of each outcome, documented in `build --help` and docs/runs.md. A pipeline can tell "retry
 * only the registration" (3) from "the build failed" (1) and from "stopped by a signal, nothing tagged" (130/143).
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /**
   * The image was pushed and tagged (digest printed, result files written) but a step after the push failed:
   * signing it or registering it in the Model Registry. Retry only that step.
   */
  afterPush: 3,
  /** Stopped by SIGINT (Ctrl-C): no new tag. */
  interrupted: 130,
  /** Stopped by SIGTERM (Tekton's timeout, `kill`): no new tag. */
  terminated: 143,
} as const;

export class ModelcarError extends Error {
  override readonly name = 'ModelcarError';
  /** The exit status when this error ends the command; undefined: decided by the kind (usage 2, else 1). */
  readonly exitCode: number | undefined;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options?.exitCode;
  }
}

/** The exit status for an error that ended a command. */
export function exitCodeOf(e: unknown): number {
  if (!isModelcarError(e)) return ExitCode.failed;
  if (e.exitCode !== undefined) return e.exitCode;
  if (e.kind === 'interrupted') return ExitCode.interrupted;
  return e.kind === 'usage' ? ExitCode.usage : ExitCode.failed;
}

export function isModelcarError(e: unknown): e is ModelcarError {
  return e instanceof ModelcarError;
}

/**
 * The errors along a cause chain, outermost first: undici wraps socket errors in `cause`, and a dual-stack connect
 * fails with an AggregateError holding one error per address (the first is followed).
 */
export function errorChain(e: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let cur: unknown = e; cur && chain.length < 6; ) {
    chain.push(cur);
    const inner = (cur as { errors?: unknown[] }).errors;
    cur = (cur as { cause?: unknown }).cause ?? (Array.isArray(inner) ? inner[0] : undefined);
  }
  return chain;
}

/** The codes (ECONNREFUSED, UND_ERR_SOCKET, ...) along a cause chain, outermost first. */
export function errorCodes(e: unknown): string[] {
  return errorChain(e).flatMap((x) => {
    const code = (x as { code?: unknown }).code;
    return typeof code === 'string' ? [code] : [];
  });
}

/** The most telling code of a network failure: the first that is not undici's generic UND_ERR_SOCKET. */
export function errorCode(e: unknown): string | undefined {
  const codes = errorCodes(e);
  return codes.find((c) => c !== 'UND_ERR_SOCKET') ?? codes[0];
}

/**
 * Adds the caller's context to an error from below (a store, a client): same kind, `context: message`, the original
 * kept as the cause. A hint given here replaces the lower one, which knew less about what the user was doing.
 */
export function withContext(e: unknown, context: string, hint?: string): ModelcarError {
  if (isModelcarError(e)) {
    return new ModelcarError(e.kind, `${context}: ${e.message}`, hint ?? e.hint, { cause: e });
  }
  return new ModelcarError(
    'internal',
    `${context}: ${messageOf(e)}`,
    hint ?? 'this is a bug in modelcar; rerun with MODELCAR_DEBUG=1 and report the output',
    {
      cause: e,
    },
  );
}

/** The message of any thrown value, for wrapping low-level errors into ModelcarErrors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
