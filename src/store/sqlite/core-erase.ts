/**
 * Erasure (GDPR, `kitrelay erase <email>`): one person's records leave the store in one
 * transaction. What names them is deleted (events with their payloads, jobs, the mirror row and
 * its tags, quarantined bodies that hold the address, digest items, pending dead-job alerts,
 * ledger keys their jobs spent, their Meta audience rows and batch items, their Kajabi enrolments and
 * the corrections about them); audit records stay, as proof of what was sent, but lose every
 * personal value (email, subscriber key and id, body preview, response body, the address wherever
 * it appears in the request summary or error).
 *
 * The person is found by the address and by every Kit subscriber id that address has had here
 * (the mirror and the events), so records keyed by id (`id:<n>`) go too.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { EraseInput, EraseResult } from '../types.js';

export class EraseOps {
  readonly #db: Database;
  readonly #idsByEmail: Statement<{ email: string }, string>;

  constructor(db: Database) {
    this.#db = db;
    this.#idsByEmail = db
      .prepare<{ email: string }, string>(
        `SELECT CAST(kit_id AS TEXT) FROM subscribers WHERE email = @email
         UNION SELECT subscriber_id FROM events WHERE email = @email AND subscriber_id IS NOT NULL
         UNION SELECT subscriber_id FROM jobs WHERE email = @email AND subscriber_id IS NOT NULL`,
      )
      .pluck();
  }

  erase(input: EraseInput): EraseResult {
    const email = input.email.trim().toLowerCase();
    const ids = [...new Set(this.#idsByEmail.all({ email }))];
    const keys = [`email:${email}`, ...ids.map((id) => `id:${id}`)];
    const params = { email, encoded: encodeURIComponent(email), ids: JSON.stringify(ids), keys: JSON.stringify(keys), now: input.now };
    const run = (sql: string) => this.#db.prepare(sql).run(params).changes;
    const whose = (alias = '') =>
      `(${alias}email = @email OR ${alias}subscriber_id IN (SELECT value FROM json_each(@ids)) OR ${alias}subscriber_key IN (SELECT value FROM json_each(@keys)))`;
    // Jobs first (their ids are needed for the ledger and the alert outbox), then their events.
    this.#db.prepare(`CREATE TEMP TABLE IF NOT EXISTS erased_jobs (id INTEGER PRIMARY KEY)`).run();
    this.#db.prepare('DELETE FROM temp.erased_jobs').run();
    run(`INSERT INTO temp.erased_jobs (id) SELECT id FROM jobs WHERE ${whose()}`);
    const ledgerKeys = run('DELETE FROM ledger WHERE job_id IN (SELECT id FROM temp.erased_jobs)');
    run('DELETE FROM dead_job_alerts WHERE job_id IN (SELECT id FROM temp.erased_jobs)');
    const jobs = run('DELETE FROM jobs WHERE id IN (SELECT id FROM temp.erased_jobs)');
    run(`DELETE FROM digest_items WHERE event_id IN (SELECT id FROM events WHERE ${whose()})`);
    const events = run(`DELETE FROM events WHERE ${whose()}`);
    const auditRecords = run(`
      UPDATE attempts SET
        email = NULL, subscriber_key = NULL, subscriber_id = NULL,
        request = replace(replace(json_remove(request, '$.bodyPreview'), @email, '[erased]'), @encoded, '[erased]'),
        response_body = NULL,
        error = replace(error, @email, '[erased]'),
        scrubbed_at = coalesce(scrubbed_at, @now)
      WHERE ${whose()}`);
    const mirror = run(`DELETE FROM subscribers WHERE email = @email OR CAST(kit_id AS TEXT) IN (SELECT value FROM json_each(@ids))`);
    run(`DELETE FROM subscriber_tags WHERE CAST(kit_id AS TEXT) IN (SELECT value FROM json_each(@ids))`);
    // Quarantined bodies are raw bytes: any that holds the address, in any case, goes.
    const quarantine = run(`DELETE FROM quarantine WHERE instr(lower(CAST(body AS TEXT)), @email) > 0`);
    // Audience rows hold hashes of the address: pseudonymous, still theirs. `kitrelay erase` removes
    // the person at Meta first, which settles their rows; a row Meta still holds (its audience left
    // the config, a removal not acknowledged) stays as a pending removal, so the audience's next run
    // removes them at Meta, and then the row goes. The batches keep their counts.
    const inIds = `CAST(subscriber_id AS TEXT) IN (SELECT value FROM json_each(@ids))`;
    const audienceRows =
      run(`DELETE FROM audience_members WHERE ${inIds} AND sent_row IS NULL`) +
      run(`UPDATE audience_members SET row = NULL, changed_at = @now WHERE ${inIds} AND row IS NOT NULL`) +
      run(`DELETE FROM audience_batch_items WHERE ${inIds}`);
    // Airtable: what kitrelay kept about their row (`kitrelay erase` deletes the row itself first),
    // the deletes waiting for approval, and the field decisions holding their values.
    const inKitIds = `CAST(kit_id AS TEXT) IN (SELECT value FROM json_each(@ids))`;
    const airtableRows =
      run(`DELETE FROM airtable_records WHERE ${inKitIds}`) +
      run(`DELETE FROM airtable_deletes WHERE ${inKitIds} OR email = @email`) +
      run(`DELETE FROM airtable_decisions WHERE ${inKitIds}`);
    // Kajabi: their enrolments (by address, and by the Kit ids it led to: an enrolment kept under an
    // address they had before) and every correction about those enrolments. Corrections first:
    // they are found through the enrolments.
    const theirEnrolments = `email = @email OR CAST(kit_subscriber_id AS TEXT) IN (SELECT value FROM json_each(@ids))`;
    const kajabiRows =
      run(`DELETE FROM kajabi_corrections WHERE email = @email OR (destination, email, offer_id) IN (SELECT destination, email, offer_id FROM kajabi_enrolments WHERE ${theirEnrolments})`) +
      run(`DELETE FROM kajabi_enrolments WHERE ${theirEnrolments}`);
    this.#db.prepare('DELETE FROM temp.erased_jobs').run();
    return { email, subscriberIds: ids, events, jobs, auditRecordsScrubbed: auditRecords, mirror, quarantine, ledgerKeys, audienceRows, airtableRows, kajabiRows };
  }
}
