/**
 * Store contract, digests and dead-job alerts (migration 007): a digesting rule's events join a
 * window in the ingest transaction, the window closes into one event and one job exactly once, and
 * every job that goes dead leaves one alert row until a commit settles it.
 */
import { expect, it } from 'vitest';
import type { DigestPlan, PlannedJob } from './types.js';
import { SECOND, T0, asAccepted, attemptFor, claimIds, commit, eventInput, getJob, ingestJob, plannedJob, type ContractContext } from './fixtures.contract.js';

const MINUTE = 60_000;
const WINDOW: DigestPlan = { key: 'vip#0', windowStart: T0, windowEnd: T0 + 10 * MINUTE };

function digestJob(digest: Partial<DigestPlan> = {}, overrides: Partial<PlannedJob> = {}): PlannedJob {
  return plannedJob({ rule: 'vip', destination: 'slack', action: 'post', params: { channel: '#sales' }, subKey: 'sales', digest: { ...WINDOW, ...digest }, ...overrides });
}

export function digestsContract(ctx: ContractContext): void {
  it('collects a digesting rule\'s events in their window instead of jobs, with a decision naming the window', async () => {
    const results = await commit(ctx.store, [eventInput({ jobs: [digestJob()] }), eventInput({ jobs: [digestJob()] })], T0 + SECOND);
    expect(results.events.map((e) => asAccepted(e).jobIds)).toEqual([[], []]);
    const [window] = await ctx.store.listDigestWindows({});
    expect(window).toMatchObject({ key: 'vip#0', rule: 'vip', destination: 'slack', sent: 0, digested: 2, status: 'open', jobId: null });
    const event = await ctx.store.getEvent(asAccepted(results.events[0]).eventId);
    expect(event?.decisions).toEqual([{ rule: 'vip', destination: 'slack', action: 'post', outcome: 'digested', windowId: window!.id }]);
  });

  it('sends the first `threshold` events of a window one by one and digests the rest', async () => {
    const events = Array.from({ length: 5 }, () => eventInput({ jobs: [digestJob({ threshold: 2 })] }));
    const results = await commit(ctx.store, events, T0 + SECOND);
    expect(results.events.map((e) => asAccepted(e).jobIds.length)).toEqual([1, 1, 0, 0, 0]);
    expect((await ctx.store.listDigestWindows({}))[0]).toMatchObject({ sent: 2, digested: 3 });
  });

  it('does not count a duplicate, and keeps windows of different slices and rules apart', async () => {
    const first = eventInput({ kitEventId: 'evt-dup', dedupe: { key: 'kit:evt-dup', expiresAt: T0 + 60 * MINUTE }, jobs: [digestJob()] });
    await commit(ctx.store, [first, { ...first }], T0 + SECOND);
    await commit(ctx.store, [eventInput({ jobs: [digestJob({ windowStart: T0 + 10 * MINUTE, windowEnd: T0 + 20 * MINUTE })] })], T0 + 10 * MINUTE);
    await commit(ctx.store, [eventInput({ jobs: [digestJob({ key: 'other#0' })] })], T0 + 2 * SECOND);
    const windows = await ctx.store.listDigestWindows({ status: 'open' });
    expect(windows.map((w) => [w.key, w.windowStart, w.digested]).sort()).toEqual([['other#0', T0, 1], ['vip#0', T0, 1], ['vip#0', T0 + 10 * MINUTE, 1]]);
  });

  it('closes an ended window once into one event with exact counts and examples, and one job', async () => {
    await commit(ctx.store, [eventInput({ jobs: [digestJob()] }), eventInput({ type: 'subscriber.subscriber_activate', jobs: [digestJob()] })], T0 + SECOND);
    await commit(ctx.store, [eventInput({ jobs: [digestJob()] })], T0 + 2 * SECOND);
    expect(await ctx.store.closeDigests({ now: T0 + 10 * MINUTE - 1, limit: 10 })).toEqual([]);
    const [closed] = await ctx.store.closeDigests({ now: T0 + 10 * MINUTE, limit: 10, examples: 2 });
    expect(closed).toMatchObject({ status: 'closed', digested: 3, closedAt: T0 + 10 * MINUTE, eventId: expect.any(Number) as number, jobId: expect.any(Number) as number });
    expect(await ctx.store.closeDigests({ now: T0 + 20 * MINUTE, limit: 10 })).toEqual([]);
    const event = await ctx.store.getEvent(closed!.eventId!);
    expect(event).toMatchObject({ source: 'internal', origin: 'kitrelay', type: 'kitrelay:digest', subscriberKey: null });
    const { digest } = event!.payload as { digest: { total: number; counts: Record<string, number>; examples: { type: string; email: string; payload: unknown }[]; windowStart: number; windowEnd: number; sentIndividually: number } };
    expect(digest).toMatchObject({ total: 3, sentIndividually: 0, counts: { 'subscriber.tag_add': 2, 'subscriber.subscriber_activate': 1 }, windowStart: T0, windowEnd: T0 + 10 * MINUTE });
    expect(digest.examples).toHaveLength(2);
    expect(digest.examples[0]).toMatchObject({ type: 'subscriber.tag_add', email: expect.stringMatching(/@example\.com$/) as string, payload: { tag_id: 5 } });
    const job = await getJob(ctx.store, closed!.jobId!);
    expect(job).toMatchObject({ rule: 'vip', destination: 'slack', action: 'post', params: { channel: '#sales' }, subKey: 'sales', status: 'pending', eventId: closed!.eventId });
  });

  it('closes a window that digested nothing (all under the threshold) without a job', async () => {
    await commit(ctx.store, [eventInput({ jobs: [digestJob({ threshold: 5 })] })], T0 + SECOND);
    const [closed] = await ctx.store.closeDigests({ now: T0 + 10 * MINUTE, limit: 10 });
    expect(closed).toMatchObject({ status: 'closed', sent: 1, digested: 0, eventId: null, jobId: null });
  });

  it('sends one by one an event that arrives for a window already closed', async () => {
    await commit(ctx.store, [eventInput({ jobs: [digestJob()] })], T0 + SECOND);
    await ctx.store.closeDigests({ now: T0 + 10 * MINUTE, limit: 10 });
    const late = asAccepted((await commit(ctx.store, [eventInput({ jobs: [digestJob()] })], T0 + 10 * MINUTE)).events[0]);
    expect(late.jobIds).toHaveLength(1);
  });

  it('keeps a window and its counts across a reopen', async () => {
    if (!ctx.reopen) return;
    await commit(ctx.store, [eventInput({ jobs: [digestJob()] })], T0 + SECOND);
    const store = await ctx.reopen();
    await commit(store, [eventInput({ jobs: [digestJob()] })], T0 + 2 * SECOND);
    const [closed] = await store.closeDigests({ now: T0 + 10 * MINUTE, limit: 10 });
    expect(closed).toMatchObject({ digested: 2 });
  });

  it('purges closed windows that ended before the cut-off, never open ones', async () => {
    await commit(ctx.store, [eventInput({ jobs: [digestJob()] })], T0 + SECOND);
    await commit(ctx.store, [eventInput({ jobs: [digestJob({ windowStart: T0 + 10 * MINUTE, windowEnd: T0 + 20 * MINUTE })] })], T0 + 10 * MINUTE);
    await ctx.store.closeDigests({ now: T0 + 10 * MINUTE, limit: 10 });
    await ctx.store.purge({ now: T0 + 30 * MINUTE, eventsBefore: T0 + 15 * MINUTE });
    expect((await ctx.store.listDigestWindows({})).map((w) => [w.windowStart, w.status])).toEqual([[T0 + 10 * MINUTE, 'open']]);
  });

  it('leaves one alert row for each job that goes dead, by any path, until it is settled', async () => {
    const failed = await ingestJob(ctx.store, { maxAttempts: 1 });
    const succeeded = await ingestJob(ctx.store);
    await claimIds(ctx.store, T0);
    await ctx.store.finishAttempt({ attempt: attemptFor(await getJob(ctx.store, failed), 'w1', { outcome: 'failed', error: 'HTTP 404' }), next: { status: 'dead' }, now: T0 + SECOND });
    await ctx.store.finishAttempt({ attempt: attemptFor(await getJob(ctx.store, succeeded), 'w1'), next: { status: 'succeeded' }, now: T0 + SECOND });
    const alerts = await ctx.store.takeDeadJobAlerts(10);
    expect(alerts).toMatchObject([{ jobId: failed, job: { id: failed, status: 'dead', lastError: 'HTTP 404' }, eventType: 'subscriber.tag_add', eventOrigin: 'kit' }]);
    // Reading does not take them; a commit that raises the alert settles its row in the same transaction.
    expect(await ctx.store.takeDeadJobAlerts(10)).toHaveLength(1);
    await commit(ctx.store, [eventInput({ type: 'kitrelay:job_dead' })], T0 + 2 * SECOND, { settlesDeadJobAlerts: [alerts[0]!.id] });
    expect(await ctx.store.takeDeadJobAlerts(10)).toEqual([]);
    // Replayed and dead again: a new alert.
    await ctx.store.replayJob(failed, 1, T0 + 3 * SECOND);
    await claimIds(ctx.store, T0 + 3 * SECOND);
    await ctx.store.finishAttempt({ attempt: attemptFor(await getJob(ctx.store, failed), 'w1', { outcome: 'failed', error: 'HTTP 404' }), next: { status: 'dead' }, now: T0 + 4 * SECOND });
    const again = await ctx.store.takeDeadJobAlerts(10);
    expect(again.map((a) => a.jobId)).toEqual([failed]);
    await ctx.store.settleDeadJobAlerts(again.map((a) => a.id));
    expect(await ctx.store.takeDeadJobAlerts(10)).toEqual([]);
  });
}
