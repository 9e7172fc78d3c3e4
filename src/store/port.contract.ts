/**
 * Store contract, what the integration port adds: per-job facts, shadow attempts, ledger keys
 * that expire, `cloneJob` (replay --force-new) and events' origin.
 */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, attemptFor, claimIds, commit, eventInput, getJob, ingestJob, plannedJob, type ContractContext } from './fixtures.contract.js';

const DAY = 86_400_000;

export function portContract(ctx: ContractContext): void {
  it('merges the facts each finished attempt keeps, and drops a fact set to null', async () => {
    const jobId = await ingestJob(ctx.store);
    expect((await getJob(ctx.store, jobId)).facts).toEqual({});
    await claimIds(ctx.store, T0);
    let job = await getJob(ctx.store, jobId);
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1', { outcome: 'unknown', error: 'timeout' }), next: { status: 'pending', runAt: T0 }, now: T0, facts: { marker: 'm-1', tries: 1 } });
    await claimIds(ctx.store, T0 + SECOND);
    job = await getJob(ctx.store, jobId);
    expect(job.facts).toEqual({ marker: 'm-1', tries: 1 });
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1'), next: { status: 'succeeded' }, now: T0 + SECOND, facts: { greetId: 'g-9', tries: null } });
    expect((await getJob(ctx.store, jobId)).facts).toEqual({ marker: 'm-1', greetId: 'g-9' });
  });

  it('keeps facts only while the worker holds the lease', async () => {
    const jobId = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, jobId);
    await ctx.store.cancelJob(jobId, T0);
    expect(await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1'), next: { status: 'succeeded' }, now: T0, facts: { greetId: 'late' } })).toBe(false);
    expect((await getJob(ctx.store, jobId)).facts).toEqual({});
  });

  it('records shadow attempts as such and filters them', async () => {
    const jobId = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, jobId);
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1', { isShadow: true }), next: { status: 'succeeded' }, now: T0 });
    const [shadow] = await ctx.store.listAttempts({ isShadow: true });
    expect(shadow).toMatchObject({ jobId, isShadow: true, outcome: 'succeeded' });
    expect(await ctx.store.listAttempts({ isShadow: false })).toEqual([]);
  });

  it('spends a ledger key that expires, then makes a job again once it has', async () => {
    const first = asAccepted((await commit(ctx.store, [eventInput({ jobs: [plannedJob({ ledgerKey: 'greet:id:1', ledgerExpiresAt: T0 + 30 * DAY })] })], T0)).events[0]);
    expect(first.jobIds).toHaveLength(1);
    const again = asAccepted((await commit(ctx.store, [eventInput({ jobs: [plannedJob({ ledgerKey: 'greet:id:1', ledgerExpiresAt: T0 + 40 * DAY })] })], T0 + 10 * DAY)).events[0]);
    expect(again.jobIds).toHaveLength(0);
    expect(await ctx.store.hasLedgerKey('greet:id:1', T0 + 29 * DAY)).toBe(true);
    expect(await ctx.store.hasLedgerKey('greet:id:1', T0 + 31 * DAY)).toBe(false);
    const later = asAccepted((await commit(ctx.store, [eventInput({ jobs: [plannedJob({ ledgerKey: 'greet:id:1', ledgerExpiresAt: T0 + 61 * DAY })] })], T0 + 31 * DAY)).events[0]);
    expect(later.jobIds).toHaveLength(1);
    expect(await ctx.store.hasLedgerKey('greet:id:1', T0 + 60 * DAY)).toBe(true);
  });

  it('copies a finished job as a new pending job (replay --force-new), leaving the original', async () => {
    const jobId = await ingestJob(ctx.store);
    expect(await ctx.store.cloneJob(jobId + 1000, T0)).toBeUndefined();
    expect(await ctx.store.cloneJob(jobId, T0)).toMatchObject({ id: jobId, status: 'pending' });
    await claimIds(ctx.store, T0);
    const job = await getJob(ctx.store, jobId);
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1'), next: { status: 'succeeded' }, now: T0, facts: { greetId: 'g-1' } });
    const copy = await ctx.store.cloneJob(jobId, T0 + SECOND);
    expect(copy).toMatchObject({ status: 'pending', attempts: 0, copyOf: jobId, facts: {}, eventId: job.eventId, rule: job.rule, action: job.action, params: job.params, maxAttempts: job.maxAttempts });
    expect(copy?.id).toBeGreaterThan(jobId);
    expect(copy?.idempotencyKey).not.toBe(job.idempotencyKey);
    expect(await getJob(ctx.store, jobId)).toMatchObject({ status: 'succeeded', facts: { greetId: 'g-1' } });
    expect(await claimIds(ctx.store, T0 + SECOND)).toEqual([copy?.id]);
  });

  it('keeps the integration an event came from', async () => {
    const result = await commit(ctx.store, [eventInput({ source: 'source', origin: 'kajabi' }), eventInput()]);
    const [a, b] = result.events.map((e) => asAccepted(e).eventId);
    expect((await ctx.store.getEvent(a ?? 0))?.origin).toBe('kajabi');
    expect((await ctx.store.getEvent(b ?? 0))?.origin).toBe('kit');
  });

  it('keeps per-subscriber FIFO per sub-key: other sub-keys of the subscriber are not held', async () => {
    const jobs = ['sales', 'ops', 'sales', undefined].map((subKey) => plannedJob(subKey === undefined ? {} : { subKey }));
    const { jobIds } = asAccepted((await commit(ctx.store, [eventInput({ subscriberKey: 'id:9', jobs })])).events[0]);
    const [sales1, ops, sales2, plain] = jobIds;
    expect(await claimIds(ctx.store, T0)).toEqual([sales1, ops, plain]);
    const job = await getJob(ctx.store, sales1 ?? 0);
    await ctx.store.finishAttempt({ attempt: attemptFor(job, 'w1'), next: { status: 'succeeded' }, now: T0 });
    expect(await claimIds(ctx.store, T0)).toEqual([sales2]);
  });
}
