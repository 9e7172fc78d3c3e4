/**
 * Token-bucket arithmetic shared by the worker's in-memory buckets (queue/rate-limit.ts) and the
 * buckets PostgreSQL keeps for every process (store/postgres/rate-buckets.ts, whose migration 011
 * does the same sums in SQL): one definition of "a whole token" and of the wait for one.
 */

/** Refill arithmetic is floating point (0.2 s × 5/s may come out 0.9999999): forgive that much. */
export const TOKEN_EPSILON = 1e-9;

/** Whole tokens in a bucket holding `tokens`. */
export function wholeTokens(tokens: number): number {
  return Math.floor(tokens + TOKEN_EPSILON);
}

/** Milliseconds until a bucket holding `tokens`, refilled at `perSecond`, holds a whole one (0 if it does); rounded up. */
export function msUntilWholeToken(tokens: number, perSecond: number): number {
  if (tokens >= 1 - TOKEN_EPSILON) return 0;
  // The tolerance keeps float noise (1.0000000000000009 ms) from rounding up a whole ms.
  return Math.max(1, Math.ceil(((1 - tokens) * 1000) / perSecond - 1e-6));
}
