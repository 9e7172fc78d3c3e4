/**
 * Kit's Webhooks 2.0 retry policy (reference/kit.md §7B, W-retry): any 2xx succeeds; `410 Gone`
 * stops at once; `429`/`503` with a usable `Retry-After` wait that long, clamped to 1 s–24 h;
 * anything else (other statuses, connect errors, timeouts) waits the next step of
 * 30 s, 2 m, 15 m, 1 h, 4 h, 12 h, 24 h — 8 attempts in all — then fails. Pure: the emitter
 * applies `retryScale` to the delays it returns.
 */
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delay before attempt n+1 after attempt n failed; its length + 1 is the number of attempts. */
export const KIT_RETRY_SCHEDULE_MS: readonly number[] = [30 * SECOND, 2 * MINUTE, 15 * MINUTE, HOUR, 4 * HOUR, 12 * HOUR, 24 * HOUR];

export const MIN_RETRY_AFTER_MS = SECOND;
export const MAX_RETRY_AFTER_MS = 24 * HOUR;

/** What one POST came to: an HTTP answer, a network error, or a simulator drop fault. */
export type PostResult = HttpResult | { readonly kind: 'dropped' };

export type NextStep =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'failed'; readonly reason: string }
  /** Wait `delayMs` (unscaled: Kit's time), then re-POST the same events. */
  | { readonly kind: 'retry'; readonly delayMs: number };

/**
 * @param attempt 1-based number of the attempt that gave `result`
 * @param now epoch ms: an HTTP-date `Retry-After` is measured from it
 */
export function nextStep(result: PostResult, attempt: number, schedule: readonly number[], now: number): NextStep {
  if (result.kind === 'response' && result.status >= 200 && result.status < 300) return { kind: 'delivered' };
  if (result.kind === 'response' && result.status === 410) return { kind: 'failed', reason: '410 Gone: the receiver asked Kit to stop' };
  const scheduled = schedule[attempt - 1];
  if (scheduled === undefined) return { kind: 'failed', reason: `gave up after ${attempt} attempts` };
  if (result.kind === 'response' && (result.status === 429 || result.status === 503)) {
    const retryAfter = parseRetryAfter(result.headers['retry-after'], now);
    if (retryAfter !== undefined) {
      return { kind: 'retry', delayMs: Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, retryAfter)) };
    }
  }
  return { kind: 'retry', delayMs: scheduled };
}

export function isSuccess(result: PostResult): boolean {
  return result.kind === 'response' && result.status >= 200 && result.status < 300;
}
