/** A generated Kubernetes document plus where it goes, and its serialisation. Generators stay pure; `write.ts` does I/O. */
import { Document } from 'yaml';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
};

export interface Manifest {
  /** File name under --output DIR. */
  file: string;
  doc: K8sObject;
  /** A YAML comment put above the document: why a choice was made, what the reader must do. */
  comment?: string;
  /** Holds secret material: never written to stdout, written with mode 0600. */
  sensitive?: boolean;
}

/** Multi-document YAML. Strings that look like numbers or booleans are quoted by `yaml`, as Kubernetes needs. */
export function toYaml(manifests: Manifest[]): string {
  return manifests
    .map((m) => {
      const doc = new Document(m.doc);
      if (m.comment)
        doc.commentBefore = m.comment
          .split('\n')
          .map((l) => ` ${l}`)
          .join('\n');
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}

/** Label every generated object so `oc get all -l app.kubernetes.io/managed-by=modelcar` finds them. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'modelcar' } as const;

/** DNS-1035 label (what KServe and Tekton names must be): lowercase alnum and '-', starting with a letter. */
export function dnsLabel(input: string, max = 63): string {
  const s = input
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+/g, '-')
    .slice(0, max)
    .replace(/-+$/, '');
  return s === '' ? 'model' : s;
}

/** Restricted-v2 compatible and least privilege; no UID: OpenShift assigns one from the namespace range. */
export const RESTRICTED_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
} as const;
