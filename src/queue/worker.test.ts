/**
 * The worker's attempt path, one tick at a time: real SQLite, the real webhook connector over real
 * HTTP to the receiver simulator, a TestClock, and an injected random so backoff times are exact.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IntegrationRegistry, type AnyIntegration } from '../integrations/index.js';
import { webhookIntegration } from '../integrations/webhook/index.js';
import { TestClock } from '../lib/clock.js';
import { createMetrics } from '../lib/metrics.js';
import { createHarness, jobIdOf, type Harness, type HarnessOptions } from './harness.js';

const half = (): number => 0.5;
let h: Harness | undefined;

async function harness(options: HarnessOptions = {}): Promise<Harness & { clock: TestClock }> {
  h = await createHarness({ ...options, clock: new TestClock() });
  return h as Harness & { clock: TestClock };
}

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('worker: one attempt', () => {
  it('delivers a job and writes its audit record', async () => {
    const { commit, worker, receiver, clock, ...t } = await harness();
    const [jobId = 0] = await commit({ subscriberId: 1, kitEventId: 'evt-1' });
    const job = await t.job(jobId);

    expect(await worker().tick()).toMatchObject({ claimed: 1, succeeded: 1, retried: 0, dead: 0 });

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.path).toBe('/hook');
    expect(request?.headers['idempotency-key']).toBe(job.idempotencyKey);
    expect(request && jobIdOf(request)).toBe(jobId);
    expect(await t.job(jobId)).toMatchObject({ status: 'succeeded', attempts: 1, leaseOwner: null });
    const [audit, ...more] = await t.attempts(jobId);
    expect(more).toEqual([]);
    expect(audit).toMatchObject({
      attempt: 1,
      workerId: 'test-worker-1',
      outcome: 'succeeded',
      startedAt: clock.now(),
      finishedAt: clock.now(),
      responseStatus: 200,
      destination: 'hook',
      correlation: { idempotencyKey: job.idempotencyKey, kitEventId: 'evt-1', requestId: 'sim-1' },
    });
    expect(audit?.request?.url).toBe(`${receiver.url}/hook`);
  });

  it('counts attempts by destination and outcome, and their duration', async () => {
    const { commit, worker, receiver } = await harness();
    await commit({ subscriberId: 1 }, { subscriberId: 2 });
    receiver.fault({ kind: 'status', status: 500 });
    const metrics = createMetrics({ collectDefaults: false });
    await worker({ metrics }).tick();

    const attempts = await metrics.attempts.get();
    expect(attempts.values.map((v) => [v.labels.destination, v.labels.outcome, v.value]).sort()).toEqual([
      ['hook', 'retry', 1],
      ['hook', 'succeeded', 1],
    ]);
    const duration = await metrics.attemptDuration.get();
    expect(duration.values.find((v) => v.metricName === 'kitrelay_attempt_duration_seconds_count')?.value).toBe(2);
  });

  it('refuses a second tick while one is running', async () => {
    const { commit, worker } = await harness();
    await commit({ subscriberId: 1 });
    const w = worker();
    const first = w.tick();
    await expect(w.tick()).rejects.toThrow(/already running/);
    expect(await first).toMatchObject({ succeeded: 1 });
  });

  it('retries a 500 at the backoff time and not a moment before', async () => {
    const { commit, worker, receiver, clock, ...t } = await harness({ destinations: { hook: { retry: { baseDelayMs: 1_000 } } } });
    const [jobId = 0] = await commit({ subscriberId: 1 });
    receiver.fault({ kind: 'status', status: 500 });
    const w = worker({ random: half });
    const failedAt = clock.now();

    expect(await w.tick()).toMatchObject({ claimed: 1, retried: 1 });
    // Attempt 1 failed: full jitter over base × 2^0 with random 0.5 → 500 ms.
    expect(await t.job(jobId)).toMatchObject({ status: 'pending', attempts: 1, runAt: failedAt + 500, lastError: 'HTTP 500 Internal Server Error' });

    clock.advance(499);
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    expect(receiver.requests).toHaveLength(1);

    clock.advance(1);
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect((await t.attempts(jobId)).map((a) => [a.attempt, a.outcome, a.errorClass ?? null, a.responseStatus])).toEqual([
      [1, 'retry', 'retryable', 500],
      [2, 'succeeded', null, 200],
    ]);
  });

  it('honours 429 with Retry-After: 120 exactly, without jitter', async () => {
    const { commit, worker, receiver, clock, ...t } = await harness();
    const [jobId = 0] = await commit({ subscriberId: 1 });
    receiver.fault({ kind: 'status', status: 429, retryAfter: 120 });
    const w = worker({ random: () => 0 });
    const at = clock.now();

    expect(await w.tick()).toMatchObject({ retried: 1 });
    expect(await t.job(jobId)).toMatchObject({ status: 'pending', runAt: at + 120_000 });
    expect((await t.attempts(jobId))[0]).toMatchObject({ outcome: 'retry', errorClass: 'retry_after', responseStatus: 429 });

    clock.advance(119_999);
    expect(await w.tick()).toMatchObject({ claimed: 0 });
    expect(receiver.requests).toHaveLength(1);
    clock.advance(1);
    expect(await w.tick()).toMatchObject({ succeeded: 1 });
  });

  it('kills a job on 404 at once, keeping the last error and the response', async () => {
    const { commit, worker, receiver, ...t } = await harness();
    const [jobId = 0] = await commit({ subscriberId: 1 });
    receiver.fault({ kind: 'status', status: 404, body: 'no such hook' });

    expect(await worker().tick()).toMatchObject({ claimed: 1, dead: 1 });
    const job = await t.job(jobId);
    expect(job).toMatchObject({ status: 'dead', attempts: 1, lastError: 'HTTP 404 Not Found' });
    expect(job.finishedAt).not.toBeNull();
    expect((await t.attempts(jobId))[0]).toMatchObject({ outcome: 'failed', errorClass: 'permanent', responseStatus: 404, responseBody: 'no such hook' });
  });

  it('kills a job that runs out of attempts, with the last error kept', async () => {
    const { commit, worker, receiver, clock, ...t } = await harness({ destinations: { hook: { retry: { baseDelayMs: 100, maxDelayMs: 1_000 } } } });
    const [jobId = 0] = await commit({ subscriberId: 1, maxAttempts: 3 });
    receiver.fault({ kind: 'status', status: 503, times: Infinity });
    const w = worker({ random: half });

    const results = [];
    for (let i = 0; i < 4; i++) {
      results.push(await w.tick());
      clock.advance(1_000);
    }
    expect(results.map((r) => [r.retried, r.dead])).toEqual([[1, 0], [1, 0], [0, 1], [0, 0]]);
    const job = await t.job(jobId);
    expect(job).toMatchObject({ status: 'dead', attempts: 3 });
    expect(job.lastError).toContain('HTTP 503 Service Unavailable');
    expect(job.lastError).toContain('out of attempts (3 of 3)');
    expect((await t.attempts(jobId)).map((a) => a.outcome)).toEqual(['retry', 'retry', 'failed']);
    expect(receiver.requests).toHaveLength(3);
  });

  it('retries a timed-out call (the receiver never answers)', async () => {
    const { commit, worker, receiver, ...t } = await harness({ destinations: { hook: { timeoutMs: 200 } } });
    const [jobId = 0] = await commit({ subscriberId: 1 });
    receiver.fault({ kind: 'hang' });

    expect(await worker().tick()).toMatchObject({ retried: 1 });
    const [audit] = await t.attempts(jobId);
    expect(audit).toMatchObject({ outcome: 'retry', errorClass: 'retryable' });
    expect(audit?.error).toMatch(/time/i);
  });

  it('retries, rather than drops, a job whose action throws', async () => {
    const { commit, worker, ...t } = await harness();
    const [jobId = 0] = await commit({ subscriberId: 1 });
    const broken: AnyIntegration = { ...webhookIntegration, actions: { send: { kind: 'job', description: 'throws', params: z.unknown(), run: (): never => { throw new Error('boom'); } } } };

    expect(await worker({ integrations: new IntegrationRegistry([broken]) }).tick()).toMatchObject({ retried: 1 });
    expect(await t.job(jobId)).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await t.job(jobId)).lastError).toContain('action threw');
    expect((await t.job(jobId)).lastError).toContain('boom');
  });

  it('kills jobs of a destination removed from the config, saying so', async () => {
    const { commit, worker, receiver, ...t } = await harness({ destinations: { hook: {}, old: {} } });
    const [jobId = 0] = await commit({ subscriberId: 1, destinations: ['old'] });
    const { old: _removed, ...current } = t.destinations;

    expect(await worker({ destinations: current }).tick()).toMatchObject({ claimed: 1, dead: 1 });
    expect(receiver.requests).toHaveLength(0);
    expect((await t.job(jobId)).lastError).toMatch(/destination "old" is not in the config/);
  });

  it('refuses a config naming a destination type it has no integration for', async () => {
    const { worker } = await harness();
    expect(() => worker({ integrations: new IntegrationRegistry([]) })).toThrow(/no integration is registered/);
  });
});

describe('worker: replay and cancel', () => {
  it('replays a dead job, which then succeeds', async () => {
    const { commit, worker, receiver, clock, store, ...t } = await harness();
    const [jobId = 0] = await commit({ subscriberId: 1 });
    receiver.fault({ kind: 'status', status: 404 });
    const w = worker();
    await w.tick();
    expect((await t.job(jobId)).status).toBe('dead');

    await store.replayJob(jobId, 1, clock.now());
    expect(await w.tick()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await t.job(jobId)).toMatchObject({ status: 'succeeded', attempts: 2, replays: 1 });
    expect((await t.attempts(jobId)).map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
  });

  it('bulk-replays only destination A’s dead jobs out of a fan-out to A and B', async () => {
    const { commit, worker, receiver, clock, store } = await harness({ destinations: { a: {}, b: {} } });
    const ids = await commit(...[1, 2, 3].map((subscriberId) => ({ subscriberId, destinations: ['a', 'b'] })));
    receiver.fault({ kind: 'status', status: 410, times: Infinity });
    const w = worker();
    expect(await w.tick()).toMatchObject({ claimed: 6, dead: 6 });
    receiver.clearFaults();
    receiver.reset();

    const replayed = await store.replayJobs({ status: 'dead', destination: 'a' }, 1, clock.now());
    expect(replayed).toHaveLength(3);
    expect(await w.tick()).toMatchObject({ claimed: 3, succeeded: 3 });
    expect(receiver.requests.map((r) => r.path)).toEqual(['/a', '/a', '/a']);
    const jobs = await Promise.all(ids.map((id) => store.getJob(id)));
    expect(jobs.map((j) => `${j?.destination}:${j?.status}`).sort()).toEqual(['a:succeeded', 'a:succeeded', 'a:succeeded', 'b:dead', 'b:dead', 'b:dead']);
  });

  it('never runs a cancelled job, and the subscriber’s next job is not held behind it', async () => {
    const { commit, worker, receiver, clock, store, ...t } = await harness();
    const [first = 0, second = 0] = await commit({ subscriberId: 1 }, { subscriberId: 1 });
    await store.cancelJob(first, clock.now());

    expect(await worker().tick()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(receiver.requests.map(jobIdOf)).toEqual([second]);
    expect(await t.job(first)).toMatchObject({ status: 'cancelled', attempts: 0 });
    expect(await t.attempts(first)).toEqual([]);
  });
});
