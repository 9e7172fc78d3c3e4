/** Store contract, ingest: deliveries, events, dedupe, the ledger and quarantine. */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, commit, eventInput, plannedJob, quarantineInput, type ContractContext } from './fixtures.contract.js';
import { dedupeScope, type DedupeInput } from './types.js';

export function ingestContract(ctx: ContractContext): void {
  it('accepts a delivery and reads back the delivery, its event and its job', async () => {
    const event = eventInput({
      subscriberId: '42',
      email: 'Ann@Example.COM',
      subscriberKey: 'id:42',
      jobs: [plannedJob({ subKey: 'C01' })],
      decisions: [{ rule: 'vip-to-slack', outcome: 'predicate_false' }],
    });
    const result = await commit(ctx.store, [event], T0);
    const { eventId, jobIds } = asAccepted(result.events[0]);
    expect(jobIds).toHaveLength(1);
    expect(result.quarantineIds).toEqual([]);

    expect(await ctx.store.getDelivery(result.deliveryId)).toEqual({
      id: result.deliveryId,
      system: 'signed',
      route: 'main',
      kitDeliveryId: `d-${T0}`,
      receivedAt: T0,
      bodyBytes: 512,
      eventCount: 1,
      quarantinedCount: 0,
    });
    expect(await ctx.store.getEvent(eventId)).toEqual({
      id: eventId,
      deliveryId: result.deliveryId,
      source: 'signed',
      origin: 'kit',
      kitEventId: 'evt-42',
      type: 'subscriber.tag_add',
      kitType: 'subscriber.tag_add',
      scope: { param: 'tag_id', value: '5' },
      subscriberId: '42',
      email: 'ann@example.com',
      subscriberKey: 'id:42',
      occurredAt: T0 - SECOND,
      receivedAt: T0,
      status: 'accepted',
      duplicateOf: null,
      payload: { subscriber: { id: 42 }, tag_id: 5 },
      decisions: [
        { rule: 'vip-to-slack', outcome: 'predicate_false' },
        { rule: 'tagged-to-crm', destination: 'crm', action: 'post', outcome: 'job', jobId: jobIds[0] },
      ],
    });
    const job = await ctx.store.getJob(jobIds[0]!);
    expect(job).toMatchObject({
      eventId,
      rule: 'tagged-to-crm',
      destination: 'crm',
      action: 'post',
      params: { list: 7 },
      subKey: 'C01',
      subscriberKey: 'id:42',
      subscriberId: '42',
      email: 'ann@example.com',
      status: 'pending',
      attempts: 0,
      maxAttempts: 3,
      runAt: T0,
      leaseOwner: null,
      leaseExpiresAt: null,
      lastError: null,
      createdAt: T0,
      finishedAt: null,
      replays: 0,
    });
    expect(job?.idempotencyKey).toMatch(new RegExp(`^.+-${jobIds[0]}$`));
    expect(await ctx.store.getEvent(eventId + 1000)).toBeUndefined();
  });

  it('lists events newest first, filtered and paged', async () => {
    const first = await commit(ctx.store, [eventInput({ subscriberId: '1', email: 'One@Example.com' })], T0);
    const second = await commit(ctx.store, [eventInput({ subscriberId: '2', type: 'subscriber.form_subscribe' })], T0 + SECOND);
    const third = await commit(ctx.store, [eventInput({ subscriberId: '1', email: 'one@example.com' })], T0 + 2 * SECOND);
    const ids = [first, second, third].map((result) => asAccepted(result.events[0]).eventId);

    const ofAll = await ctx.store.listEvents({});
    expect(ofAll.map((event) => event.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect((await ctx.store.listEvents({ email: 'ONE@example.COM' })).map((e) => e.id)).toEqual([ids[2], ids[0]]);
    expect((await ctx.store.listEvents({ subscriberId: '2' })).map((e) => e.id)).toEqual([ids[1]]);
    expect((await ctx.store.listEvents({ type: 'subscriber.form_subscribe' })).map((e) => e.id)).toEqual([ids[1]]);
    expect((await ctx.store.listEvents({ since: T0 + SECOND, until: T0 + 2 * SECOND })).map((e) => e.id)).toEqual([ids[1]]);
    expect((await ctx.store.listEvents({ limit: 1 })).map((e) => e.id)).toEqual([ids[2]]);
    expect((await ctx.store.listEvents({ beforeId: ids[2], limit: 1 })).map((e) => e.id)).toEqual([ids[1]]);
    expect(await ctx.store.listEvents({ status: 'duplicate' })).toEqual([]);
  });

  it('reads the event stream on from an id, oldest first and bounded, with each event’s subscriber, status and origin', async () => {
    expect(await ctx.store.listEventHeads({ afterId: 0, limit: 10 })).toEqual([]);
    const dedupe = { key: 'kit:evt-heads', expiresAt: T0 + 3600 * SECOND };
    const first = await commit(ctx.store, [eventInput({ subscriberId: '7', dedupe }), eventInput({ subscriberId: '7', dedupe })], T0);
    const second = await commit(ctx.store, [eventInput({ subscriberId: undefined, subscriberKey: undefined, source: 'source', origin: 'slack' })], T0 + SECOND);
    const [a, b] = first.events.map((e) => e.eventId);
    const c = second.events[0]!.eventId;
    expect(await ctx.store.listEventHeads({ afterId: 0, limit: 10 })).toEqual([
      { id: a, status: 'accepted', origin: 'kit', subscriberId: '7' },
      { id: b, status: 'duplicate', origin: 'kit', subscriberId: '7' },
      { id: c, status: 'accepted', origin: 'slack', subscriberId: null },
    ]);
    expect((await ctx.store.listEventHeads({ afterId: a!, limit: 1 })).map((e) => e.id)).toEqual([b]);
    expect(await ctx.store.listEventHeads({ afterId: c, limit: 10 })).toEqual([]);
  });

  it('records a re-sent event inside its dedupe window as a duplicate that makes no job', async () => {
    const dedupe: DedupeInput = { key: 'kit:evt-1', expiresAt: T0 + 72 * 3600 * SECOND };
    const original = asAccepted((await commit(ctx.store, [eventInput({ dedupe, jobs: [plannedJob()] })], T0)).events[0]);

    const again = await commit(ctx.store, [eventInput({ dedupe, jobs: [plannedJob()] })], T0 + 3600 * SECOND);
    expect(again.events).toEqual([{ status: 'duplicate', eventId: expect.any(Number) as number, duplicateOf: original.eventId }]);
    const duplicateId = again.events[0]!.eventId;
    expect(await ctx.store.getEvent(duplicateId)).toMatchObject({ status: 'duplicate', duplicateOf: original.eventId });
    expect(await ctx.store.listJobs({ eventId: duplicateId })).toEqual([]);
    expect((await ctx.store.listEvents({ status: 'duplicate' })).map((e) => e.id)).toEqual([duplicateId]);
  });

  it('accepts the same dedupe key again once it has expired, and the key then points at the new event', async () => {
    const key = 'legacy:r-tags:abc';
    const first = asAccepted((await commit(ctx.store, [eventInput({ dedupe: { key, expiresAt: T0 + 30 * SECOND } })], T0)).events[0]);
    const later = T0 + 30 * SECOND; // expires_at is not > receivedAt: the window is over
    const second = asAccepted((await commit(ctx.store, [eventInput({ dedupe: { key, expiresAt: later + 30 * SECOND } })], later)).events[0]);
    expect(second.eventId).not.toBe(first.eventId);
    const third = await commit(ctx.store, [eventInput({ dedupe: { key, expiresAt: later + 60 * SECOND } })], later + SECOND);
    expect(third.events[0]).toMatchObject({ status: 'duplicate', duplicateOf: second.eventId });
  });

  it('treats an event repeated inside one delivery as a duplicate of the first', async () => {
    const dedupe = { key: 'kit:evt-7', expiresAt: T0 + 3600 * SECOND };
    const result = await commit(ctx.store, [eventInput({ dedupe }), eventInput({ dedupe })], T0);
    const first = asAccepted(result.events[0]);
    expect(result.events[1]).toMatchObject({ status: 'duplicate', duplicateOf: first.eventId });
  });

  it('lets an identical legacy body through after an opposite event cleared its fingerprint', async () => {
    const scope = { param: 'tag_id', value: '5' };
    const tagAdd = (key: string, scopeValue = '5'): ReturnType<typeof eventInput> =>
      eventInput({
        subscriberId: '9',
        subscriberKey: 'id:9',
        scope: { param: 'tag_id', value: scopeValue },
        dedupe: { key, expiresAt: T0 + 60 * SECOND, subscriberKey: 'id:9', type: 'subscriber.tag_add', scope: dedupeScope({ param: 'tag_id', value: scopeValue }) },
      });
    await commit(ctx.store, [tagAdd('fp-add-5'), tagAdd('fp-add-6', '6')], T0);
    expect((await commit(ctx.store, [tagAdd('fp-add-5')], T0 + SECOND)).events[0]?.status).toBe('duplicate');

    const tagRemove = eventInput({
      subscriberId: '9',
      subscriberKey: 'id:9',
      type: 'subscriber.tag_remove',
      kitType: 'subscriber.tag_remove',
      scope,
      dedupe: { key: 'fp-remove-5', expiresAt: T0 + 60 * SECOND, subscriberKey: 'id:9', type: 'subscriber.tag_remove', scope: dedupeScope(scope) },
      clearsDedupeTypes: ['subscriber.tag_add'],
    });
    expect((await commit(ctx.store, [tagRemove], T0 + 2 * SECOND)).events[0]?.status).toBe('accepted');

    expect((await commit(ctx.store, [tagAdd('fp-add-5')], T0 + 3 * SECOND)).events[0]?.status).toBe('accepted');
    // Another scope's fingerprint was not cleared.
    expect((await commit(ctx.store, [tagAdd('fp-add-6', '6')], T0 + 3 * SECOND)).events[0]?.status).toBe('duplicate');
  });

  /** A legacy-style fingerprint: it names its subscriber, so an opposite event can clear it. */
  const fingerprinted = (key: string, subscriber: string, type = 'subscriber.tag_add', expiresAt = T0 + 60 * SECOND) =>
    eventInput({
      subscriberId: subscriber,
      subscriberKey: `id:${subscriber}`,
      type,
      kitType: type,
      scope: { param: 'tag_id', value: '5' },
      dedupe: { key, expiresAt, subscriberKey: `id:${subscriber}`, type, scope: dedupeScope({ param: 'tag_id', value: '5' }) },
      clearsDedupeTypes: [type === 'subscriber.tag_add' ? 'subscriber.tag_remove' : 'subscriber.tag_add'],
    });

  it('keeps fingerprints and the clears of opposite events across close and reopen', async () => {
    await commit(ctx.store, [fingerprinted('fp-a', '11'), fingerprinted('fp-b', '12')], T0);
    await commit(ctx.store, [fingerprinted('fp-r', '12', 'subscriber.tag_remove')], T0 + SECOND);
    const reopened = await ctx.reopen();
    expect((await commit(reopened, [fingerprinted('fp-a', '11')], T0 + 2 * SECOND)).events[0]?.status).toBe('duplicate');
    expect((await commit(reopened, [fingerprinted('fp-b', '12')], T0 + 2 * SECOND)).events[0]?.status).toBe('accepted');
    expect((await commit(reopened, [fingerprinted('fp-r', '12', 'subscriber.tag_remove')], T0 + 3 * SECOND)).events[0]?.status).toBe('accepted');
    // Past its window a fingerprint counts no more, reopened or not.
    expect((await commit(reopened, [fingerprinted('fp-a', '11')], T0 + 61 * SECOND)).events[0]?.status).toBe('accepted');
  });

  it('sees the fingerprints and clears another store on the same database committed', async () => {
    const peer = await ctx.openPeer();
    try {
      await commit(ctx.store, [fingerprinted('fp-1', '21'), fingerprinted('fp-2', '22')], T0);
      expect((await commit(peer, [fingerprinted('fp-1', '21')], T0 + SECOND)).events[0]?.status).toBe('duplicate');
      await commit(peer, [fingerprinted('fp-3', '23'), fingerprinted('fp-r', '22', 'subscriber.tag_remove')], T0 + SECOND);
      expect((await commit(ctx.store, [fingerprinted('fp-3', '23')], T0 + 2 * SECOND)).events[0]?.status).toBe('duplicate');
      expect((await commit(ctx.store, [fingerprinted('fp-2', '22')], T0 + 2 * SECOND)).events[0]?.status).toBe('accepted');
      expect((await commit(peer, [fingerprinted('fp-2', '22')], T0 + 3 * SECOND)).events[0]?.status).toBe('duplicate');
    } finally {
      await peer.close();
    }
  });

  it('forgets the fingerprint of a delivery that failed, so its resend is accepted', async () => {
    // The second delivery fails after its event was written (a quarantine entry whose body is
    // not bytes): the whole delivery is rolled back, its fingerprint with it.
    const failing = ctx.store.commitDelivery({
      delivery: { system: 'legacy', route: 'tag_add-5', receivedAt: T0, bodyBytes: 10 },
      events: [fingerprinted('fp-lost', '31')],
      quarantine: [{ ...quarantineInput(), body: 42 as unknown as Buffer }],
    });
    const [good, bad] = await Promise.allSettled([commit(ctx.store, [fingerprinted('fp-kept', '32')], T0), failing]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    expect((await commit(ctx.store, [fingerprinted('fp-lost', '31')], T0 + SECOND)).events[0]?.status).toBe('accepted');
    expect((await commit(ctx.store, [fingerprinted('fp-kept', '32')], T0 + SECOND)).events[0]?.status).toBe('duplicate');
  });

  it('spends a ledger key once: a second event with the same key makes no job and records `once`', async () => {
    const job = plannedJob({ rule: 'welcome-video', destination: 'bonjoro', action: 'video', ledgerKey: 'welcome:id:5' });
    expect(await ctx.store.hasLedgerKey('welcome:id:5')).toBe(false);
    const first = asAccepted((await commit(ctx.store, [eventInput({ subscriberId: '5', jobs: [job] })], T0)).events[0]);
    expect(first.jobIds).toHaveLength(1);
    expect(await ctx.store.hasLedgerKey('welcome:id:5')).toBe(true);

    const second = asAccepted((await commit(ctx.store, [eventInput({ subscriberId: '5', jobs: [job, plannedJob()] })], T0 + SECOND)).events[0]);
    expect(second.jobIds).toHaveLength(1);
    const event = await ctx.store.getEvent(second.eventId);
    expect(event?.decisions).toEqual([
      { rule: 'welcome-video', destination: 'bonjoro', action: 'video', outcome: 'once' },
      { rule: 'tagged-to-crm', destination: 'crm', action: 'post', outcome: 'job', jobId: second.jobIds[0] },
    ]);
    expect(await ctx.store.listJobs({ destination: 'bonjoro' })).toHaveLength(1);
  });

  it('spends a ledger key once within one event too: the second job with it records `once`', async () => {
    const job = plannedJob({ rule: 'welcome-video', destination: 'bonjoro', action: 'video', ledgerKey: 'welcome:id:6' });
    const other = plannedJob({ rule: 'welcome-again', destination: 'bonjoro', action: 'video', ledgerKey: 'welcome:id:6' });
    const { eventId, jobIds } = asAccepted((await commit(ctx.store, [eventInput({ subscriberId: '6', jobs: [job, other] })], T0)).events[0]);
    expect(jobIds).toHaveLength(1);
    expect((await ctx.store.getEvent(eventId))?.decisions).toEqual([
      { rule: 'welcome-video', destination: 'bonjoro', action: 'video', outcome: 'job', jobId: jobIds[0] },
      { rule: 'welcome-again', destination: 'bonjoro', action: 'video', outcome: 'once' },
    ]);
  });

  it('reads back a payload given as JSON text as the payload', async () => {
    const payload = { subscriber: { id: 8, email_address: 'Eight@Example.com' }, tag_id: 5 };
    const event = eventInput({ subscriberId: '8', payload, payloadJson: ' {"subscriber":{"id":8,"email_address":"Eight@Example.com"},"tag_id":5}\n' });
    const { eventId } = asAccepted((await commit(ctx.store, [event], T0)).events[0]);
    expect((await ctx.store.getEvent(eventId))?.payload).toEqual(payload);
  });

  it('keeps quarantined bytes and lists, gets and discards them', async () => {
    const body = Buffer.from([0x7b, 0x00, 0xff, 0x22]);
    const result = await commit(ctx.store, [], T0, { quarantine: [quarantineInput({ body }), quarantineInput({ route: 'r-forms' })] });
    expect(result.events).toEqual([]);
    expect(result.quarantineIds).toHaveLength(2);
    const [firstId, secondId] = result.quarantineIds as [number, number];
    expect((await ctx.store.getDelivery(result.deliveryId))?.quarantinedCount).toBe(2);

    const entry = await ctx.store.getQuarantine(firstId);
    expect(entry).toMatchObject({
      id: firstId,
      system: 'legacy',
      route: 'r-tags',
      reason: 'invalid_json',
      headers: { 'content-type': 'application/json' },
      receivedAt: T0,
      status: 'open',
      resolvedAt: null,
      reingestedEventIds: [],
    });
    expect(Buffer.isBuffer(entry?.body)).toBe(true);
    expect(entry?.body.equals(body)).toBe(true);
    expect((await ctx.store.listQuarantine({ route: 'r-forms' })).map((q) => q.id)).toEqual([secondId]);

    expect(await ctx.store.discardQuarantine(firstId, T0 + SECOND)).toBe(true);
    expect(await ctx.store.discardQuarantine(firstId, T0 + 2 * SECOND)).toBe(false);
    expect(await ctx.store.getQuarantine(firstId)).toMatchObject({ status: 'discarded', resolvedAt: T0 + SECOND });
    expect((await ctx.store.listQuarantine({ status: 'open' })).map((q) => q.id)).toEqual([secondId]);
  });

  it('marks a quarantine entry re-ingested, with the new event ids, in the same commit', async () => {
    const [quarantineId] = (await commit(ctx.store, [], T0, { quarantine: [quarantineInput()] })).quarantineIds;
    const result = await commit(ctx.store, [eventInput({ source: 'reingest', jobs: [plannedJob()] })], T0 + SECOND, {
      delivery: { system: 'reingest', route: String(quarantineId), receivedAt: T0 + SECOND, bodyBytes: 15 },
      reingestOf: quarantineId!,
    });
    const { eventId } = asAccepted(result.events[0]);
    expect(await ctx.store.getQuarantine(quarantineId!)).toMatchObject({
      status: 'reingested',
      resolvedAt: T0 + SECOND,
      reingestedEventIds: [eventId],
    });
    expect(await ctx.store.getEvent(eventId)).toMatchObject({ source: 'reingest' });
    expect(await ctx.store.getDelivery(result.deliveryId)).toMatchObject({ system: 'reingest', kitDeliveryId: null });
  });
}
