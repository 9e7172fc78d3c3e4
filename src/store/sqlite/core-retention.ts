/**
 * Retention: what purge deletes and what it keeps. Events go with their jobs once every job is
 * terminal; audit records stay (scrubbed of personal data); the ledger stays; dedupe keys stay
 * until they expire, so Kit resending an event whose record was purged is still a duplicate.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { PurgeInput, PurgeResult } from '../types.js';

export class RetentionOps {
  readonly #deleteJobsOfOldEvents: Statement;
  readonly #deleteOldEvents: Statement;
  readonly #deleteEmptyDeliveries: Statement;
  readonly #deleteExpiredDedupeKeys: Statement;
  readonly #deleteResolvedQuarantine: Statement;
  readonly #scrubAttempts: Statement;

  constructor(db: Database) {
    // An event is old enough and has no active job: its jobs go first, then the event (which then
    // has no jobs left). Events with a pending or running job wait for a later purge.
    this.#deleteJobsOfOldEvents = db.prepare(`
      DELETE FROM jobs WHERE event_id IN (
        SELECT e.id FROM events AS e
        WHERE e.received_at < @before AND NOT EXISTS (
          SELECT 1 FROM jobs AS active WHERE active.event_id = e.id AND active.status IN ('pending', 'running')))`);
    this.#deleteOldEvents = db.prepare(`
      DELETE FROM events
      WHERE received_at < @before AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)`);
    // An event has its delivery's received_at, so the events that keep an old delivery are among
    // the old events (events_received_at): no index on events.delivery_id is needed.
    this.#deleteEmptyDeliveries = db.prepare(`
      DELETE FROM deliveries
      WHERE received_at < @before
        AND id NOT IN (SELECT delivery_id FROM events WHERE received_at < @before)
        AND NOT EXISTS (SELECT 1 FROM quarantine WHERE quarantine.delivery_id = deliveries.id)`);
    this.#deleteExpiredDedupeKeys = db.prepare('DELETE FROM dedupe_keys WHERE expires_at <= @now');
    this.#deleteResolvedQuarantine = db.prepare(`DELETE FROM quarantine WHERE status <> 'open' AND received_at < @before`);
    // A subscriber key of the form `email:<address>` is the email too.
    this.#scrubAttempts = db.prepare(`
      UPDATE attempts SET
        email = NULL,
        subscriber_key = CASE WHEN subscriber_key LIKE 'email:%' THEN NULL ELSE subscriber_key END,
        request = json_remove(request, '$.bodyPreview'),
        response_body = NULL,
        scrubbed_at = @now
      WHERE started_at < @before AND scrubbed_at IS NULL`);
  }

  purge(input: PurgeInput): PurgeResult {
    let jobs = 0;
    let events = 0;
    if (input.eventsBefore !== undefined) {
      jobs = this.#deleteJobsOfOldEvents.run({ before: input.eventsBefore }).changes;
      events = this.#deleteOldEvents.run({ before: input.eventsBefore }).changes;
    }
    const quarantine =
      input.quarantineBefore === undefined ? 0 : this.#deleteResolvedQuarantine.run({ before: input.quarantineBefore }).changes;
    if (input.eventsBefore !== undefined) this.#deleteEmptyDeliveries.run({ before: input.eventsBefore });
    const auditScrubbed =
      input.auditScrubBefore === undefined ? 0 : this.#scrubAttempts.run({ before: input.auditScrubBefore, now: input.now }).changes;
    const dedupeKeys = this.#deleteExpiredDedupeKeys.run({ now: input.now }).changes;
    return { events, jobs, quarantine, auditScrubbed, dedupeKeys };
  }
}
