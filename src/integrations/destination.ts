/**
 * What every destination's config shares, whatever its integration: concurrency, rate limits, retry
 * policy, circuit breaker, timeout and mode. An integration's config schema spreads
 * `destinationCommon` into its own object (see webhook/schema.ts).
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const retryPolicySchema = z
  .object({
    /** Attempts before a job is dead. @default 8 */
    maxAttempts: positiveInt.max(100).default(8),
    /** First backoff step; attempt n waits up to base × 2^(n-1) (full jitter). @default 1000 */
    baseDelayMs: positiveInt.default(1000),
    /** Backoff cap. @default 3_600_000 (1 h) */
    maxDelayMs: positiveInt.default(3_600_000),
    /** Longest Retry-After honoured; longer values are clamped. @default 86_400_000 (24 h) */
    maxRetryAfterMs: positiveInt.default(86_400_000),
  })
  .strict();

export const rateLimitSchema = z
  .object({
    /** Sustained requests per second (token refill rate). */
    perSecond: z.number().positive(),
    /** Bucket size: requests allowed in a burst. @default max(1, perSecond) */
    burst: positiveInt.optional(),
  })
  .strict();

export const breakerSchema = z
  .object({
    /** Consecutive failed attempts that open the breaker. @default 5 */
    failureThreshold: positiveInt.default(5),
    /** How long the breaker holds jobs before one probe attempt. @default 30_000 */
    cooldownMs: positiveInt.default(30_000),
    /** Cap for the cooldown, which doubles each time a probe fails. @default 600_000 */
    maxCooldownMs: positiveInt.default(600_000),
  })
  .strict();

/**
 * `live` sends. `shadow` runs the whole pipeline (routing, ordering, rate limits, formatting) and
 * records the exact request each attempt would send as a shadow attempt, without sending it: the
 * way to run kitrelay beside the Zaps it replaces and compare (`kitrelay shadow report`).
 */
export const destinationModeSchema = z.enum(['live', 'shadow']);

export const destinationCommon = {
  /** Jobs (for batch actions: calls) in flight at once for this destination. @default 4 */
  concurrency: positiveInt.max(1000).default(4),
  /** Token-bucket limit for the whole destination (one token per call). */
  rateLimit: rateLimitSchema.optional(),
  /** Token-bucket limit per sub-key (e.g. per Slack channel), applied besides `rateLimit`. */
  subKeyRateLimit: rateLimitSchema.optional(),
  retry: retryPolicySchema.default(retryPolicySchema.parse({})),
  breaker: breakerSchema.default(breakerSchema.parse({})),
  /** Per-attempt timeout. @default 10_000 */
  timeoutMs: positiveInt.default(10_000),
  /** @default 'live' */
  mode: destinationModeSchema.default('live'),
};

/** The common part of every destination's validated config. */
export interface DestinationBase {
  readonly type: string;
  readonly concurrency: number;
  readonly rateLimit?: RateLimit | undefined;
  readonly subKeyRateLimit?: RateLimit | undefined;
  readonly retry: RetryPolicy;
  readonly breaker: BreakerPolicy;
  readonly timeoutMs: number;
  readonly mode: DestinationMode;
}

export type RetryPolicy = z.output<typeof retryPolicySchema>;
export type RateLimit = z.output<typeof rateLimitSchema>;
export type BreakerPolicy = z.output<typeof breakerSchema>;
export type DestinationMode = z.output<typeof destinationModeSchema>;
