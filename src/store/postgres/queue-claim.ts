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
import { eventFromRow, jobFromRow, type EventRow, type JobRow } from '../rows.js';
import type { ClaimInput, ClaimedJob, EventRecord } from '../types.js';
import type { Queryable } from './pool.js';

/** The claim's steps are the function `claim_jobs` (migrations/postgres/012_claim_jobs.sql): one round trip. */
const CLAIM = 'SELECT * FROM claim_jobs($1, $2, $3, $4, $5::text[], $6::int[], $7, $8, $9)';

/**
 * Leases up to `input.limit` runnable jobs (fewer under `maxRunning`), reclaiming lost leases, in
 * one statement: on a pool that is its own transaction; inside a caller's transaction its locks
 * last until that one ends.
 */
export async function claimIn(client: Queryable, storeId: string, input: ClaimInput): Promise<ClaimedJob[]> {
  const limit = Math.max(0, Math.trunc(Math.min(input.limit, 2 ** 31 - 1)));
  if (limit === 0) return [];
  const batch = Object.entries(input.batchActions ?? {});
  const { rows } = await client.query<JobRow>(CLAIM, [
    input.destination,
    input.now,
    limit,
    input.maxRunning === undefined ? null : Math.trunc(input.maxRunning),
    batch.map(([action]) => action),
    batch.map(([, size]) => Math.max(1, Math.trunc(size))),
    input.workerId,
    input.now + input.leaseMs,
    storeId,
  ]);
  if (rows.length === 0) return [];
  const events = await eventsOf(client, rows);
  const claimed: ClaimedJob[] = [];
  const unsendable: { id: number; error: string }[] = [];
  for (const row of rows) {
    const event = events.get(row.event_id);
    // Jobs never outlive their event; one that did would fail every claim, so it goes dead too.
    if (event === undefined) unsendable.push({ id: row.id, error: `not sent: its event ${row.event_id} does not exist` });
    else if (event.unreadablePayload !== undefined) unsendable.push({ id: row.id, error: `not sent: ${event.unreadablePayload}` });
    else claimed.push({ job: jobFromRow(row, storeId), event });
  }
  // No attempt could send it: dead at once, with the reason, instead of claimed and failing forever
  // (checked while this worker holds the lease it was just given).
  for (const { id, error } of unsendable) {
    await client.query(
      `UPDATE jobs SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, last_error = $2, finished_at = $3, updated_at = $3
       WHERE id = $1 AND status = 'running' AND lease_owner = $4`,
      [id, error, input.now, input.workerId],
    );
  }
  return claimed.sort((a, b) => a.job.id - b.job.id);
}

async function eventsOf(client: Queryable, jobs: readonly JobRow[]): Promise<Map<number, EventRecord>> {
  const ids = [...new Set(jobs.map((job) => job.event_id))];
  const { rows } = await client.query<EventRow>('SELECT * FROM events WHERE id = ANY($1::bigint[])', [ids]);
  return new Map(rows.map((row) => [row.id, eventFromRow(row)]));
}
