/**
 * Airtable's rate limits (reference/destinations.md §3.5 [V]): 5 requests a second per base and 50
 * a second per token across bases. A request over either is answered 429, and then **every**
 * request to that base (or with that token) is answered 429 for 30 seconds, whatever its rate:
 * the penalty, which a client retrying fast does not shorten. The Webhooks API shares the per-base
 * limit.
 *
 * Counting uses the shared sliding window (simulators/rate-limit.ts); the penalty is what the
 * shared kit has no notion of, so it is kept here. Requests refused (by authentication, or during
 * a penalty) are not counted.
 */
import { WindowLimiter } from '../../simulators/index.js';

export interface AirtableRateLimit {
  /** Requests per window per base; `false` for none. Raise it for benchmarks. @default 5 */
  readonly perBase?: number | false;
  /** Requests per window per token, across bases; `false` for none. @default 50 */
  readonly perToken?: number | false;
  /** @default 1_000 */
  readonly windowMs?: number;
  /** How long every request is refused after one went over. @default 30_000 */
  readonly penaltyMs?: number;
  /** Retry-After sent with a 429 (seconds), or `false` for none: Airtable documents none [U]. @default false */
  readonly retryAfterSeconds?: number | false;
}

export interface RateSnapshot {
  /** Base ids and tokens refused until when (ISO). */
  readonly penalties: ReadonlyArray<{ readonly key: string; readonly until: string }>;
}

export class RateLimits {
  readonly retryAfterSeconds: number | false;
  readonly #perBase: WindowLimiter | undefined;
  readonly #perToken: WindowLimiter | undefined;
  readonly #penaltyMs: number;
  readonly #now: () => number;
  /** `base:<id>` or `token:<token>` → refused until (epoch ms). */
  readonly #penalties = new Map<string, number>();

  constructor(limit: AirtableRateLimit | false | undefined, now: () => number) {
    const options: AirtableRateLimit = limit === false ? { perBase: false, perToken: false } : (limit ?? {});
    const windowMs = options.windowMs ?? 1_000;
    const limiter = (n: number | false | undefined, fallback: number) => (n === false ? undefined : new WindowLimiter({ limit: n ?? fallback, windowMs }, now));
    this.#perBase = limiter(options.perBase, 5);
    this.#perToken = limiter(options.perToken, 50);
    this.#penaltyMs = options.penaltyMs ?? 30_000;
    this.retryAfterSeconds = options.retryAfterSeconds ?? false;
    this.#now = now;
  }

  /** Counts the request, or refuses it (and starts the penalty when it went over). */
  take(baseId: string | undefined, token: string): boolean {
    const now = this.#now();
    const keys = [`token:${token}`, ...(baseId === undefined ? [] : [`base:${baseId}`])];
    for (const key of keys) {
      const until = this.#penalties.get(key);
      if (until !== undefined && now < until) return false;
      if (until !== undefined) this.#penalties.delete(key);
    }
    if (this.#perToken && !this.#perToken.take(token).isAllowed) return this.#penalize(`token:${token}`, now);
    if (baseId !== undefined && this.#perBase && !this.#perBase.take(baseId).isAllowed) return this.#penalize(`base:${baseId}`, now);
    return true;
  }

  snapshot(): RateSnapshot {
    const now = this.#now();
    return { penalties: [...this.#penalties].filter(([, until]) => until > now).map(([key, until]) => ({ key, until: new Date(until).toISOString() })) };
  }

  /** Forgets every count and penalty. */
  reset(): void {
    this.#perBase?.reset();
    this.#perToken?.reset();
    this.#penalties.clear();
  }

  #penalize(key: string, now: number): false {
    this.#penalties.set(key, now + this.#penaltyMs);
    return false;
  }
}
