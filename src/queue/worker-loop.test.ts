/**
 * The background loop with the system clock: per-subscriber ordering under concurrency and
 * failures, graceful and forced stops, and a store that fails under it. Every test is bounded by a
 * deadline; none waits on an unbounded condition.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../lib/clock.js';
import { createLog } from '../lib/log.js';
import type { JobRecord } from '../store/types.js';
import { createHarness, jobIdOf, waitUntil, type Harness } from './harness.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** mulberry32: a seeded PRNG, so a failing run can be replayed exactly. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function allJobs(t: Harness): Promise<JobRecord[]> {
  return t.store.listJobs({ limit: 10_000 });
}

describe('worker loop: per-subscriber ordering', () => {
  it('delivers each subscriber’s jobs in job order under concurrency, delays and 500s; each succeeds once', async () => {
    const subscribers = 10;
    const jobs = 200;
    h = await createHarness({
      clock: systemClock,
      destinations: { hook: { concurrency: 8, retry: { maxAttempts: 100, baseDelayMs: 5, maxDelayMs: 40 } } },
    });
    const t = h;
    const random = seeded(20260101);
    // Faults apply in order: ~15% answer 500 (after a small delay), most of the rest answer late.
    t.receiver.fault({ kind: 'status', status: 500, delayMs: 3, match: () => random() < 0.15, times: Infinity });
    for (const ms of [1, 4, 9, 15]) t.receiver.fault({ kind: 'delay', ms, match: () => random() < 0.4, times: Infinity });
    const specs = Array.from({ length: jobs }, (_, i) => ({ subscriberId: (i % subscribers) + 1 }));
    for (let i = 0; i < jobs; i += 25) await t.commit(...specs.slice(i, i + 25));

    const w = t.worker({ random: seeded(7) });
    w.start();
    await waitUntil(async () => (await allJobs(t)).every((j) => j.status === 'succeeded'), 25_000, `all ${jobs} jobs to succeed`);
    await w.stop({ graceMs: 1_000 });

    const byId = new Map((await allJobs(t)).map((j) => [j.id, j]));
    expect(byId.size).toBe(jobs);
    const failures = t.receiver.requests.filter((r) => r.answer.kind === 'response' && r.answer.status === 500);
    expect(failures.length).toBeGreaterThan(10);

    const sequences = new Map<string, number[]>();
    const successes = new Map<number, number>();
    for (const request of t.receiver.requests) {
      const jobId = jobIdOf(request);
      const key = byId.get(jobId)?.subscriberKey ?? '?';
      sequences.set(key, [...(sequences.get(key) ?? []), jobId]);
      if (request.answer.kind === 'response' && request.answer.status === 200) successes.set(jobId, (successes.get(jobId) ?? 0) + 1);
    }
    expect(sequences.size).toBe(subscribers);
    for (const [, sequence] of sequences) {
      // A job may repeat (its retries) but never comes after a later job of the same subscriber.
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    }
    expect([...byId.keys()].every((id) => successes.get(id) === 1)).toBe(true);
    // Every request is one attempt, recorded once.
    for (const job of byId.values()) {
      expect(job.attempts).toBe(t.receiver.requests.filter((r) => jobIdOf(r) === job.id).length);
    }
  }, 40_000);
});

describe('worker loop: stop', () => {
  it('lets in-flight attempts finish within the grace period', async () => {
    h = await createHarness({ clock: systemClock });
    const t = h;
    const [jobId = 0] = await t.commit({ subscriberId: 1 });
    t.receiver.fault({ kind: 'delay', ms: 150 });
    const w = t.worker();
    w.start();
    await t.receiver.waitFor(1);
    await w.stop({ graceMs: 5_000 });
    expect(await t.job(jobId)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('aborts an attempt still hanging after the grace period: outcome unknown, job pending again', async () => {
    h = await createHarness({ clock: systemClock, destinations: { hook: { timeoutMs: 60_000 } } });
    const t = h;
    const [jobId = 0, laterJobId = 0] = await t.commit({ subscriberId: 1 }, { subscriberId: 1 });
    t.receiver.fault({ kind: 'hang' });
    const w = t.worker();
    w.start();
    await t.receiver.waitFor(1);

    const stoppedAt = Date.now();
    await w.stop({ graceMs: 200 });
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    expect(w.inFlight).toBe(0);

    const job = await t.job(jobId);
    expect(job).toMatchObject({ status: 'pending', attempts: 1, leaseOwner: null });
    expect(job.runAt).toBeLessThanOrEqual(Date.now());
    const [audit] = await t.attempts(jobId);
    expect(audit?.outcome).toBe('unknown');
    expect(audit?.error).toMatch(/may have reached the destination/);
    // The subscriber's next job was never started ahead of it.
    expect(await t.job(laterJobId)).toMatchObject({ status: 'pending', attempts: 0 });

    // Nothing lost: a new worker delivers both, in order.
    const next = t.worker();
    next.start();
    await waitUntil(async () => (await t.job(laterJobId)).status === 'succeeded', 10_000, 'both jobs to succeed');
    await next.stop();
    expect(t.receiver.requests.map(jobIdOf)).toEqual([jobId, jobId, laterJobId]);
  });
});

describe('worker loop: wake-ups and leases', () => {
  it('wakes at once on nudge() instead of waiting out the poll interval', async () => {
    h = await createHarness({ clock: systemClock });
    const t = h;
    const w = t.worker({ queue: { pollIntervalMs: 60_000, leaseMs: 60_000, heartbeatMs: 15_000 } });
    w.start();
    // Let the first (empty) pass finish and the loop fall asleep for a minute.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [jobId = 0] = await t.commit({ subscriberId: 1 });
    const nudgedAt = Date.now();
    w.nudge();
    await waitUntil(async () => (await t.job(jobId)).status === 'succeeded', 5_000, 'the nudged job to succeed');
    expect(Date.now() - nudgedAt).toBeLessThan(5_000);
    await w.stop();
  });

  it('renews the lease of a slow attempt, so another worker does not take the job over', async () => {
    h = await createHarness({ clock: systemClock });
    const t = h;
    const [jobId = 0] = await t.commit({ subscriberId: 1 });
    t.receiver.fault({ kind: 'delay', ms: 1_200 });
    const slow = t.worker({ queue: { pollIntervalMs: 20, leaseMs: 400, heartbeatMs: 100 } });
    const other = t.worker();
    slow.start();
    await t.receiver.waitFor(1);
    // Well past the first lease's expiry, the other worker finds nothing to reclaim.
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await other.tick()).toMatchObject({ claimed: 0 });
    }
    await waitUntil(async () => (await t.job(jobId)).status === 'succeeded', 5_000, 'the slow job to succeed');
    await slow.stop();
    expect(t.receiver.requests).toHaveLength(1);
    expect((await t.attempts(jobId)).map((a) => a.outcome)).toEqual(['succeeded']);
  });
});

describe('worker loop: destination states', () => {
  it('honours a pause made while it runs at once, and a resume within a fraction of a second', async () => {
    h = await createHarness({ clock: systemClock });
    const t = h;
    const w = t.worker();
    w.start();
    await t.commit({ subscriberId: 1 });
    await waitUntil(() => t.receiver.requests.length === 1, 5_000, 'the first job to be sent');

    // The loop reuses the states it read for up to 250 ms, but the store leases nothing of a
    // paused destination: the pause holds at once.
    await t.store.pauseDestination('hook', 'maintenance', Date.now());
    const [held = 0] = await t.commit({ subscriberId: 2 });
    w.nudge();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(t.receiver.requests).toHaveLength(1);
    expect(await t.job(held)).toMatchObject({ status: 'pending', attempts: 0 });

    await t.store.resumeDestination('hook', Date.now());
    w.nudge();
    await waitUntil(async () => (await t.job(held)).status === 'succeeded', 5_000, 'the held job to run after the resume');
    await w.stop({ graceMs: 1_000 });
  }, 15_000);
});

describe('worker loop: store faults', () => {
  it('logs a failing store and pauses between passes instead of spinning or dying', async () => {
    h = await createHarness({ clock: systemClock });
    const t = h;
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const w = t.worker({ log: createLog({ level: 'error', destination: sink }) });
    await t.store.close();

    w.start();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const failures = lines.filter((l) => l.includes('queue pass failed'));
    // Pauses of 1 s, then 2 s: at most two failed passes in 1.5 s, not hundreds.
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThanOrEqual(2);
    await w.stop({ graceMs: 100 });
  });
});
