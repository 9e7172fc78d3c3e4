/**
 * Numbered migrations for PostgreSQL (`src/store/migrations/postgres/NNN_name.sql`), applied in
 * order, each in its own transaction. Several instances may start at once: each takes a
 * transaction-scoped advisory lock first, so one applies a migration and the others, waiting,
 * then find it recorded and skip it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { withTransaction } from './pool.js';

const MIGRATIONS_DIR = new URL('../migrations/postgres/', import.meta.url);
/** The advisory lock's key: any constant all kitrelay instances agree on. */
const MIGRATION_LOCK = 7_242_012;

/** `only`: apply just these versions (a test of one area on a schema of its own). */
export async function migrate(pool: pg.Pool, options: { readonly dir?: URL; readonly only?: readonly number[] } = {}): Promise<number[]> {
  const dir = options.dir ?? MIGRATIONS_DIR;
  const files = readdirSync(dir)
    .filter((name) => /^\d+_[\w-]+\.sql$/.test(name))
    .map((name) => ({ name, version: Number.parseInt(name, 10) }))
    .filter((file) => options.only === undefined || options.only.includes(file.version))
    .sort((a, b) => a.version - b.version);
  const applied: number[] = [];
  for (const file of files) {
    await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [file.version]);
      if (done.rowCount !== 0) return;
      await client.query(readFileSync(new URL(file.name, dir), 'utf8'));
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [file.version, file.name, Date.now()]);
      applied.push(file.version);
    });
  }
  return applied;
}
