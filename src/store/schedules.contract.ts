/**
 * Store contract, durable schedules (schedule-types.ts): registration, claims under a lease,
 * abandoned runs, retries, manual runs and the run history.
 */
import { expect, it } from 'vitest';
import { SECOND, T0, type ContractContext } from './fixtures.contract.js';
import type { ScheduleClaim, ScheduleRunRecord, Store } from './types.js';

const MINUTE = 60 * SECOND;
const LEASE = 30 * SECOND;

/** A schedule every minute, first due at T0 + 1 min. */
async function everyMinute(store: Store, name = 'tidy'): Promise<void> {
  await store.upsertSchedules([{ name, cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE }], T0);
}

function claimed(claim: ScheduleClaim): ScheduleRunRecord {
  if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(claim)}`);
  return claim.run;
}

const claim = (store: Store, now: number, owner = 'proc-a', latestSlotAt: number | null = null) =>
  store.claimDueSchedule({ name: 'tidy', owner, now, leaseMs: LEASE, latestSlotAt: latestSlotAt ?? now - (now % MINUTE) });

export function schedulesContract(ctx: ContractContext): void {
  it('registers schedules, keeping the next run of an unchanged one and resetting a changed one', async () => {
    await everyMinute(ctx.store);
    await ctx.store.upsertSchedules([{ name: 'tidy', cron: '* * * * *', timezone: null, nextRunAt: T0 + 5 * MINUTE }], T0 + 4 * MINUTE);
    expect(await ctx.store.listSchedules()).toEqual([
      { name: 'tidy', cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE, retryAt: null, attempt: 0, consecutiveFailures: 0, lease: null, updatedAt: T0, lastRun: null },
    ]);
    await ctx.store.upsertSchedules([{ name: 'tidy', cron: '0 * * * *', timezone: 'Europe/Berlin', nextRunAt: T0 + 60 * MINUTE }], T0 + 4 * MINUTE);
    expect((await ctx.store.listSchedules())[0]).toMatchObject({ cron: '0 * * * *', timezone: 'Europe/Berlin', nextRunAt: T0 + 60 * MINUTE, updatedAt: T0 + 4 * MINUTE });
  });

  it('claims a due schedule once: a second claim sees the lease, and nothing is due before its slot', async () => {
    await everyMinute(ctx.store);
    expect(await claim(ctx.store, T0 + 30 * SECOND)).toEqual({ kind: 'not_due', nextRunAt: T0 + MINUTE, retryAt: null });
    expect(await ctx.store.claimDueSchedule({ name: 'nope', owner: 'a', now: T0, leaseMs: LEASE, latestSlotAt: null })).toEqual({ kind: 'unknown_schedule' });
    const run = claimed(await claim(ctx.store, T0 + MINUTE + 100));
    expect(run).toMatchObject({ schedule: 'tidy', trigger: 'cron', attempt: 1, scheduledFor: T0 + MINUTE, status: 'running', owner: 'proc-a', startedAt: T0 + MINUTE + 100, finishedAt: null });
    expect(await claim(ctx.store, T0 + MINUTE + 200, 'proc-b')).toEqual({ kind: 'held', owner: 'proc-a', runId: run.id, leaseExpiresAt: T0 + MINUTE + 100 + LEASE });
    expect((await ctx.store.listSchedules())[0]?.lease).toEqual({ owner: 'proc-a', expiresAt: T0 + MINUTE + 100 + LEASE, runId: run.id });
  });

  it('records a run that missed slots as one missed run, and moves the next run on when it finishes', async () => {
    await everyMinute(ctx.store);
    const now = T0 + 5 * MINUTE + 10 * SECOND; // slots 1…5 passed while nothing ran
    const run = claimed(await claim(ctx.store, now));
    expect(run).toMatchObject({ trigger: 'missed', scheduledFor: T0 + MINUTE });
    expect(await ctx.store.finishScheduleRun({ runId: run.id, owner: 'proc-a', now: now + SECOND, status: 'succeeded', counts: { purged: 3 }, summary: 'ok', nextRunAt: T0 + 6 * MINUTE, retryAt: null })).toBe(true);
    expect(await claim(ctx.store, now + 2 * SECOND)).toMatchObject({ kind: 'not_due', nextRunAt: T0 + 6 * MINUTE });
    const [schedule] = await ctx.store.listSchedules();
    expect(schedule).toMatchObject({ lease: null, consecutiveFailures: 0, lastRun: { id: run.id, status: 'succeeded', finishedAt: now + SECOND, counts: { purged: 3 }, summary: 'ok', error: null } });
  });

  it('marks a run whose lease expired abandoned and runs it again as a retry', async () => {
    await everyMinute(ctx.store);
    const first = claimed(await claim(ctx.store, T0 + MINUTE));
    expect(await ctx.store.extendScheduleLease(first.id, 'proc-a', T0 + MINUTE + 2 * LEASE)).toBe(true);
    expect(await claim(ctx.store, T0 + MINUTE + LEASE + SECOND, 'proc-b')).toMatchObject({ kind: 'held' }); // renewed
    const second = claimed(await claim(ctx.store, T0 + MINUTE + 2 * LEASE, 'proc-b'));
    expect(second).toMatchObject({ trigger: 'retry', attempt: 2, scheduledFor: T0 + MINUTE, owner: 'proc-b' });
    const abandoned = await ctx.store.getScheduleRun(first.id);
    expect(abandoned).toMatchObject({ status: 'abandoned', finishedAt: T0 + MINUTE + 2 * LEASE });
    expect(abandoned?.error).toContain('proc-a');
    // The old holder wakes up: its lease is gone, its outcome is still recorded.
    expect(await ctx.store.extendScheduleLease(first.id, 'proc-a', T0 + 10 * MINUTE)).toBe(false);
    expect(await ctx.store.reportScheduleProgress(first.id, 'proc-a', { done: 1, at: T0 }, T0 + 10 * MINUTE)).toBe(false);
    expect(await ctx.store.finishScheduleRun({ runId: first.id, owner: 'proc-a', now: T0 + 3 * MINUTE, status: 'succeeded', retryAt: null })).toBe(false);
    expect((await ctx.store.listSchedules())[0]?.lease).toMatchObject({ owner: 'proc-b', runId: second.id });
  });

  it('retries a failed run at its retry time, counting the failures until one succeeds', async () => {
    await everyMinute(ctx.store);
    const first = claimed(await claim(ctx.store, T0 + MINUTE));
    const failed = { owner: 'proc-a', status: 'failed', error: 'Kit answered 503', nextRunAt: T0 + 2 * MINUTE } as const;
    await ctx.store.finishScheduleRun({ ...failed, runId: first.id, now: T0 + MINUTE + SECOND, retryAt: T0 + MINUTE + 10 * SECOND });
    expect(await claim(ctx.store, T0 + MINUTE + 5 * SECOND)).toEqual({ kind: 'not_due', nextRunAt: T0 + 2 * MINUTE, retryAt: T0 + MINUTE + 10 * SECOND });
    const retry = claimed(await claim(ctx.store, T0 + MINUTE + 10 * SECOND));
    expect(retry).toMatchObject({ trigger: 'retry', attempt: 2, scheduledFor: T0 + MINUTE + 10 * SECOND });
    await ctx.store.finishScheduleRun({ ...failed, runId: retry.id, now: T0 + MINUTE + 11 * SECOND, retryAt: null });
    expect((await ctx.store.listSchedules())[0]).toMatchObject({ consecutiveFailures: 2, retryAt: null, attempt: 2, lastRun: { status: 'failed', error: 'Kit answered 503' } });
    const next = claimed(await claim(ctx.store, T0 + 2 * MINUTE));
    expect(next).toMatchObject({ trigger: 'cron', attempt: 1 });
    await ctx.store.finishScheduleRun({ runId: next.id, owner: 'proc-a', now: T0 + 2 * MINUTE, status: 'succeeded', nextRunAt: T0 + 3 * MINUTE, retryAt: null });
    expect((await ctx.store.listSchedules())[0]).toMatchObject({ consecutiveFailures: 0 });
  });

  it('starts a manual run whether due or not, unless another run holds a live lease', async () => {
    await everyMinute(ctx.store);
    const manual = claimed(await ctx.store.startManualRun('tidy', 'cli', T0, LEASE));
    expect(manual).toMatchObject({ trigger: 'manual', attempt: 1, scheduledFor: null, owner: 'cli' });
    expect(await ctx.store.startManualRun('tidy', 'cli-2', T0 + SECOND, LEASE)).toEqual({ kind: 'held', owner: 'cli', runId: manual.id, leaseExpiresAt: T0 + LEASE });
    expect(await ctx.store.startManualRun('nope', 'cli', T0, LEASE)).toEqual({ kind: 'unknown_schedule' });
    // A manual run leaves the next slot where it was unless told otherwise.
    await ctx.store.finishScheduleRun({ runId: manual.id, owner: 'cli', now: T0 + SECOND, status: 'succeeded', retryAt: null });
    expect((await ctx.store.listSchedules())[0]).toMatchObject({ nextRunAt: T0 + MINUTE, lease: null });
    // Past an expired lease it takes over, marking the dead holder's run abandoned.
    const stale = claimed(await claim(ctx.store, T0 + MINUTE));
    const takeover = claimed(await ctx.store.startManualRun('tidy', 'cli', T0 + MINUTE + LEASE, LEASE));
    expect(await ctx.store.getScheduleRun(stale.id)).toMatchObject({ status: 'abandoned' });
    expect(takeover.trigger).toBe('manual');
  });

  it('keeps progress, counts, a bounded list of changes and the error of each run', async () => {
    await everyMinute(ctx.store);
    const run = claimed(await claim(ctx.store, T0 + MINUTE));
    expect(await ctx.store.reportScheduleProgress(run.id, 'proc-a', { done: 40, total: 100, message: 'page 2', at: T0 + MINUTE + SECOND }, T0 + 2 * MINUTE)).toBe(true);
    expect((await ctx.store.getScheduleRun(run.id))?.progress).toEqual({ done: 40, total: 100, message: 'page 2', at: T0 + MINUTE + SECOND });
    expect((await ctx.store.listSchedules())[0]?.lease?.expiresAt).toBe(T0 + 2 * MINUTE);
    const changes = Array.from({ length: 130 }, (_, i) => ({ added: i }));
    await ctx.store.finishScheduleRun({ runId: run.id, owner: 'proc-a', now: T0 + MINUTE + 2 * SECOND, status: 'failed', counts: { added: 130 }, changes, error: 'x'.repeat(10_000), retryAt: null });
    const finished = await ctx.store.getScheduleRun(run.id);
    expect(finished?.changes).toEqual(changes.slice(0, 100));
    expect(finished?.changesOmitted).toBe(30);
    expect(finished?.error?.length).toBeLessThanOrEqual(4000);
  });

  it('lists runs newest first, by schedule, paged before an id', async () => {
    await ctx.store.upsertSchedules(
      ['a', 'b'].map((name) => ({ name, cron: '* * * * *', timezone: null, nextRunAt: T0 })),
      T0,
    );
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const name of ['a', 'b']) {
        const run = claimed(await ctx.store.startManualRun(name, 'cli', T0 + i * MINUTE, LEASE));
        await ctx.store.finishScheduleRun({ runId: run.id, owner: 'cli', now: T0 + i * MINUTE + SECOND, status: 'succeeded', retryAt: null });
        ids.push(run.id);
      }
    }
    const listed = await ctx.store.listScheduleRuns({ schedule: 'a' });
    expect(listed.map((run) => run.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect((await ctx.store.listScheduleRuns({ limit: 2 })).map((run) => run.id)).toEqual([ids[5], ids[4]]);
    expect((await ctx.store.listScheduleRuns({ beforeId: ids[4]!, limit: 2 })).map((run) => run.id)).toEqual([ids[3], ids[2]]);
    expect((await ctx.store.listSchedules()).map((s) => [s.name, s.lastRun?.id])).toEqual([
      ['a', ids[4]],
      ['b', ids[5]],
    ]);
  });

  it('lets only one of two stores on the same database claim a slot, however their claims interleave', async () => {
    const peer = await ctx.openPeer();
    try {
      await everyMinute(ctx.store);
      await peer.upsertSchedules([{ name: 'tidy', cron: '* * * * *', timezone: null, nextRunAt: T0 + 2 * MINUTE }], T0 + SECOND);
      for (let slot = 1; slot <= 20; slot++) {
        const now = T0 + slot * MINUTE;
        const claims = await Promise.all([claim(ctx.store, now, 'a'), claim(peer, now, 'b'), claim(ctx.store, now, 'a'), claim(peer, now, 'b')]);
        const runs = claims.filter((c) => c.kind === 'claimed').map((c) => c.run);
        expect(runs).toHaveLength(1);
        const [run] = runs;
        await (run!.owner === 'a' ? ctx.store : peer).finishScheduleRun({ runId: run!.id, owner: run!.owner, now, status: 'succeeded', nextRunAt: now + MINUTE, retryAt: null });
      }
      expect(await ctx.store.listScheduleRuns({ schedule: 'tidy', limit: 1000 })).toHaveLength(20);
    } finally {
      await peer.close();
    }
  });
}
