/**
 * Kajabi enrolments on PostgreSQL, beyond the store contract (store.test.ts): erasure's Kajabi part
 * proved in the caller's transaction, and one enrolment saved by two stores at once (two pools on
 * one schema, as two processes).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECOND, T0 } from '../fixtures.contract.js';
import type { KajabiEnrolmentInput } from '../kajabi-types.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { eraseKajabiRows } from './kajabi.js';
import { openPool, withTransaction } from './pool.js';
import { openPostgresStore, type PostgresStore } from './store.js';

describe('postgres kajabi store', () => {
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

  const enrolment = (email: string, offerId: string, kitSubscriberId: number | null): KajabiEnrolmentInput => ({
    destination: 'kajabi',
    email,
    offerId,
    offerTitle: null,
    status: 'granted',
    purchaseId: null,
    transactionId: null,
    refundTransactionId: null,
    contactId: null,
    customerId: null,
    kitSubscriberId,
    amountInCents: null,
    purchasedAt: null,
    settledAt: null,
    endedAt: null,
    endReason: null,
    kitTagged: true,
    kitSyncedAt: null,
    isStopApplied: false,
    changedBy: 'hook',
  });
  const correction = (email: string) => ({ destination: 'kajabi', runId: null, email, offerId: 'a', what: 'status', why: 'x', before: null, after: 'granted' });

  it("erases a person's enrolments and corrections in the caller's transaction, by address and by Kit id", async () => {
    await store!.saveKajabiEnrolments(
      [enrolment('ann@example.com', 'a', 501), enrolment('ann.old@example.com', 'a', 501), enrolment('bob@example.com', 'a', 502)],
      [correction('ann@example.com'), correction('ann.old@example.com'), correction('bob@example.com')],
      T0,
    );
    const pool = openPool({ url: schema!.url, schema: schema!.schema, max: 1 });
    try {
      expect(await withTransaction(pool, (client) => eraseKajabiRows(client, ' ANN@example.com', [501]))).toBe(4);
    } finally {
      await pool.end();
    }
    expect((await store!.listKajabiEnrolments({ limit: 10 })).map((e) => e.email)).toEqual(['bob@example.com']);
    expect((await store!.listKajabiCorrections({ limit: 10 })).map((c) => c.email)).toEqual(['bob@example.com']);
  });

  it('keeps one enrolment when two stores save it at the same time, the id and creation time of the first', async () => {
    const peer = await open();
    try {
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? store! : peer).saveKajabiEnrolments([enrolment('ann@example.com', 'a', i), enrolment('ann@example.com', 'b', i)], [], T0 + i * SECOND)),
      );
      const saved = await store!.getKajabiEnrolments('kajabi', 'ann@example.com');
      expect(saved.map((e) => e.offerId)).toEqual(['a', 'b']);
      expect(saved[0]!.createdAt).toBeLessThanOrEqual(saved[0]!.updatedAt);
    } finally {
      await peer.close();
    }
  });
});
