/**
 * Quarantine writes of the ingest commit (sqlite/core-ingest.ts is the reference), on the ingest
 * transaction's client: one entry per distinct input (system, route and the exact bytes), a repeat
 * counted on the first entry, and re-ingest recorded on the entry it came from.
 */
import { hash } from 'node:crypto';
import { toJson } from '../rows.js';
import type { QuarantineInput } from '../types.js';
import type { Queryable } from './pool.js';

/**
 * Keeps the entry, unless the same bytes already came in on the same route (Kit retrying a
 * delivery for up to 41 h): then the first entry counts the repeat and its id is returned.
 */
export async function quarantine(client: Queryable, deliveryId: number, entry: QuarantineInput): Promise<number> {
  const body = entry.body;
  const bodyHash = hash('sha256', Buffer.concat([Buffer.from(`${entry.system}\n${entry.route}\n`), body]));
  const { rows } = await client.query<{ id: number }>('SELECT id FROM quarantine WHERE body_hash = $1 ORDER BY id LIMIT 1', [bodyHash]);
  const existing = rows[0]?.id;
  if (existing !== undefined) {
    await client.query('UPDATE quarantine SET times_received = times_received + 1, last_received_at = greatest(coalesce(last_received_at, 0), $2) WHERE id = $1', [
      existing,
      entry.receivedAt,
    ]);
    return existing;
  }
  const inserted = await client.query<{ id: number }>(
    `INSERT INTO quarantine (delivery_id, system, route, reason, detail, headers, body, received_at, body_hash, last_received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING id`,
    [deliveryId, entry.system, entry.route, entry.reason, entry.detail, toJson(entry.headers), body, entry.receivedAt, bodyHash],
  );
  return inserted.rows[0]!.id;
}

/** Re-ingesting an entry again appends the new event ids to the ones it already led to. */
export async function markAsReingested(client: Queryable, quarantineId: number, eventIds: readonly number[], now: number): Promise<void> {
  const { rows } = await client.query<{ reingested_event_ids: string }>('SELECT reingested_event_ids FROM quarantine WHERE id = $1 FOR UPDATE', [quarantineId]);
  const previous = rows[0];
  if (previous === undefined) return;
  const all = [...(JSON.parse(previous.reingested_event_ids) as number[]), ...eventIds];
  await client.query(`UPDATE quarantine SET status = 'reingested', resolved_at = $2, reingested_event_ids = $3 WHERE id = $1`, [quarantineId, now, JSON.stringify(all)]);
}
