/** Store contract, operations: destination state, settings, retention, reopening, health. */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, attemptFor, claimIds, commit, eventInput, getJob, ingestJob, plannedJob, quarantineInput, type ContractContext } from './fixtures.contract.js';

const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

export function operationsContract(ctx: ContractContext): void {
  it('pauses and resumes a destination', async () => {
    expect(await ctx.store.getDestinationStates()).toEqual([]);
    await ctx.store.pauseDestination('crm', 'maintenance window', T0);
    await ctx.store.pauseDestination('crm', 'still down', T0 + SECOND);
    expect(await ctx.store.getDestinationStates()).toEqual([
      { destination: 'crm', pausedAt: T0, pausedReason: 'still down', breakerOpenUntil: null, breakerOpenings: 0, updatedAt: T0 + SECOND },
    ]);
    await ctx.store.resumeDestination('crm', T0 + 2 * SECOND);
    expect(await ctx.store.getDestinationStates()).toMatchObject([{ destination: 'crm', pausedAt: null, pausedReason: null, updatedAt: T0 + 2 * SECOND }]);
  });

  it('opens, extends and closes a breaker, counting openings', async () => {
    await ctx.store.setBreaker('slack', T0 + 30 * SECOND, T0);
    await ctx.store.setBreaker('slack', T0 + 60 * SECOND, T0 + 10 * SECOND); // extended while open
    expect(await ctx.store.getDestinationStates()).toMatchObject([{ destination: 'slack', breakerOpenUntil: T0 + 60 * SECOND, breakerOpenings: 1, pausedAt: null }]);
    await ctx.store.setBreaker('slack', null, T0 + 61 * SECOND);
    expect(await ctx.store.getDestinationStates()).toMatchObject([{ breakerOpenUntil: null, breakerOpenings: 1 }]);
    await ctx.store.setBreaker('slack', T0 + 120 * SECOND, T0 + 90 * SECOND);
    expect(await ctx.store.getDestinationStates()).toMatchObject([{ breakerOpenUntil: T0 + 120 * SECOND, breakerOpenings: 2, updatedAt: T0 + 90 * SECOND }]);
  });

  it('gets, initialises once, and sets settings', async () => {
    expect(await ctx.store.getSetting('kit.cursor')).toBeUndefined();
    expect(await ctx.store.initSetting('kit.cursor', 'a')).toBe('a');
    expect(await ctx.store.initSetting('kit.cursor', 'b')).toBe('a');
    await ctx.store.setSetting('kit.cursor', 'c');
    expect(await ctx.store.getSetting('kit.cursor')).toBe('c');
  });

  it('purges old finished events with their jobs, keeps audit records scrubbed, and still knows re-sent events', async () => {
    const dedupe = { key: 'kit:evt-old', expiresAt: T0 + 72 * HOUR };
    const done = asAccepted((await commit(ctx.store, [eventInput({ subscriberId: '1', dedupe, jobs: [plannedJob()] })], T0)).events[0]);
    const shortLived = asAccepted((await commit(ctx.store, [eventInput({ dedupe: { key: 'legacy:fp', expiresAt: T0 + 30 * SECOND } })], T0)).events[0]);
    const active = asAccepted((await commit(ctx.store, [eventInput({ jobs: [plannedJob({ destination: 'slack' })] })], T0)).events[0]);
    const recent = asAccepted((await commit(ctx.store, [eventInput()], T0 + 2 * HOUR)).events[0]);
    const [discarded, open] = (await commit(ctx.store, [], T0, { quarantine: [quarantineInput(), quarantineInput({ body: Buffer.from('{"other":1}') })] })).quarantineIds as [number, number];
    await ctx.store.discardQuarantine(discarded, T0 + SECOND);

    const doneJobId = done.jobIds[0]!;
    await claimIds(ctx.store, T0);
    const attempt = attemptFor(await getJob(ctx.store, doneJobId), 'w1');
    await ctx.store.finishAttempt({ attempt, next: { status: 'succeeded' }, now: T0 + SECOND });

    const now = T0 + DAY;
    const result = await ctx.store.purge({ now, eventsBefore: T0 + HOUR, quarantineBefore: T0 + HOUR, auditScrubBefore: T0 + HOUR });
    expect(result).toEqual({ events: 2, jobs: 1, quarantine: 1, auditScrubbed: 1, dedupeKeys: 1 });

    expect(await ctx.store.getEvent(done.eventId)).toBeUndefined();
    expect(await ctx.store.getEvent(shortLived.eventId)).toBeUndefined();
    expect(await ctx.store.getJob(doneJobId)).toBeUndefined();
    expect(await ctx.store.getEvent(active.eventId)).toBeDefined();
    expect(await ctx.store.getJob(active.jobIds[0]!)).toMatchObject({ status: 'pending' });
    expect(await ctx.store.getEvent(recent.eventId)).toBeDefined();
    expect(await ctx.store.getQuarantine(discarded)).toBeUndefined();
    expect(await ctx.store.getQuarantine(open)).toMatchObject({ status: 'open' });

    const [record, ...others] = await ctx.store.listAttempts({ jobId: doneJobId });
    expect(others).toEqual([]);
    const { bodyPreview: _removed, ...requestWithoutPreview } = attempt.request!;
    expect(record).toMatchObject({ jobId: doneJobId, outcome: 'succeeded', email: null, subscriberKey: 'id:1', scrubbedAt: now, responseStatus: 200 });
    expect(record?.request).toEqual(requestWithoutPreview);
    expect(record?.responseBody).toBeUndefined();

    // The dedupe key outlives its event: Kit resending it is still a duplicate.
    const resent = await commit(ctx.store, [eventInput({ subscriberId: '1', dedupe })], now + SECOND);
    expect(resent.events).toEqual([{ status: 'duplicate', eventId: expect.any(Number) as number, duplicateOf: done.eventId }]);
    // The expired one is gone: the same fingerprint is new again.
    expect((await commit(ctx.store, [eventInput({ dedupe: { key: 'legacy:fp', expiresAt: now + 30 * SECOND } })], now)).events[0]?.status).toBe('accepted');
  });

  it('purges a delivery with its last event, and keeps one whose event has an active job', async () => {
    const done = await commit(ctx.store, [eventInput()], T0);
    const active = await commit(ctx.store, [eventInput({ jobs: [plannedJob()] })], T0);
    const both = await commit(ctx.store, [eventInput(), eventInput({ jobs: [plannedJob()] })], T0);
    await ctx.store.purge({ now: T0 + DAY, eventsBefore: T0 + HOUR });
    expect(await ctx.store.getDelivery(done.deliveryId)).toBeUndefined();
    expect(await ctx.store.getDelivery(active.deliveryId)).toBeDefined();
    expect(await ctx.store.getDelivery(both.deliveryId)).toMatchObject({ eventCount: 2 });
    expect(await ctx.store.getEvent(asAccepted(both.events[0]).eventId)).toBeUndefined();
  });

  it('never reuses a job id or idempotency key, even after purging every job', async () => {
    const first = await getJob(ctx.store, await ingestJob(ctx.store));
    await claimIds(ctx.store, T0);
    await ctx.store.finishAttempt({ attempt: attemptFor(first, 'w1'), next: { status: 'succeeded' }, now: T0 + SECOND });
    expect((await ctx.store.purge({ now: T0 + DAY, eventsBefore: T0 + HOUR })).jobs).toBe(1);
    const second = await getJob(ctx.store, await ingestJob(ctx.store, { receivedAt: T0 + DAY }));
    expect(second.id).toBeGreaterThan(first.id);
    expect(second.idempotencyKey).not.toBe(first.idempotencyKey);
  });

  it('keeps everything across close and reopen', async () => {
    const jobId = await ingestJob(ctx.store, { subscriberKey: 'id:77' });
    await ctx.store.setSetting('kit.cursor', 'page-9');
    await ctx.store.pauseDestination('crm', 'deploy', T0);
    const before = await getJob(ctx.store, jobId);

    const reopened = await ctx.reopen();
    expect(await reopened.getJob(jobId)).toEqual(before);
    expect(await reopened.getSetting('kit.cursor')).toBe('page-9');
    expect(await reopened.getDestinationStates()).toMatchObject([{ destination: 'crm', pausedReason: 'deploy' }]);
    const next = await ingestJob(reopened, { receivedAt: T0 + SECOND });
    expect(next).toBeGreaterThan(jobId);
    // Same database, same store id in the key.
    const storeIdOf = (key: string | undefined): string | undefined => key?.replace(/-\d+$/, '');
    expect(storeIdOf((await reopened.getJob(next))?.idempotencyKey)).toBe(storeIdOf(before.idempotencyKey));
  });

  it('answers ping while open', async () => {
    await expect(ctx.store.ping()).resolves.toBeUndefined();
  });
}
