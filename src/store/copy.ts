/**
 * `kitrelay store copy` (issue 13): moves a SQLite store's data into a PostgreSQL schema, table by
 * table, ids kept.
 *
 * - The target is migrated first, then checked: it must be empty, or hold an earlier copy of this
 *   very store (`store_copy` rows naming its store id). The store id is copied with the settings,
 *   so job idempotency keys (`<store_id>-<job id>`) stay what destinations have already seen.
 * - Each table is read from one SQLite snapshot (copy-source.ts) in rowid or primary-key order, in
 *   batches; each batch commits with its `store_copy` progress row, so a copy stopped at any point
 *   resumes after the last committed batch, and rows already there are skipped (ON CONFLICT DO
 *   NOTHING). A second run over a finished copy reads nothing new and changes nothing.
 * - SQLite's dedupe window (a log replayed into memory) has no PostgreSQL table: its live keys
 *   become `dedupe_keys` rows with their subscriber, type and scope, as PostgreSQL's ingest keeps them.
 * - Identity sequences are moved past the highest id SQLite ever handed out (`sqlite_sequence`,
 *   which retention's deletions do not lower), so a new row never reuses an id, nor a job an
 *   idempotency key.
 * - At the end every table's rows are counted on both sides.
 *
 * The service must be stopped: rows a running service changes after they were copied (a job
 * finishing) are not copied again.
 */
import type pg from 'pg';
import { SqliteSource, type Cursor, type SourceTable, type SqliteValue, type WindowKeyRow } from './copy-source.js';
import { migrate } from './postgres/migrate.js';
import { openPool, quoteIdent, withTransaction, type Queryable } from './postgres/pool.js';

export interface CopyStoreOptions {
  /** The SQLite store's file. */
  readonly sqlitePath: string;
  /** The target: `postgres://user@host:port/database`. */
  readonly url: string;
  /** @default 'public' */
  readonly schema?: string;
  /** Rows per batch (one transaction each). @default 1000 */
  readonly batchSize?: number;
  /** Stop after this many batches, leaving the copy to be resumed (tests). */
  readonly maxBatches?: number;
  readonly now?: () => number;
}

export interface TableCount {
  readonly table: string;
  readonly source: number;
  readonly target: number;
  /** Rows this run inserted. */
  readonly copied: number;
}

export type CopyStoreResult =
  | { readonly kind: 'refused'; readonly reason: 'no_source' | 'source_not_migrated' | 'foreign_target' | 'schema_mismatch' | 'copy_running'; readonly message: string }
  | {
      readonly kind: 'copied';
      readonly storeId: string;
      /** False when `maxBatches` stopped the copy before the end. */
      readonly isComplete: boolean;
      readonly batches: number;
      readonly tables: readonly TableCount[];
      /** Tables whose counts differ (checked only when complete). */
      readonly mismatches: readonly TableCount[];
    };

/** The dedupe window's progress row (its keys go to `dedupe_keys`). */
const WINDOW = 'dedupe_window';
/** Session advisory lock held by a copy, so two copies into one schema do not interleave. */
const COPY_LOCK = 7_242_013;
/** PostgreSQL binds at most 65535 parameters per statement. */
const MAX_PARAMS = 60_000;

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export async function copyStore(options: CopyStoreOptions): Promise<CopyStoreResult> {
  const source = SqliteSource.open(options.sqlitePath);
  if (source === undefined) return { kind: 'refused', reason: 'no_source', message: `no SQLite store at ${options.sqlitePath}` };
  try {
    const pending = source.pendingMigrations();
    if (pending.length > 0) {
      return { kind: 'refused', reason: 'source_not_migrated', message: `${options.sqlitePath} lacks migration(s) ${pending.join(', ')}: run any kitrelay command on it once (it migrates), then copy` };
    }
    const storeId = source.storeId();
    if (storeId === undefined) return { kind: 'refused', reason: 'source_not_migrated', message: `${options.sqlitePath} has no store_id setting` };
    const schema = options.schema ?? 'public';
    const pool = openPool({ url: options.url, schema, max: 3 });
    pool.on('error', () => undefined);
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await migrate(pool);
      const lock = await pool.connect();
      try {
        const isLocked = (await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [COPY_LOCK])).rows[0]?.ok === true;
        if (!isLocked) return { kind: 'refused', reason: 'copy_running', message: 'another store copy is running on this database' };
        try {
          return await run(new Copy(source, pool, storeId, schema, options));
        } finally {
          await lock.query('SELECT pg_advisory_unlock($1)', [COPY_LOCK]);
        }
      } finally {
        lock.release();
      }
    } finally {
      await pool.end();
    }
  } finally {
    source.close();
  }
}

async function run(copy: Copy): Promise<CopyStoreResult> {
  const tables = copy.source.tables();
  const mismatch = await copy.schemaDifferences(tables);
  if (mismatch.length > 0) return { kind: 'refused', reason: 'schema_mismatch', message: `the SQLite and PostgreSQL schemas differ: ${mismatch.join('; ')}` };
  const foreign = await copy.foreignData(tables);
  if (foreign !== undefined) return { kind: 'refused', reason: 'foreign_target', message: foreign };
  const windowKeys = copy.source.windowKeys();
  let isComplete = true;
  for (const table of tables) {
    isComplete = isComplete && (await copy.table(table));
    await copy.advanceSequence(table.name);
  }
  isComplete = isComplete && (await copy.window(windowKeys));
  const counts: TableCount[] = [];
  for (const table of tables) {
    const extra = table.name === 'dedupe_keys' ? windowKeys.length : 0;
    counts.push({ table: table.name, source: copy.source.count(table.name) + extra, target: await copy.targetCount(table.name), copied: copy.copied.get(table.name) ?? 0 });
  }
  return {
    kind: 'copied',
    storeId: copy.storeId,
    isComplete,
    batches: copy.batches,
    tables: counts,
    mismatches: isComplete ? counts.filter((count) => count.source !== count.target) : [],
  };
}

class Copy {
  readonly copied = new Map<string, number>();
  batches = 0;
  readonly #batchSize: number;
  readonly #maxBatches: number;
  readonly #now: () => number;
  /** Each table's checkpoint from an earlier run (the window's is a key). */
  #progress = new Map<string, Cursor | string | undefined>();
  readonly #completed = new Set<string>();

  constructor(
    readonly source: SqliteSource,
    readonly pool: pg.Pool,
    readonly storeId: string,
    readonly schema: string,
    options: CopyStoreOptions,
  ) {
    this.#batchSize = options.batchSize ?? 1000;
    this.#maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? Date.now;
  }

  /** Tables or columns one side has and the other lacks (a kitrelay with mismatched migrations). */
  async schemaDifferences(tables: readonly SourceTable[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ table_name: string; column_name: string }>('SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1', [this.schema]);
    const differences: string[] = [];
    for (const table of tables) {
      const target = new Set(rows.filter((row) => row.table_name === table.name).map((row) => row.column_name));
      if (target.size === 0) {
        differences.push(`no table ${table.name} in PostgreSQL`);
        continue;
      }
      const missing = table.columns.filter((column) => !target.has(column));
      const extra = [...target].filter((column) => !table.columns.includes(column));
      if (missing.length > 0) differences.push(`${table.name} lacks ${missing.join(', ')} in PostgreSQL`);
      if (extra.length > 0) differences.push(`${table.name} has ${extra.join(', ')} only in PostgreSQL`);
    }
    return differences;
  }

  /**
   * Why the target may not receive this store, or undefined: it holds progress rows of another
   * store, or rows of any kind without progress rows (a schema a service already used).
   */
  async foreignData(tables: readonly SourceTable[]): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ table_name: string; source_store_id: string; cursor: string | null; completed_at: number | null }>(
      'SELECT table_name, source_store_id, cursor, completed_at FROM store_copy',
    );
    const targetId = (await this.pool.query<{ value: string }>("SELECT value FROM settings WHERE key = 'store_id'")).rows[0]?.value;
    const other = rows.find((row) => row.source_store_id !== this.storeId);
    if (other !== undefined) return `schema "${this.schema}" holds a copy of store ${other.source_store_id}, not of this store (${this.storeId}): copy into an empty schema`;
    if (rows.length > 0) {
      if (targetId !== this.storeId) return `schema "${this.schema}" has store id ${targetId ?? '(none)'}, not this store's (${this.storeId}): copy into an empty schema`;
      this.#progress = new Map(rows.map((row) => [row.table_name, row.cursor === null ? undefined : (JSON.parse(row.cursor) as Cursor | string)]));
      for (const row of rows) if (row.completed_at !== null) this.#completed.add(row.table_name);
      return undefined;
    }
    const occupied: string[] = [];
    for (const table of tables) {
      const filter = table.name === 'settings' ? " WHERE key <> 'store_id'" : '';
      const { rows: found } = await this.pool.query(`SELECT 1 FROM ${q(table.name)}${filter} LIMIT 1`);
      if (found.length > 0) occupied.push(table.name);
    }
    if (occupied.length === 0) return undefined;
    return `schema "${this.schema}" already holds data not from a copy of this store (store id ${targetId ?? '(none)'}; rows in ${occupied.join(', ')}): copy into an empty schema`;
  }

  /** Copies the rows after the table's checkpoint; false when the batch budget ran out first. */
  async table(table: SourceTable): Promise<boolean> {
    const start = this.#progress.get(table.name);
    let cursor = typeof start === 'string' ? undefined : start;
    for (;;) {
      if (this.batches >= this.#maxBatches) return false;
      const { rows, last } = this.source.read(table, cursor, this.#batchSize);
      const isLast = rows.length < this.#batchSize;
      // A finished table with nothing new: leave its checkpoint as it is (a second run changes nothing).
      if (rows.length === 0 && this.#completed.has(table.name)) return true;
      await withTransaction(this.pool, async (client) => {
        if (rows.length > 0) await insertRows(client, table.name, table.columns, rows, table.name === 'settings');
        await this.#checkpoint(client, table.name, last, rows.length, isLast);
      });
      if (rows.length > 0) this.batches++;
      this.copied.set(table.name, (this.copied.get(table.name) ?? 0) + rows.length);
      cursor = last;
      if (isLast) return true;
    }
  }

  /** The dedupe window's live keys into `dedupe_keys`, in key order, with the same checkpoints. */
  async window(keys: readonly WindowKeyRow[]): Promise<boolean> {
    const columns = ['key', 'event_id', 'expires_at', 'subscriber_key', 'type', 'scope'] as const;
    const start = this.#progress.get(WINDOW);
    let rest = typeof start === 'string' ? keys.filter((row) => row.key > start) : keys;
    for (;;) {
      if (this.batches >= this.#maxBatches) return false;
      const batch = rest.slice(0, this.#batchSize);
      rest = rest.slice(batch.length);
      const isLast = rest.length === 0;
      const last = batch.at(-1)?.key;
      if (batch.length === 0 && this.#completed.has(WINDOW)) return true;
      await withTransaction(this.pool, async (client) => {
        if (batch.length > 0) await insertRows(client, 'dedupe_keys', columns, batch.map((row) => columns.map((column) => row[column])), false);
        await this.#checkpoint(client, WINDOW, last === undefined ? start : last, batch.length, isLast);
      });
      if (batch.length > 0) this.batches++;
      this.copied.set('dedupe_keys', (this.copied.get('dedupe_keys') ?? 0) + batch.length);
      if (isLast) return true;
    }
  }

  /** Moves an identity's sequence past every id SQLite handed out and every id the table holds. */
  async advanceSequence(table: string): Promise<void> {
    const { rows } = await this.pool.query<{ sequence: string | null }>(
      "SELECT pg_get_serial_sequence($1, 'id') AS sequence FROM information_schema.columns WHERE table_schema = $2 AND table_name = $3 AND column_name = 'id' AND is_identity = 'YES'",
      [q(table), this.schema, table],
    );
    const sequence = rows[0]?.sequence;
    if (sequence === undefined || sequence === null) return;
    await this.pool.query(
      `SELECT setval($1::regclass, v) FROM (SELECT GREATEST($2::bigint, (SELECT coalesce(max(id), 0) FROM ${q(table)}), coalesce(pg_sequence_last_value($1::regclass), 0)) AS v) AS highest WHERE v > 0`,
      [sequence, this.source.highestId(table)],
    );
  }

  async targetCount(table: string): Promise<number> {
    return (await this.pool.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${q(table)}`)).rows[0]?.n ?? 0;
  }

  async #checkpoint(client: Queryable, table: string, cursor: Cursor | string | undefined, rows: number, isLast: boolean): Promise<void> {
    const now = this.#now();
    await client.query(
      `INSERT INTO store_copy (table_name, source_store_id, cursor, rows_copied, started_at, updated_at, completed_at) VALUES ($1, $2, $3, $4, $5, $5, $6)
       ON CONFLICT (table_name) DO UPDATE SET cursor = excluded.cursor, rows_copied = store_copy.rows_copied + excluded.rows_copied,
         updated_at = excluded.updated_at, completed_at = coalesce(store_copy.completed_at, excluded.completed_at)`,
      [table, this.storeId, cursor === undefined ? null : JSON.stringify(cursor), rows, now, isLast ? now : null],
    );
  }
}

/** Multi-row INSERTs, ids as given; rows already there are kept (settings take the source's value). */
async function insertRows(client: Queryable, table: string, columns: readonly string[], rows: readonly (readonly SqliteValue[])[], isSettings: boolean): Promise<void> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  const conflict = isSettings ? 'ON CONFLICT (key) DO UPDATE SET value = excluded.value' : 'ON CONFLICT DO NOTHING';
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const values = chunk.map((_row, r) => `(${columns.map((_column, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
    const params = chunk.flatMap((row) => row.map((value) => (typeof value === 'bigint' ? value.toString() : value)));
    await client.query(`INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${values} ${conflict}`, params);
  }
}
