/**
 * Rate limits: a token bucket per destination, and one per (destination, sub-key) when the
 * destination sets `subKeyRateLimit` (e.g. per Slack channel).
 *
 * Hand-written on purpose: it is a few lines, and the usual libraries (p-limit, p-queue,
 * bottleneck) schedule with their own timers against the wall clock, whereas the worker needs a
 * bucket it can ask "how many tokens now?" with an injected clock, so tests are exact.
 *
 * The buckets live in this process, which suits SQLite (one process owns the store). On
 * PostgreSQL, where several instances share the work, the worker uses SharedRateLimiter
 * (rate-limit-shared.ts) instead: the same buckets, held in the database.
 */
import type { DestinationConfig, RateLimit } from '../config/schema.js';
import { msUntilWholeToken, TOKEN_EPSILON, wholeTokens } from '../lib/tokens.js';

export class TokenBucket {
  readonly perSecond: number;
  /** Capacity in whole tokens: `burst`, else max(1, ⌊perSecond⌋). */
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  /** Starts full: a destination that has been idle may take a whole burst. */
  constructor(limit: RateLimit, now: number) {
    this.perSecond = limit.perSecond;
    this.burst = burstOf(limit);
    this.#tokens = this.burst;
    this.#updatedAt = now;
  }

  /** Takes one token if there is a whole one. */
  tryTake(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1 - TOKEN_EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Whole tokens available now. */
  available(now: number): number {
    this.#refill(now);
    return wholeTokens(this.#tokens);
  }

  /** Milliseconds until a whole token is available (0 if one is now); rounded up. */
  msUntilToken(now: number): number {
    this.#refill(now);
    return msUntilWholeToken(this.#tokens, this.perSecond);
  }

  /** Whether the bucket is full: it then behaves exactly like a new one, so it may be dropped. */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst - TOKEN_EPSILON;
  }

  #refill(now: number): void {
    // A clock stepping backwards (NTP) refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.perSecond) / 1000);
    this.#updatedAt = now;
  }
}

/** A limit's capacity in whole tokens: `burst`, else max(1, ⌊perSecond⌋). */
export function burstOf(limit: RateLimit): number {
  return limit.burst ?? Math.max(1, Math.floor(limit.perSecond));
}

export type Acquired = { readonly isAcquired: true } | { readonly isAcquired: false; readonly waitMs: number };

/** What the worker asks of rate limits, in memory (RateLimiter) or in the store (SharedRateLimiter). */
export interface Limiter {
  /** Whole tokens the destination may spend now (Infinity when it has no `rateLimit`). */
  available(destination: string, now: number): number | Promise<number>;
  /** Milliseconds until the destination's bucket holds a whole token (0 when it does, or has no limit). */
  msUntilToken(destination: string, now: number): number | Promise<number>;
  /** One token of the destination's bucket and of its sub-key's (when it limits sub-keys): both or neither. */
  tryAcquire(destination: string, subKey: string | null, now: number): Acquired | Promise<Acquired>;
}

export interface RateLimiterOptions {
  /**
   * Sub-key buckets kept at most; past it the least recently used is dropped (its sub-key then
   * starts again with a full burst: a bounded leak, better than unbounded memory).
   * @default 10_000
   */
  readonly maxSubKeys?: number;
}

/**
 * The buckets of all destinations. Sub-key buckets are created lazily and dropped once idle
 * (refilled to full, which is indistinguishable from a fresh bucket), so one-off sub-keys cost
 * nothing over time.
 */
export class RateLimiter implements Limiter {
  readonly #destinations: Readonly<Record<string, DestinationConfig>>;
  readonly #maxSubKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();
  /** Insertion order is recency order: a used bucket is moved to the end. */
  readonly #subKeyBuckets = new Map<string, TokenBucket>();

  constructor(destinations: Readonly<Record<string, DestinationConfig>>, options: RateLimiterOptions = {}) {
    this.#destinations = destinations;
    this.#maxSubKeys = options.maxSubKeys ?? 10_000;
  }

  /** Whole tokens the destination may spend now (Infinity when it has no `rateLimit`). */
  available(destination: string, now: number): number {
    return this.#bucket(destination, now)?.available(now) ?? Number.POSITIVE_INFINITY;
  }

  /** Milliseconds until the destination's bucket holds a whole token (0 when it does, or has no limit). */
  msUntilToken(destination: string, now: number): number {
    return this.#bucket(destination, now)?.msUntilToken(now) ?? 0;
  }

  /**
   * Takes a token from the destination's bucket and, when the job has a sub-key and the
   * destination a `subKeyRateLimit`, from the sub-key's bucket: both or neither, so a deferred
   * job spends nothing.
   */
  tryAcquire(destination: string, subKey: string | null, now: number): Acquired {
    const main = this.#bucket(destination, now);
    const sub = subKey === null ? undefined : this.#subKeyBucket(destination, subKey, now);
    const waitMs = Math.max(main?.msUntilToken(now) ?? 0, sub?.msUntilToken(now) ?? 0);
    if (waitMs > 0) return { isAcquired: false, waitMs };
    main?.tryTake(now);
    sub?.tryTake(now);
    return { isAcquired: true };
  }

  /** Sub-key buckets currently held (for tests and the dashboard). */
  get subKeyCount(): number {
    return this.#subKeyBuckets.size;
  }

  #bucket(destination: string, now: number): TokenBucket | undefined {
    const limit = this.#destinations[destination]?.rateLimit;
    if (!limit) return undefined;
    let bucket = this.#buckets.get(destination);
    if (!bucket) {
      bucket = new TokenBucket(limit, now);
      this.#buckets.set(destination, bucket);
    }
    return bucket;
  }

  #subKeyBucket(destination: string, subKey: string, now: number): TokenBucket | undefined {
    const limit = this.#destinations[destination]?.subKeyRateLimit;
    if (!limit) return undefined;
    // JSON keeps the pair unambiguous whatever characters a sub-key holds.
    const key = JSON.stringify([destination, subKey]);
    const bucket = this.#subKeyBuckets.get(key) ?? new TokenBucket(limit, now);
    // Out of the map while evicting (a fresh bucket is full, so it would count as idle), then
    // back in at the most recently used end.
    this.#subKeyBuckets.delete(key);
    this.#evict(now);
    this.#subKeyBuckets.set(key, bucket);
    return bucket;
  }

  /** Drops idle buckets from the least recently used end, then any over the cap. O(1) amortised. */
  #evict(now: number): void {
    for (const [key, bucket] of this.#subKeyBuckets) {
      // >= leaves room for the bucket about to be put back.
      const isOverCap = this.#subKeyBuckets.size >= this.#maxSubKeys;
      if (!isOverCap && !bucket.isFull(now)) break;
      this.#subKeyBuckets.delete(key);
    }
  }
}
