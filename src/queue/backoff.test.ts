import { describe, expect, it } from 'vitest';
import { retryPolicySchema } from '../integrations/index.js';
import { HOUR, SECOND } from '../lib/clock.js';
import { backoffDelay, nextRunAt } from './backoff.js';

const policy = retryPolicySchema.parse({ baseDelayMs: 1_000, maxDelayMs: 60_000, maxRetryAfterMs: 300_000 });
const half = (): number => 0.5;
const almostOne = (): number => 0.999_999;

describe('backoffDelay', () => {
  it('doubles the step with each attempt and scales it by random() (full jitter)', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, half))).toEqual([500, 1_000, 2_000, 4_000, 8_000]);
    expect(backoffDelay(3, policy, () => 0.25)).toBe(1_000);
  });

  it('never exceeds maxDelayMs, however many attempts', () => {
    expect(backoffDelay(7, policy, almostOne)).toBe(59_999);
    expect(backoffDelay(100, policy, almostOne)).toBe(59_999);
    expect(backoffDelay(5_000, policy, half)).toBe(30_000);
  });

  it('can be zero (full jitter reaches down to no wait)', () => {
    expect(backoffDelay(4, policy, () => 0)).toBe(0);
  });

  it('is whole milliseconds', () => {
    expect(Number.isInteger(backoffDelay(1, { baseDelayMs: 3, maxDelayMs: 10 }, () => 0.3333))).toBe(true);
  });
});

describe('nextRunAt', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('uses the backoff when the destination gave no Retry-After', () => {
    expect(nextRunAt({ now, attempt: 2, policy, random: half })).toBe(now + 1_000);
  });

  it('waits exactly the Retry-After, with no jitter below it', () => {
    expect(nextRunAt({ now, attempt: 1, policy, random: () => 0, retryAfterMs: 120 * SECOND })).toBe(now + 120 * SECOND);
  });

  it('clamps a Retry-After longer than maxRetryAfterMs', () => {
    expect(nextRunAt({ now, attempt: 1, policy, random: half, retryAfterMs: 24 * HOUR })).toBe(now + 300_000);
  });

  it('treats a negative Retry-After as "now"', () => {
    expect(nextRunAt({ now, attempt: 1, policy, random: half, retryAfterMs: -5_000 })).toBe(now);
  });
});
