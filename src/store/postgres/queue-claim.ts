/**
 * Claiming jobs on PostgreSQL (sqlite/core-queue.ts is the reference), safe with any number of
 * workers in any number of processes.
 *
 * A job is leased with `FOR UPDATE SKIP LOCKED`: two claims at once never lease the same row, and
 * neither waits for the other.
 *
 * Per-subscriber FIFO. A stream is one destination × subscriber key × sub-key; jobs without a
 * subscriber key belong to none. "Earlier" means a lower job id among the jobs a claim can see.
 * Ids are drawn from a sequence before commit, so with several writers id order is commit order
 * only where the writers take turns: ingest and cloneJob insert jobs under the ingest lock
 * (ingest.ts, `lockIngest`), so ingested job ids do rise in commit order, and in any case a job
 * inserted after another job's commit (Kit's next delivery, sent once the previous one was
 * acknowledged) always has the higher id. The claim does not rely on that alone: it keeps, for
 * every stream,
 * - no job leased while a job of its stream with a lower id is pending, or any other job of its
 *   stream is running (a job replayed, or committed late by a writer that skipped the lock, waits
 *   for the running one instead of running beside it); and
 * - at most one claim deciding about a stream at a time: the claim takes a transaction-level
 *   advisory lock per stream (try-lock: a stream another claim is deciding is skipped, never
 *   waited on) and then checks the stream again in a new statement, whose snapshot includes
 *   everything the previous holder committed (PostgreSQL releases a transaction's locks only once
 *   its commit is visible). The first check, in the candidate query, cannot do that: its snapshot
 *   is older than the locks it races.
 * A running job with an expired lease is blocked only by another running job, so a stream never
 * jams on a lost lease.
 */
import { eventFromRow, idempotencyKey, jobFromRow, runningCalls, type EventRow, type JobRow } from '../rows.js';
import type { AttemptInput, ClaimInput, ClaimedJob, EventRecord } from '../types.js';
import type { Queryable } from './pool.js';
import { insertAttempt } from './queue-sql.js';

export const LOST_LEASE_ERROR = 'lease expired: the worker stopped mid-attempt';

/** The stream locks' first key (the second is a hash of schema and stream): any constant no other advisory lock uses. */
const STREAM_LOCK = 7_242_031;
/** The per-destination claim locks' first key, for claims that cap running jobs. */
const CLAIM_LOCK = 7_242_032;

/** True when another job of j's stream must go first (see the file comment). */
const STREAM_BLOCKED = `EXISTS (
  SELECT 1 FROM jobs AS other
  WHERE other.destination = j.destination AND other.subscriber_key = j.subscriber_key
    AND other.sub_key IS NOT DISTINCT FROM j.sub_key
    AND other.status IN ('pending', 'running') AND other.id <> j.id
    AND (other.status = 'running' OR (j.status = 'pending' AND other.id < j.id)))`;

// Walks the destination's active jobs (partial index jobs_active) in id order. A paused
// destination has nothing claimable: checked here, in the claim's own transaction.
const SELECT_CLAIMABLE = `
  SELECT j.* FROM jobs AS j
  WHERE j.destination = $1 AND j.status IN ('pending', 'running')
    AND ((j.status = 'pending' AND j.run_at <= $2) OR (j.status = 'running' AND j.lease_expires_at <= $2))
    AND NOT EXISTS (SELECT 1 FROM destination_state AS d WHERE d.destination = $1 AND d.paused_at IS NOT NULL)
    AND (j.subscriber_key IS NULL OR NOT ${STREAM_BLOCKED})
  ORDER BY j.id
  LIMIT $3
  FOR UPDATE OF j SKIP LOCKED`;

/** Leases up to `input.limit` runnable jobs; runs in the caller's transaction. */
export async function claimIn(client: Queryable, storeId: string, input: ClaimInput): Promise<ClaimedJob[]> {
  const limit = Math.max(0, Math.trunc(Math.min(input.limit, input.maxRunning === undefined ? input.limit : input.maxRunning - (await runningOf(client, input)))));
  if (limit === 0) return [];
  const { rows } = await client.query<JobRow>(SELECT_CLAIMABLE, [input.destination, input.now, limit]);
  if (rows.length === 0) return [];
  const candidates = await keepStreamsWeHold(client, rows);
  const events = await eventsOf(client, candidates);
  const claimed: ClaimedJob[] = [];
  const fresh: JobRow[] = [];
  for (const candidate of candidates) {
    const event = events.get(candidate.event_id);
    if (event === undefined) throw new Error(`job ${candidate.id} refers to event ${candidate.event_id}, which does not exist`);
    if (event.unreadablePayload !== undefined) {
      // No attempt could send it: dead at once, with the reason, instead of claimed and failing forever.
      await client.query(
        `UPDATE jobs SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, last_error = $2, finished_at = $3, updated_at = $3 WHERE id = $1`,
        [candidate.id, `not sent: ${event.unreadablePayload}`, input.now],
      );
    } else if (candidate.status === 'running') {
      const row = await reclaimLostLease(client, storeId, candidate, input);
      if (row !== undefined) claimed.push({ job: jobFromRow(row, storeId), event });
    } else {
      fresh.push(candidate);
    }
  }
  if (fresh.length > 0) {
    const { rows: leased } = await client.query<JobRow>(
      `UPDATE jobs SET status = 'running', lease_owner = $2, lease_expires_at = $3, updated_at = $4 WHERE id = ANY($1::bigint[]) RETURNING *`,
      [fresh.map((row) => row.id), input.workerId, input.now + input.leaseMs, input.now],
    );
    for (const row of leased) claimed.push({ job: jobFromRow(row, storeId), event: events.get(row.event_id)! });
  }
  return claimed.sort((a, b) => a.job.id - b.job.id);
}

/**
 * The destination's calls running under an unexpired lease (rows.ts `runningCalls`), counted while this transaction holds the
 * destination's claim lock: claims that cap the running jobs (`maxRunning`) take turns, each seeing
 * the leases of those before it (their commit is visible once their lock is released).
 */
async function runningOf(client: Queryable, input: ClaimInput): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || $2))', [CLAIM_LOCK, `:${input.destination}`]);
  const { rows } = await client.query<{ action: string; count: string }>(
    `SELECT action, count(*) AS count FROM jobs WHERE destination = $1 AND status = 'running' AND lease_expires_at > $2 GROUP BY action`,
    [input.destination, input.now],
  );
  return runningCalls(rows.map((row) => ({ action: row.action, count: Number(row.count) })), input.batchActions);
}

/**
 * Of the candidates, those without a stream and those whose stream this transaction now holds and
 * that are still first in it when checked again under that lock.
 */
async function keepStreamsWeHold(client: Queryable, candidates: JobRow[]): Promise<JobRow[]> {
  const inStreams = candidates.filter((row) => row.subscriber_key !== null);
  if (inStreams.length === 0) return candidates;
  const { rows: held } = await client.query<{ id: number }>(
    `SELECT s.id FROM unnest($2::bigint[], $3::text[]) AS s(id, stream)
     WHERE pg_try_advisory_xact_lock($1, hashtext(current_schema() || ':' || s.stream))`,
    [STREAM_LOCK, inStreams.map((row) => row.id), inStreams.map((row) => JSON.stringify([row.destination, row.subscriber_key, row.sub_key]))],
  );
  if (held.length === 0) return candidates.filter((row) => row.subscriber_key === null);
  // A new statement: a new snapshot, taken after the locks.
  const { rows: first } = await client.query<{ id: number }>(`SELECT j.id FROM jobs AS j WHERE j.id = ANY($1::bigint[]) AND NOT ${STREAM_BLOCKED}`, [
    held.map((row) => row.id),
  ]);
  const keep = new Set(first.map((row) => row.id));
  return candidates.filter((row) => row.subscriber_key === null || keep.has(row.id));
}

async function eventsOf(client: Queryable, jobs: readonly JobRow[]): Promise<Map<number, EventRecord>> {
  if (jobs.length === 0) return new Map();
  const ids = [...new Set(jobs.map((job) => job.event_id))];
  const { rows } = await client.query<EventRow>('SELECT * FROM events WHERE id = ANY($1::bigint[])', [ids]);
  return new Map(rows.map((row) => [row.id, eventFromRow(row)]));
}

/**
 * A job whose worker vanished mid-attempt: its audit record says the outcome is unknown (the
 * destination may have acted), then the job is leased again, or goes dead if that was its last
 * attempt (undefined is returned).
 */
async function reclaimLostLease(client: Queryable, storeId: string, job: JobRow, input: ClaimInput): Promise<JobRow | undefined> {
  const lost: AttemptInput = {
    jobId: job.id,
    attempt: job.attempts + 1,
    workerId: job.lease_owner ?? '',
    // The job's last update was its claim: the closest known start of the lost attempt.
    startedAt: job.updated_at,
    finishedAt: input.now,
    outcome: 'unknown',
    error: LOST_LEASE_ERROR,
    correlation: { idempotencyKey: idempotencyKey(storeId, job.id) },
  };
  await insertAttempt(client, lost, job);
  if (job.attempts + 1 >= job.max_attempts) {
    await client.query(
      `UPDATE jobs SET status = 'dead', attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL,
         last_error = $2, finished_at = $3, updated_at = $3 WHERE id = $1`,
      [job.id, LOST_LEASE_ERROR, input.now],
    );
    return undefined;
  }
  const { rows } = await client.query<JobRow>(
    `UPDATE jobs SET status = 'running', lease_owner = $2, lease_expires_at = $3, attempts = attempts + 1, updated_at = $4 WHERE id = $1 RETURNING *`,
    [job.id, input.workerId, input.now + input.leaseMs, input.now],
  );
  return rows[0];
}
