/**
 * How KServe gets the model out of the image, spelt in the storage URI's scheme (kserve/kserve pkg/utils/storage.go
 * `ParseOciScheme`): `oci://` runs the image as a modelcar sidecar, `oci+native://` mounts it as a Kubernetes image
 * volume (subPath `models`), `oci+fetch://` copies `/models` into an emptyDir with an init container. What each needs
 * of the cluster is here once, for deploy's notes and doctor's recommendation alike.
 */
import { formatRef, type ImageRef } from './image-ref.js';

export const STORAGE_MODES = ['modelcar', 'image-volume', 'fetch'] as const;
export type StorageMode = (typeof STORAGE_MODES)[number];

const SCHEME: Readonly<Record<StorageMode, string>> = {
  modelcar: 'oci://',
  'image-volume': 'oci+native://',
  fetch: 'oci+fetch://',
};

/** The storage URI for an image pinned by digest. */
export function storageUriFor(mode: StorageMode, image: ImageRef & { digest: string }): string {
  return `${SCHEME[mode]}${formatRef({ registry: image.registry, repository: image.repository, digest: image.digest })}`;
}

/** What the cluster must have for each mode: versions as KServe and Kubernetes document them. */
export const MODE_REQUIREMENTS: Readonly<Record<StorageMode, string>> = {
  modelcar:
    'oci:// runs the image as a modelcar sidecar (shell needed in the image): KServe >= 0.12 with enableModelcar (on by default in OpenShift AI).',
  'image-volume':
    'oci+native:// mounts the image as a Kubernetes image volume: KServe >= 0.20, Kubernetes >= 1.33 with the ImageVolume feature gate (on by default from 1.35, GA in 1.36), CRI-O >= 1.31 or containerd >= 2.1. The image needs no shell.',
  fetch:
    "oci+fetch:// copies /models into an emptyDir with KServe's storage initializer: KServe after 0.20 (on master since 2026-08); costs node disk for a copy of the model, needs no image-volume support.",
};
