/**
 * Store contract, erasure (`kitrelay erase <email>`): one person's records go in one transaction,
 * found by address and by every Kit id the address had; their audit records stay, holding nothing
 * personal; nobody else's records are touched.
 */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, attemptFor, claimIds, commit, eventInput, getJob, plannedJob, quarantineInput, type ContractContext } from './fixtures.contract.js';

const ANN = 'ann.erase@example.com';

export function eraseContract(ctx: ContractContext): void {
  it('erases a person\'s events, jobs, mirror row, quarantine and ledger keys, and scrubs their audit records', async () => {
    const { store } = ctx;
    await store.upsertSubscribers([{ kitId: 501, email: ANN, firstName: 'Ann', state: 'active', fields: {}, tags: [{ id: 5 }], createdAt: null }], 'backfill', T0);
    await store.upsertSubscribers([{ kitId: 502, email: 'bob@example.com', firstName: 'Bob', state: 'active', fields: {}, createdAt: null }], 'backfill', T0);
    // Ann's webhook (keyed by id) and a source event that only knew her address; Bob's.
    const [annByIdResult, annByEmailResult, bobResult] = (
      await commit(store, [
        eventInput({ subscriberId: '501', email: 'Ann.Erase@Example.com', subscriberKey: 'id:501', jobs: [plannedJob({ ledgerKey: 'greet:501' })] }),
        eventInput({ subscriberId: undefined, email: ANN, subscriberKey: `email:${ANN}`, jobs: [plannedJob()] }),
        eventInput({ subscriberId: '502', email: 'bob@example.com', subscriberKey: 'id:502', jobs: [plannedJob()] }),
      ])
    ).events.map(asAccepted);
    // An attempt for Ann's first job whose request and error carry her address.
    await claimIds(store, T0);
    const annJob = await getJob(store, annByIdResult!.jobIds[0]!);
    await store.finishAttempt({
      attempt: attemptFor(annJob, 'w1', {
        outcome: 'failed',
        error: `422: ${ANN} is not valid`,
        request: { method: 'GET', url: `https://api.example/greets?search=${encodeURIComponent(ANN)}`, headers: {}, bodyBytes: 0, bodySha256: 'ab'.repeat(32), bodyPreview: `{"email":"${ANN}"}` },
        responseBody: `{"email":"${ANN}"}`,
      }),
      next: { status: 'dead' },
      now: T0 + SECOND,
    });
    await commit(store, [], T0, { quarantine: [quarantineInput({ body: Buffer.from(`{"email":"ANN.ERASE@EXAMPLE.COM",`) }), quarantineInput({ body: Buffer.from('{"email":"bob@example.com",') })] });

    // Her row in a Meta audience, and the batch that carried it (hashes of her address).
    await store.setAudienceMembers('meta/customers', [{ subscriberId: 501, row: ['a'.repeat(64)], matchKey: 'a'.repeat(64) }, { subscriberId: 502, row: ['b'.repeat(64)], matchKey: 'b'.repeat(64) }], T0);
    const run = await store.startAudienceRun({ audience: 'meta/customers', kind: 'sync', now: T0 });
    await store.planAudienceBatch({ runId: run.id, audience: 'meta/customers', op: 'add', sessionId: '1', seq: 1, isLast: true, items: [{ subscriberId: 501, matchKey: 'a'.repeat(64), row: ['a'.repeat(64)] }], now: T0 });

    // Her Airtable row's state, a delete waiting for approval and a held conflict with her values; Bob's state.
    await store.setAirtableRecords('airtable/people', [{ kitId: 501, recordId: 'recAnn', hash: 'h', synced: { Name: 'Ann' } }, { kitId: 502, recordId: 'recBob', hash: 'h' }], T0);
    await store.requestAirtableDelete('airtable/people', { kitId: 501, recordId: 'recAnn', email: ANN, detectedBy: 'webhook' }, T0);
    await store.recordAirtableDecisions('airtable/people', [{ kitId: 501, recordId: 'recAnn', field: 'Name', kitValue: 'Ann', airtableValue: 'Annie', syncedValue: 'Ann', policy: 'manual', winner: null }], T0);

    const result = await store.eraseSubscriber({ email: ' Ann.Erase@Example.COM ', now: T0 + 2 * SECOND });
    expect(result).toEqual({ email: ANN, subscriberIds: ['501'], events: 2, jobs: 2, auditRecordsScrubbed: 1, mirror: 1, quarantine: 1, ledgerKeys: 1, audienceRows: 2, airtableRows: 3, kajabiRows: 0 });
    expect(await store.getAirtableRecords('airtable/people', [501, 502])).toEqual([expect.objectContaining({ kitId: 502 })]);
    expect(await store.listAirtableDeletes({ limit: 10 })).toEqual([]);
    expect(await store.listAirtableDecisions({ limit: 10 })).toEqual([]);
    expect(await store.findAudienceItems('a'.repeat(64))).toEqual([]);
    expect((await store.findAudienceMembers('b'.repeat(64))).map((m) => m.subscriberId)).toEqual([502]);

    expect(await store.getEvent(annByIdResult!.eventId)).toBeUndefined();
    expect(await store.getEvent(annByEmailResult!.eventId)).toBeUndefined();
    expect(await store.getJob(annJob.id)).toBeUndefined();
    expect(await store.getSubscriber(501)).toBeUndefined();
    expect(await store.hasLedgerKey('greet:501', T0)).toBe(false);
    expect(await store.takeDeadJobAlerts(10)).toEqual([]);
    const [audit] = await store.listAttempts({ jobId: annJob.id });
    expect(audit).toBeDefined();
    expect(JSON.stringify(audit).toLowerCase()).not.toContain('ann.erase');
    expect(audit).toMatchObject({ email: null, subscriberKey: null, error: '422: [erased] is not valid' });
    expect(audit?.responseBody ?? null).toBeNull();
    expect((await store.listQuarantine({})).map((q) => q.body.toString())).toEqual(['{"email":"bob@example.com",']);

    // Bob is untouched; a second erase finds nothing.
    expect(await store.getEvent(bobResult!.eventId)).toBeDefined();
    expect(await store.getJob(bobResult!.jobIds[0]!)).toBeDefined();
    expect(await store.getSubscriber(502)).toBeDefined();
    expect(await store.eraseSubscriber({ email: ANN, now: T0 + 3 * SECOND })).toMatchObject({ subscriberIds: [], events: 0, jobs: 0, auditRecordsScrubbed: 0, mirror: 0 });
  });
}
