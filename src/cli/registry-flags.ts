/** The registry connection flags shared by every command that talks to a registry (build, copy, inspect, ...). */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { RegistryOptions } from '../oci/open.js';
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
