import { describe, expect, it } from 'vitest';
import { destinationSchema } from '../config/schema.js';
import { RateLimiter, TokenBucket } from './rate-limit.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');

describe('TokenBucket', () => {
  it('starts full and allows a burst, then refuses', () => {
    const bucket = new TokenBucket({ perSecond: 5, burst: 5 }, t0);
    expect(bucket.available(t0)).toBe(5);
    const taken = Array.from({ length: 7 }, () => bucket.tryTake(t0));
    expect(taken).toEqual([true, true, true, true, true, false, false]);
    expect(bucket.available(t0)).toBe(0);
  });

  it('refills at perSecond and says how long until the next token', () => {
    const bucket = new TokenBucket({ perSecond: 5, burst: 5 }, t0);
    for (let i = 0; i < 5; i++) bucket.tryTake(t0);
    expect(bucket.msUntilToken(t0)).toBe(200);
    expect(bucket.tryTake(t0 + 199)).toBe(false);
    expect(bucket.msUntilToken(t0 + 199)).toBe(1);
    expect(bucket.tryTake(t0 + 200)).toBe(true);
    expect(bucket.available(t0 + 200)).toBe(0);
    expect(bucket.available(t0 + 600)).toBe(2);
  });

  it('never holds more than its burst, however long idle', () => {
    const bucket = new TokenBucket({ perSecond: 5, burst: 3 }, t0);
    expect(bucket.available(t0 + 3_600_000)).toBe(3);
  });

  it('defaults burst to max(1, ⌊perSecond⌋) and handles slow rates', () => {
    const slow = new TokenBucket({ perSecond: 0.5 }, t0);
    expect(slow.burst).toBe(1);
    expect(slow.tryTake(t0)).toBe(true);
    expect(slow.msUntilToken(t0)).toBe(2_000);
    expect(new TokenBucket({ perSecond: 7.5 }, t0).burst).toBe(7);
  });

  it('survives the clock stepping backwards without refilling or draining', () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 }, t0);
    bucket.tryTake(t0);
    expect(bucket.available(t0 - 10_000)).toBe(0);
    expect(bucket.tryTake(t0 - 9_000)).toBe(true);
  });
});

describe('RateLimiter', () => {
  const destinations = {
    limited: destinationSchema.parse({ type: 'webhook', url: 'http://127.0.0.1:1/', rateLimit: { perSecond: 2, burst: 2 }, subKeyRateLimit: { perSecond: 1, burst: 1 } }),
    perKey: destinationSchema.parse({ type: 'webhook', url: 'http://127.0.0.1:1/', subKeyRateLimit: { perSecond: 1, burst: 1 } }),
    free: destinationSchema.parse({ type: 'webhook', url: 'http://127.0.0.1:1/' }),
  };

  it('is unlimited for a destination without rateLimit', () => {
    const limiter = new RateLimiter(destinations);
    expect(limiter.available('free', t0)).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 100; i++) expect(limiter.tryAcquire('free', 'a', t0).isAcquired).toBe(true);
  });

  it('takes from the destination and the sub-key bucket together, or from neither', () => {
    const limiter = new RateLimiter(destinations);
    expect(limiter.tryAcquire('limited', 'channel-a', t0)).toEqual({ isAcquired: true });
    // channel-a is empty: refused, and the destination token is not spent.
    expect(limiter.tryAcquire('limited', 'channel-a', t0)).toEqual({ isAcquired: false, waitMs: 1_000 });
    expect(limiter.available('limited', t0)).toBe(1);
    expect(limiter.tryAcquire('limited', 'channel-b', t0)).toEqual({ isAcquired: true });
    // Now the destination is empty too: the longer of the two waits.
    expect(limiter.tryAcquire('limited', 'channel-c', t0)).toEqual({ isAcquired: false, waitMs: 500 });
    expect(limiter.tryAcquire('limited', null, t0 + 500)).toEqual({ isAcquired: true });
  });

  it('drops idle sub-key buckets and keeps at most maxSubKeys', () => {
    const limiter = new RateLimiter(destinations, { maxSubKeys: 3 });
    for (let i = 0; i < 10; i++) limiter.tryAcquire('perKey', `key-${i}`, t0 + i);
    expect(limiter.subKeyCount).toBe(3);
    // Long after, every bucket is full again (idle): the next use sweeps them.
    limiter.tryAcquire('perKey', 'late', t0 + 60_000);
    expect(limiter.subKeyCount).toBe(1);
  });

  it('evicts the least recently used bucket at the cap, keeping the busy one limited', () => {
    const limiter = new RateLimiter(destinations, { maxSubKeys: 2 });
    expect(limiter.tryAcquire('perKey', 'busy', t0).isAcquired).toBe(true);
    expect(limiter.tryAcquire('perKey', 'other', t0 + 1).isAcquired).toBe(true);
    expect(limiter.tryAcquire('perKey', 'busy', t0 + 2).isAcquired).toBe(false);
    expect(limiter.tryAcquire('perKey', 'third', t0 + 3).isAcquired).toBe(true);
    expect(limiter.subKeyCount).toBe(2);
    expect(limiter.tryAcquire('perKey', 'busy', t0 + 100).isAcquired).toBe(false);
    expect(limiter.tryAcquire('perKey', 'busy', t0 + 1_000).isAcquired).toBe(true);
  });
});
