/**
 * Reads: records by id and filtered listings, newest first with `beforeId` paging. Listing SQL is
 * assembled from fixed fragments (values are always bound) and its statements are cached by text.
 */
import type { Database, Statement } from 'better-sqlite3';
import { StatementCache } from './statements.js';
import type {
  AttemptFilter,
  AttemptRecord,
  DeliveryRecord,
  EventFilter,
  EventHead,
  EventRecord,
  EventStatus,
  JobFilter,
  JobRecord,
  Page,
  QuarantineFilter,
  QuarantineRecord,
  SubscriberFilter,
  TimeRange,
} from '../types.js';
import {
  attemptFromRow,
  deliveryFromRow,
  eventFromRow,
  jobFromRow,
  quarantineFromRow,
  type AttemptRow,
  type DeliveryRow,
  type EventRow,
  type JobRow,
  type QuarantineRow,
} from '../rows.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** A WHERE clause under construction: fragments joined with AND, values bound by name. */
class Where {
  readonly clauses: string[] = [];
  readonly params: Record<string, unknown> = {};

  add(clause: string, name: string, value: unknown): this {
    if (value !== undefined) {
      this.clauses.push(clause);
      this.params[name] = value;
    }
    return this;
  }

  range(column: string, range: TimeRange): this {
    return this.add(`${column} >= @since`, 'since', range.since).add(`${column} < @until`, 'until', range.until);
  }

  subscriber(filter: SubscriberFilter): this {
    return this.add('subscriber_id = @subscriberId', 'subscriberId', filter.subscriberId).add('email = @email', 'email', filter.email?.toLowerCase());
  }

  /**
   * Jobs copy their event's subscriber but have no index of their own on it (fewer indexes to
   * write at ingest): they are found through the events' indexes. A job never outlives its event.
   */
  jobSubscriber(filter: SubscriberFilter): this {
    return this.add('event_id IN (SELECT id FROM events WHERE subscriber_id = @subscriberId)', 'subscriberId', filter.subscriberId).add(
      'event_id IN (SELECT id FROM events WHERE email = @email)',
      'email',
      filter.email?.toLowerCase(),
    );
  }

  before(page: Page): this {
    return this.add('id < @beforeId', 'beforeId', page.beforeId);
  }

  toSql(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }
}

export function pageLimit(page: Page): number {
  return Math.min(Math.max(Math.trunc(page.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
}

export class QueryOps {
  readonly #storeId: string;
  readonly #statements: StatementCache;
  readonly #getDelivery: Statement<[number], DeliveryRow>;
  readonly #getEvent: Statement<[number], EventRow>;
  readonly #getJob: Statement<[number], JobRow>;
  readonly #getQuarantine: Statement<[number], QuarantineRow>;
  readonly #eventHeads: Statement<{ afterId: number; limit: number }, Pick<EventRow, 'id' | 'status' | 'origin' | 'subscriber_id'>>;

  constructor(db: Database, storeId: string) {
    this.#statements = new StatementCache(db);
    this.#storeId = storeId;
    this.#getDelivery = db.prepare('SELECT * FROM deliveries WHERE id = ?');
    this.#getEvent = db.prepare('SELECT * FROM events WHERE id = ?');
    this.#getJob = db.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#getQuarantine = db.prepare('SELECT * FROM quarantine WHERE id = ?');
    this.#eventHeads = db.prepare('SELECT id, status, origin, subscriber_id FROM events WHERE id > @afterId ORDER BY id LIMIT @limit');
  }

  getDelivery(id: number): DeliveryRecord | undefined {
    const row = this.#getDelivery.get(id);
    return row && deliveryFromRow(row);
  }

  getEvent(id: number): EventRecord | undefined {
    const row = this.#getEvent.get(id);
    return row && eventFromRow(row);
  }

  getJob(id: number): JobRecord | undefined {
    const row = this.#getJob.get(id);
    return row && jobFromRow(row, this.#storeId);
  }

  getQuarantine(id: number): QuarantineRecord | undefined {
    const row = this.#getQuarantine.get(id);
    return row && quarantineFromRow(row);
  }

  listEvents(filter: EventFilter): EventRecord[] {
    const where = new Where()
      .add('status = @status', 'status', filter.status)
      .add('type = @type', 'type', filter.type)
      .subscriber(filter)
      .range('received_at', filter)
      .before(filter);
    return this.#list<EventRow>('events', where, filter).map(eventFromRow);
  }

  listEventHeads(input: { readonly afterId: number; readonly limit: number }): EventHead[] {
    const rows = this.#eventHeads.all({ afterId: input.afterId, limit: pageLimit(input) });
    return rows.map((row) => ({ id: row.id, status: row.status as EventStatus, origin: row.origin, subscriberId: row.subscriber_id }));
  }

  listJobs(filter: JobFilter): JobRecord[] {
    return this.#list<JobRow>('jobs', this.#jobWhere(filter), filter).map((row) => jobFromRow(row, this.#storeId));
  }

  listAttempts(filter: AttemptFilter): AttemptRecord[] {
    const where = new Where()
      .add('job_id = @jobId', 'jobId', filter.jobId)
      .add('destination = @destination', 'destination', filter.destination)
      .add('outcome = @outcome', 'outcome', filter.outcome)
      .add('is_shadow = @isShadow', 'isShadow', filter.isShadow === undefined ? undefined : filter.isShadow ? 1 : 0)
      .subscriber(filter)
      .range('started_at', filter)
      .before(filter);
    return this.#list<AttemptRow>('attempts', where, filter).map(attemptFromRow);
  }

  listQuarantine(filter: QuarantineFilter): QuarantineRecord[] {
    const where = new Where()
      .add('status = @status', 'status', filter.status)
      .add('route = @route', 'route', filter.route)
      .range('received_at', filter)
      .before(filter);
    return this.#list<QuarantineRow>('quarantine', where, filter).map(quarantineFromRow);
  }

  /**
   * Ids of the terminal jobs matching a filter, oldest first: what replayJobs acts on. Without a
   * `limit`, every match (the filter names what to replay; paging it would replay a sample).
   */
  terminalJobIds(filter: JobFilter): number[] {
    const where = this.#jobWhere(filter);
    where.clauses.push(`status IN ('succeeded', 'dead', 'cancelled')`);
    const limit = filter.limit === undefined ? '' : `LIMIT ${pageLimit(filter)}`;
    const sql = `SELECT id FROM jobs ${where.toSql()} ORDER BY id ${limit}`;
    return this.#statements.get(sql).pluck().all(where.params) as number[];
  }

  #jobWhere(filter: JobFilter): Where {
    return new Where()
      .add('status = @status', 'status', filter.status)
      .add('destination = @destination', 'destination', filter.destination)
      .add('event_id = @eventId', 'eventId', filter.eventId)
      .add('rule = @rule', 'rule', filter.rule)
      .jobSubscriber(filter)
      .range('created_at', filter)
      .before(filter);
  }

  #list<Row>(table: string, where: Where, page: Page): Row[] {
    const sql = `SELECT * FROM ${table} ${where.toSql()} ORDER BY id DESC LIMIT ${pageLimit(page)}`;
    return this.#statements.get(sql).all(where.params) as Row[];
  }
}
