/**
 * The Kit Webhooks 2.0 signature scheme, sign and verify in one module: ingest verifies with it,
 * the Kit simulator signs with it, and the outbound webhook connector signs the same way.
 *
 *   X-Kit-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]
 *   v1 = hex(HMAC-SHA256(key = secret, msg = "<t>.<raw body bytes>"))
 *
 * Kit sends one `v1` per valid secret while a secret rotates, and re-signs every retry with a fresh
 * `t` (reference/kit.md §7B). The HMAC key is the secret string exactly as Kit returned it,
 * `whsec_` prefix included: Kit's docs only say "keyed with your endpoint's secret", third-party
 * verifiers use the whole string [UNC, reference/kit.md §7B and §10].
 *
 * The clock and the secrets are passed in, so verification is deterministic in tests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header carrying the signature (lower-case, as Node exposes header names). */
export const SIGNATURE_HEADER = 'x-kit-signature';

/** Kit's recommended timestamp tolerance (reference/kit.md §7B). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export type VerifyFailureReason = 'missing_signature' | 'malformed_signature' | 'stale_timestamp' | 'bad_signature';

export type VerifyOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: VerifyFailureReason };

export interface SignInput {
  /** One `v1` is emitted per secret, in this order. */
  readonly secrets: readonly string[];
  readonly body: Buffer | string;
  /** Unix seconds (not milliseconds). */
  readonly timestamp: number;
}

export interface VerifyInput {
  /** The `X-Kit-Signature` header value; undefined when the request had none. */
  readonly header: string | undefined;
  /** The raw body bytes, exactly as received: re-serialised JSON would not verify. */
  readonly body: Buffer;
  /** Every secret currently accepted (the new one and, during rotation, the previous one). */
  readonly secrets: readonly string[];
  /** Epoch milliseconds, from the injected clock. */
  readonly now: number;
  /** How far `t` may be from `now`, in either direction. */
  readonly toleranceSeconds: number;
}

/** A parsed header: the timestamp as written (it is part of the signed message) and its v1 digests. */
export interface ParsedSignatureHeader {
  readonly timestampText: string;
  readonly timestamp: number;
  /** Decoded v1 digests (32 bytes each). */
  readonly signatures: readonly Buffer[];
}

const DIGEST_HEX = /^[0-9a-f]{64}$/i;
const DIGITS = /^\d{1,15}$/;

/** hex(HMAC-SHA256(secret, "<t>.<body>")). `timestamp` is used as written. */
export function computeSignature(secret: string, timestamp: string | number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The `X-Kit-Signature` value for a body: `t=<timestamp>,v1=<hex>` with one v1 per secret. */
export function signPayload({ secrets, body, timestamp }: SignInput): string {
  // Both are programming errors, not outcomes: a header without v1 or with a millisecond
  // timestamp would silently fail every verification downstream.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`signPayload: timestamp must be whole unix seconds, got ${timestamp}`);
  }
  if (secrets.length === 0) throw new RangeError('signPayload: at least one secret is required');
  const parts = [`t=${timestamp}`, ...secrets.map((secret) => `v1=${computeSignature(secret, timestamp, body)}`)];
  return parts.join(',');
}

/**
 * Parses the header tolerantly: spaces around parts are ignored, and so are unknown schemes
 * (`v0=`, a future `v2=`) and v1 values that are not a SHA-256 hex digest. Returns undefined when
 * there is no usable `t` (missing, not digits, or two different values) or no usable `v1`.
 */
export function parseSignatureHeader(header: string): ParsedSignatureHeader | undefined {
  let timestampText: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!DIGITS.test(value) || (timestampText !== undefined && timestampText !== value)) return undefined;
      timestampText = value;
    } else if (key === 'v1' && DIGEST_HEX.test(value)) {
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestampText === undefined || signatures.length === 0) return undefined;
  return { timestampText, timestamp: Number(timestampText), signatures };
}

/**
 * Verifies a delivery. Passes when any v1 in the header matches any configured secret (rotation on
 * either side: Kit signs with old and new, or we hold old and new while Kit signs with one).
 * The timestamp is checked before any HMAC is computed. The tolerance applies both ways: a
 * timestamp far in the future is as suspect as an old one (a signature minted ahead of time stays
 * replayable until then), and Kit re-signs retries, so honest deliveries are always fresh.
 */
export function verifySignature({ header, body, secrets, now, toleranceSeconds }: VerifyInput): VerifyOutcome {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing_signature' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed_signature' };
  if (Math.abs(now / 1000 - parsed.timestamp) > toleranceSeconds) return { ok: false, reason: 'stale_timestamp' };

  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature(secret, parsed.timestampText, body), 'hex');
    for (const candidate of parsed.signatures) {
      // timingSafeEqual throws on unequal lengths; parsing guarantees 32 bytes, the check keeps it so.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return { ok: true };
    }
  }
  return { ok: false, reason: 'bad_signature' };
}
