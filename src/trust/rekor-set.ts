/**
 * cosign's `dev.sigstore.cosign/bundle` annotation: a Rekor entry and its SignedEntryTimestamp (SET), the form
 * containers/image checks offline with the Rekor public key (signature/internal/rekor_set.go). We write it from the
 * transparency-log entry @sigstore/sign returns and read it back into one, so @sigstore/verify can check it.
 */
import type { TransparencyLogEntry } from '@sigstore/bundle';
import { ModelcarError } from '../errors.js';

interface RekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

export function rekorBundleAnnotation(entry: TransparencyLogEntry): string {
  const set = entry.inclusionPromise?.signedEntryTimestamp;
  if (!set) {
    throw new ModelcarError(
      'trust',
      'the Rekor entry came back without a signed entry timestamp',
      'use a Rekor v1 instance (its /api/v1/log/entries returns the SET that CRI-O checks)',
    );
  }
  const bundle: RekorBundle = {
    SignedEntryTimestamp: set.toString('base64'),
    Payload: {
      body: entry.canonicalizedBody.toString('base64'),
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: entry.logId.keyId.toString('hex'),
    },
  };
  return JSON.stringify(bundle);
}

/** The annotation as a transparency-log entry with an inclusion promise (a v0.1 Sigstore bundle's kind of entry). */
export function tlogEntryFromAnnotation(text: string): TransparencyLogEntry {
  let b: RekorBundle;
  try {
    b = JSON.parse(text) as RekorBundle;
  } catch {
    throw new ModelcarError('trust', 'the Rekor bundle annotation is not JSON', 'sign the image again');
  }
  const p = b?.Payload;
  if (typeof b?.SignedEntryTimestamp !== 'string' || typeof p?.body !== 'string' || typeof p.logID !== 'string') {
    throw new ModelcarError(
      'trust',
      'the Rekor bundle annotation lacks its entry or timestamp',
      'sign the image again',
    );
  }
  const body = Buffer.from(p.body, 'base64');
  let kind = 'hashedrekord';
  let version = '0.0.1';
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { kind?: string; apiVersion?: string };
    kind = parsed.kind ?? kind;
    version = parsed.apiVersion ?? version;
  } catch {
    // verification of the entry body fails later with a precise message
  }
  return {
    logIndex: String(p.logIndex),
    logId: { keyId: Buffer.from(p.logID, 'hex') },
    kindVersion: { kind, version },
    integratedTime: String(p.integratedTime),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(b.SignedEntryTimestamp, 'base64') },
    inclusionProof: undefined,
    canonicalizedBody: body,
  };
}
