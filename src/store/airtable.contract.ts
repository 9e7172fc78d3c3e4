/**
 * Store contract, Airtable syncs (migrations 009 and 010): record states per sync with their synced
 * values, the month's call count with its budget and one warning, and rate windows and blocks
 * shared by every store on the file. What flows back from Airtable: airtable-inbound.contract.ts.
 */
import { describe, expect, it } from 'vitest';
import type { AirtableCallInput } from './airtable-types.js';
import { airtableInboundContract } from './airtable-inbound.contract.js';
import { SECOND, T0, type ContractContext } from './fixtures.contract.js';

const SYNC = 'airtable/subscribers';
const base = { key: 'base:appAAAAAAAAAAAAAA', limit: 5, windowMs: SECOND };
const call = (overrides: Partial<AirtableCallInput> = {}): AirtableCallInput => ({ destination: 'airtable', month: '2026-01', limits: [base], now: T0, ...overrides });

export function airtableContract(ctx: ContractContext): void {
  it('keeps the record state per sync and subscriber, replaces it on a new write, and forgets it', async () => {
    const { store } = ctx;
    await store.setAirtableRecords(SYNC, [{ kitId: 3, recordId: 'rec3', hash: 'h3' }, { kitId: 1, recordId: 'rec1', hash: 'h1' }], T0);
    await store.setAirtableRecords('airtable/other', [{ kitId: 1, recordId: 'recX', hash: 'hx' }], T0);
    expect(await store.getAirtableRecords(SYNC, [1, 2, 3])).toEqual([
      { kitId: 1, recordId: 'rec1', hash: 'h1', writtenAt: T0, synced: {} },
      { kitId: 3, recordId: 'rec3', hash: 'h3', writtenAt: T0, synced: {} },
    ]);
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1', hash: 'h1b' }], T0 + SECOND);
    expect(await store.getAirtableRecords(SYNC, [1])).toEqual([{ kitId: 1, recordId: 'rec1', hash: 'h1b', writtenAt: T0 + SECOND, synced: {} }]);
    expect(await store.countAirtableRecords(SYNC)).toBe(2);
    expect((await store.listAirtableRecords(SYNC, { afterKitId: 1, limit: 10 })).map((s) => s.kitId)).toEqual([3]);
    expect(await store.forgetAirtableRecords(SYNC, [1, 5])).toBe(1);
    expect(await store.getAirtableRecords(SYNC, [1, 3])).toEqual([expect.objectContaining({ kitId: 3 })]);
    expect(await store.getAirtableRecords('airtable/other', [1])).toEqual([expect.objectContaining({ recordId: 'recX' })]);
    expect(await store.getAirtableRecords(SYNC, [])).toEqual([]);
  });

  it('merges synced values over the kept ones as a merge patch: a value sets a field, null empties it, absent keeps it', async () => {
    const { store } = ctx;
    const syncedOf = async (kitId: number) => (await store.getAirtableRecords(SYNC, [kitId]))[0]?.synced;
    // A new row keeps no empty cells.
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1', hash: 'h1', synced: { Email: 'a@example.com', Tags: ['vip', 'beta'], Score: 3, Left: null } }], T0);
    expect(await syncedOf(1)).toEqual({ Email: 'a@example.com', Tags: ['vip', 'beta'], Score: 3 });
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1', hash: 'h2', synced: { Email: null, Tags: ['vip'], Left: true } }], T0 + 1);
    // An array is one value: replaced, not merged.
    expect(await syncedOf(1)).toEqual({ Tags: ['vip'], Score: 3, Left: true });
    // No synced values given: all kept, while the hash and record id move on.
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1b', hash: 'h3' }], T0 + 2);
    expect(await store.getAirtableRecords(SYNC, [1])).toEqual([{ kitId: 1, recordId: 'rec1b', hash: 'h3', writtenAt: T0 + 2, synced: { Tags: ['vip'], Score: 3, Left: true } }]);
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1b', hash: 'h3', synced: {} }], T0 + 3);
    expect(await syncedOf(1)).toEqual({ Tags: ['vip'], Score: 3, Left: true });
    // Listing answers them too; a forgotten row starts again from nothing.
    expect(await store.listAirtableRecords(SYNC, { limit: 10 })).toEqual([expect.objectContaining({ kitId: 1, synced: { Tags: ['vip'], Score: 3, Left: true } })]);
    await store.forgetAirtableRecords(SYNC, [1]);
    await store.setAirtableRecords(SYNC, [{ kitId: 1, recordId: 'rec1c', hash: 'h4' }], T0 + 4);
    expect(await syncedOf(1)).toEqual({});
  });

  it('finds record states by Airtable record id, in kit id order, within one sync', async () => {
    const { store } = ctx;
    await store.setAirtableRecords(SYNC, [{ kitId: 7, recordId: 'recB', hash: 'h7', synced: { Email: 'b@example.com' } }, { kitId: 2, recordId: 'recA', hash: 'h2' }], T0);
    await store.setAirtableRecords('airtable/other', [{ kitId: 9, recordId: 'recA', hash: 'h9' }], T0);
    expect(await store.findAirtableRecordsByRecordId(SYNC, ['recB', 'recA', 'recMissing'])).toEqual([
      { kitId: 2, recordId: 'recA', hash: 'h2', writtenAt: T0, synced: {} },
      { kitId: 7, recordId: 'recB', hash: 'h7', writtenAt: T0, synced: { Email: 'b@example.com' } },
    ]);
    expect(await store.findAirtableRecordsByRecordId('airtable/other', ['recA'])).toEqual([expect.objectContaining({ kitId: 9 })]);
    // A new record id replaces the old one: the old id finds nothing.
    await store.setAirtableRecords(SYNC, [{ kitId: 2, recordId: 'recC', hash: 'h2' }], T0 + 1);
    expect(await store.findAirtableRecordsByRecordId(SYNC, ['recA'])).toEqual([]);
    expect(await store.findAirtableRecordsByRecordId(SYNC, [])).toEqual([]);
  });

  it('spends at most the limit in any window, says how long to wait, and spends nothing when deferred', async () => {
    const { store } = ctx;
    for (let i = 0; i < 5; i += 1) expect(await store.spendAirtableCall(call({ now: T0 + i }))).toMatchObject({ ok: true, calls: i + 1 });
    expect(await store.spendAirtableCall(call({ now: T0 + 10 }))).toEqual({ ok: false, reason: 'rate', retryAfterMs: SECOND - 10, key: base.key });
    expect(await store.getAirtableCalls('airtable', '2026-01')).toEqual({ calls: 5, warnedAt: null });
    // One limit full holds a call that another would allow: both or neither.
    const token = { key: 'token:t', limit: 50, windowMs: SECOND };
    expect(await store.spendAirtableCall(call({ limits: [token, base], now: T0 + 20 }))).toMatchObject({ ok: false, reason: 'rate', key: base.key });
    expect(await store.spendAirtableCall(call({ limits: [token, base], now: T0 + SECOND + 1 }))).toMatchObject({ ok: true, calls: 6 });
    expect(await store.spendAirtableCall(call({ limits: [{ ...base, key: 'base:appBBBBBBBBBBBBBB' }], now: T0 + 20 }))).toMatchObject({ ok: true });
  });

  it('holds a key after a 429 until its block ends, the later block winning', async () => {
    const { store } = ctx;
    await store.blockAirtableCalls(base.key, T0 + 30 * SECOND);
    await store.blockAirtableCalls(base.key, T0 + 10 * SECOND);
    expect(await store.spendAirtableCall(call())).toEqual({ ok: false, reason: 'rate', retryAfterMs: 30 * SECOND, key: base.key });
    expect(await store.spendAirtableCall(call({ now: T0 + 30 * SECOND }))).toMatchObject({ ok: true });
  });

  it('counts calls per destination and month, warns once at the share, and refuses past the budget', async () => {
    const { store } = ctx;
    const budgeted = (now: number, month = '2026-01') => store.spendAirtableCall(call({ monthlyBudget: 3, warnAt: 2, limits: [], now, month }));
    expect(await budgeted(T0)).toEqual({ ok: true, calls: 1, isWarning: false });
    expect(await budgeted(T0 + 1)).toEqual({ ok: true, calls: 2, isWarning: true });
    expect(await budgeted(T0 + 2)).toEqual({ ok: true, calls: 3, isWarning: false });
    expect(await budgeted(T0 + 3)).toEqual({ ok: false, reason: 'budget', calls: 3 });
    expect(await store.getAirtableCalls('airtable', '2026-01')).toEqual({ calls: 3, warnedAt: T0 + 1 });
    // A new month starts from nothing.
    expect(await budgeted(T0 + 4, '2026-02')).toEqual({ ok: true, calls: 1, isWarning: false });
    expect(await store.getAirtableCalls('other', '2026-01')).toEqual({ calls: 0, warnedAt: null });
  });

  it('shares the windows with a second store on the same database', async () => {
    const peer = await ctx.openPeer();
    try {
      for (let i = 0; i < 3; i += 1) expect(await ctx.store.spendAirtableCall(call({ now: T0 + i }))).toMatchObject({ ok: true });
      for (let i = 0; i < 2; i += 1) expect(await peer.spendAirtableCall(call({ now: T0 + 3 + i }))).toMatchObject({ ok: true });
      expect(await peer.spendAirtableCall(call({ now: T0 + 5 }))).toMatchObject({ ok: false, reason: 'rate' });
      expect(await ctx.store.getAirtableCalls('airtable', '2026-01')).toMatchObject({ calls: 5 });
    } finally {
      await peer.close();
    }
  });

  describe('inbound', () => airtableInboundContract(ctx));
}
