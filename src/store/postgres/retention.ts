/**
 * Retention on PostgreSQL (sqlite/core-retention.ts and core-digests.ts `purge` are the
 * reference): events go with their jobs once every job is terminal; audit records stay, scrubbed
 * of personal data; the ledger stays; dedupe keys stay until they expire, so Kit resending an
 * event whose record was purged is still a duplicate; closed digest windows go with their items.
 *
 * One transaction under the ingest lock (ingest.ts): no event can gain a job (ingest, a digest
 * closing, `cloneJob`) between the check that it has no active job and its deletion.
 */
import type pg from 'pg';
import type { PurgeInput, PurgeResult } from '../types.js';
import { lockIngest } from './ingest.js';
import { withTransaction, type Queryable } from './pool.js';
import { orUnavailable } from './unavailable.js';

/** An event old enough with no active job: its (terminal) jobs go first, then the event. */
const DELETE_JOBS_OF_OLD_EVENTS = `
  DELETE FROM jobs WHERE status IN ('succeeded', 'dead', 'cancelled') AND event_id IN (
    SELECT e.id FROM events AS e
    WHERE e.received_at < $1 AND NOT EXISTS (
      SELECT 1 FROM jobs AS active WHERE active.event_id = e.id AND active.status IN ('pending', 'running')))`;

const DELETE_OLD_EVENTS = `
  DELETE FROM events WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)`;

// An event has its delivery's received_at, so the events that keep an old delivery are among the old events.
const DELETE_EMPTY_DELIVERIES = `
  DELETE FROM deliveries
  WHERE received_at < $1
    AND id NOT IN (SELECT delivery_id FROM events WHERE received_at < $1)
    AND NOT EXISTS (SELECT 1 FROM quarantine WHERE quarantine.delivery_id = deliveries.id)`;

// A subscriber key of the form `email:<address>` is the email too.
const SCRUB_ATTEMPTS = `
  UPDATE attempts SET
    email = NULL,
    subscriber_key = CASE WHEN subscriber_key LIKE 'email:%' THEN NULL ELSE subscriber_key END,
    request = (request::jsonb - 'bodyPreview')::text,
    response_body = NULL,
    scrubbed_at = $2
  WHERE started_at < $1 AND scrubbed_at IS NULL`;

export class PgRetentionOps {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  purge(input: PurgeInput): Promise<PurgeResult> {
    return orUnavailable(() =>
      withTransaction(this.#pool, async (client) => {
        await lockIngest(client);
        return purgeIn(client, input);
      }),
    );
  }
}

async function purgeIn(client: Queryable, input: PurgeInput): Promise<PurgeResult> {
  const count = async (sql: string, values: unknown[]): Promise<number> => (await client.query(sql, values)).rowCount ?? 0;
  let jobs = 0;
  let events = 0;
  if (input.eventsBefore !== undefined) {
    const windows = await count(`DELETE FROM digest_windows WHERE status = 'closed' AND window_end < $1`, [input.eventsBefore]);
    if (windows > 0) await client.query('DELETE FROM digest_items WHERE window_id NOT IN (SELECT id FROM digest_windows)');
    jobs = await count(DELETE_JOBS_OF_OLD_EVENTS, [input.eventsBefore]);
    events = await count(DELETE_OLD_EVENTS, [input.eventsBefore]);
  }
  const quarantine = input.quarantineBefore === undefined ? 0 : await count(`DELETE FROM quarantine WHERE status <> 'open' AND received_at < $1`, [input.quarantineBefore]);
  if (input.eventsBefore !== undefined) await client.query(DELETE_EMPTY_DELIVERIES, [input.eventsBefore]);
  const auditScrubbed = input.auditScrubBefore === undefined ? 0 : await count(SCRUB_ATTEMPTS, [input.auditScrubBefore, input.now]);
  const dedupeKeys = await count('DELETE FROM dedupe_keys WHERE expires_at <= $1', [input.now]);
  return { events, jobs, quarantine, auditScrubbed, dedupeKeys };
}
