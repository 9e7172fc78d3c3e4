/**
 * One retry policy for every connector: what an HTTP result means for the job.
 *
 * - 2xx: success.
 * - Any other status carrying a usable `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an
 *   HTTP-date): retry after that long. The destination told us when; that beats our backoff.
 * - 408, 425, 429 and every 5xx: retryable (transient by definition, RFC 9110 §15 / RFC 6585).
 * - Other statuses (400, 401, 403, 404, 409, 410, 422, and 3xx, which we do not follow): permanent.
 *   Sending the same bytes again cannot change the answer; the operator fixes and replays.
 * - Network errors and timeouts: retryable, except a request undici refused to send at all
 *   (`invalid_request`, a config bug).
 */
import { STATUS_CODES } from 'node:http';
import type { HttpResult } from './http.js';

export type ResponseClass =
  | { readonly kind: 'success' }
  | { readonly kind: 'retryable'; readonly error: string }
  | { readonly kind: 'retry_after'; readonly retryAfterMs: number; readonly error: string }
  | { readonly kind: 'permanent'; readonly error: string };

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429]);

/** Network error codes that no retry can fix. */
const PERMANENT_NETWORK_CODES: ReadonlySet<string> = new Set(['invalid_request']);

/** @param now epoch ms, from the injected clock: an HTTP-date Retry-After is measured against it. */
export function classifyResponse(result: HttpResult, now: number): ResponseClass {
  if (result.kind === 'network_error') {
    const error = `${result.code}: ${result.message}`;
    return PERMANENT_NETWORK_CODES.has(result.code) ? { kind: 'permanent', error } : { kind: 'retryable', error };
  }
  const { status } = result;
  if (status >= 200 && status < 300) return { kind: 'success' };
  const error = `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
  const retryAfterMs = parseRetryAfter(result.headers['retry-after'], now);
  if (retryAfterMs !== undefined) return { kind: 'retry_after', retryAfterMs, error };
  if (RETRYABLE_STATUSES.has(status) || status >= 500) return { kind: 'retryable', error };
  return { kind: 'permanent', error };
}

/**
 * A `Retry-After` value → milliseconds from `now`, or undefined when absent or unusable.
 * Delay-seconds are whole non-negative numbers; an HTTP-date in the past means "now" (0).
 * Clamping to a maximum is the retry policy's business (`retry.maxRetryAfterMs`), not this one's.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Date.parse accepts bare numbers and other non-dates ("-5" is the year -5), so only strings
  // that spell a month or weekday are taken as dates.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
