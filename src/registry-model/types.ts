/**
 * Wire types for the parts of the Kubeflow Model Registry REST API (v1alpha3) that modelcar uses, copied by hand
 * from `model-registry-openapi.yaml`. The Create types hold only fields the schema allows: the server decodes
 * with DisallowUnknownFields, so any extra field is a 400.
 */

export type MetadataValue =
  | { metadataType: 'MetadataStringValue'; string_value: string }
  /** int32 as a decimal string (pattern `^-?([1-9][0-9]{0,8}|0)$`). */
  | { metadataType: 'MetadataIntValue'; int_value: string }
  | { metadataType: 'MetadataDoubleValue'; double_value: number }
  | { metadataType: 'MetadataBoolValue'; bool_value: boolean }
  | { metadataType: 'MetadataStructValue'; struct_value: string }
  | { metadataType: 'MetadataProtoValue'; type: string; proto_value: string };

export type CustomProperties = Record<string, MetadataValue>;

interface ServerFields {
  id: string;
  createTimeSinceEpoch?: string;
  lastUpdateTimeSinceEpoch?: string;
}

export interface RegisteredModelCreate {
  name: string;
  description?: string;
  externalId?: string;
  owner?: string;
  state?: 'LIVE' | 'ARCHIVED';
  customProperties?: CustomProperties;
}
export type RegisteredModel = RegisteredModelCreate & ServerFields;

export interface ModelVersionCreate {
  name: string;
  registeredModelId: string;
  description?: string;
  externalId?: string;
  author?: string;
  state?: 'LIVE' | 'ARCHIVED';
  customProperties?: CustomProperties;
}
export type ModelVersion = ModelVersionCreate & ServerFields;

export type ArtifactState =
  | 'UNKNOWN'
  | 'PENDING'
  | 'LIVE'
  | 'MARKED_FOR_DELETION'
  | 'DELETED'
  | 'ABANDONED'
  | 'REFERENCE';

export interface ModelArtifactCreate {
  artifactType: 'model-artifact';
  name?: string;
  description?: string;
  externalId?: string;
  uri?: string;
  state?: ArtifactState;
  modelFormatName?: string;
  modelFormatVersion?: string;
  storageKey?: string;
  storagePath?: string;
  serviceAccountName?: string;
  customProperties?: CustomProperties;
}
export type ModelArtifact = ModelArtifactCreate & ServerFields;

/** Any artifact a version may hold; only model artifacts matter to us, the rest are passed over. */
export type Artifact = ModelArtifact | ({ artifactType: string } & ServerFields & Record<string, unknown>);

export interface ListPage<T> {
  items: T[];
  size: number;
  pageSize: number;
  nextPageToken: string;
}

/** The server's error body: `code` is the HTTP status text, `message` the Go error text. */
export interface ApiError {
  code: string;
  message: string;
}
