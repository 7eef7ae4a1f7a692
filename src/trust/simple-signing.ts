/**
 * The payload of a cosign / containers/image sigstore signature ("simple signing"): which manifest digest is signed
 * and under which docker reference. containers/image (signature/internal/sigstore_payload.go) parses it strictly:
 * exactly `critical` and `optional`, `critical` exactly `type`, `image` and `identity`, each with exactly one field.
 * We write and read it the same way, so what we accept is what CRI-O accepts.
 */
import { ModelcarError } from '../errors.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

export interface SimpleSigningClaim {
  /** `HOST/REPO[:TAG]` as containers/image normalises it (docker.io/library/x). */
  readonly dockerReference: string;
  readonly manifestDigest: string;
  readonly creator?: string;
  /** Unix seconds. */
  readonly timestamp?: number;
}

export function simpleSigningPayload(claim: SimpleSigningClaim): Buffer {
  const optional: Record<string, unknown> = {};
  if (claim.creator !== undefined) optional.creator = claim.creator;
  if (claim.timestamp !== undefined) optional.timestamp = claim.timestamp;
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': claim.dockerReference },
        image: { 'docker-manifest-digest': claim.manifestDigest },
        type: SIMPLE_SIGNING_TYPE,
      },
      optional,
    }),
  );
}

function exactObject(v: unknown, keys: readonly string[], where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`${where} is not an object`);
  const o = v as Record<string, unknown>;
  const have = Object.keys(o).sort();
  const want = [...keys].sort();
  if (have.length !== want.length || have.some((k, i) => k !== want[i])) {
    throw malformed(`${where} has fields ${have.join(', ') || '(none)'}, expected ${want.join(', ')}`);
  }
  return o;
}

function malformed(why: string): ModelcarError {
  return new ModelcarError(
    'trust',
    `the signature payload is malformed: ${why}`,
    'the signature was not written by cosign, skopeo or modelcar; sign the image again',
  );
}

/** Parses a payload that has already been cryptographically verified. */
export function parseSimpleSigningPayload(bytes: Buffer): SimpleSigningClaim {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw malformed('it is not JSON');
  }
  const top = exactObject(v, ['critical', 'optional'], 'the payload');
  const critical = exactObject(top.critical, ['type', 'image', 'identity'], 'critical');
  if (critical.type !== SIMPLE_SIGNING_TYPE) throw malformed(`unrecognised type ${JSON.stringify(critical.type)}`);
  const image = exactObject(critical.image, ['docker-manifest-digest'], 'critical.image');
  const identity = exactObject(critical.identity, ['docker-reference'], 'critical.identity');
  const digest = image['docker-manifest-digest'];
  const ref = identity['docker-reference'];
  if (typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest)) throw malformed('bad manifest digest');
  if (typeof ref !== 'string' || ref === '') throw malformed('empty docker reference');
  const optional = top.optional && typeof top.optional === 'object' ? (top.optional as Record<string, unknown>) : {};
  return {
    dockerReference: ref,
    manifestDigest: digest,
    ...(typeof optional.creator === 'string' ? { creator: optional.creator } : {}),
    ...(Number.isInteger(optional.timestamp) ? { timestamp: optional.timestamp as number } : {}),
  };
}
