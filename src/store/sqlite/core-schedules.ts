/**
 * Durable schedules (schedule-types.ts): registrations, leases and the run history. Claims and
 * finishes are writes (protocol.ts WRITE_OPS), so they run inside the batch's `BEGIN IMMEDIATE`
 * transaction: the check "free or expired, and due" and the taking of the lease hold the database's
 * write lock together, and two processes sharing the file can never both start the same run.
 */
import type { Database, Statement } from 'better-sqlite3';
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
  ScheduleTrigger,
} from '../schedule-types.js';
import { fromJson, toJson } from '../rows.js';
import { StatementCache } from './statements.js';

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

export class ScheduleOps {
  readonly #statements: StatementCache;
  readonly #upsert: Statement;
  readonly #getSchedule: Statement<[string], ScheduleRow>;
  readonly #listSchedules: Statement<[], ScheduleRow>;
  readonly #getRun: Statement<[number], RunRow>;
  readonly #lastRun: Statement<[string], RunRow>;
  readonly #insertRun: Statement<[Record<string, unknown>], RunRow>;
  readonly #abandonRun: Statement;
  readonly #takeLease: Statement;
  readonly #extendLease: Statement;
  readonly #saveProgress: Statement;
  readonly #finishRun: Statement;
  readonly #releaseSchedule: Statement;
  readonly #trimRuns: Statement;

  constructor(db: Database) {
    this.#statements = new StatementCache(db);
    // A known schedule keeps its next run (and pending retry) unless its cron or time zone
    // changed; an unchanged registration writes nothing.
    this.#upsert = db.prepare(`
      INSERT INTO schedules (name, cron, timezone, next_run_at, updated_at) VALUES (@name, @cron, @timezone, @nextRunAt, @now)
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
        next_run_at = excluded.next_run_at, retry_at = NULL, updated_at = excluded.updated_at
      WHERE schedules.cron IS NOT excluded.cron OR schedules.timezone IS NOT excluded.timezone`);
    this.#getSchedule = db.prepare('SELECT * FROM schedules WHERE name = ?');
    this.#listSchedules = db.prepare('SELECT * FROM schedules ORDER BY name');
    this.#getRun = db.prepare('SELECT * FROM schedule_runs WHERE id = ?');
    this.#lastRun = db.prepare('SELECT * FROM schedule_runs WHERE schedule = ? ORDER BY id DESC LIMIT 1');
    this.#insertRun = db.prepare(`
      INSERT INTO schedule_runs (schedule, trigger, attempt, scheduled_for, status, owner, started_at)
      VALUES (@schedule, @trigger, @attempt, @scheduledFor, 'running', @owner, @now) RETURNING *`);
    this.#abandonRun = db.prepare(`
      UPDATE schedule_runs SET status = 'abandoned', finished_at = @now, error = @error WHERE id = @id AND status = 'running'`);
    this.#takeLease = db.prepare(`
      UPDATE schedules SET lease_owner = @owner, lease_expires_at = @leaseExpiresAt, run_id = @runId, attempt = @attempt,
        retry_at = NULL, updated_at = @now
      WHERE name = @name`);
    this.#extendLease = db.prepare('UPDATE schedules SET lease_expires_at = @leaseExpiresAt WHERE run_id = @runId AND lease_owner = @owner');
    this.#saveProgress = db.prepare(`UPDATE schedule_runs SET progress = @progress WHERE id = @runId AND owner = @owner AND status = 'running'`);
    // The run's outcome is recorded even when its lease was lost (it did run); the schedule moves
    // on only for the run that still holds it.
    this.#finishRun = db.prepare(`
      UPDATE schedule_runs SET status = @status, finished_at = @now, counts = @counts, changes = @changes,
        changes_omitted = @changesOmitted, summary = @summary, error = @error
      WHERE id = @runId AND owner = @owner AND status IN ('running', 'abandoned')`);
    this.#releaseSchedule = db.prepare(`
      UPDATE schedules SET lease_owner = NULL, lease_expires_at = NULL, run_id = NULL,
        next_run_at = coalesce(@nextRunAt, next_run_at), retry_at = @retryAt,
        consecutive_failures = CASE WHEN @isFailed THEN consecutive_failures + 1 ELSE 0 END, updated_at = @now
      WHERE run_id = @runId AND lease_owner = @owner`);
    this.#trimRuns = db.prepare(`
      DELETE FROM schedule_runs WHERE schedule = @schedule
        AND id <= (SELECT id FROM schedule_runs WHERE schedule = @schedule ORDER BY id DESC LIMIT 1 OFFSET ${RUNS_KEPT_PER_SCHEDULE})`);
  }

  upsertSchedules(registrations: readonly ScheduleRegistration[], now: number): void {
    for (const { name, cron, timezone, nextRunAt } of registrations) this.#upsert.run({ name, cron, timezone, nextRunAt, now });
  }

  claimDueSchedule(input: ClaimScheduleInput): ScheduleClaim {
    const { name, now } = input;
    const row = this.#getSchedule.get(name);
    if (row === undefined) return { kind: 'unknown_schedule' };
    const held = this.#heldBy(row, now);
    if (held) return held;
    let next: NewRun;
    if (row.run_id !== null) {
      // The holder stopped renewing its lease: its process died or hung. Run the slot again.
      const abandoned = this.#abandon(row, now);
      next = { trigger: 'retry', attempt: row.attempt + 1, scheduledFor: abandoned?.scheduled_for ?? now };
    } else if (row.next_run_at <= now) {
      const isMissed = input.latestSlotAt !== null && row.next_run_at < input.latestSlotAt;
      next = { trigger: isMissed ? 'missed' : 'cron', attempt: 1, scheduledFor: row.next_run_at };
    } else if (row.retry_at !== null && row.retry_at <= now) {
      next = { trigger: 'retry', attempt: row.attempt + 1, scheduledFor: row.retry_at };
    } else {
      return { kind: 'not_due', nextRunAt: row.next_run_at, retryAt: row.retry_at };
    }
    return this.#start(row, next, input.owner, now, input.leaseMs);
  }

  startManualRun(name: string, owner: string, now: number, leaseMs: number): ScheduleClaim {
    const row = this.#getSchedule.get(name);
    if (row === undefined) return { kind: 'unknown_schedule' };
    const held = this.#heldBy(row, now);
    if (held) return held;
    if (row.run_id !== null) this.#abandon(row, now);
    return this.#start(row, { trigger: 'manual', attempt: 1, scheduledFor: null }, owner, now, leaseMs);
  }

  extendScheduleLease(runId: number, owner: string, leaseExpiresAt: number): boolean {
    return this.#extendLease.run({ runId, owner, leaseExpiresAt }).changes > 0;
  }

  reportScheduleProgress(runId: number, owner: string, progress: ScheduleProgress, leaseExpiresAt: number): boolean {
    this.#saveProgress.run({ runId, owner, progress: toJson(progress) });
    return this.extendScheduleLease(runId, owner, leaseExpiresAt);
  }

  finishScheduleRun(input: FinishScheduleRunInput): boolean {
    const { runId, owner, now } = input;
    const changes = input.changes ?? [];
    this.#finishRun.run({
      runId,
      owner,
      now,
      status: input.status,
      counts: toJson(input.counts),
      changes: toJson(changes.slice(0, MAX_CHANGES)),
      changesOmitted: Math.max(changes.length - MAX_CHANGES, 0),
      summary: cut(input.summary, MAX_SUMMARY_CHARS),
      error: cut(input.error, MAX_ERROR_CHARS),
    });
    const isCurrent =
      this.#releaseSchedule.run({ runId, owner, now, nextRunAt: input.nextRunAt ?? null, retryAt: input.retryAt, isFailed: input.status === 'failed' ? 1 : 0 })
        .changes > 0;
    const schedule = this.#getRun.get(runId)?.schedule;
    if (schedule !== undefined) this.#trimRuns.run({ schedule });
    return isCurrent;
  }

  listSchedules(): ScheduleRecord[] {
    return this.#listSchedules.all().map((row) => {
      const last = this.#lastRun.get(row.name);
      return scheduleFromRow(row, last === undefined ? null : runFromRow(last));
    });
  }

  getScheduleRun(id: number): ScheduleRunRecord | undefined {
    const row = this.#getRun.get(id);
    return row && runFromRow(row);
  }

  listScheduleRuns(filter: ScheduleRunFilter): ScheduleRunRecord[] {
    const clauses: string[] = [];
    const params: Record<string, unknown> = { limit: Math.max(Math.trunc(filter.limit ?? DEFAULT_RUNS_LIMIT), 1) };
    if (filter.schedule !== undefined) {
      clauses.push('schedule = @schedule');
      params.schedule = filter.schedule;
    }
    if (filter.beforeId !== undefined) {
      clauses.push('id < @beforeId');
      params.beforeId = filter.beforeId;
    }
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    const rows = this.#statements.get(`SELECT * FROM schedule_runs ${where} ORDER BY id DESC LIMIT @limit`).all(params) as RunRow[];
    return rows.map(runFromRow);
  }

  /** `held` while another run's lease is live; undefined when it is free or expired. */
  #heldBy(row: ScheduleRow, now: number): ScheduleClaim | undefined {
    if (row.lease_owner === null || row.lease_expires_at === null || row.run_id === null || row.lease_expires_at <= now) return undefined;
    return { kind: 'held', owner: row.lease_owner, runId: row.run_id, leaseExpiresAt: row.lease_expires_at };
  }

  #abandon(row: ScheduleRow, now: number): RunRow | undefined {
    if (row.run_id === null) return undefined;
    const error = `abandoned: its process (${row.lease_owner ?? 'unknown'}) stopped renewing the lease, which expired at ${new Date(row.lease_expires_at ?? now).toISOString()}`;
    this.#abandonRun.run({ id: row.run_id, now, error });
    return this.#getRun.get(row.run_id);
  }

  #start(row: ScheduleRow, next: NewRun, owner: string, now: number, leaseMs: number): ScheduleClaim {
    const run = this.#insertRun.get({ schedule: row.name, trigger: next.trigger, attempt: next.attempt, scheduledFor: next.scheduledFor, owner, now });
    if (run === undefined) throw new Error(`could not record a run of schedule ${row.name}`);
    this.#takeLease.run({ name: row.name, owner, leaseExpiresAt: now + leaseMs, runId: run.id, attempt: next.attempt, now });
    const schedule = this.#getSchedule.get(row.name) ?? row;
    return { kind: 'claimed', run: runFromRow(run), schedule: scheduleFromRow(schedule, runFromRow(run)) };
  }
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
