import type { Readable } from 'node:stream';

/** One regular file of a model, as its source lists it. */
export interface SourceEntry {
  /** POSIX path relative to the model root, no leading `./` or `/`, never `..`. */
  readonly path: string;
  readonly size: number;
  /** Lower-case hex sha256 of the content when the source can vouch for it without reading (Hub LFS oid). */
  readonly sha256?: string;
  /**
   * Git blob sha1 of the content, where the source has it but no sha256 (small non-LFS files on the Hub). Verified
   * by the source while streaming; recorded in layer annotations so a re-run can match the layer without a download.
   */
  readonly gitSha1?: string;
}

/** Where a model came from, carried into image annotations and the Model Registry. */
export interface SourceIdentity {
  /**
   * A URI a user would recognise, the same on every machine: `hf://org/name@<commit>`, or `file:<dir name>` for a
   * local directory (never its absolute path, which would change the digest and leak the builder's paths).
   */
  readonly uri: string;
  /** A short human title, e.g. the repo name or directory name. */
  readonly title: string;
  /** Commit sha the bytes were pinned to, when the source has one. */
  readonly revision?: string;
  /** The branch, tag or ref the user asked for, before it was pinned to `revision` (for naming the image tag). */
  readonly ref?: string;
  /** Commit time of that revision, used as the fixed timestamp when SOURCE_DATE_EPOCH is not set. */
  readonly committedAt?: Date;
  /** SPDX license id from the model card, when known. */
  readonly license?: string;
}

/**
 * A model source knows nothing about OCI: it lists files and opens them as byte streams.
 * Implementations: local directory (local.ts), Hugging Face Hub (hf.ts).
 */
export interface ModelSource {
  identity(): Promise<SourceIdentity>;
  /** All files of the model, sorted by path (byte order), before any include/exclude filtering. */
  list(): Promise<SourceEntry[]>;
  /**
   * The entry's bytes from `offset` to the end. The stream errors (never ends early) when fewer bytes than promised
   * arrive, and errors with a ModelcarError of kind 'integrity' when the source can tell the bytes are wrong.
   */
  open(entry: SourceEntry, offset?: number): Promise<Readable>;
  /**
   * The build hashed this entry's bytes (the source could not vouch for them): a source that can remember it for the
   * next run (a local directory, through the journal) may.
   */
  learned?(entry: SourceEntry, sha256: string): void;
  /** Release connections, file handles. */
  close?(): Promise<void>;
}
