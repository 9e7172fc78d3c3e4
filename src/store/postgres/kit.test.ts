/**
 * The Kit side on PostgreSQL, beyond the store contract (store.test.ts): `applyMirror`, which
 * commitDelivery calls with its transaction's client, proved directly on a plain pool of a fresh,
 * fully migrated schema.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0 } from '../fixtures.contract.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { applyMirror, PgKitOps } from './kit.js';
import { migrate } from './migrate.js';
import { openPool, withTransaction } from './pool.js';

describe('postgres applyMirror, in its caller\'s transaction', () => {
  let schema: TestSchema | undefined;
  let pool: ReturnType<typeof openPool> | undefined;

  beforeEach(async () => {
    schema = await createTestSchema();
    pool = openPool({ url: schema.url, schema: schema.schema, max: 2 });
    await migrate(pool);
  });

  afterEach(async () => {
    await pool?.end();
    await schema?.drop();
    pool = undefined;
    schema = undefined;
  });

  it('commits with the caller\'s transaction, and leaves nothing when it rolls back', async () => {
    const kit = new PgKitOps(pool!);
    const failed = withTransaction(pool!, async (client) => {
      await applyMirror(client, [{ kind: 'tag_added', kitId: 7, email: 'Ann@Example.com', tag: { id: 5 } }], T0);
      throw new Error('the delivery failed');
    });
    await expect(failed).rejects.toThrow('the delivery failed');
    expect(await kit.countSubscribers()).toBe(0);

    await withTransaction(pool!, (client) => applyMirror(client, [{ kind: 'tag_added', kitId: 7, email: 'Ann@Example.com', tag: { id: 5 } }], T0));
    expect(await kit.getSubscriberByEmail('ann@example.com')).toMatchObject({ kitId: 7, state: 'unknown', tags: [{ id: 5 }], source: 'webhook' });
  });

  it('fills in a minimal row, lends a known tag name, and touches the row when a tag is removed', async () => {
    const kit = new PgKitOps(pool!);
    await kit.upsertSubscribers([{ kitId: 1, email: 'a@example.com', firstName: null, state: 'active', fields: {}, createdAt: null, tags: [{ id: 5, name: 'Customer' }] }], 'backfill', T0);
    await applyMirror(pool!, [{ kind: 'tag_added', kitId: 8, tag: { id: 5 } }, { kind: 'tag_added', kitId: 8, tag: { id: 6 } }], T0 + 1);
    expect(await kit.getSubscriber(8)).toMatchObject({ email: '', state: 'unknown', tags: [{ id: 5, name: 'Customer' }, { id: 6 }] });
    const subscriber = { kitId: 8, email: 'Bo@Example.com', firstName: 'Bo', state: 'active', fields: { city: 'Oslo' }, createdAt: T0 - 5 };
    await applyMirror(pool!, [{ kind: 'subscriber', subscriber }, { kind: 'tag_removed', kitId: 8, tagId: 6 }], T0 + 2);
    expect(await kit.getSubscriber(8)).toEqual({ ...subscriber, email: 'bo@example.com', tags: [{ id: 5, name: 'Customer' }], updatedAt: T0 + 2, source: 'webhook' });
    await applyMirror(pool!, [{ kind: 'tag_removed', kitId: 8, tagId: 99 }], T0 + 3);
    expect((await kit.getSubscriber(8))?.updatedAt).toBe(T0 + 2);
  });
});
