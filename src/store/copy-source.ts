/**
 * The SQLite side of `kitrelay store copy` (copy.ts): the store's file opened read-only (not
 * through the writer thread), one read transaction held for the whole copy so every table is read
 * from the same snapshot, and each table read in batches in a stable order (rowid, or the primary
 * key of a WITHOUT ROWID table).
 */
import { existsSync, readdirSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import { Sqlite } from './sqlite/driver.js';

export type SqliteValue = number | bigint | string | Buffer | null;
/** Where a batch ended: a rowid, or the primary key values of a WITHOUT ROWID table. */
export type Cursor = number | readonly SqliteValue[];

export interface SourceTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** The primary key of a WITHOUT ROWID table (its order); undefined: read in rowid order. */
  readonly keyColumns: readonly string[] | undefined;
}

/** A legacy fingerprint the dedupe window holds, as a PostgreSQL `dedupe_keys` row. */
export interface WindowKeyRow {
  readonly key: string;
  readonly event_id: number;
  readonly expires_at: number;
  readonly subscriber_key: string;
  readonly type: string | null;
  readonly scope: string | null;
}

/**
 * Not copied as tables: SQLite's own, the migration record (the target keeps its own), and the
 * dedupe window's log, which is replayed into `dedupe_keys` instead (see windowKeys).
 */
const NOT_TABLES = new Set(['sqlite_sequence', 'schema_migrations', 'dedupe_window']);
const MIGRATIONS_DIR = new URL('./migrations/sqlite/', import.meta.url);

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export class SqliteSource {
  readonly #db: Database;

  /** Undefined when there is no such file (a read-only open must not create one). */
  static open(path: string): SqliteSource | undefined {
    if (!existsSync(path)) return undefined;
    return new SqliteSource(new Sqlite(path, { readonly: true, fileMustExist: true }));
  }

  private constructor(db: Database) {
    this.#db = db;
    db.pragma('busy_timeout = 5000');
    // A deferred transaction takes its snapshot at its first read: every later read sees the same
    // database, whatever another connection commits meanwhile (WAL).
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  }

  close(): void {
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    this.#db.close();
  }

  /** The migrations this kitrelay has that the file has not applied (it must be opened once first). */
  pendingMigrations(): number[] {
    const hasTable = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
    const applied = new Set(hasTable ? this.#db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all() : []);
    return readdirSync(MIGRATIONS_DIR)
      .filter((name) => /^\d+_[\w-]+\.sql$/.test(name))
      .map((name) => Number.parseInt(name, 10))
      .filter((version) => !applied.has(version))
      .sort((a, b) => a - b);
  }

  storeId(): string | undefined {
    return this.#db.prepare<[], string>("SELECT value FROM settings WHERE key = 'store_id'").pluck().get();
  }

  /** Every table to copy, `settings` first (it carries the store id), the others in creation order. */
  tables(): SourceTable[] {
    const rows = this.#db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid").all();
    const tables = rows
      .filter((row) => !NOT_TABLES.has(row.name) && !row.name.startsWith('sqlite_'))
      .map((row) => {
        const info = this.#db.prepare<[], { name: string; pk: number }>(`PRAGMA table_info(${quote(row.name)})`).all();
        const isWithoutRowid = /\)\s*WITHOUT\s+ROWID\s*$/i.test(row.sql);
        const keyColumns = info.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk).map((column) => column.name);
        return { name: row.name, columns: info.map((column) => column.name), keyColumns: isWithoutRowid ? keyColumns : undefined };
      });
    return [...tables.filter((table) => table.name === 'settings'), ...tables.filter((table) => table.name !== 'settings')];
  }

  /** Up to `limit` rows after `after` (from the start when undefined), as arrays in `columns` order. */
  read(table: SourceTable, after: Cursor | undefined, limit: number): { rows: SqliteValue[][]; last: Cursor | undefined } {
    const columns = table.columns.map(quote).join(', ');
    if (table.keyColumns === undefined) {
      const sql = `SELECT rowid, ${columns} FROM ${quote(table.name)} WHERE rowid > ? ORDER BY rowid LIMIT ?`;
      const raw = this.#db.prepare<[number, number], SqliteValue[]>(sql).raw().all(typeof after === 'number' ? after : 0, limit);
      const last = raw.at(-1)?.[0];
      return { rows: raw.map((row) => row.slice(1)), last: typeof last === 'number' ? last : after };
    }
    const keys = table.keyColumns.map(quote).join(', ');
    const afterKey: readonly SqliteValue[] | undefined = typeof after === 'object' ? after : undefined;
    const where = afterKey !== undefined ? `WHERE (${keys}) > (${table.keyColumns.map(() => '?').join(', ')})` : '';
    const sql = `SELECT ${columns} FROM ${quote(table.name)} ${where} ORDER BY ${keys} LIMIT ?`;
    const rows = this.#db.prepare<SqliteValue[], SqliteValue[]>(sql).raw().all(...(afterKey ?? []), limit);
    const lastRow = rows.at(-1);
    const positions = table.keyColumns.map((name) => table.columns.indexOf(name));
    return { rows, last: lastRow === undefined ? after : positions.map((i) => lastRow[i] ?? null) };
  }

  count(table: string): number {
    return this.#db.prepare<[], number>(`SELECT count(*) FROM ${quote(table)}`).pluck().get() ?? 0;
  }

  /** The highest id an AUTOINCREMENT table ever handed out (retention may have deleted it); 0: none. */
  highestId(table: string): number {
    return this.#db.prepare<[string], number>('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(table) ?? 0;
  }

  /**
   * The live keys of the dedupe window, by replaying its log as the writer does on open
   * (sqlite/dedupe-window.ts): each row first clears the subscriber's keys of its scope and the types
   * in `clears`, then adds its own key (a re-added key replaces the earlier one). Sorted by key.
   */
  windowKeys(): WindowKeyRow[] {
    type LogRow = Omit<WindowKeyRow, 'key' | 'event_id' | 'expires_at'> & { key: string | null; event_id: number | null; expires_at: number | null; clears: string | null };
    const live = new Map<string, WindowKeyRow>();
    const bySubscriber = new Map<string, Set<string>>();
    const remove = (key: string): void => {
      const entry = live.get(key);
      if (entry === undefined) return;
      live.delete(key);
      bySubscriber.get(entry.subscriber_key)?.delete(key);
    };
    for (const row of this.#db.prepare<[], LogRow>('SELECT key, event_id, expires_at, subscriber_key, scope, type, clears FROM dedupe_window ORDER BY id').iterate()) {
      if (row.clears !== null) {
        const types = JSON.parse(row.clears) as string[];
        for (const key of [...(bySubscriber.get(row.subscriber_key) ?? [])]) {
          const entry = live.get(key);
          if (entry !== undefined && entry.scope === row.scope && entry.type !== null && types.includes(entry.type)) remove(key);
        }
      }
      if (row.key === null || row.event_id === null || row.expires_at === null) continue;
      remove(row.key);
      live.set(row.key, { key: row.key, event_id: row.event_id, expires_at: row.expires_at, subscriber_key: row.subscriber_key, type: row.type, scope: row.scope });
      const keys = bySubscriber.get(row.subscriber_key) ?? new Set<string>();
      keys.add(row.key);
      bySubscriber.set(row.subscriber_key, keys);
    }
    return [...live.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
