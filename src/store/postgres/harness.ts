/**
 * A fresh, empty schema per test on the machine's PostgreSQL (127.0.0.1:5432, trust auth,
 * database `test`; `KITRELAY_TEST_DATABASE_URL` overrides), dropped afterwards. Tests only.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from './pool.js';

export const TEST_DATABASE_URL = process.env['KITRELAY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  readonly url: string;
  readonly schema: string;
  drop(): Promise<void>;
}

export async function createTestSchema(prefix = 'kr_test'): Promise<TestSchema> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  } finally {
    await admin.end();
  }
  return {
    url: TEST_DATABASE_URL,
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
