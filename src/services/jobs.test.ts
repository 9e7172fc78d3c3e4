import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServicesHarness, type ServicesHarness } from './harness.js';
import { cancelJob, listAuditRecords, listJobs, replayJob, replayJobs, showEvent, showJob } from './index.js';

let h: ServicesHarness;
beforeEach(async () => {
  h = await createServicesHarness();
});
afterEach(async () => h.close());

describe('jobs services', () => {
  it('shows a job with its event and its attempts, oldest first, and an event with its jobs', async () => {
    const [sink, other] = await h.commitJobs(1, ['sink', 'other']);
    await h.finish(sink!, 'failed');
    const detail = await showJob(h, sink!);
    expect(detail?.job).toMatchObject({ id: sink, status: 'dead', destination: 'sink' });
    expect(detail?.attempts.map((a) => [a.attempt, a.outcome, a.responseStatus])).toEqual([[1, 'failed', 404]]);
    expect((await showEvent(h, detail!.job.eventId))?.jobs.map((j) => j.id).sort()).toEqual([sink, other].sort());
    expect(await listAuditRecords(h, { destination: 'sink' })).toMatchObject([{ jobId: sink, outcome: 'failed' }]);
    expect(await showJob(h, 999_999)).toBeUndefined();
    expect(await showEvent(h, 999_999)).toBeUndefined();
  });

  it('replays one finished job: the same job, pending again with a fresh attempt budget', async () => {
    const [id] = await h.commitJobs(1, ['sink']);
    await h.finish(id!, 'failed');
    h.clock.advance(60_000);
    const result = await replayJob(h, id!, { extraAttempts: 3 });
    expect(result).toMatchObject({ kind: 'replayed', job: { id, status: 'pending', attempts: 1, maxAttempts: 4, runAt: h.clock.now(), replays: 1 } });
  });

  it('refuses to replay a job that is not finished, and says when there is no such job', async () => {
    const [id] = await h.commitJobs(1, ['sink']);
    expect(await replayJob(h, id!, { extraAttempts: 3 })).toMatchObject({ kind: 'not_finished', job: { id, status: 'pending' } });
    expect(await replayJob(h, id!, { forceNew: true })).toMatchObject({ kind: 'not_finished' });
    expect(await replayJob(h, 999_999, { extraAttempts: 3 })).toEqual({ kind: 'not_found' });
    expect(await replayJob(h, 999_999, { forceNew: true })).toEqual({ kind: 'not_found' });
  });

  it('replays with forceNew as a new job with a new idempotency key, leaving the original as it was', async () => {
    const [id] = await h.commitJobs(1, ['sink']);
    const original = await h.finish(id!, 'succeeded');
    const result = await replayJob(h, id!, { forceNew: true });
    if (result.kind !== 'replayed_as_new') throw new Error(`expected replayed_as_new, got ${result.kind}`);
    expect(result.original).toEqual(original);
    expect(result.job).toMatchObject({ eventId: original.eventId, destination: 'sink', rule: original.rule, status: 'pending', attempts: 0, maxAttempts: original.maxAttempts });
    expect(result.job.id).not.toBe(id);
    expect(result.job.idempotencyKey).not.toBe(original.idempotencyKey);
    expect(await h.store.getJob(id!)).toEqual(original);
  });

  it('replays only the dead jobs the filter selects, never the rest of their fan-out; a dry run changes nothing', async () => {
    const [deadSink, deadOther] = await h.commitJobs(1, ['sink', 'other']);
    const [doneSink] = await h.commitJobs(2, ['sink']);
    await h.finish(deadSink!, 'failed');
    await h.finish(deadOther!, 'failed');
    await h.finish(doneSink!, 'succeeded');

    expect(await replayJobs(h, { destination: 'sink' }, { extraAttempts: 2, isDryRun: true })).toEqual([deadSink]);
    expect(await h.store.getJob(deadSink!)).toMatchObject({ status: 'dead' });
    expect(await replayJobs(h, { destination: 'sink' }, { extraAttempts: 2 })).toEqual([deadSink]);
    expect(await h.store.getJob(deadSink!)).toMatchObject({ status: 'pending', maxAttempts: 3 });
    expect(await h.store.getJob(deadOther!)).toMatchObject({ status: 'dead' });
    expect(await h.store.getJob(doneSink!)).toMatchObject({ status: 'succeeded' });
    expect(await replayJobs(h, { destination: 'sink', status: 'succeeded' }, { extraAttempts: 1 })).toEqual([doneSink]);
    expect((await listJobs(h, { status: 'pending' })).map((j) => j.id).sort()).toEqual([deadSink, doneSink].sort());
  });

  it('cancels a pending job once, and says when there is no such job', async () => {
    const [id] = await h.commitJobs(1, ['sink']);
    expect(await cancelJob(h, id!)).toMatchObject({ kind: 'cancelled', job: { id, status: 'cancelled' } });
    expect(await cancelJob(h, id!)).toMatchObject({ kind: 'already_finished', job: { status: 'cancelled' } });
    expect(await cancelJob(h, 999_999)).toEqual({ kind: 'not_found' });
  });
});
