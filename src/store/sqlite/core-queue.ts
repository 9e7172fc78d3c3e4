/**
 * The queue's side of the store: leasing jobs, finishing attempts (with their audit records),
 * handing jobs back, replay and cancel, and the per-destination pause and breaker state.
 */
import type { Database, Statement } from 'better-sqlite3';
import type {
  AttemptInput,
  ClaimInput,
  ClaimedJob,
  DestinationState,
  EventRecord,
  FinishAttemptInput,
  JobCount,
  JobFilter,
  JobRecord,
} from '../types.js';
import { destinationStateFromRow, idempotencyKey, jobFromRow, runningCalls, toJson, type DestinationStateRow, type JobRow } from '../rows.js';
import type { QueryOps } from './core-query.js';

const LOST_LEASE_ERROR = 'lease expired: the worker stopped mid-attempt';

export class QueueOps {
  readonly #query: QueryOps;
  readonly #storeId: string;
  readonly #selectClaimable: Statement<Record<string, unknown>, JobRow>;
  readonly #lease: Statement<Record<string, unknown>, JobRow>;
  readonly #markDeadAfterLostLease: Statement;
  readonly #markDeadUnreadable: Statement;
  readonly #countRunning: Statement<Record<string, unknown>, { action: string; count: number }>;
  readonly #selectJob: Statement<[number], JobRow>;
  readonly #insertAttempt: Statement;
  readonly #finish: Statement;
  readonly #extendLeases: Statement<Record<string, unknown>, number>;
  readonly #release: Statement;
  readonly #replay: Statement<Record<string, unknown>, JobRow>;
  readonly #cancel: Statement<Record<string, unknown>, JobRow>;
  readonly #clone: Statement<Record<string, unknown>, JobRow>;
  readonly #selectStates: Statement<[], DestinationStateRow>;
  readonly #pause: Statement;
  readonly #resume: Statement;
  readonly #setBreaker: Statement;
  readonly #countJobs: Statement<[], JobCount>;

  constructor(db: Database, query: QueryOps, storeId: string) {
    this.#query = query;
    this.#storeId = storeId;
    // Walks the destination's active jobs (partial index jobs_active) in id order. Per-subscriber
    // FIFO: a job waits while an earlier job of the same destination, subscriber and sub-key is still
    // pending or running (jobs_active_subscriber); dead, cancelled and succeeded jobs never block.
    // Sub-keys are independent streams (a Slack channel each): one event fanned out to 50 channels
    // goes out on 50 channels at once, each in the subscriber's order.
    // A paused destination has nothing claimable.
    this.#selectClaimable = db.prepare(`
      SELECT * FROM jobs AS j
      WHERE j.destination = @destination AND j.status IN ('pending', 'running')
        AND NOT EXISTS (SELECT 1 FROM destination_state AS d WHERE d.destination = @destination AND d.paused_at IS NOT NULL)
        AND ((j.status = 'pending' AND j.run_at <= @now) OR (j.status = 'running' AND j.lease_expires_at <= @now))
        AND (j.subscriber_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM jobs AS earlier
          WHERE earlier.destination = j.destination AND earlier.subscriber_key = j.subscriber_key AND earlier.sub_key IS j.sub_key
            AND earlier.status IN ('pending', 'running') AND earlier.id < j.id))
      ORDER BY j.id
      LIMIT @limit`);
    this.#lease = db.prepare(`
      UPDATE jobs SET status = 'running', lease_owner = @workerId, lease_expires_at = @leaseExpiresAt,
        attempts = attempts + @spent, updated_at = @now
      WHERE id = @id
      RETURNING *`);
    this.#markDeadAfterLostLease = db.prepare(`
      UPDATE jobs SET status = 'dead', attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL,
        last_error = @error, finished_at = @now, updated_at = @now
      WHERE id = @id`);
    this.#markDeadUnreadable = db.prepare(`
      UPDATE jobs SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, last_error = @error, finished_at = @now, updated_at = @now
      WHERE id = @id`);
    this.#selectJob = db.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#countRunning = db.prepare(
      `SELECT action, count(*) AS count FROM jobs WHERE destination = @destination AND status = 'running' AND lease_expires_at > @now GROUP BY action`,
    );
    this.#insertAttempt = db.prepare(`
      INSERT INTO attempts (job_id, attempt, event_id, destination, action, subscriber_key, subscriber_id, email,
        worker_id, started_at, finished_at, duration_ms, outcome, error_class, error, request, response_status,
        response_body, correlation, is_shadow)
      VALUES (@jobId, @attempt, @eventId, @destination, @action, @subscriberKey, @subscriberId, @email,
        @workerId, @startedAt, @finishedAt, @finishedAt - @startedAt, @outcome, @errorClass, @error, @request,
        @responseStatus, @responseBody, @correlation, @isShadow)`);
    this.#finish = db.prepare(`
      UPDATE jobs SET status = @status, attempts = attempts + 1, run_at = coalesce(@runAt, run_at),
        lease_owner = NULL, lease_expires_at = NULL, last_error = @error, finished_at = @finishedAt, updated_at = @now,
        facts = CASE WHEN @facts IS NULL THEN facts ELSE json_patch(facts, @facts) END
      WHERE id = @id AND status = 'running' AND lease_owner = @workerId`);
    this.#extendLeases = db
      .prepare<Record<string, unknown>, number>(
        `UPDATE jobs SET lease_expires_at = @leaseExpiresAt
        WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'running' AND lease_owner = @workerId
        RETURNING id`,
      )
      .pluck();
    this.#release = db.prepare(`
      UPDATE jobs SET status = 'pending', run_at = @runAt, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
      WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'running' AND lease_owner = @workerId`);
    this.#replay = db.prepare(`
      UPDATE jobs SET status = 'pending', run_at = @now, max_attempts = attempts + @extraAttempts, replays = replays + 1,
        lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL, updated_at = @now
      WHERE id = @id AND status IN ('succeeded', 'dead', 'cancelled')
      RETURNING *`);
    this.#cancel = db.prepare(`
      UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, finished_at = @now, updated_at = @now
      WHERE id = @id AND status IN ('pending', 'running')
      RETURNING *`);
    // A copy for `replay --force-new`: no id given, so AUTOINCREMENT picks one above every id ever used.
    this.#clone = db.prepare(`
      INSERT INTO jobs (event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
        status, attempts, max_attempts, run_at, created_at, updated_at, copy_of)
      SELECT event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
        'pending', 0, max_attempts, @now, @now, @now, id
      FROM jobs WHERE id = @id
      RETURNING *`);
    this.#selectStates = db.prepare('SELECT * FROM destination_state ORDER BY destination');
    // Pausing again keeps the first pause time and takes the new reason.
    this.#pause = db.prepare(`
      INSERT INTO destination_state (destination, paused_at, paused_reason, updated_at) VALUES (@destination, @now, @reason, @now)
      ON CONFLICT (destination) DO UPDATE SET paused_at = coalesce(paused_at, excluded.paused_at),
        paused_reason = excluded.paused_reason, updated_at = excluded.updated_at`);
    this.#resume = db.prepare(`
      INSERT INTO destination_state (destination, updated_at) VALUES (@destination, @now)
      ON CONFLICT (destination) DO UPDATE SET paused_at = NULL, paused_reason = NULL, updated_at = excluded.updated_at`);
    // An opening counts when the breaker was closed (or its time had run out); extending an open
    // breaker is not a new opening.
    this.#setBreaker = db.prepare(`
      INSERT INTO destination_state (destination, breaker_open_until, breaker_openings, updated_at)
      VALUES (@destination, @openUntil, CASE WHEN @openUntil > @now THEN 1 ELSE 0 END, @now)
      ON CONFLICT (destination) DO UPDATE SET
        breaker_openings = breaker_openings + CASE
          WHEN excluded.breaker_open_until > @now AND coalesce(breaker_open_until, 0) <= @now THEN 1 ELSE 0 END,
        breaker_open_until = excluded.breaker_open_until, updated_at = excluded.updated_at`);
    this.#countJobs = db.prepare(
      'SELECT destination, status, count(*) AS count FROM jobs GROUP BY destination, status ORDER BY destination, status',
    );
  }

  claimJobs(input: ClaimInput): ClaimedJob[] {
    // A negative LIMIT means no limit to SQLite. Claims hold the write lock, so the count of running
    // jobs cannot change before the lease below.
    const running = input.maxRunning === undefined ? 0 : runningCalls(this.#countRunning.all({ destination: input.destination, now: input.now }), input.batchActions);
    const limit = Math.max(0, Math.trunc(Math.min(input.limit, (input.maxRunning ?? Number.POSITIVE_INFINITY) - running)));
    const candidates = this.#selectClaimable.all({ destination: input.destination, now: input.now, limit });
    const events = new Map<number, EventRecord>();
    const claimed: ClaimedJob[] = [];
    for (const candidate of candidates) {
      let event = events.get(candidate.event_id);
      if (event === undefined) {
        event = this.#query.getEvent(candidate.event_id);
        if (event === undefined) throw new Error(`job ${candidate.id} refers to event ${candidate.event_id}, which does not exist`);
        events.set(candidate.event_id, event);
      }
      if (event.unreadablePayload !== undefined) {
        // No attempt could send it: dead at once, with the reason, instead of claimed and failing forever.
        this.#markDeadUnreadable.run({ id: candidate.id, error: `not sent: ${event.unreadablePayload}`, now: input.now });
        continue;
      }
      const isLostLease = candidate.status === 'running';
      if (isLostLease) {
        this.#recordLostAttempt(candidate, input.now);
        if (candidate.attempts + 1 >= candidate.max_attempts) {
          this.#markDeadAfterLostLease.run({ id: candidate.id, error: LOST_LEASE_ERROR, now: input.now });
          continue;
        }
      }
      const row = this.#lease.get({
        id: candidate.id,
        workerId: input.workerId,
        leaseExpiresAt: input.now + input.leaseMs,
        spent: isLostLease ? 1 : 0,
        now: input.now,
      });
      if (row === undefined) continue;
      claimed.push({ job: jobFromRow(row, this.#storeId), event });
    }
    return claimed;
  }

  extendLeases(workerId: string, jobIds: readonly number[], leaseExpiresAt: number): number[] {
    const held = this.#extendLeases.all({ workerId, ids: JSON.stringify(jobIds), leaseExpiresAt });
    return held.sort((a, b) => a - b);
  }

  finishAttempt({ attempt, next, now, facts }: FinishAttemptInput): boolean {
    const job = this.#selectJob.get(attempt.jobId);
    this.#recordAttempt(attempt, job);
    const result = this.#finish.run({
      id: attempt.jobId,
      workerId: attempt.workerId,
      status: next.status,
      runAt: next.status === 'pending' ? next.runAt : null,
      finishedAt: next.status === 'pending' ? null : now,
      error: attempt.error ?? null,
      // json_patch (RFC 7396): keys set to null are removed.
      facts: facts === undefined || Object.keys(facts).length === 0 ? null : toJson(facts),
      now,
    });
    return result.changes > 0;
  }

  releaseJobs(workerId: string, jobIds: readonly number[], runAt: number, now: number): void {
    this.#release.run({ workerId, ids: JSON.stringify(jobIds), runAt, now });
  }

  /** A job that is not terminal is returned as it is; an unknown id gives undefined. */
  replayJob(id: number, extraAttempts: number, now: number): JobRecord | undefined {
    const row = this.#replay.get({ id, extraAttempts, now }) ?? this.#selectJob.get(id);
    return row && jobFromRow(row, this.#storeId);
  }

  replayJobs(filter: JobFilter, extraAttempts: number, now: number): number[] {
    const ids = this.#query.terminalJobIds(filter);
    for (const id of ids) this.#replay.run({ id, extraAttempts, now });
    return ids;
  }

  cloneJob(id: number, now: number): JobRecord | undefined {
    const original = this.#selectJob.get(id);
    if (!original) return undefined;
    if (original.status === 'pending' || original.status === 'running') return jobFromRow(original, this.#storeId);
    const row = this.#clone.get({ id, now });
    return row && jobFromRow(row, this.#storeId);
  }

  cancelJob(id: number, now: number): JobRecord | undefined {
    const row = this.#cancel.get({ id, now });
    return row && jobFromRow(row, this.#storeId);
  }

  getDestinationStates(): DestinationState[] {
    return this.#selectStates.all().map(destinationStateFromRow);
  }

  pauseDestination(destination: string, reason: string, now: number): void {
    this.#pause.run({ destination, reason, now });
  }

  resumeDestination(destination: string, now: number): void {
    this.#resume.run({ destination, now });
  }

  setBreaker(destination: string, openUntil: number | null, now: number): void {
    this.#setBreaker.run({ destination, openUntil, now });
  }

  countJobs(): JobCount[] {
    return this.#countJobs.all();
  }

  /** The audit record of an attempt whose worker vanished: nobody knows what the destination did. */
  #recordLostAttempt(job: JobRow, now: number): void {
    const attempt: AttemptInput = {
      jobId: job.id,
      attempt: job.attempts + 1,
      workerId: job.lease_owner ?? '',
      // The job's last update was its claim: the closest known start of the lost attempt.
      startedAt: job.updated_at,
      finishedAt: now,
      outcome: 'unknown',
      error: LOST_LEASE_ERROR,
      correlation: { idempotencyKey: idempotencyKey(this.#storeId, job.id) },
    };
    this.#recordAttempt(attempt, job);
  }

  /**
   * Appends an audit record with the job's context copied in. The record is kept even when the job
   * is gone (cancelled, then purged, while the call was in flight): the call did happen, so the
   * context it cannot know is left empty.
   */
  #recordAttempt(attempt: AttemptInput, job: JobRow | undefined): void {
    this.#insertAttempt.run({
      jobId: attempt.jobId,
      attempt: attempt.attempt,
      eventId: job?.event_id ?? 0,
      destination: job?.destination ?? '',
      action: job?.action ?? '',
      subscriberKey: job?.subscriber_key ?? null,
      subscriberId: job?.subscriber_id ?? null,
      email: job?.email ?? null,
      workerId: attempt.workerId,
      startedAt: attempt.startedAt,
      finishedAt: attempt.finishedAt,
      outcome: attempt.outcome,
      errorClass: attempt.errorClass ?? null,
      error: attempt.error ?? null,
      request: toJson(attempt.request),
      responseStatus: attempt.responseStatus ?? null,
      responseBody: attempt.responseBody ?? null,
      correlation: toJson(attempt.correlation) ?? '{}',
      isShadow: attempt.isShadow ? 1 : 0,
    });
  }
}
