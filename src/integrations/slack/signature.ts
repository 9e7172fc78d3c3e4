/**
 * Slack's request signing scheme (Events API, interactivity, slash commands), sign and verify in
 * one module: the inbound Slack source verifies with it, the Slack simulator and tests sign with it
 * (reference/destinations.md §1.5, from bolt-js `verify-request.ts`).
 *
 *   X-Slack-Request-Timestamp: <unix seconds>
 *   X-Slack-Signature: v0=hex(HMAC-SHA256(key = signing secret, msg = "v0:<timestamp>:<raw body>"))
 *
 * The raw body is the bytes as received (form-encoded or JSON), never re-serialised. bolt-js only
 * rejects old timestamps; Slack's python SDK rejects `abs(now - ts) > 300`, and so do we: a
 * signature minted ahead of time would otherwise stay replayable until its time came.
 * The clock and the secrets are passed in, so verification is deterministic in tests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';

/** Slack's replay window, both ways. */
export const SLACK_DEFAULT_TOLERANCE_SECONDS = 300;

export interface SlackSignInput {
  readonly signingSecret: string;
  /** Unix seconds, as sent in `X-Slack-Request-Timestamp`. */
  readonly timestamp: number | string;
  readonly body: Buffer | string;
}

/** `v0=<hex>` for a body: what Slack puts in `X-Slack-Signature`. */
export function signSlackRequest({ signingSecret, timestamp, body }: SlackSignInput): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

export type SlackVerifyFailure = 'missing_headers' | 'bad_version' | 'stale' | 'future' | 'mismatch';

export type SlackVerifyOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: SlackVerifyFailure };

export interface SlackVerifyInput {
  /** Every secret accepted now: the current one and, while it rotates, the previous one. */
  readonly signingSecrets: readonly string[];
  /** Header names lower-case, as Node gives them; a repeated header counts as missing. */
  readonly headers: {
    readonly 'x-slack-signature'?: string | readonly string[] | undefined;
    readonly 'x-slack-request-timestamp'?: string | readonly string[] | undefined;
  };
  readonly rawBody: Buffer;
  /** Epoch milliseconds, from the injected clock. */
  readonly now: number;
  /** @default 300 */
  readonly toleranceSeconds?: number;
}

const TIMESTAMP = /^\d{1,15}$/;
const DIGEST_HEX = /^[0-9a-f]{64}$/i;

function single(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * Verifies one request. The timestamp is checked before any HMAC is computed; the signature is
 * compared in constant time against each secret's, so rotation needs no restart.
 */
export function verifySlackRequest(input: SlackVerifyInput): SlackVerifyOutcome {
  const { signingSecrets, headers, rawBody, now, toleranceSeconds = SLACK_DEFAULT_TOLERANCE_SECONDS } = input;
  const signature = single(headers[SLACK_SIGNATURE_HEADER]);
  const timestamp = single(headers[SLACK_TIMESTAMP_HEADER]);
  if (signature === undefined || timestamp === undefined) return { ok: false, reason: 'missing_headers' };
  // A timestamp that is not whole seconds can never have been signed by Slack: treat it as absent.
  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'missing_headers' };
  // Slack has only ever used v0; another version is a scheme we cannot check.
  if (!signature.startsWith('v0=')) return { ok: false, reason: 'bad_version' };
  const digest = signature.slice(3);

  const skew = now / 1000 - Number(timestamp);
  if (skew > toleranceSeconds) return { ok: false, reason: 'stale' };
  if (-skew > toleranceSeconds) return { ok: false, reason: 'future' };

  if (!DIGEST_HEX.test(digest)) return { ok: false, reason: 'mismatch' };
  const given = Buffer.from(digest, 'hex');
  for (const secret of signingSecrets) {
    const expected = Buffer.from(signSlackRequest({ signingSecret: secret, timestamp, body: rawBody }).slice(3), 'hex');
    // timingSafeEqual throws on unequal lengths; the pattern guarantees 32 bytes, the check keeps it so.
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: 'mismatch' };
}
