/**
 * The queue's side of the store on PostgreSQL (sqlite/core-queue.ts is the reference): leasing jobs
 * (queue-claim.ts), finishing attempts with their audit records, handing jobs back, replay, clone
 * and cancel, and the per-destination pause and breaker state. Shared by every instance: a lease
 * is a row's `lease_owner` and `lease_expires_at`, checked in the statement that acts on it.
 */
import type pg from 'pg';
import { destinationStateFromRow, fromJson, jobFromRow, toJson, type DestinationStateRow, type JobRow } from '../rows.js';
import type {
  AttemptFilter,
  AttemptRecord,
  ClaimInput,
  ClaimedJob,
  DestinationState,
  FinishAttemptInput,
  JobCount,
  JobFilter,
  JobRecord,
} from '../types.js';
import { lockIngest } from './ingest.js';
import { withTransaction } from './pool.js';
import { claimIn } from './queue-claim.js';
import { attemptValues, getJobIn, INSERT_ATTEMPT_FROM_JOB, listAttemptsIn, listJobsIn, replayJobIn, replayJobsIn } from './queue-sql.js';
import { orUnavailable } from './unavailable.js';
import { mergePatch } from './merge-patch.js';

/**
 * finishAttempt's statement, prepared once per connection (a named statement: PostgreSQL parses
 * and plans it once, not on every attempt; the queue benchmark's no-op row gained about a third).
 * Its result is one boolean whatever columns the tables gain, so a migration run by another
 * instance never makes the prepared plan fail ("cached plan must not change result type"): keep
 * `SELECT *` out of named statements. $1…$13 are attemptValues; then the job's next status, its
 * next run (retries), its finish time (terminal) and now.
 */
const FINISH_ATTEMPT = `
  WITH finished AS (
    UPDATE jobs SET status = $14, attempts = attempts + 1, run_at = coalesce($15, run_at), lease_owner = NULL, lease_expires_at = NULL,
      last_error = $8, finished_at = $16, updated_at = $17
    WHERE id = $1 AND status = 'running' AND lease_owner = $3
    RETURNING id),
  audited AS (${INSERT_ATTEMPT_FROM_JOB})
  SELECT EXISTS (SELECT 1 FROM finished) AS is_current`;

export class PgQueueOps {
  readonly #pool: pg.Pool;
  readonly #storeId: string;

  /** `storeId`: settings' `store_id`, the first half of every idempotency key. */
  constructor(pool: pg.Pool, storeId: string) {
    this.#pool = pool;
    this.#storeId = storeId;
  }

  getJob(id: number): Promise<JobRecord | undefined> {
    return orUnavailable(() => getJobIn(this.#pool, this.#storeId, id));
  }

  listJobs(filter: JobFilter): Promise<JobRecord[]> {
    return orUnavailable(() => listJobsIn(this.#pool, this.#storeId, filter));
  }

  listAttempts(filter: AttemptFilter): Promise<AttemptRecord[]> {
    return orUnavailable(() => listAttemptsIn(this.#pool, filter));
  }

  claimJobs(input: ClaimInput): Promise<ClaimedJob[]> {
    return orUnavailable(() => claimIn(this.#pool, this.#storeId, input));
  }

  async extendLeases(workerId: string, jobIds: readonly number[], leaseExpiresAt: number): Promise<number[]> {
    const { rows } = await orUnavailable(() =>
      this.#pool.query<{ id: number }>(
        `UPDATE jobs SET lease_expires_at = $3 WHERE id = ANY($1::bigint[]) AND status = 'running' AND lease_owner = $2 RETURNING id`,
        [[...jobIds], workerId, leaseExpiresAt],
      ),
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  /**
   * One statement, so one round trip (the queue's hottest write): the lease check and the status
   * change are one UPDATE, which locks the row and re-checks its WHERE against the latest committed
   * version, so a reclaim or a cancel committed before it wins (false) and one after it waits for
   * it. The audit record is inserted in the same statement whatever the outcome, with the job's
   * context (columns no write changes) read beside it. An attempt that brings facts takes the
   * transaction below instead: facts are merged as JSON Merge Patch, in JS.
   */
  finishAttempt(input: FinishAttemptInput): Promise<boolean> {
    if (input.facts !== undefined && Object.keys(input.facts).length > 0) return this.#finishWithFacts(input);
    const { attempt, next, now } = input;
    return orUnavailable(async () => {
      const { rows } = await this.#pool.query<{ is_current: boolean }>({
        name: 'kitrelay_finish_attempt',
        text: FINISH_ATTEMPT,
        values: [...attemptValues(attempt), next.status, next.status === 'pending' ? next.runAt : null, next.status === 'pending' ? null : now, now],
      });
      return rows[0]?.is_current === true;
    });
  }

  /** The job row is locked first, so the lease check, the facts merge and the status change see one state. */
  #finishWithFacts({ attempt, next, now, facts }: FinishAttemptInput): Promise<boolean> {
    return orUnavailable(() =>
      withTransaction(this.#pool, async (client) => {
        const { rows } = await client.query<JobRow>('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [attempt.jobId]);
        const job = rows[0];
        await client.query(INSERT_ATTEMPT_FROM_JOB, attemptValues(attempt));
        if (job === undefined || job.status !== 'running' || job.lease_owner !== attempt.workerId) return false;
        await client.query(
          `UPDATE jobs SET status = $2, attempts = attempts + 1, run_at = coalesce($3, run_at), lease_owner = NULL, lease_expires_at = NULL,
             last_error = $4, finished_at = $5, updated_at = $6, facts = $7 WHERE id = $1`,
          [
            job.id,
            next.status,
            next.status === 'pending' ? next.runAt : null,
            attempt.error ?? null,
            next.status === 'pending' ? null : now,
            now,
            toJson(mergePatch(fromJson<unknown>(job.facts, {}), facts)),
          ],
        );
        return true;
      }),
    );
  }

  async releaseJobs(workerId: string, jobIds: readonly number[], runAt: number, now: number): Promise<void> {
    await orUnavailable(() =>
      this.#pool.query(
        `UPDATE jobs SET status = 'pending', run_at = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
         WHERE id = ANY($1::bigint[]) AND status = 'running' AND lease_owner = $2`,
        [[...jobIds], workerId, runAt, now],
      ),
    );
  }

  replayJob(id: number, extraAttempts: number, now: number): Promise<JobRecord | undefined> {
    return orUnavailable(() => replayJobIn(this.#pool, this.#storeId, id, extraAttempts, now));
  }

  replayJobs(filter: JobFilter, extraAttempts: number, now: number): Promise<number[]> {
    return orUnavailable(() => replayJobsIn(this.#pool, filter, extraAttempts, now));
  }

  /**
   * Under the ingest lock, like every other insert of jobs, so job ids keep rising in commit order
   * (queue-claim.ts). The copy is made only while the original is terminal (checked in the insert).
   */
  cloneJob(id: number, now: number): Promise<JobRecord | undefined> {
    return orUnavailable(() =>
      withTransaction(this.#pool, async (client) => {
        await lockIngest(client);
        const { rows } = await client.query<JobRow>(
          `INSERT INTO jobs (event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
             status, attempts, max_attempts, run_at, created_at, updated_at, copy_of)
           SELECT event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
             'pending', 0, max_attempts, $2, $2, $2, id
           FROM jobs WHERE id = $1 AND status IN ('succeeded', 'dead', 'cancelled')
           RETURNING *`,
          [id, now],
        );
        return rows[0] ? jobFromRow(rows[0], this.#storeId) : getJobIn(client, this.#storeId, id);
      }),
    );
  }

  async cancelJob(id: number, now: number): Promise<JobRecord | undefined> {
    const { rows } = await orUnavailable(() =>
      this.#pool.query<JobRow>(
        `UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, finished_at = $2, updated_at = $2
         WHERE id = $1 AND status IN ('pending', 'running') RETURNING *`,
        [id, now],
      ),
    );
    return rows[0] && jobFromRow(rows[0], this.#storeId);
  }

  async getDestinationStates(): Promise<DestinationState[]> {
    const { rows } = await orUnavailable(() => this.#pool.query<DestinationStateRow>('SELECT * FROM destination_state ORDER BY destination'));
    return rows.map(destinationStateFromRow);
  }

  /** Pausing again keeps the first pause time and takes the new reason. */
  async pauseDestination(destination: string, reason: string, now: number): Promise<void> {
    await orUnavailable(() =>
      this.#pool.query(
        `INSERT INTO destination_state AS d (destination, paused_at, paused_reason, updated_at) VALUES ($1, $3, $2, $3)
         ON CONFLICT (destination) DO UPDATE SET paused_at = coalesce(d.paused_at, excluded.paused_at),
           paused_reason = excluded.paused_reason, updated_at = excluded.updated_at`,
        [destination, reason, now],
      ),
    );
  }

  async resumeDestination(destination: string, now: number): Promise<void> {
    await orUnavailable(() =>
      this.#pool.query(
        `INSERT INTO destination_state AS d (destination, updated_at) VALUES ($1, $2)
         ON CONFLICT (destination) DO UPDATE SET paused_at = NULL, paused_reason = NULL, updated_at = excluded.updated_at`,
        [destination, now],
      ),
    );
  }

  /**
   * An opening counts when the breaker was closed (or its time had run out); extending an open
   * breaker is not a new opening. ON CONFLICT reads the row as the last writer left it, so two
   * instances opening it at once count one opening.
   */
  async setBreaker(destination: string, openUntil: number | null, now: number): Promise<void> {
    await orUnavailable(() =>
      this.#pool.query(
        `INSERT INTO destination_state AS d (destination, breaker_open_until, breaker_openings, updated_at)
         VALUES ($1, $2::bigint, CASE WHEN $2::bigint > $3::bigint THEN 1 ELSE 0 END, $3::bigint)
         ON CONFLICT (destination) DO UPDATE SET
           breaker_openings = d.breaker_openings + CASE
             WHEN excluded.breaker_open_until > $3::bigint AND coalesce(d.breaker_open_until, 0) <= $3::bigint THEN 1 ELSE 0 END,
           breaker_open_until = excluded.breaker_open_until, updated_at = excluded.updated_at`,
        [destination, openUntil, now],
      ),
    );
  }

  async countJobs(): Promise<JobCount[]> {
    const { rows } = await orUnavailable(() =>
      this.#pool.query<JobCount & Record<string, unknown>>(
        'SELECT destination, status, count(*) AS count FROM jobs GROUP BY destination, status ORDER BY destination, status',
      ),
    );
    return rows.map((row) => ({ destination: row.destination, status: row.status, count: row.count }));
  }
}
