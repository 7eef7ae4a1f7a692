/**
 * The OpenShift AI "OCI compliant registry - v1" connection: a `kubernetes.io/dockerconfigjson` Secret with the
 * dashboard's label and connection-type annotations and the fields of the `oci-v1` connection type (odh-dashboard):
 * `.dockerconfigjson`, `OCI_HOST` (scheme, host and organisation) and `ACCESS_TYPE`. With it the model's registry
 * shows up under the project's connections in the dashboard, and the serving pods pull with it. Pure.
 */
import type { ImageRef } from './image-ref.js';
import { type K8sObject, MANAGED_BY } from './manifest.js';

/** What an anonymous pull needs: the connection type requires a dockerconfigjson, and an empty one is valid. */
export const ANONYMOUS_DOCKER_CONFIG = '{"auths":{}}';

/** The registry base the OCI connection type calls OCI_HOST: scheme, host and organisation. */
export function ociHost(image: ImageRef): string {
  const parts = image.repository.split('/');
  const org = parts.length > 1 ? `/${parts.slice(0, -1).join('/')}` : '';
  return `https://${image.registry}${org}`;
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

export interface ConnectionOptions {
  readonly name: string;
  readonly namespace?: string;
  readonly image: ImageRef;
  /** The dockerconfigjson content; ANONYMOUS_DOCKER_CONFIG for a public registry. */
  readonly dockerConfigJson: string;
}

export function connectionSecret(o: ConnectionOptions): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: o.name,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      labels: { ...MANAGED_BY, 'opendatahub.io/dashboard': 'true' },
      annotations: {
        // The protocol annotation is the current one; the type ref is what the dashboard's forms read.
        'opendatahub.io/connection-type-protocol': 'oci',
        'opendatahub.io/connection-type-ref': 'oci-v1',
        'openshift.io/display-name': o.name,
      },
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': b64(o.dockerConfigJson),
      OCI_HOST: b64(ociHost(o.image)),
      // The dashboard's multi-select stores the chosen access types as a JSON list; serving only pulls.
      ACCESS_TYPE: b64('["Pull"]'),
    },
  };
}
