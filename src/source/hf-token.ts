import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { addSecret } from '../http/redact.js';

/** A Hugging Face token and where it came from; `source` is safe to print, `value` never is. */
export interface HfToken {
  readonly value: string;
  readonly source: string;
}

export interface HfTokenOptions {
  /** A token handed over by the caller (never from argv). */
  readonly token?: string;
  /** `--hf-token-file FILE`: wins over the environment because the user named it on this run. */
  readonly tokenFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Finds the token the way huggingface_hub does, so a machine already logged in with `hf auth login` just works:
 * HF_TOKEN, then the file HF_TOKEN_PATH names, then `$HF_HOME/token` (HF_HOME defaults to
 * `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`). An explicit token or `--hf-token-file` comes first.
 */
export function findHfToken(opts: HfTokenOptions = {}): HfToken | undefined {
  const found = lookUp(opts);
  addSecret(found?.value);
  return found;
}

function lookUp(opts: HfTokenOptions): HfToken | undefined {
  const env = opts.env ?? process.env;
  if (opts.token?.trim()) return { value: opts.token.trim(), source: 'the token option' };
  if (opts.tokenFile !== undefined) {
    const value = readTokenFile(opts.tokenFile, true);
    if (!value) {
      throw new ModelcarError(
        'usage',
        `--hf-token-file ${opts.tokenFile} is empty`,
        'write the token (hf_...) into the file, nothing else',
      );
    }
    return { value, source: `--hf-token-file ${opts.tokenFile}` };
  }
  if (env.HF_TOKEN?.trim()) return { value: env.HF_TOKEN.trim(), source: 'HF_TOKEN' };
  const file =
    env.HF_TOKEN_PATH ??
    join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'huggingface'), 'token');
  const value = readTokenFile(file, false);
  return value ? { value, source: file } : undefined;
}

function readTokenFile(file: string, required: boolean): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelcarError(
      'usage',
      `cannot read Hugging Face token file ${file}: ${messageOf(e)}`,
      'check the path and that the file is readable by the user running modelcar',
    );
  }
}
