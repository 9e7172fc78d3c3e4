/**
 * Airtable syncs on PostgreSQL, beyond the store contract (store.test.ts): calls spent, synced
 * values merged and delete requests queued by two stores at once (two pools on one schema, as two
 * processes), RFC 7396 merging, and erasure's part proved in the caller's transaction.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0 } from '../fixtures.contract.js';
import type { Store } from '../types.js';
import { eraseAirtableRows } from './airtable.js';
import { mergePatch } from './merge-patch.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { openPool, withTransaction } from './pool.js';
import { openPostgresStore, type PostgresStore } from './store.js';

describe('postgres airtable store', () => {
  let schema: TestSchema | undefined;
  let store: PostgresStore | undefined;
  const open = (): Promise<PostgresStore> => openPostgresStore({ url: schema!.url, schema: schema!.schema, max: 4 });

  beforeEach(async () => {
    schema = await createTestSchema();
    store = await open();
  });

  afterEach(async () => {
    await store?.close();
    await schema?.drop();
    store = undefined;
    schema = undefined;
  });

  it('never spends past a limit or the month when two stores spend at the same time', async () => {
    const peer = await open();
    try {
      const limits = [{ key: 'base:app', limit: 7, windowMs: 60_000 }, { key: 'token:t', limit: 50, windowMs: 60_000 }];
      const spend = (s: Store, i: number) => s.spendAirtableCall({ destination: 'airtable', month: '2026-01', monthlyBudget: 100, limits, now: T0 + i });
      const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => spend(i % 2 === 0 ? store! : peer, i)));
      expect(decisions.filter((d) => d.ok)).toHaveLength(7);
      expect(await store!.getAirtableCalls('airtable', '2026-01')).toEqual({ calls: 7, warnedAt: null });
      const budgeted = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store! : peer).spendAirtableCall({ destination: 'budget', month: '2026-01', monthlyBudget: 5, warnAt: 3, limits: [], now: T0 + i })),
      );
      expect(budgeted.filter((d) => d.ok)).toHaveLength(5);
      expect(budgeted.filter((d) => d.ok && d.isWarning)).toHaveLength(1);
    } finally {
      await peer.close();
    }
  });

  it('merges synced values written by two stores at once: each patch lands', async () => {
    const peer = await open();
    try {
      await store!.setAirtableRecords('airtable/s', [{ kitId: 1, recordId: 'rec1', hash: 'h' }], T0);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store! : peer).setAirtableRecords('airtable/s', [{ kitId: 1, recordId: 'rec1', hash: `h${i}`, synced: { [`F${i}`]: i } }], T0 + i)),
      );
      const [state] = await store!.getAirtableRecords('airtable/s', [1]);
      expect(Object.keys(state!.synced)).toHaveLength(10);
    } finally {
      await peer.close();
    }
  });

  it('queues one pending delete request when two stores ask at once', async () => {
    const peer = await open();
    try {
      const input = { kitId: 1, recordId: 'rec1', email: null, detectedBy: 'webhook' };
      const requests = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store! : peer).requestAirtableDelete('airtable/s', input, T0 + i)));
      expect(new Set(requests.map((r) => r.id)).size).toBe(1);
    } finally {
      await peer.close();
    }
  });

  it('merges as RFC 7396 does, nested objects included', () => {
    expect(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch('x', { a: { bb: null, c: 1 } })).toEqual({ a: { c: 1 } });
    expect(mergePatch({ a: 'b' }, ['c'])).toEqual(['c']);
    // A key named __proto__ is kept as a key, not taken for the object's prototype.
    const merged = mergePatch({}, JSON.parse('{"__proto__": {"x": 1}}')) as Record<string, unknown>;
    expect(Object.keys(merged)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });

  it("erases a person's states, delete requests and decisions in the caller's transaction", async () => {
    await store!.setAirtableRecords('airtable/s', [{ kitId: 1, recordId: 'rec1', hash: 'h' }, { kitId: 2, recordId: 'rec2', hash: 'h' }], T0);
    await store!.requestAirtableDelete('airtable/s', { kitId: 9, recordId: 'rec9', email: 'ann@example.com', detectedBy: 'check' }, T0);
    await store!.recordAirtableDecisions('airtable/s', [{ kitId: 1, recordId: 'rec1', field: 'Name', kitValue: 'a', airtableValue: 'b', syncedValue: null, policy: 'manual', winner: null }], T0);
    const pool = openPool({ url: schema!.url, schema: schema!.schema, max: 1 });
    try {
      expect(await withTransaction(pool, (client) => eraseAirtableRows(client, [1], 'ann@example.com'))).toBe(3);
    } finally {
      await pool.end();
    }
    expect((await store!.listAirtableRecords('airtable/s', { limit: 10 })).map((s) => s.kitId)).toEqual([2]);
  });
});
