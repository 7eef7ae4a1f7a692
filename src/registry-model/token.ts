import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ModelcarError, messageOf } from '../errors.js';
import { addSecret } from '../http/redact.js';

/** The in-pod service-account token; projected tokens rotate, so it is read again for every request. */
export const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Where the bearer token comes from. `describe` names the source (never the token) so error hints can say which
 * credential was refused; `read` returns the token for one request, or undefined when no token is configured.
 */
export interface TokenSource {
  readonly kind: 'file' | 'env' | 'service-account' | 'none';
  readonly describe: string;
  read(): Promise<string | undefined>;
}

export interface TokenOptions {
  /** `--token-file`: wins over everything else. */
  tokenFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** Order: --token-file, $MODEL_REGISTRY_TOKEN, the pod's service-account token (path: $MODELCAR_SA_TOKEN_FILE). */
export function tokenSource(options: TokenOptions = {}): TokenSource {
  const env = options.env ?? process.env;
  if (options.tokenFile) {
    const file = options.tokenFile;
    return { kind: 'file', describe: `--token-file ${file}`, read: () => readTokenFile(file, `--token-file ${file}`) };
  }
  const fromEnv = env.MODEL_REGISTRY_TOKEN;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const token = checkToken(fromEnv.trim(), '$MODEL_REGISTRY_TOKEN');
    return { kind: 'env', describe: '$MODEL_REGISTRY_TOKEN', read: async () => token };
  }
  const saFile = env.MODELCAR_SA_TOKEN_FILE || SERVICE_ACCOUNT_TOKEN_FILE;
  if (existsSync(saFile)) {
    const describe = `the service-account token ${saFile}`;
    return { kind: 'service-account', describe, read: () => readTokenFile(saFile, describe) };
  }
  return { kind: 'none', describe: 'no token', read: async () => undefined };
}

/** A fixed token, for library callers (e.g. `build --register`) that already hold one. */
export function staticToken(token: string, describe = 'the token given'): TokenSource {
  const checked = checkToken(token.trim(), describe);
  return { kind: 'env', describe, read: async () => checked };
}

async function readTokenFile(file: string, describe: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ModelcarError(
      'usage',
      `cannot read ${describe}: ${messageOf(e)}`,
      'point --token-file at a readable file holding only the bearer token (for example: oc whoami -t > token)',
      { cause: e },
    );
  }
  const token = text.trim();
  if (token === '') {
    throw new ModelcarError('usage', `${describe} is empty`, 'write the bearer token into the file, e.g. oc whoami -t');
  }
  return checkToken(token, describe);
}

/** A token with spaces or control characters would corrupt the Authorization header (or smuggle another header). */
function checkToken(token: string, describe: string): string {
  addSecret(token);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new ModelcarError(
      'usage',
      `the token from ${describe} contains spaces or characters not allowed in an HTTP header`,
      'the file or variable must hold only the bearer token itself, on one line',
    );
  }
  return token;
}
