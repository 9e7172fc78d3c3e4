/**
 * The queue's reads and its audit-record insert on PostgreSQL (sqlite/core-query.ts and
 * core-queue.ts are the reference). Listing SQL is assembled from fixed fragments; values are
 * always bound.
 */
import { attemptFromRow, jobFromRow, toJson, type AttemptRow, type JobRow } from '../rows.js';
import type { AttemptFilter, AttemptInput, AttemptRecord, JobFilter, JobRecord, Page, TimeRange } from '../types.js';
import type { Queryable } from './pool.js';
import { pageLimit } from './query.js';

/** A WHERE clause under construction: fragments joined with AND, each naming its one value `?`. */
class Where {
  readonly clauses: string[] = [];
  readonly values: unknown[] = [];

  add(clause: string, value: unknown): this {
    if (value !== undefined) {
      this.values.push(value);
      this.clauses.push(clause.replaceAll('?', `$${this.values.length}`));
    }
    return this;
  }

  range(column: string, range: TimeRange): this {
    return this.add(`${column} >= ?`, range.since).add(`${column} < ?`, range.until);
  }

  toSql(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }
}

/**
 * Jobs copy their event's subscriber but have no index of their own on it: they are found through
 * the events' indexes (a job never outlives its event).
 */
function jobWhere(filter: JobFilter): Where {
  return new Where()
    .add('status = ?', filter.status)
    .add('destination = ?', filter.destination)
    .add('event_id = ?', filter.eventId)
    .add('rule = ?', filter.rule)
    .add('event_id IN (SELECT id FROM events WHERE subscriber_id = ?)', filter.subscriberId)
    .add('event_id IN (SELECT id FROM events WHERE email = ?)', filter.email?.toLowerCase())
    .range('created_at', filter)
    .add('id < ?', filter.beforeId);
}

async function list<Row extends object>(client: Queryable, table: string, where: Where, page: Page): Promise<Row[]> {
  const sql = `SELECT * FROM ${table} ${where.toSql()} ORDER BY id DESC LIMIT ${pageLimit(page)}`;
  return (await client.query<Row & Record<string, unknown>>(sql, where.values)).rows;
}

export async function getJobIn(client: Queryable, storeId: string, id: number): Promise<JobRecord | undefined> {
  const { rows } = await client.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
  return rows[0] && jobFromRow(rows[0], storeId);
}

export async function listJobsIn(client: Queryable, storeId: string, filter: JobFilter): Promise<JobRecord[]> {
  return (await list<JobRow>(client, 'jobs', jobWhere(filter), filter)).map((row) => jobFromRow(row, storeId));
}

export async function listAttemptsIn(client: Queryable, filter: AttemptFilter): Promise<AttemptRecord[]> {
  const where = new Where()
    .add('job_id = ?', filter.jobId)
    .add('destination = ?', filter.destination)
    .add('outcome = ?', filter.outcome)
    .add('is_shadow = ?', filter.isShadow === undefined ? undefined : filter.isShadow ? 1 : 0)
    .add('subscriber_id = ?', filter.subscriberId)
    .add('email = ?', filter.email?.toLowerCase())
    .range('started_at', filter)
    .add('id < ?', filter.beforeId);
  return (await list<AttemptRow>(client, 'attempts', where, filter)).map(attemptFromRow);
}

/** What replaying sets, given the placeholders of `now` and `extraAttempts`. */
function replaySet(now: string, extraAttempts: string): string {
  return `status = 'pending', run_at = ${now}, max_attempts = attempts + ${extraAttempts}, replays = replays + 1,
    lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL, updated_at = ${now}`;
}
const TERMINAL = `status IN ('succeeded', 'dead', 'cancelled')`;

/** Replays one job if it is terminal; the job as it now is (undefined: no such job). */
export async function replayJobIn(client: Queryable, storeId: string, id: number, extraAttempts: number, now: number): Promise<JobRecord | undefined> {
  const { rows } = await client.query<JobRow>(`UPDATE jobs SET ${replaySet('$1', '$2')} WHERE id = $3 AND ${TERMINAL} RETURNING *`, [now, extraAttempts, id]);
  return rows[0] ? jobFromRow(rows[0], storeId) : getJobIn(client, storeId, id);
}

/**
 * Replays every terminal job matching the filter in one statement (so one transaction); without a
 * `limit`, every match (the filter names what to replay; paging it would replay a sample).
 */
export async function replayJobsIn(client: Queryable, filter: JobFilter, extraAttempts: number, now: number): Promise<number[]> {
  const where = jobWhere(filter);
  where.clauses.push(TERMINAL);
  const n = where.values.length;
  const limit = filter.limit === undefined ? '' : `LIMIT ${pageLimit(filter)}`;
  const sql = `UPDATE jobs SET ${replaySet(`$${n + 1}`, `$${n + 2}`)}
    WHERE ${TERMINAL} AND id IN (SELECT id FROM jobs ${where.toSql()} ORDER BY id ${limit})
    RETURNING id`;
  const { rows } = await client.query<{ id: number }>(sql, [...where.values, now, extraAttempts]);
  return rows.map((row) => row.id).sort((a, b) => a - b);
}

const ATTEMPT_COLUMNS = `job_id, attempt, event_id, destination, action, subscriber_key, subscriber_id, email,
  worker_id, started_at, finished_at, duration_ms, outcome, error_class, error, request, response_status,
  response_body, correlation, is_shadow`;

/**
 * The values of an audit record that the attempt itself gives, as $1…$13 (the statement adds the
 * job's context): job id, attempt, worker, started, finished, outcome, error class, error, request,
 * response status and body, correlation, shadow flag.
 */
export function attemptValues(attempt: AttemptInput): unknown[] {
  return [
    attempt.jobId,
    attempt.attempt,
    attempt.workerId,
    attempt.startedAt,
    attempt.finishedAt,
    attempt.outcome,
    attempt.errorClass ?? null,
    attempt.error ?? null,
    toJson(attempt.request),
    attempt.responseStatus ?? null,
    attempt.responseBody ?? null,
    toJson(attempt.correlation) ?? '{}',
    attempt.isShadow ? 1 : 0,
  ];
}

/**
 * Appends the audit record of $1…$13 (attemptValues) with the job's context copied in from its row
 * (columns no write changes). The record is kept even when the job is gone (cancelled, then purged,
 * while the call was in flight): the call did happen, so the context it cannot know is left empty.
 */
export const INSERT_ATTEMPT_FROM_JOB = `
  INSERT INTO attempts (${ATTEMPT_COLUMNS})
  SELECT $1, $2, coalesce(j.event_id, 0), coalesce(j.destination, ''), coalesce(j.action, ''), j.subscriber_key, j.subscriber_id, j.email,
    $3, $4, $5, $5::bigint - $4::bigint, $6, $7, $8, $9, $10, $11, $12, $13
  FROM (SELECT 1) AS one LEFT JOIN jobs AS j ON j.id = $1`;
