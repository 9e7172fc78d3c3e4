/**
 * Rate limits shared by every worker process on one PostgreSQL database (RateBucketStore; the
 * limiter is queue/rate-limit-shared.ts). A take is one call of `take_rate_tokens` (migration
 * 011), which locks the buckets' rows for its transaction: two workers never spend the same token.
 */
import type pg from 'pg';
import { msUntilWholeToken, TOKEN_EPSILON, wholeTokens } from '../../lib/tokens.js';
import type { RateBucketSpec, RateBucketStore } from '../types.js';


export class PgRateBucketOps implements RateBucketStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async takeRateTokens(buckets: readonly RateBucketSpec[], now: number): Promise<number> {
    if (buckets.length === 0) return 0;
    const { rows } = await this.#pool.query<{ wait_ms: string }>('SELECT take_rate_tokens($1::text[], $2::float8[], $3::float8[], $4) AS wait_ms', [
      buckets.map((b) => b.key),
      buckets.map((b) => b.perSecond),
      buckets.map((b) => b.burst),
      now,
    ]);
    return Number(rows[0]?.wait_ms ?? 0);
  }

  async peekRateTokens(bucket: RateBucketSpec, now: number): Promise<{ available: number; msUntilToken: number }> {
    const { rows } = await this.#pool.query<{ tokens: number }>(
      'SELECT least($3::float8, tokens + greatest(0, $4 - updated_at) * $2::float8 / 1000.0) AS tokens FROM rate_buckets WHERE key = $1',
      [bucket.key, bucket.perSecond, bucket.burst, now],
    );
    // No row: full (the sweep deletes full buckets, and a new one starts full).
    const tokens = rows[0]?.tokens ?? bucket.burst;
    return { available: wholeTokens(tokens), msUntilToken: msUntilWholeToken(tokens, bucket.perSecond) };
  }

  async sweepRateBuckets(now: number): Promise<number> {
    // SKIP LOCKED: a bucket a take holds is in use, not idle.
    const { rowCount } = await this.#pool.query(
      `DELETE FROM rate_buckets WHERE key IN (
         SELECT key FROM rate_buckets WHERE tokens + greatest(0, $1 - updated_at) * per_second / 1000.0 >= burst - ${TOKEN_EPSILON}
         FOR UPDATE SKIP LOCKED)`,
      [now],
    );
    return rowCount ?? 0;
  }
}
