/**
 * Store contract, what flows back from Airtable in a two-way sync (migration 010): pending changes
 * waiting to be quiet, delete requests waiting for an operator, and field decisions on conflicts.
 * Run from airtable.contract.ts.
 */
import { expect, it } from 'vitest';
import type { AirtableDeleteInput, AirtableFieldDecisionInput } from './airtable-types.js';
import { SECOND, T0, type ContractContext } from './fixtures.contract.js';

const SYNC = 'airtable/subscribers';
const OTHER = 'airtable/other';
const deleted = (kitId: number, overrides: Partial<AirtableDeleteInput> = {}): AirtableDeleteInput => ({
  kitId,
  recordId: `rec${kitId}`,
  email: `s${kitId}@example.com`,
  detectedBy: 'webhook',
  ...overrides,
});
const conflict = (kitId: number, field: string, overrides: Partial<AirtableFieldDecisionInput> = {}): AirtableFieldDecisionInput => ({
  kitId,
  recordId: `rec${kitId}`,
  field,
  kitValue: 'kit',
  airtableValue: 'airtable',
  syncedValue: 'before',
  policy: 'manual',
  winner: null,
  ...overrides,
});

export function airtableInboundContract(ctx: ContractContext): void {
  it('keeps one pending change per record: the latest change time, and whether that latest one destroyed the row', async () => {
    const { store } = ctx;
    await store.noteAirtableChanges(SYNC, [{ recordId: 'recA', changedAt: T0, isDestroyed: true }]);
    // Restored by undo: no longer destroyed.
    await store.noteAirtableChanges(SYNC, [{ recordId: 'recA', changedAt: T0 + 5, isDestroyed: false }]);
    // Reported late: an older change moves neither the time nor the state.
    await store.noteAirtableChanges(SYNC, [
      { recordId: 'recA', changedAt: T0 + 2, isDestroyed: true },
      { recordId: 'recB', changedAt: T0 + 1, isDestroyed: true },
      { recordId: 'recB', changedAt: T0 + 3, isDestroyed: false },
      { recordId: 'recB', changedAt: T0 + 4, isDestroyed: true },
    ]);
    await store.noteAirtableChanges(OTHER, [{ recordId: 'recA', changedAt: T0, isDestroyed: false }]);
    expect(await store.countAirtableChanges(SYNC)).toBe(2);
    expect(await store.countAirtableChanges(OTHER)).toBe(1);
    expect(await store.listPendingAirtableRecords(SYNC, ['recNone', ...(await store.listQuietAirtableChanges(SYNC, Number.MAX_SAFE_INTEGER, 10)).map((c) => c.recordId)])).toHaveLength(2);
    expect(await store.listPendingAirtableRecords(SYNC, [])).toEqual([]);
    expect(await store.listQuietAirtableChanges(SYNC, T0 + 10, 10)).toEqual([
      { recordId: 'recB', changedAt: T0 + 4, isDestroyed: true },
      { recordId: 'recA', changedAt: T0 + 5, isDestroyed: false },
    ]);
  });

  it('lists the changes quiet since a time, oldest first, up to the limit', async () => {
    const { store } = ctx;
    await store.noteAirtableChanges(SYNC, [
      { recordId: 'recLate', changedAt: T0 + 3 * SECOND, isDestroyed: false },
      { recordId: 'recEarly', changedAt: T0, isDestroyed: false },
      { recordId: 'recMid', changedAt: T0 + SECOND, isDestroyed: true },
    ]);
    // `changedAt` equal to `quietSince` is quiet.
    expect((await store.listQuietAirtableChanges(SYNC, T0 + SECOND, 10)).map((c) => c.recordId)).toEqual(['recEarly', 'recMid']);
    expect((await store.listQuietAirtableChanges(SYNC, T0 + 10 * SECOND, 2)).map((c) => c.recordId)).toEqual(['recEarly', 'recMid']);
    expect(await store.listQuietAirtableChanges(SYNC, T0 - 1, 10)).toEqual([]);
    expect(await store.listQuietAirtableChanges(OTHER, T0 + 10 * SECOND, 10)).toEqual([]);
  });

  it('clears an applied change only while its change time is the one read, so a change noted meanwhile stays pending', async () => {
    const { store } = ctx;
    await store.noteAirtableChanges(SYNC, [
      { recordId: 'recA', changedAt: T0, isDestroyed: false },
      { recordId: 'recB', changedAt: T0 + 1, isDestroyed: false },
    ]);
    const read = await store.listQuietAirtableChanges(SYNC, T0 + SECOND, 10);
    await store.noteAirtableChanges(SYNC, [{ recordId: 'recB', changedAt: T0 + 2 * SECOND, isDestroyed: true }]);
    expect(await store.clearAirtableChanges(OTHER, read)).toBe(0);
    expect(await store.clearAirtableChanges(SYNC, read)).toBe(1);
    expect(await store.listQuietAirtableChanges(SYNC, T0 + 10 * SECOND, 10)).toEqual([{ recordId: 'recB', changedAt: T0 + 2 * SECOND, isDestroyed: true }]);
    expect(await store.clearAirtableChanges(SYNC, read)).toBe(0);
    expect(await store.clearAirtableChanges(SYNC, [])).toBe(0);
    expect(await store.countAirtableChanges(SYNC)).toBe(1);
  });

  it('queues one pending delete request per sync and subscriber: asking again answers the pending one, unchanged', async () => {
    const { store } = ctx;
    const first = await store.requestAirtableDelete(SYNC, deleted(1), T0);
    expect(first).toEqual({
      id: expect.any(Number) as number,
      sync: SYNC,
      kitId: 1,
      recordId: 'rec1',
      email: 's1@example.com',
      detectedBy: 'webhook',
      detectedAt: T0,
      status: 'pending',
      decidedAt: null,
      note: null,
    });
    expect(await store.requestAirtableDelete(SYNC, deleted(1, { recordId: 'recOther', detectedBy: 'check', email: null }), T0 + SECOND)).toEqual(first);
    expect(await store.getAirtableDelete(first.id)).toEqual(first);
    const elsewhere = await store.requestAirtableDelete(OTHER, deleted(1), T0 + SECOND);
    expect(elsewhere.id).not.toBe(first.id);
    expect(await store.listAirtableDeletes({ status: 'pending', limit: 10 })).toHaveLength(2);
    // Once decided, the next deletion of their row is a new request.
    await store.decideAirtableDelete(first.id, 'rejected', T0 + 2 * SECOND, 'rewritten');
    const again = await store.requestAirtableDelete(SYNC, deleted(1, { detectedBy: 'check' }), T0 + 3 * SECOND);
    expect(again).toMatchObject({ status: 'pending', detectedBy: 'check', detectedAt: T0 + 3 * SECOND });
    expect(again.id).not.toBe(first.id);
    expect(await store.getAirtableDelete(again.id + 1000)).toBeUndefined();
  });

  it('decides a delete request only while it is pending; a decided one stays as it was', async () => {
    const { store } = ctx;
    const request = await store.requestAirtableDelete(SYNC, deleted(1), T0);
    const approved = await store.decideAirtableDelete(request.id, 'approved', T0 + SECOND, 'approved by ops');
    expect(approved).toEqual({ ...request, status: 'approved', decidedAt: T0 + SECOND, note: 'approved by ops' });
    expect(await store.decideAirtableDelete(request.id, 'rejected', T0 + 2 * SECOND, 'too late')).toBeUndefined();
    expect(await store.getAirtableDelete(request.id)).toEqual(approved);
    expect(await store.decideAirtableDelete(request.id + 1000, 'approved', T0, 'no such request')).toBeUndefined();
  });

  it('withdraws only the pending requests of the subscribers whose row is back', async () => {
    const { store } = ctx;
    const one = await store.requestAirtableDelete(SYNC, deleted(1), T0);
    const two = await store.requestAirtableDelete(SYNC, deleted(2), T0);
    const three = await store.requestAirtableDelete(SYNC, deleted(3), T0);
    const elsewhere = await store.requestAirtableDelete(OTHER, deleted(1), T0);
    await store.decideAirtableDelete(two.id, 'approved', T0 + 1, 'approved');
    expect(await store.withdrawAirtableDeletes(SYNC, [1, 2, 9], T0 + SECOND, 'row seen again')).toBe(1);
    expect(await store.getAirtableDelete(one.id)).toMatchObject({ status: 'withdrawn', decidedAt: T0 + SECOND, note: 'row seen again' });
    expect(await store.getAirtableDelete(two.id)).toMatchObject({ status: 'approved', note: 'approved' });
    expect(await store.getAirtableDelete(three.id)).toMatchObject({ status: 'pending' });
    expect(await store.getAirtableDelete(elsewhere.id)).toMatchObject({ status: 'pending' });
    expect(await store.decideAirtableDelete(one.id, 'approved', T0 + 2 * SECOND, 'late')).toBeUndefined();
    expect(await store.withdrawAirtableDeletes(SYNC, [], T0, 'nothing')).toBe(0);
  });

  it('lists delete requests newest first, by sync, status and subscriber', async () => {
    const { store } = ctx;
    const a = await store.requestAirtableDelete(SYNC, deleted(1), T0);
    const b = await store.requestAirtableDelete(SYNC, deleted(2), T0 + 1);
    const c = await store.requestAirtableDelete(OTHER, deleted(1), T0 + 2);
    await store.decideAirtableDelete(a.id, 'approved', T0 + 3, 'ok');
    const ids = async (filter: Parameters<typeof store.listAirtableDeletes>[0]) => (await store.listAirtableDeletes(filter)).map((r) => r.id);
    expect(await ids({ limit: 10 })).toEqual([c.id, b.id, a.id]);
    expect(await ids({ limit: 2 })).toEqual([c.id, b.id]);
    expect(await ids({ sync: SYNC, limit: 10 })).toEqual([b.id, a.id]);
    expect(await ids({ status: 'pending', limit: 10 })).toEqual([c.id, b.id]);
    expect(await ids({ status: 'approved', limit: 10 })).toEqual([a.id]);
    expect(await ids({ kitId: 1, limit: 10 })).toEqual([c.id, a.id]);
    expect(await ids({ sync: SYNC, status: 'pending', kitId: 1, limit: 10 })).toEqual([]);
  });

  it('logs field decisions with their values as JSON, held ones waiting for an operator', async () => {
    const { store } = ctx;
    const logged = await store.recordAirtableDecisions(
      SYNC,
      [
        conflict(1, 'Tags', { kitValue: ['vip'], airtableValue: ['vip', 'beta'], syncedValue: null }),
        conflict(1, 'Score', { kitValue: 3, airtableValue: null, syncedValue: 2.5, policy: 'kit-wins', winner: 'kit', note: 'kit wins' }),
        conflict(2, 'Active', { kitValue: true, airtableValue: false, policy: 'newest-wins', winner: 'airtable', note: 'airtable changed at 10:02, kit at 10:01' }),
      ],
      T0,
    );
    expect(logged).toEqual([
      {
        id: expect.any(Number) as number,
        sync: SYNC,
        kitId: 1,
        recordId: 'rec1',
        field: 'Tags',
        kitValue: ['vip'],
        airtableValue: ['vip', 'beta'],
        syncedValue: null,
        policy: 'manual',
        status: 'held',
        winner: null,
        detectedAt: T0,
        decidedAt: null,
        note: null,
      },
      expect.objectContaining({ kitValue: 3, airtableValue: null, syncedValue: 2.5, status: 'decided', winner: 'kit', decidedAt: T0, note: 'kit wins' }),
      expect.objectContaining({ kitId: 2, kitValue: true, airtableValue: false, syncedValue: 'before', policy: 'newest-wins', status: 'decided', winner: 'airtable' }),
    ]);
    expect(new Set(logged.map((d) => d.id)).size).toBe(3);
    for (const decision of logged) expect(await store.getAirtableDecision(decision.id)).toEqual(decision);
    expect(await store.getAirtableDecision(Math.max(...logged.map((d) => d.id)) + 1000)).toBeUndefined();
    expect(await store.recordAirtableDecisions(SYNC, [], T0)).toEqual([]);
  });

  it('resolves a held conflict once; a decided or resolved one is not held', async () => {
    const { store } = ctx;
    const [held, decided] = await store.recordAirtableDecisions(SYNC, [conflict(1, 'Name'), conflict(1, 'City', { policy: 'airtable-wins', winner: 'airtable' })], T0);
    const resolved = await store.resolveAirtableDecision(held!.id, 'kit', T0 + SECOND, 'kept by ops');
    expect(resolved).toEqual({ ...held, status: 'resolved', winner: 'kit', decidedAt: T0 + SECOND, note: 'kept by ops' });
    expect(await store.resolveAirtableDecision(held!.id, 'airtable', T0 + 2 * SECOND, 'changed my mind')).toBeUndefined();
    expect(await store.getAirtableDecision(held!.id)).toEqual(resolved);
    expect(await store.resolveAirtableDecision(decided!.id, 'kit', T0 + SECOND, 'not held')).toBeUndefined();
    expect(await store.getAirtableDecision(decided!.id)).toEqual(decided);
  });

  it('lists the held fields of these subscribers, once each, until resolved', async () => {
    const { store } = ctx;
    const [name] = await store.recordAirtableDecisions(
      SYNC,
      [conflict(2, 'Name'), conflict(1, 'Tags'), conflict(1, 'City', { policy: 'kit-wins', winner: 'kit' }), conflict(3, 'Name')],
      T0,
    );
    // The same field held again (a later conflict) is still one field not to write.
    await store.recordAirtableDecisions(SYNC, [conflict(1, 'Tags', { airtableValue: 'newer' })], T0 + 1);
    await store.recordAirtableDecisions(OTHER, [conflict(1, 'Email')], T0);
    expect(await store.listHeldAirtableFields(SYNC, [1, 2, 9])).toEqual([
      { kitId: 1, field: 'Tags' },
      { kitId: 2, field: 'Name' },
    ]);
    await store.resolveAirtableDecision(name!.id, 'airtable', T0 + SECOND, 'ops');
    expect(await store.listHeldAirtableFields(SYNC, [2, 3])).toEqual([{ kitId: 3, field: 'Name' }]);
    expect(await store.listHeldAirtableFields(OTHER, [1])).toEqual([{ kitId: 1, field: 'Email' }]);
    expect(await store.listHeldAirtableFields(SYNC, [])).toEqual([]);
  });

  it('lists field decisions newest first, by sync, status and subscriber', async () => {
    const { store } = ctx;
    const [a, b] = await store.recordAirtableDecisions(SYNC, [conflict(1, 'Name'), conflict(2, 'Name', { policy: 'kit-wins', winner: 'kit' })], T0);
    const [c] = await store.recordAirtableDecisions(OTHER, [conflict(1, 'Name')], T0 + 1);
    const [d] = await store.recordAirtableDecisions(SYNC, [conflict(1, 'City')], T0 + 2);
    await store.resolveAirtableDecision(a!.id, 'kit', T0 + 3, 'ops');
    const ids = async (filter: Parameters<typeof store.listAirtableDecisions>[0]) => (await store.listAirtableDecisions(filter)).map((r) => r.id);
    expect(await ids({ limit: 10 })).toEqual([d!.id, c!.id, b!.id, a!.id]);
    expect(await ids({ limit: 1 })).toEqual([d!.id]);
    expect(await ids({ status: 'held', limit: 10 })).toEqual([d!.id, c!.id]);
    expect(await ids({ status: 'held', sync: SYNC, limit: 10 })).toEqual([d!.id]);
    expect(await ids({ status: 'resolved', limit: 10 })).toEqual([a!.id]);
    expect(await ids({ status: 'decided', limit: 10 })).toEqual([b!.id]);
    expect(await ids({ kitId: 1, sync: SYNC, limit: 10 })).toEqual([d!.id, a!.id]);
  });
}
