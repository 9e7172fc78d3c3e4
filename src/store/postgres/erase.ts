/**
 * Erasure on PostgreSQL (`kitrelay erase <email>`), as sqlite/core-erase.ts does it, in one
 * transaction under the ingest lock (no event or job of theirs can be committed half-way through):
 * what names the person is deleted; audit records stay, their personal values scrubbed. The person
 * is found by the address and by every Kit subscriber id it has had here.
 */
import type pg from 'pg';
import type { EraseInput, EraseResult } from '../types.js';
import { eraseAirtableRows } from './airtable.js';
import { eraseAudienceRows } from './audiences.js';
import { lockIngest } from './ingest.js';
import { eraseKajabiRows } from './kajabi.js';
import { withTransaction, type Queryable } from './pool.js';

export class PgEraseOps {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  eraseSubscriber(input: EraseInput): Promise<EraseResult> {
    return withTransaction(this.#pool, (client) => erase(client, input));
  }
}

async function erase(client: Queryable, input: EraseInput): Promise<EraseResult> {
  await lockIngest(client);
  const email = input.email.trim().toLowerCase();
  const found = await client.query<{ id: string }>(
    `SELECT kit_id::text AS id FROM subscribers WHERE email = $1
     UNION SELECT subscriber_id FROM events WHERE email = $1 AND subscriber_id IS NOT NULL
     UNION SELECT subscriber_id FROM jobs WHERE email = $1 AND subscriber_id IS NOT NULL`,
    [email],
  );
  const ids = [...new Set(found.rows.map((r) => r.id))];
  const keys = [`email:${email}`, ...ids.map((id) => `id:${id}`)];
  const count = async (sql: string, params: unknown[]) => (await client.query(sql, params)).rowCount ?? 0;
  const whose = `(email = $1 OR subscriber_id = ANY($2::text[]) OR subscriber_key = ANY($3::text[]))`;
  const who = [email, ids, keys];
  // Jobs first (their ids are needed for the ledger and the alert outbox), then their events.
  const jobIds = (await client.query<{ id: number }>(`SELECT id FROM jobs WHERE ${whose}`, who)).rows.map((r) => r.id);
  const ledgerKeys = await count('DELETE FROM ledger WHERE job_id = ANY($1::bigint[])', [jobIds]);
  await client.query('DELETE FROM dead_job_alerts WHERE job_id = ANY($1::bigint[])', [jobIds]);
  const jobs = await count('DELETE FROM jobs WHERE id = ANY($1::bigint[])', [jobIds]);
  await client.query(`DELETE FROM digest_items WHERE event_id IN (SELECT id FROM events WHERE ${whose})`, who);
  const events = await count(`DELETE FROM events WHERE ${whose}`, who);
  // The request summary is JSON text (as SQLite keeps it): its body preview goes, the address is replaced wherever it appears.
  const auditRecordsScrubbed = await count(
    `UPDATE attempts SET
       email = NULL, subscriber_key = NULL, subscriber_id = NULL,
       request = replace(replace((request::jsonb - 'bodyPreview')::text, $1, '[erased]'), $4, '[erased]'),
       response_body = NULL,
       error = replace(error, $1, '[erased]'),
       scrubbed_at = coalesce(scrubbed_at, $5)
     WHERE ${whose}`,
    [...who, encodeURIComponent(email), input.now],
  );
  const mirror = await count('DELETE FROM subscribers WHERE email = $1 OR kit_id::text = ANY($2::text[])', [email, ids]);
  await client.query('DELETE FROM subscriber_tags WHERE kit_id::text = ANY($1::text[])', [ids]);
  // Quarantined bodies are raw bytes: any that holds the address, in any case, goes.
  const quarantine = await count(`DELETE FROM quarantine WHERE position($1 in lower(encode(body, 'escape'))) > 0`, [email]);
  const kitIds = ids.filter((id) => /^\d+$/.test(id)).map(Number);
  const audienceRows = await eraseAudienceRows(client, kitIds, input.now);
  const airtableRows = await eraseAirtableRows(client, kitIds, email);
  const kajabiRows = await eraseKajabiRows(client, email, kitIds);
  return { email, subscriberIds: ids, events, jobs, auditRecordsScrubbed, mirror, quarantine, ledgerKeys, audienceRows, airtableRows, kajabiRows };
}
