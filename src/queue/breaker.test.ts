import { describe, expect, it } from 'vitest';
import { breakerSchema } from '../integrations/index.js';
import { TestClock } from '../lib/clock.js';
import { Breaker } from './breaker.js';

const policy = breakerSchema.parse({ failureThreshold: 3, cooldownMs: 10_000, maxCooldownMs: 35_000 });

function failTimes(breaker: Breaker, clock: TestClock, n: number): void {
  for (let i = 0; i < n; i++) breaker.record('retryable', breaker.beginAttempt(clock.now()), clock.now());
}

describe('Breaker', () => {
  it('opens after failureThreshold consecutive retryable failures', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 2);
    expect(breaker.state(clock.now())).toBe('closed');
    expect(breaker.allowance(clock.now())).toBe(Number.POSITIVE_INFINITY);
    failTimes(breaker, clock, 1);
    expect(breaker.state(clock.now())).toBe('open');
    expect(breaker.openUntil).toBe(clock.now() + 10_000);
    expect(breaker.allowance(clock.now())).toBe(0);
    expect(breaker.isDirty).toBe(true);
  });

  it('counts only consecutive failures: a success resets the count', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 2);
    breaker.record('success', false, clock.now());
    failTimes(breaker, clock, 2);
    expect(breaker.state(clock.now())).toBe('closed');
  });

  it('does not count permanent failures (the destination is up) nor unknown outcomes', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    for (let i = 0; i < 10; i++) breaker.record('permanent', false, clock.now());
    for (let i = 0; i < 10; i++) breaker.record('unknown', false, clock.now());
    expect(breaker.state(clock.now())).toBe('closed');
  });

  it('goes half-open after the cooldown and allows exactly one probe', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 3);
    clock.advance(9_999);
    expect(breaker.state(clock.now())).toBe('open');
    clock.advance(1);
    expect(breaker.state(clock.now())).toBe('half_open');
    expect(breaker.allowance(clock.now())).toBe(1);
    expect(breaker.beginAttempt(clock.now())).toBe(true);
    expect(breaker.allowance(clock.now())).toBe(0);
    expect(breaker.beginAttempt(clock.now())).toBe(false);
  });

  it('closes when the probe succeeds', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 3);
    clock.advance(10_000);
    breaker.record('success', breaker.beginAttempt(clock.now()), clock.now());
    expect(breaker.state(clock.now())).toBe('closed');
    expect(breaker.openUntil).toBeNull();
  });

  it('closes when the probe gets a permanent failure: an answer means the destination is up', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 3);
    clock.advance(10_000);
    breaker.record('permanent', breaker.beginAttempt(clock.now()), clock.now());
    expect(breaker.state(clock.now())).toBe('closed');
  });

  it('reopens with a doubled cooldown when the probe fails, capped at maxCooldownMs', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 3);
    const cooldowns: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.set(breaker.openUntil ?? 0);
      breaker.record('retryable', breaker.beginAttempt(clock.now()), clock.now());
      cooldowns.push((breaker.openUntil ?? 0) - clock.now());
    }
    expect(cooldowns).toEqual([20_000, 35_000, 35_000, 35_000]);
    // After a success the cooldown starts again from its base.
    clock.set(breaker.openUntil ?? 0);
    breaker.record('success', breaker.beginAttempt(clock.now()), clock.now());
    failTimes(breaker, clock, 3);
    expect((breaker.openUntil ?? 0) - clock.now()).toBe(10_000);
  });

  it('lets another probe go when the probe ended unknown (aborted by a stop)', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    failTimes(breaker, clock, 3);
    clock.advance(10_000);
    breaker.record('unknown', breaker.beginAttempt(clock.now()), clock.now());
    expect(breaker.allowance(clock.now())).toBe(1);
  });

  it('ignores results of attempts that started before it opened', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    const early = breaker.beginAttempt(clock.now());
    failTimes(breaker, clock, 3);
    const openUntil = breaker.openUntil;
    breaker.record('success', early, clock.now());
    breaker.record('retryable', false, clock.now());
    expect(breaker.openUntil).toBe(openUntil);
  });

  it('adopts the store’s view, unless it changed since the read or has unwritten changes', () => {
    const clock = new TestClock();
    const breaker = new Breaker(policy);
    // Another instance opened it.
    breaker.sync(clock.now() + 5_000, breaker.version);
    expect(breaker.state(clock.now())).toBe('open');
    expect(breaker.isDirty).toBe(false);
    // An operator closed it.
    breaker.sync(null, breaker.version);
    expect(breaker.state(clock.now())).toBe('closed');
    // A read that started before a local opening is stale.
    const versionAtRead = breaker.version;
    failTimes(breaker, clock, 3);
    breaker.markPersisted(breaker.openUntil);
    breaker.sync(null, versionAtRead);
    expect(breaker.state(clock.now())).toBe('open');
    // A local change not yet written wins over the store.
    clock.set(breaker.openUntil ?? 0);
    breaker.record('success', breaker.beginAttempt(clock.now()), clock.now());
    breaker.sync(clock.now() + 1_000, breaker.version);
    expect(breaker.state(clock.now())).toBe('closed');
  });
});
