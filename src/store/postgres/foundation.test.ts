/**
 * The PostgreSQL store's foundation: a schema per test, migrations applied once when several
 * instances start at once, settings' store id made by the first migration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from './harness.js';
import { migrate } from './migrate.js';
import { openPool } from './pool.js';

let schema: TestSchema | undefined;
afterEach(async () => {
  await schema?.drop();
  schema = undefined;
});

describe('postgres foundation', () => {
  it('applies each migration once when several instances migrate at the same time', async () => {
    schema = await createTestSchema();
    const pools = [0, 1, 2].map(() => openPool({ url: schema!.url, schema: schema!.schema, max: 2 }));
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(pool, { only: [1] })));
      expect(applied.flat()).toEqual([1]);
      const { rows } = await pools[0]!.query<{ value: string }>("SELECT value FROM settings WHERE key = 'store_id'");
      expect(rows).toHaveLength(1);
      expect(rows[0]!.value).toMatch(/^[0-9a-f]{16}$/);
      expect(await migrate(pools[1]!, { only: [1] })).toEqual([]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
