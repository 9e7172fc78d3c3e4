/**
 * Reads of the ingest side on PostgreSQL: deliveries, events, the event stream, quarantine, and
 * settings. Listing SQL is assembled from fixed fragments; values are always bound.
 *
 * Rows come back with the same column names and value types as SQLite's (BIGINT parsed as number,
 * BYTEA as Buffer, JSON as text), so the SQLite store's row mappers read them unchanged.
 */
import type pg from 'pg';
import { deliveryFromRow, eventFromRow, quarantineFromRow, type DeliveryRow, type EventRow, type QuarantineRow } from '../rows.js';
import type { DeliveryRecord, EventFilter, EventHead, EventRecord, EventStatus, Page, QuarantineFilter, QuarantineRecord, TimeRange } from '../types.js';
import { orUnavailable } from './unavailable.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

export function pageLimit(page: Page): number {
  return Math.min(Math.max(Math.trunc(page.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
}

/** A WHERE clause under construction: fragments joined with AND, values bound as $n. */
class Where {
  readonly #clauses: string[] = [];
  readonly values: unknown[] = [];

  /** `clause` names its one value `?`. */
  add(clause: string, value: unknown): this {
    if (value !== undefined) {
      this.values.push(value);
      this.#clauses.push(clause.replace('?', `$${this.values.length}`));
    }
    return this;
  }

  range(column: string, range: TimeRange): this {
    return this.add(`${column} >= ?`, range.since).add(`${column} < ?`, range.until);
  }

  toSql(): string {
    return this.#clauses.length === 0 ? '' : `WHERE ${this.#clauses.join(' AND ')}`;
  }
}

export class PgQueryOps {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async getDelivery(id: number): Promise<DeliveryRecord | undefined> {
    const row = await this.#one<DeliveryRow>('SELECT * FROM deliveries WHERE id = $1', [id]);
    return row && deliveryFromRow(row);
  }

  async getEvent(id: number): Promise<EventRecord | undefined> {
    const row = await this.#one<EventRow>('SELECT * FROM events WHERE id = $1', [id]);
    return row && eventFromRow(row);
  }

  async listEvents(filter: EventFilter): Promise<EventRecord[]> {
    const where = new Where()
      .add('status = ?', filter.status)
      .add('type = ?', filter.type)
      .add('subscriber_id = ?', filter.subscriberId)
      .add('email = ?', filter.email?.toLowerCase())
      .range('received_at', filter)
      .add('id < ?', filter.beforeId);
    return (await this.#list<EventRow>('events', where, filter)).map(eventFromRow);
  }

  /**
   * Ids rise in commit order because every transaction that inserts events first takes the ingest
   * lock (ingest.ts, `lockIngest`) and holds it to its commit: a transaction's ids are drawn after
   * the previous holder's commit became visible, so no lower id can appear after a higher one has.
   */
  async listEventHeads(input: { readonly afterId: number; readonly limit: number }): Promise<EventHead[]> {
    const { rows } = await orUnavailable(() =>
      this.#pool.query<Pick<EventRow, 'id' | 'status' | 'origin' | 'subscriber_id'>>(
        'SELECT id, status, origin, subscriber_id FROM events WHERE id > $1 ORDER BY id LIMIT $2',
        [input.afterId, pageLimit(input)],
      ),
    );
    return rows.map((row) => ({ id: row.id, status: row.status as EventStatus, origin: row.origin, subscriberId: row.subscriber_id }));
  }

  async getQuarantine(id: number): Promise<QuarantineRecord | undefined> {
    const row = await this.#one<QuarantineRow>('SELECT * FROM quarantine WHERE id = $1', [id]);
    return row && quarantineFromRow(row);
  }

  async listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]> {
    const where = new Where()
      .add('status = ?', filter.status)
      .add('route = ?', filter.route)
      .range('received_at', filter)
      .add('id < ?', filter.beforeId);
    return (await this.#list<QuarantineRow>('quarantine', where, filter)).map(quarantineFromRow);
  }

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.#one<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))?.value;
  }

  /**
   * Sets the value only if the key has none. When another instance inserts the key at the same
   * moment, ON CONFLICT waits for it and does nothing; the value it stored is then read.
   */
  async initSetting(key: string, value: string): Promise<string> {
    const inserted = await this.#one<{ value: string }>('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value', [key, value]);
    return inserted?.value ?? (await this.getSetting(key)) ?? value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await orUnavailable(() => this.#pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]));
  }

  async ping(): Promise<void> {
    await orUnavailable(() => this.#pool.query('SELECT 1'));
  }

  async #one<Row extends pg.QueryResultRow>(sql: string, values: readonly unknown[]): Promise<Row | undefined> {
    const { rows } = await orUnavailable(() => this.#pool.query<Row>(sql, [...values]));
    return rows[0];
  }

  async #list<Row extends pg.QueryResultRow>(table: string, where: Where, page: Page): Promise<Row[]> {
    const sql = `SELECT * FROM ${table} ${where.toSql()} ORDER BY id DESC LIMIT ${pageLimit(page)}`;
    return (await orUnavailable(() => this.#pool.query<Row>(sql, where.values))).rows;
  }
}
