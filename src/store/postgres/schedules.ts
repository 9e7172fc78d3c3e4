/**
 * Durable schedules on PostgreSQL (schedule-types.ts): registrations, leases and the run history.
 * Same tables and behaviour as the SQLite reference (src/store/sqlite/core-schedules.ts).
 *
 * Where SQLite's claim held the file's write lock, here every write that touches a schedule's
 * lease locks its `schedules` row first (SELECT … FOR UPDATE, or an UPDATE of that row) and only
 * then its runs. So the check "free or expired, and due" and the taking of the lease happen under
 * one row lock: of several processes claiming a slot at once, one takes it and the others, once
 * the lock is theirs, read its lease (READ COMMITTED re-reads the locked row) and answer `held` or
 * `not_due`. Taking the schedule row before the run row everywhere keeps these writes from
 * deadlocking each other.
 */
import type pg from 'pg';
import type {
  ClaimScheduleInput,
  FinishScheduleRunInput,
  ScheduleClaim,
  ScheduleProgress,
  ScheduleRecord,
  ScheduleRegistration,
  ScheduleRunFilter,
  ScheduleRunRecord,
  ScheduleRunStatus,
  ScheduleStore,
  ScheduleTrigger,
} from '../schedule-types.js';
import { withTransaction, type Queryable } from './pool.js';

/** A run's `changes` keep this many entries; `changes_omitted` counts the rest. */
const MAX_CHANGES = 100;
/** Text columns are cut to these lengths: a run reports a summary and an error, not a log. */
const MAX_SUMMARY_CHARS = 2000;
const MAX_ERROR_CHARS = 4000;
/** Runs kept per schedule; older ones are deleted as new runs finish. */
const RUNS_KEPT_PER_SCHEDULE = 1000;
const DEFAULT_RUNS_LIMIT = 100;

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string | null;
  next_run_at: number;
  retry_at: number | null;
  attempt: number;
  consecutive_failures: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  run_id: number | null;
  updated_at: number;
}

interface RunRow {
  id: number;
  schedule: string;
  trigger: string;
  attempt: number;
  scheduled_for: number | null;
  status: string;
  owner: string;
  started_at: number;
  finished_at: number | null;
  progress: string | null;
  counts: string | null;
  changes: string | null;
  changes_omitted: number;
  summary: string | null;
  error: string | null;
}

interface NewRun {
  readonly trigger: ScheduleTrigger;
  readonly attempt: number;
  readonly scheduledFor: number | null;
}

export class PgScheduleOps implements ScheduleStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * A known schedule keeps its next run (and pending retry) unless its cron or time zone changed;
   * an unchanged registration writes nothing. One transaction, in name order (no deadlock between
   * two processes registering the same schedules).
   */
  async upsertSchedules(registrations: readonly ScheduleRegistration[], now: number): Promise<void> {
    if (registrations.length === 0) return;
    const ordered = [...registrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    await withTransaction(this.#pool, async (client) => {
      for (const { name, cron, timezone, nextRunAt } of ordered) {
        await client.query(
          `INSERT INTO schedules (name, cron, timezone, next_run_at, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
             next_run_at = excluded.next_run_at, retry_at = NULL, updated_at = excluded.updated_at
           WHERE schedules.cron IS DISTINCT FROM excluded.cron OR schedules.timezone IS DISTINCT FROM excluded.timezone`,
          [name, cron, timezone, nextRunAt, now],
        );
      }
    });
  }

  async claimDueSchedule(input: ClaimScheduleInput): Promise<ScheduleClaim> {
    const { name, now } = input;
    return withTransaction(this.#pool, async (client) => {
      const row = await lockSchedule(client, name);
      if (row === undefined) return { kind: 'unknown_schedule' };
      const held = heldBy(row, now);
      if (held) return held;
      let next: NewRun;
      if (row.run_id !== null) {
        // The holder stopped renewing its lease: its process died or hung. Run the slot again.
        const abandoned = await abandon(client, row, now);
        next = { trigger: 'retry', attempt: row.attempt + 1, scheduledFor: abandoned?.scheduled_for ?? now };
      } else if (row.next_run_at <= now) {
        const isMissed = input.latestSlotAt !== null && row.next_run_at < input.latestSlotAt;
        next = { trigger: isMissed ? 'missed' : 'cron', attempt: 1, scheduledFor: row.next_run_at };
      } else if (row.retry_at !== null && row.retry_at <= now) {
        next = { trigger: 'retry', attempt: row.attempt + 1, scheduledFor: row.retry_at };
      } else {
        return { kind: 'not_due', nextRunAt: row.next_run_at, retryAt: row.retry_at };
      }
      return start(client, row, next, input.owner, now, input.leaseMs);
    });
  }

  async startManualRun(name: string, owner: string, now: number, leaseMs: number): Promise<ScheduleClaim> {
    return withTransaction(this.#pool, async (client) => {
      const row = await lockSchedule(client, name);
      if (row === undefined) return { kind: 'unknown_schedule' };
      const held = heldBy(row, now);
      if (held) return held;
      if (row.run_id !== null) await abandon(client, row, now);
      return start(client, row, { trigger: 'manual', attempt: 1, scheduledFor: null }, owner, now, leaseMs);
    });
  }

  async extendScheduleLease(runId: number, owner: string, leaseExpiresAt: number): Promise<boolean> {
    return extendLease(this.#pool, runId, owner, leaseExpiresAt);
  }

  /** The lease first (it locks the schedule row), then the run's progress: the order claims take. */
  async reportScheduleProgress(runId: number, owner: string, progress: ScheduleProgress, leaseExpiresAt: number): Promise<boolean> {
    return withTransaction(this.#pool, async (client) => {
      const isHeld = await extendLease(client, runId, owner, leaseExpiresAt);
      await client.query(`UPDATE schedule_runs SET progress = $3 WHERE id = $1 AND owner = $2 AND status = 'running'`, [runId, owner, JSON.stringify(progress)]);
      return isHeld;
    });
  }

  /**
   * The run's outcome is recorded even when its lease was lost (it did run); the schedule moves on
   * only for the run that still holds it. The schedule's row is locked before the run's.
   */
  async finishScheduleRun(input: FinishScheduleRunInput): Promise<boolean> {
    const { runId, owner, now } = input;
    const changes = input.changes ?? [];
    return withTransaction(this.#pool, async (client) => {
      const found = await client.query<{ schedule: string }>('SELECT schedule FROM schedule_runs WHERE id = $1', [runId]);
      const schedule = found.rows[0]?.schedule;
      if (schedule !== undefined) await lockSchedule(client, schedule);
      await client.query(
        `UPDATE schedule_runs SET status = $3, finished_at = $4, counts = $5, changes = $6, changes_omitted = $7, summary = $8, error = $9
         WHERE id = $1 AND owner = $2 AND status IN ('running', 'abandoned')`,
        [
          runId,
          owner,
          input.status,
          now,
          toJson(input.counts),
          toJson(changes.slice(0, MAX_CHANGES)),
          Math.max(changes.length - MAX_CHANGES, 0),
          cut(input.summary, MAX_SUMMARY_CHARS),
          cut(input.error, MAX_ERROR_CHARS),
        ],
      );
      const released = await client.query(
        `UPDATE schedules SET lease_owner = NULL, lease_expires_at = NULL, run_id = NULL,
           next_run_at = coalesce($3, next_run_at), retry_at = $4,
           consecutive_failures = CASE WHEN $5 THEN consecutive_failures + 1 ELSE 0 END, updated_at = $6
         WHERE run_id = $1 AND lease_owner = $2`,
        [runId, owner, input.nextRunAt ?? null, input.retryAt, input.status === 'failed', now],
      );
      if (schedule !== undefined) {
        await client.query(
          `DELETE FROM schedule_runs WHERE schedule = $1
             AND id <= (SELECT id FROM schedule_runs WHERE schedule = $1 ORDER BY id DESC LIMIT 1 OFFSET ${RUNS_KEPT_PER_SCHEDULE})`,
          [schedule],
        );
      }
      return (released.rowCount ?? 0) > 0;
    });
  }

  /** Every schedule by name, each with its latest run (within a schedule, the highest id). */
  async listSchedules(): Promise<ScheduleRecord[]> {
    const { rows } = await this.#pool.query<ScheduleRow>('SELECT * FROM schedules ORDER BY name');
    if (rows.length === 0) return [];
    const last = await this.#pool.query<RunRow>('SELECT DISTINCT ON (schedule) * FROM schedule_runs WHERE schedule = ANY($1::text[]) ORDER BY schedule, id DESC', [
      rows.map((row) => row.name),
    ]);
    const lastRuns = new Map(last.rows.map((run) => [run.schedule, runFromRow(run)]));
    return rows.map((row) => scheduleFromRow(row, lastRuns.get(row.name) ?? null));
  }

  async getScheduleRun(id: number): Promise<ScheduleRunRecord | undefined> {
    const { rows } = await this.#pool.query<RunRow>('SELECT * FROM schedule_runs WHERE id = $1', [id]);
    const row = rows[0];
    return row && runFromRow(row);
  }

  /**
   * Newest first by id. Ids of different schedules' runs come from one identity sequence and may
   * commit out of order; a page is a view of history, not a cursor anything relies on for progress.
   */
  async listScheduleRuns(filter: ScheduleRunFilter): Promise<ScheduleRunRecord[]> {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.schedule !== undefined) {
      params.push(filter.schedule);
      clauses.push(`schedule = $${params.length}`);
    }
    if (filter.beforeId !== undefined) {
      params.push(filter.beforeId);
      clauses.push(`id < $${params.length}`);
    }
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    params.push(Math.max(Math.trunc(filter.limit ?? DEFAULT_RUNS_LIMIT), 1));
    const { rows } = await this.#pool.query<RunRow>(`SELECT * FROM schedule_runs ${where} ORDER BY id DESC LIMIT $${params.length}`, params);
    return rows.map(runFromRow);
  }
}

async function lockSchedule(client: Queryable, name: string): Promise<ScheduleRow | undefined> {
  const { rows } = await client.query<ScheduleRow>('SELECT * FROM schedules WHERE name = $1 FOR UPDATE', [name]);
  return rows[0];
}

/** One UPDATE of the schedule's row: atomic on its own, and the row lock first when in a transaction. */
async function extendLease(client: Queryable, runId: number, owner: string, leaseExpiresAt: number): Promise<boolean> {
  const result = await client.query('UPDATE schedules SET lease_expires_at = $3 WHERE run_id = $1 AND lease_owner = $2', [runId, owner, leaseExpiresAt]);
  return (result.rowCount ?? 0) > 0;
}

/** `held` while another run's lease is live; undefined when it is free or expired. */
function heldBy(row: ScheduleRow, now: number): ScheduleClaim | undefined {
  if (row.lease_owner === null || row.lease_expires_at === null || row.run_id === null || row.lease_expires_at <= now) return undefined;
  return { kind: 'held', owner: row.lease_owner, runId: row.run_id, leaseExpiresAt: row.lease_expires_at };
}

async function abandon(client: Queryable, row: ScheduleRow, now: number): Promise<RunRow | undefined> {
  if (row.run_id === null) return undefined;
  const error = `abandoned: its process (${row.lease_owner ?? 'unknown'}) stopped renewing the lease, which expired at ${new Date(row.lease_expires_at ?? now).toISOString()}`;
  await client.query(`UPDATE schedule_runs SET status = 'abandoned', finished_at = $2, error = $3 WHERE id = $1 AND status = 'running'`, [row.run_id, now, error]);
  const { rows } = await client.query<RunRow>('SELECT * FROM schedule_runs WHERE id = $1', [row.run_id]);
  return rows[0];
}

/** Records the new run and gives it the lease; the caller holds the schedule row's lock. */
async function start(client: Queryable, row: ScheduleRow, next: NewRun, owner: string, now: number, leaseMs: number): Promise<ScheduleClaim> {
  const inserted = await client.query<RunRow>(
    `INSERT INTO schedule_runs (schedule, trigger, attempt, scheduled_for, status, owner, started_at)
     VALUES ($1, $2, $3, $4, 'running', $5, $6) RETURNING *`,
    [row.name, next.trigger, next.attempt, next.scheduledFor, owner, now],
  );
  const run = inserted.rows[0];
  if (run === undefined) throw new Error(`could not record a run of schedule ${row.name}`);
  const updated = await client.query<ScheduleRow>(
    `UPDATE schedules SET lease_owner = $2, lease_expires_at = $3, run_id = $4, attempt = $5, retry_at = NULL, updated_at = $6
     WHERE name = $1 RETURNING *`,
    [row.name, owner, now + leaseMs, run.id, next.attempt, now],
  );
  const record = runFromRow(run);
  return { kind: 'claimed', run: record, schedule: scheduleFromRow(updated.rows[0] ?? row, record) };
}

function toJson(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}

function fromJson<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}

function cut(text: string | undefined, max: number): string | null {
  if (text === undefined) return null;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function scheduleFromRow(row: ScheduleRow, lastRun: ScheduleRunRecord | null): ScheduleRecord {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    nextRunAt: row.next_run_at,
    retryAt: row.retry_at,
    attempt: row.attempt,
    consecutiveFailures: row.consecutive_failures,
    lease:
      row.lease_owner !== null && row.lease_expires_at !== null && row.run_id !== null
        ? { owner: row.lease_owner, expiresAt: row.lease_expires_at, runId: row.run_id }
        : null,
    updatedAt: row.updated_at,
    lastRun,
  };
}

function runFromRow(row: RunRow): ScheduleRunRecord {
  return {
    id: row.id,
    schedule: row.schedule,
    trigger: row.trigger as ScheduleTrigger,
    attempt: row.attempt,
    scheduledFor: row.scheduled_for,
    status: row.status as ScheduleRunStatus,
    owner: row.owner,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    progress: fromJson<ScheduleProgress | null>(row.progress, null),
    counts: fromJson<Record<string, number> | null>(row.counts, null),
    changes: fromJson<unknown[]>(row.changes, []),
    changesOmitted: row.changes_omitted,
    summary: row.summary,
    error: row.error,
  };
}
