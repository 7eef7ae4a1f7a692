/**
 * One interface for where images live, registry or layout alike (as oras-go's Target): the build and copy code
 * never knows which it talks to.
 */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: string;
}

/** Bytes to store as a blob. The target hashes what it writes; a digest known ahead is verified against that hash. */
export interface BlobToPush {
  readonly size: number;
  readonly digest?: string;
  /** Opens the bytes from the start. May be called again when a transfer must be restarted. */
  open(): AsyncIterable<Buffer>;
  /**
   * Optional: opens the bytes from `offset` to the end, to resume an upload the registry kept after a dropped
   * connection. Without it a resume re-reads (and hashes, without sending) the bytes before `offset` through open().
   */
  openAt?(offset: number): AsyncIterable<Buffer>;
}

export interface PushedBlob {
  readonly digest: string;
  readonly size: number;
  /** false when the target already had it (no bytes moved). */
  readonly uploaded: boolean;
}

export interface Repository {
  /** How users spell it, for messages. */
  readonly label: string;
  fetchManifest(reference: string): Promise<FetchedManifest>;
  fetchBlob(desc: Descriptor): Promise<AsyncIterable<Buffer>>;
  hasBlob(desc: Descriptor): Promise<boolean>;
  pushBlob(blob: BlobToPush): Promise<PushedBlob>;
  /** Writes the manifest, then points the tag at it (when given). Returns the manifest digest. */
  pushManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string>;
  /**
   * Makes a blob of another repository of the same registry appear here without moving its bytes. Returns false when
   * that is not possible (other registry, layout, or the registry declined), and the caller copies instead.
   */
  mountBlob?(desc: Descriptor, from: Repository): Promise<boolean>;
  /** Proves we may write here before any long work starts; writes nothing visible. */
  checkWritable(): Promise<void>;
  close?(): Promise<void>;
}
