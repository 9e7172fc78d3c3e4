/**
 * When a failed job runs again: exponential backoff with full jitter, or exactly when the
 * destination asked (Retry-After).
 *
 * Full jitter (a uniformly random wait between 0 and the exponential step) spreads the retries of
 * many jobs that failed together, so a destination coming back up is not hit by all of them at the
 * same instant (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). `random` is
 * injected so tests compute exact times.
 */
import type { RetryPolicy } from '../config/schema.js';

/**
 * The wait before the next attempt: random() × min(maxDelayMs, baseDelayMs × 2^(attempt-1)),
 * rounded down to whole milliseconds.
 *
 * @param attempt attempts made so far, including the one that just failed (1-based)
 * @param random a number in [0, 1), like Math.random
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number): number {
  // 2^(attempt-1) overflows to Infinity past attempt ~1024; min() still caps it.
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * step);
}

export interface NextRunInput {
  readonly now: number;
  /** Attempts made so far, including the one that just failed (1-based). */
  readonly attempt: number;
  readonly policy: RetryPolicy;
  readonly random: () => number;
  /** The destination's Retry-After, in ms, when it gave one. */
  readonly retryAfterMs?: number;
}

/**
 * When the job should run again. A Retry-After is the destination telling us when it will accept
 * the call: we wait exactly that long (clamped to `maxRetryAfterMs`, so a hostile or buggy
 * "Retry-After: 31536000" cannot park a job for a year) and add no jitter, since jitter could only
 * move the retry earlier than asked or later than needed.
 */
export function nextRunAt(input: NextRunInput): number {
  const { now, attempt, policy, random, retryAfterMs } = input;
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) {
    // Rounded up: times are whole ms, and rounding down would run a fraction before the ask.
    return now + Math.ceil(Math.max(Math.min(retryAfterMs, policy.maxRetryAfterMs), 0));
  }
  return now + backoffDelay(attempt, policy, random);
}
