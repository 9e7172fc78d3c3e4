/**
 * Meta audiences on PostgreSQL, beyond the store contract (store.test.ts): a batch acknowledged by
 * two stores at once (two pools on one schema, as two processes), and erasure's part proved in the
 * caller's transaction, as the PostgreSQL erasure calls it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0 } from '../fixtures.contract.js';
import { eraseAudienceRows } from './audiences.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { openPool, withTransaction } from './pool.js';
import { openPostgresStore, type PostgresStore } from './store.js';

describe('postgres audience store', () => {
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

  it('acknowledges a batch once when two stores acknowledge it at the same time', async () => {
    const peer = await open();
    try {
      const AUDIENCE = 'meta/customers';
      await store!.setAudienceMembers(AUDIENCE, [1, 2, 3].map((n) => ({ subscriberId: n, row: [String(n)], matchKey: String(n) })), T0);
      const run = await store!.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
      const items = [1, 2, 3].map((n) => ({ subscriberId: n, matchKey: String(n), row: [String(n)] }));
      const batch = await store!.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items, now: T0 });
      const acks = await Promise.all([store!, peer, store!, peer].map((s) => s.ackAudienceBatch({ batchId: batch.id, response: {}, now: T0 + 1 })));
      expect(acks.filter(Boolean)).toHaveLength(1);
      expect(await store!.countAudience(AUDIENCE)).toEqual({ expected: 3, confirmed: 3, toAdd: 0, toRemove: 0 });
    } finally {
      await peer.close();
    }
  });

  it("erases a person's rows in the caller's transaction: pending removal where Meta holds them, gone where not, items gone", async () => {
    const AUDIENCE = 'meta/customers';
    await store!.setAudienceMembers(AUDIENCE, [1, 2].map((n) => ({ subscriberId: n, row: [String(n)], matchKey: String(n) })), T0);
    const run = await store!.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const batch = await store!.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [{ subscriberId: 1, matchKey: '1', row: ['1'] }], now: T0 });
    await store!.ackAudienceBatch({ batchId: batch.id, response: {}, now: T0 });
    const pool = openPool({ url: schema!.url, schema: schema!.schema, max: 1 });
    try {
      // 1: confirmed, so a pending removal (its row cleared) and its item gone; 2: never sent, gone.
      expect(await withTransaction(pool, (client) => eraseAudienceRows(client, [1, 2], T0 + 1))).toBe(3);
    } finally {
      await pool.end();
    }
    expect(await store!.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([{ subscriberId: 1, matchKey: '1', row: null, sentRow: ['1'] }]);
    expect(await store!.findAudienceItems('1')).toEqual([]);
  });
});
