/**
 * Slack's "1 per second with short bursts" (reference/destinations.md §1.3, §1.4) as token
 * buckets: each key (a channel, a webhook, the workspace) holds up to `burst` tokens and gains
 * `perSecond` a second; a message spends one. The shared window limiter (simulators/) counts
 * requests per window, which lets a whole window's worth through at once; a bucket is what
 * "bursts, then 1 a second" means.
 *
 * Only messages that would be posted spend a token: a request refused for another reason does not.
 */

export interface BucketLimit {
  /** Tokens gained per second. */
  readonly perSecond: number;
  /** Tokens held at most: how many messages may go at once after a quiet spell. */
  readonly burst: number;
}

export interface BucketDecision {
  readonly isAllowed: boolean;
  /** Whole seconds until one more would be allowed (at least 1), for Retry-After; 0 when allowed. */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #limit: BucketLimit;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: BucketLimit, now: () => number) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new RangeError(`a rate limit needs perSecond > 0 and burst ≥ 1, not ${JSON.stringify(limit)}`);
    this.#limit = limit;
    this.#now = now;
  }

  /** Refilled to now; created full. */
  #bucket(key: string): Bucket {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: now };
    bucket.tokens = Math.min(this.#limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.#limit.perSecond);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    return bucket;
  }

  /** What spending one token now would give, without spending it. */
  check(key: string): BucketDecision {
    const bucket = this.#bucket(key);
    if (bucket.tokens >= 1) return { isAllowed: true, retryAfterSeconds: 0 };
    return { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#limit.perSecond)) };
  }

  spend(key: string): void {
    this.#bucket(key).tokens -= 1;
  }

  reset(): void {
    this.#buckets.clear();
  }
}

/**
 * Checks every (limiter, key) pair and spends from all of them only when each allows: a message
 * refused by the workspace limit does not use up its channel's burst.
 */
export function takeAll(pairs: ReadonlyArray<readonly [TokenBuckets | undefined, string]>): BucketDecision {
  let retryAfterSeconds = 0;
  for (const [buckets, key] of pairs) {
    const decision = buckets?.check(key);
    if (decision && !decision.isAllowed) retryAfterSeconds = Math.max(retryAfterSeconds, decision.retryAfterSeconds);
  }
  if (retryAfterSeconds > 0) return { isAllowed: false, retryAfterSeconds };
  for (const [buckets, key] of pairs) buckets?.spend(key);
  return { isAllowed: true, retryAfterSeconds: 0 };
}
