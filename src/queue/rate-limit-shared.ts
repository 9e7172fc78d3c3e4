/**
 * Rate limits held in the store, so that every worker process on one database spends from the same
 * buckets (issue 13): a destination's `rateLimit` is a limit for the whole cluster, not for each
 * instance. Same buckets and keys as the in-memory RateLimiter (rate-limit.ts), which SQLite
 * deployments keep: one process owns that store, and a bucket in memory costs no write.
 *
 * Every take is a round trip to the database (one statement); peeks are reads. Idle buckets are
 * swept at most once a minute by each process (a full bucket is the same as none).
 */
import type { DestinationConfig, RateLimit } from '../config/schema.js';
import type { RateBucketSpec, RateBucketStore } from '../store/types.js';
import { burstOf, type Acquired, type Limiter } from './rate-limit.js';

const SWEEP_EVERY_MS = 60_000;

export class SharedRateLimiter implements Limiter {
  readonly #destinations: Readonly<Record<string, DestinationConfig>>;
  readonly #buckets: RateBucketStore;
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(destinations: Readonly<Record<string, DestinationConfig>>, buckets: RateBucketStore) {
    this.#destinations = destinations;
    this.#buckets = buckets;
  }

  async available(destination: string, now: number): Promise<number> {
    const spec = this.#mainSpec(destination);
    if (!spec) return Number.POSITIVE_INFINITY;
    return (await this.#buckets.peekRateTokens(spec, now)).available;
  }

  async msUntilToken(destination: string, now: number): Promise<number> {
    const spec = this.#mainSpec(destination);
    if (!spec) return 0;
    return (await this.#buckets.peekRateTokens(spec, now)).msUntilToken;
  }

  async tryAcquire(destination: string, subKey: string | null, now: number): Promise<Acquired> {
    const specs: RateBucketSpec[] = [];
    const main = this.#mainSpec(destination);
    if (main) specs.push(main);
    const subLimit = subKey === null ? undefined : this.#destinations[destination]?.subKeyRateLimit;
    // JSON keeps the pair unambiguous whatever characters a sub-key holds, and apart from destination names.
    if (subLimit && subKey !== null) specs.push(specOf(JSON.stringify([destination, subKey]), subLimit));
    if (specs.length === 0) return { isAcquired: true };
    await this.#sweepNowAndThen(now);
    const waitMs = await this.#buckets.takeRateTokens(specs, now);
    return waitMs === 0 ? { isAcquired: true } : { isAcquired: false, waitMs };
  }

  #mainSpec(destination: string): RateBucketSpec | undefined {
    const limit = this.#destinations[destination]?.rateLimit;
    return limit ? specOf(destination, limit) : undefined;
  }

  async #sweepNowAndThen(now: number): Promise<void> {
    if (now - this.#sweptAt < SWEEP_EVERY_MS) return;
    this.#sweptAt = now;
    await this.#buckets.sweepRateBuckets(now);
  }
}

/** The bucket of a limit, as TokenBucket's. */
function specOf(key: string, limit: RateLimit): RateBucketSpec {
  return { key, perSecond: limit.perSecond, burst: burstOf(limit) };
}
