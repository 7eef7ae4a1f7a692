/** The registry connection flags shared by every command that talks to a registry (build, copy, inspect, ...). */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ModelcarError, messageOf } from '../errors.js';
import { addCredentialPair } from '../http/redact.js';
import type { RegistryOptions } from '../oci/open.js';
import type { Credential } from '../oci/registry/credentials.js';
import { collect, parseSize } from './arguments.js';

export interface RegistryFlags {
  authfile?: string;
  caFile?: string;
  certDir?: string;
  tlsVerify: boolean;
  plainHttp?: boolean;
  saToken: string[];
  chunkSize?: number;
}

function bool(flag: string) {
  return (v: string): boolean => {
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    throw new InvalidArgumentError(`${flag} takes true or false`);
  };
}

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--authfile <file>',
        'registry credentials: containers auth.json, docker config.json or a mounted dockerconfigjson Secret (tried first)',
      ).env('REGISTRY_AUTH_FILE'),
    )
    .option('--ca-file <pem>', 'also trust this CA certificate (PEM) for registry TLS')
    .option(
      '--cert-dir <dir>',
      'registry TLS files as podman and skopeo read them: *.crt CAs, NAME.cert + NAME.key client certificate (mTLS); default: /etc/containers/certs.d/HOST[:PORT]/',
    )
    .addOption(
      new Option('--tls-verify [bool]', 'verify registry TLS certificates; --tls-verify=false only for throwaway tests')
        .argParser(bool('--tls-verify'))
        .default(true)
        .preset(true),
    )
    .option(
      '--plain-http',
      'use plain HTTP for a non-loopback registry (loopback registries use it unless --ca-file, --cert-dir or a certs.d directory configures TLS)',
    )
    .option(
      '--sa-token <host>',
      "use the pod's service-account token as the password for this registry host (repeatable; automatic for the OpenShift internal registry)",
      collect,
      [],
    )
    .option(
      '--chunk-size <size>',
      "upload in chunks of this size (e.g. 64MiB) so a dropped connection resumes where the registry kept the bytes; default: one streamed PATCH per layer. Capped by the registry's own limits (GHCR 4 MiB; ECR takes no chunks)",
      parseSize,
    );
}

export function registryOptions(flags: RegistryFlags): RegistryOptions {
  return {
    ...(flags.authfile ? { authFile: flags.authfile } : {}),
    ...(flags.caFile ? { caFile: flags.caFile } : {}),
    ...(flags.certDir ? { certDir: flags.certDir } : {}),
    tlsVerify: flags.tlsVerify,
    plainHttp: flags.plainHttp === true,
    saTokenHosts: flags.saToken,
    ...(flags.chunkSize !== undefined ? { chunkSize: flags.chunkSize } : {}),
  };
}

/** The two ends of `copy`, as skopeo spells their flags. */
export type End = 'src' | 'dest';

export interface EndFlags {
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  srcCertDir?: string;
  destCertDir?: string;
  srcAuthfile?: string;
  destAuthfile?: string;
  srcCreds?: string;
  destCreds?: string;
  srcPasswordFile?: string;
  destPasswordFile?: string;
}

const ENV_PASSWORD: Record<End, string> = { src: 'MODELCAR_SRC_PASSWORD', dest: 'MODELCAR_DEST_PASSWORD' };
const WORD: Record<End, string> = { src: 'source', dest: 'destination' };

/** skopeo's per-end flags: each one, when given, wins over the shared flag for that end only. */
export function addEndOptions(cmd: Command): Command {
  for (const end of ['src', 'dest'] as const) {
    const word = WORD[end];
    cmd
      .addOption(
        new Option(`--${end}-tls-verify [bool]`, `verify TLS of the ${word} registry (default: --tls-verify)`)
          .argParser(bool(`--${end}-tls-verify`))
          .preset(true),
      )
      .option(`--${end}-cert-dir <dir>`, `TLS files (*.crt, NAME.cert + NAME.key) for the ${word} registry`)
      .option(`--${end}-authfile <file>`, `credentials file for the ${word} registry`)
      .option(
        `--${end}-creds <user[:password]>`,
        `user (and password) for the ${word} registry; give the password with --${end}-password-file or ${ENV_PASSWORD[end]} (a password in argv is visible to every user in ps)`,
      )
      .option(`--${end}-password-file <file>`, `the password for --${end}-creds USER, read from FILE`);
  }
  return cmd;
}

function readPassword(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ModelcarError(
      'usage',
      `cannot read ${flag} ${file}: ${messageOf(e)}`,
      'check the path and its permissions',
    );
  }
}

/** The credential `--END-creds` names, its password from argv, --END-password-file or MODELCAR_END_PASSWORD. */
function endCredential(flags: EndFlags, end: End, env: NodeJS.ProcessEnv): Credential | undefined {
  const creds = end === 'src' ? flags.srcCreds : flags.destCreds;
  const passwordFile = end === 'src' ? flags.srcPasswordFile : flags.destPasswordFile;
  if (creds === undefined) {
    if (passwordFile !== undefined) {
      throw new ModelcarError('usage', `--${end}-password-file needs --${end}-creds USER`, `add --${end}-creds USER`);
    }
    return undefined;
  }
  const colon = creds.indexOf(':');
  const username = colon < 0 ? creds : creds.slice(0, colon);
  let password: string | undefined;
  let source = `--${end}-creds`;
  if (colon >= 0) {
    password = creds.slice(colon + 1);
    process.stderr.write(
      `modelcar: warning: the password given in --${end}-creds is visible to every user of this machine (ps, /proc); use --${end}-password-file FILE or ${ENV_PASSWORD[end]}\n`,
    );
  } else if (passwordFile !== undefined) {
    password = readPassword(passwordFile, `--${end}-password-file`);
    source = `--${end}-creds with --${end}-password-file ${passwordFile}`;
  } else if (env[ENV_PASSWORD[end]] !== undefined) {
    password = env[ENV_PASSWORD[end]];
    source = `--${end}-creds with ${ENV_PASSWORD[end]}`;
  }
  if (username === '' || password === undefined || password === '') {
    throw new ModelcarError(
      'usage',
      `--${end}-creds ${username || '(empty user)'} needs a user and a password`,
      `give the password with --${end}-password-file FILE or ${ENV_PASSWORD[end]} (never in argv, where ps shows it)`,
    );
  }
  addCredentialPair(username, password);
  return { kind: 'basic', username, password, source };
}

/** The registry options of one end of a copy: the shared flags, then that end's own. */
export function endRegistryOptions(flags: RegistryFlags & EndFlags, end: End, env = process.env): RegistryOptions {
  const base = registryOptions(flags);
  const tlsVerify = end === 'src' ? flags.srcTlsVerify : flags.destTlsVerify;
  const certDir = end === 'src' ? flags.srcCertDir : flags.destCertDir;
  const authFile = end === 'src' ? flags.srcAuthfile : flags.destAuthfile;
  const credential = endCredential(flags, end, env);
  return {
    ...base,
    ...(tlsVerify !== undefined ? { tlsVerify } : {}),
    ...(certDir !== undefined ? { certDir } : {}),
    ...(authFile !== undefined ? { authFile } : {}),
    ...(credential ? { credential } : {}),
  };
}
