import { describe, expect, it } from 'vitest';
import { WindowLimiter, rateLimitHeaders } from './rate-limit.js';

describe('window limiter', () => {
  it('sliding: each counted request frees its slot windowMs after it was made', () => {
    let now = 0;
    const limiter = new WindowLimiter({ limit: 2, windowMs: 1_000 }, () => now);
    expect(limiter.take('k').isAllowed).toBe(true);
    now = 400;
    expect(limiter.take('k')).toMatchObject({ isAllowed: true, remaining: 0 });
    expect(limiter.take('k')).toMatchObject({ isAllowed: false, retryAfterMs: 600, resetAt: 1_000 });
    expect(limiter.take('other').isAllowed).toBe(true);
    now = 1_000;
    expect(limiter.take('k').isAllowed).toBe(true);
    expect(limiter.take('k').isAllowed).toBe(false);
  });

  it('fixed: the first request opens a window; the count resets when it ends; refusals do not count', () => {
    let now = 10_000;
    const limiter = new WindowLimiter({ limit: 2, windowMs: 60_000, mode: 'fixed' }, () => now);
    limiter.take('k');
    now += 59_000;
    limiter.take('k');
    expect(limiter.take('k')).toMatchObject({ isAllowed: false, remaining: 0, retryAfterMs: 1_000, resetAt: 70_000 });
    now = 70_000;
    expect(limiter.take('k')).toMatchObject({ isAllowed: true, remaining: 1, resetAt: 130_000 });
  });

  it('takes a per-call limit, and forgets everything on reset', () => {
    const limiter = new WindowLimiter({ limit: 5 }, () => 0);
    expect(limiter.take('api-key', 1).isAllowed).toBe(true);
    expect(limiter.take('api-key', 1).isAllowed).toBe(false);
    limiter.reset();
    expect(limiter.take('api-key', 1).isAllowed).toBe(true);
  });

  it('writes Laravel’s throttle headers, Retry-After optional', () => {
    const refused = { isAllowed: false, limit: 600, remaining: 0, resetAt: 61_500, retryAfterMs: 1_500 };
    expect(rateLimitHeaders(refused)).toEqual({ 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '0', 'retry-after': '2', 'x-ratelimit-reset': '62' });
    expect(rateLimitHeaders(refused, { isRetryAfterSent: false })).not.toHaveProperty('retry-after');
    expect(rateLimitHeaders({ ...refused, isAllowed: true, remaining: 3 })).toEqual({ 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '3' });
  });
});
