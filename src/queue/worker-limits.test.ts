/**
 * What holds jobs back: the circuit breaker, the pause switch, rate limits (destination and
 * sub-key) and per-destination concurrency. Real SQLite, real HTTP to the receiver simulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestClock, systemClock } from '../lib/clock.js';
import { createHarness, waitUntil, type Harness, type HarnessOptions } from './harness.js';

let h: Harness | undefined;

async function harness(options: HarnessOptions = {}): Promise<Harness & { clock: TestClock }> {
  h = await createHarness({ clock: new TestClock(), ...options });
  return h as Harness & { clock: TestClock };
}

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function attemptCount(t: Harness): Promise<number> {
  return (await t.store.listAttempts({ limit: 10_000 })).length;
}

describe('worker: circuit breaker', () => {
  it('opens after N failures, holds jobs while open, probes after the cooldown and closes on success', async () => {
    const t = await harness({
      destinations: { hook: { concurrency: 2, breaker: { failureThreshold: 3, cooldownMs: 10_000 }, retry: { baseDelayMs: 1_000 } } },
    });
    const ids = await t.commit(...[1, 2, 3, 4, 5].map((subscriberId) => ({ subscriberId })));
    t.receiver.fault({ kind: 'status', status: 502, times: Infinity });
    // random 0: a failed job is due again at once, so the breaker is all that holds it.
    const w = t.worker({ random: () => 0 });

    await w.tick();
    await w.tick();
    const openedAt = t.clock.now();
    const [state] = await t.store.getDestinationStates();
    expect(state).toMatchObject({ destination: 'hook', breakerOpenUntil: openedAt + 10_000, breakerOpenings: 1 });
    expect(await attemptCount(t)).toBe(4);
    const attemptsBefore = await Promise.all(ids.map(async (id) => (await t.job(id)).attempts));

    // Open: nothing is claimed, no attempt is spent, even though five jobs are due.
    t.receiver.clearFaults();
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    t.clock.advance(9_999);
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    expect(await attemptCount(t)).toBe(4);
    expect(await Promise.all(ids.map(async (id) => (await t.job(id)).attempts))).toEqual(attemptsBefore);
    expect(t.receiver.requests).toHaveLength(4);

    // Half-open: exactly one probe, though concurrency is 2.
    t.clock.advance(1);
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect((await t.store.getDestinationStates())[0]?.breakerOpenUntil).toBeNull();

    // Closed again: back to full concurrency.
    expect(await w.tick()).toMatchObject({ claimed: 2, succeeded: 2 });
  });

  it('reopens for a doubled cooldown when the probe fails', async () => {
    const t = await harness({ destinations: { hook: { concurrency: 1, breaker: { failureThreshold: 2, cooldownMs: 5_000 } } } });
    await t.commit({ subscriberId: 1 });
    t.receiver.fault({ kind: 'status', status: 500, times: Infinity });
    const w = t.worker({ random: () => 0 });
    await w.tick();
    await w.tick();
    t.clock.advance(5_000);
    expect(await w.tick()).toMatchObject({ claimed: 1, retried: 1 });
    expect((await t.store.getDestinationStates())[0]?.breakerOpenUntil).toBe(t.clock.now() + 10_000);
  });

  it('holds jobs while another instance’s breaker is open (state shared through the store)', async () => {
    const t = await harness();
    await t.commit({ subscriberId: 1 });
    await t.store.setBreaker('hook', t.clock.now() + 60_000, t.clock.now());
    const w = t.worker();
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    // An operator closes it.
    await t.store.setBreaker('hook', null, t.clock.now());
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
  });

  it('is not opened by permanent failures (4xx)', async () => {
    const t = await harness({ destinations: { hook: { concurrency: 10, breaker: { failureThreshold: 2 } } } });
    await t.commit(...[1, 2, 3, 4].map((subscriberId) => ({ subscriberId })));
    t.receiver.fault({ kind: 'status', status: 422, times: Infinity });
    expect(await t.worker().tick()).toMatchObject({ dead: 4 });
    expect((await t.store.getDestinationStates()).every((s) => s.breakerOpenUntil === null)).toBe(true);
  });
});

describe('worker: pause', () => {
  it('holds a paused destination’s jobs without attempts; resume releases them', async () => {
    const t = await harness();
    const [jobId = 0] = await t.commit({ subscriberId: 1 });
    await t.store.pauseDestination('hook', 'receiver maintenance', t.clock.now());
    const w = t.worker();

    expect(await w.tick()).toMatchObject({ claimed: 0 });
    t.clock.advance(3_600_000);
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    expect(t.receiver.requests).toHaveLength(0);
    expect(await t.job(jobId)).toMatchObject({ status: 'pending', attempts: 0 });

    await t.store.resumeDestination('hook', t.clock.now());
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
  });
});

describe('worker: rate limits', () => {
  it('sends only a burst’s worth per tick (perSecond 5, burst 5), then refills with time', async () => {
    const t = await harness({ destinations: { hook: { concurrency: 20, rateLimit: { perSecond: 5, burst: 5 } } } });
    await t.commit(...Array.from({ length: 12 }, (_, i) => ({ subscriberId: i + 1 })));
    const w = t.worker();

    expect(await w.tick()).toMatchObject({ claimed: 5, succeeded: 5, deferred: 0 });
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    t.clock.advance(200);
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
    t.clock.advance(1_000);
    expect(await w.tick()).toMatchObject({ claimed: 5, succeeded: 5 });
    expect(t.receiver.requests).toHaveLength(11);
  });

  it('hands back a job whose sub-key bucket is empty, spending no attempt', async () => {
    const t = await harness({ destinations: { hook: { concurrency: 10, subKeyRateLimit: { perSecond: 1, burst: 1 } } } });
    const ids = await t.commit(
      { subscriberId: 1, subKey: 'channel-1' },
      { subscriberId: 2, subKey: 'channel-1' },
      { subscriberId: 3, subKey: 'channel-2' },
    );
    const w = t.worker();
    const at = t.clock.now();

    expect(await w.tick()).toMatchObject({ claimed: 3, succeeded: 2, deferred: 1 });
    const deferred = await t.job(ids[1] ?? 0);
    expect(deferred).toMatchObject({ status: 'pending', attempts: 0, runAt: at + 1_000, leaseOwner: null });
    expect(await t.attempts(deferred.id)).toEqual([]);

    t.clock.advance(999);
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    t.clock.advance(1);
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1, deferred: 0 });
    expect(await t.attempts(deferred.id)).toHaveLength(1);
  });
});

describe('worker: concurrency', () => {
  it('never has more than `concurrency` attempts in flight for a destination, and keeps it full', async () => {
    const delayMs = 80;
    const t = await harness({ clock: systemClock, destinations: { hook: { concurrency: 3 } } });
    await t.commit(...Array.from({ length: 12 }, (_, i) => ({ subscriberId: i + 1 })));
    t.receiver.fault({ kind: 'delay', ms: delayMs, times: Infinity });
    const w = t.worker();

    w.start();
    await waitUntil(async () => (await t.store.listJobs({ status: 'succeeded', limit: 100 })).length === 12, 10_000, '12 jobs to succeed');
    await w.stop();

    // Each answer leaves the receiver at least delayMs after the request arrived, and the worker
    // frees the slot only after that: the requests that arrived within delayMs before a request
    // (itself included) were all in flight together when it arrived.
    const arrivals = t.receiver.requests.map((r) => r.receivedAt);
    const inFlightAtArrival = arrivals.map((at) => arrivals.filter((other) => other <= at && other > at - delayMs).length);
    expect(Math.max(...inFlightAtArrival)).toBe(3);
  });
});
