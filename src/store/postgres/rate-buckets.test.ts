/**
 * Shared rate limits on PostgreSQL (rate-buckets.ts, migration 011): buckets every process on the
 * database spends from. Two whole stores (two pools on one schema, as two processes) taking at once
 * never spend more than the bucket holds; a sub-key bucket and its destination's are taken both or
 * neither; peeks take nothing; full buckets are swept.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECOND, T0 } from '../fixtures.contract.js';
import type { RateBucketSpec } from '../types.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { openPostgresStore, type PostgresStore } from './store.js';

let schema: TestSchema | undefined;
const stores: PostgresStore[] = [];
beforeEach(async () => {
  schema = await createTestSchema('kr_buckets');
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await schema?.drop();
  schema = undefined;
});

async function open(): Promise<PostgresStore> {
  const store = await openPostgresStore({ url: schema!.url, schema: schema!.schema, max: 4 });
  stores.push(store);
  return store;
}

const bucket = (key: string, perSecond: number, burst: number): RateBucketSpec => ({ key, perSecond, burst });

describe('shared rate buckets', () => {
  it('starts full, spends a token a take, and answers the wait for the next one', async () => {
    const store = await open();
    const crm = bucket('crm', 2, 3);
    expect(await store.peekRateTokens(crm, T0)).toEqual({ available: 3, msUntilToken: 0 });
    for (let i = 0; i < 3; i++) expect(await store.takeRateTokens([crm], T0)).toBe(0);
    expect(await store.peekRateTokens(crm, T0)).toEqual({ available: 0, msUntilToken: 500 });
    expect(await store.takeRateTokens([crm], T0)).toBe(500);
    expect(await store.takeRateTokens([crm], T0 + 200)).toBe(300);
    expect(await store.takeRateTokens([crm], T0 + 500)).toBe(0);
    // Refills up to the burst, never past it.
    expect(await store.peekRateTokens(crm, T0 + 60 * SECOND)).toEqual({ available: 3, msUntilToken: 0 });
  });

  it('takes a sub-key bucket and its destination’s both or neither', async () => {
    const store = await open();
    const slack = bucket('slack', 10, 10);
    const channel = bucket('["slack","C1"]', 1, 1);
    expect(await store.takeRateTokens([slack, channel], T0)).toBe(0);
    // The channel is empty: nothing is taken from the destination either.
    expect(await store.takeRateTokens([slack, channel], T0)).toBe(1000);
    expect((await store.peekRateTokens(slack, T0)).available).toBe(9);
    expect(await store.takeRateTokens([slack, bucket('["slack","C2"]', 1, 1)], T0)).toBe(0);
    expect((await store.peekRateTokens(slack, T0)).available).toBe(8);
  });

  it('never lets two stores taking at once spend more than the bucket holds', async () => {
    const [a, b] = [await open(), await open()];
    // Many small contests, each on its own bucket: a check-then-take that is not atomic oversells
    // only when both race for the last token at the same instant.
    for (let contest = 0; contest < 30; contest++) {
      const spec = bucket(`contest-${contest}`, 1, 1 + (contest % 5));
      const takes = [];
      for (let i = 0; i < 8; i++) for (const store of [a, b]) takes.push(store.takeRateTokens([spec], T0));
      const granted = (await Promise.all(takes)).filter((wait) => wait === 0).length;
      expect(granted, `contest ${contest}`).toBe(spec.burst);
    }
  });

  it('refills nothing for a clock behind the bucket’s (another host’s), and follows a changed limit', async () => {
    const store = await open();
    expect(await store.takeRateTokens([bucket('crm', 1, 1)], T0 + 10 * SECOND)).toBe(0);
    expect(await store.takeRateTokens([bucket('crm', 1, 1)], T0)).toBe(1000);
    expect(await store.takeRateTokens([bucket('crm', 1, 1)], T0 + 10 * SECOND + 500)).toBe(500);
    // The limit raised in the config: the next take refills at the new rate, up to the new burst.
    expect(await store.takeRateTokens([bucket('crm', 10, 5)], T0 + 11 * SECOND)).toBe(0);
    expect(await store.peekRateTokens(bucket('crm', 10, 5), T0 + 20 * SECOND)).toEqual({ available: 5, msUntilToken: 0 });
  });

  it('sweeps the buckets that are full again, and only those', async () => {
    const store = await open();
    await store.takeRateTokens([bucket('slow', 1, 1)], T0);
    await store.takeRateTokens([bucket('fast', 100, 1)], T0);
    expect(await store.sweepRateBuckets(T0 + 100)).toBe(1);
    // The swept bucket starts full again; the other still waits.
    expect(await store.peekRateTokens(bucket('fast', 100, 1), T0 + 100)).toEqual({ available: 1, msUntilToken: 0 });
    expect(await store.peekRateTokens(bucket('slow', 1, 1), T0 + 100)).toEqual({ available: 0, msUntilToken: 900 });
  });
});
