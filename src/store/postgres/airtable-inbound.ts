/**
 * What flows back from Airtable in a two-way sync, on PostgreSQL (migration 007; words in
 * airtable-types.ts; the reference is sqlite/core-airtable-inbound.ts): pending changes waiting to
 * be quiet, delete requests waiting for an operator, and the field decisions taken on conflicts.
 *
 * Several processes: a pending change is one upsert (the row lock orders two notes of one
 * record); a delete request is an insert against the unique index of pending requests, so two
 * processes asking at once make one request and both answer it; deciding and resolving are
 * single `… WHERE status = 'pending' | 'held'` updates, so only one decision lands. Listings are
 * newest first by id: with several writers an id is taken before commit, so "newest" is the order
 * the rows were made in, not committed in — these queues are read by operators and by the check,
 * which read the whole pending set, never page on from an id.
 */
import type pg from 'pg';
import type {
  AirtableChange,
  AirtableDeleteInput,
  AirtableDeleteRequest,
  AirtableDeleteStatus,
  AirtableFieldDecision,
  AirtableFieldDecisionInput,
  AirtableStore,
} from '../airtable-types.js';
import { fromJson } from '../rows.js';
import type { OutboundMethods } from './airtable.js';
import { withTransaction } from './pool.js';

interface ChangeRow {
  record_id: string;
  changed_at: number;
  is_destroyed: number;
}

interface DeleteRow {
  id: number;
  sync: string;
  kit_id: number;
  record_id: string;
  email: string | null;
  detected_by: string;
  detected_at: number;
  status: AirtableDeleteStatus;
  decided_at: number | null;
  note: string | null;
}

interface DecisionRow {
  id: number;
  sync: string;
  kit_id: number;
  record_id: string;
  field: string;
  kit_value: string | null;
  airtable_value: string | null;
  synced_value: string | null;
  policy: AirtableFieldDecision['policy'];
  status: AirtableFieldDecision['status'];
  winner: AirtableFieldDecision['winner'];
  detected_at: number;
  decided_at: number | null;
  note: string | null;
}

/** The filters both queues are listed by; `status` is the table's own. */
interface ListFilter {
  readonly sync?: string;
  readonly status?: string;
  readonly kitId?: number;
  readonly limit: number;
}

const changeOf = (row: ChangeRow): AirtableChange => ({ recordId: row.record_id, changedAt: row.changed_at, isDestroyed: row.is_destroyed === 1 });

const deleteOf = (row: DeleteRow): AirtableDeleteRequest => ({
  id: row.id,
  sync: row.sync,
  kitId: row.kit_id,
  recordId: row.record_id,
  email: row.email,
  detectedBy: row.detected_by,
  detectedAt: row.detected_at,
  status: row.status,
  decidedAt: row.decided_at,
  note: row.note,
});

const decisionOf = (row: DecisionRow): AirtableFieldDecision => ({
  id: row.id,
  sync: row.sync,
  kitId: row.kit_id,
  recordId: row.record_id,
  field: row.field,
  kitValue: fromJson<unknown>(row.kit_value, null),
  airtableValue: fromJson<unknown>(row.airtable_value, null),
  syncedValue: fromJson<unknown>(row.synced_value, null),
  policy: row.policy,
  status: row.status,
  winner: row.winner,
  detectedAt: row.detected_at,
  decidedAt: row.decided_at,
  note: row.note,
});

/** A cell's value as JSON text; empty (null or absent) is SQL NULL. */
const valueText = (value: unknown): string | null => (value === null || value === undefined ? null : (JSON.stringify(value) ?? null));

/** Tries at most this many times to ask for a delete whose pending request is decided meanwhile. */
const REQUEST_TRIES = 5;

/** With PgAirtableOps, every method of AirtableStore. */
export class PgAirtableInboundOps implements Omit<AirtableStore, OutboundMethods> {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async noteAirtableChanges(sync: string, changes: readonly AirtableChange[]): Promise<void> {
    if (changes.length === 0) return;
    // A record given twice: the latest change holds (on a tie, the one given last), as if noted in
    // turn. One statement, in record order: two processes take the rows in the same order.
    const latest = new Map<string, AirtableChange>();
    for (const change of changes) {
      const seen = latest.get(change.recordId);
      if (seen === undefined || change.changedAt >= seen.changedAt) latest.set(change.recordId, change);
    }
    const rows = [...latest.values()].sort((a, b) => (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0));
    // SET reads the row as it was: the latest change's isDestroyed holds (on a tie, the one noted last).
    await this.#pool.query(
      `INSERT INTO airtable_changes (sync, record_id, changed_at, is_destroyed)
       SELECT $1, c.record_id, c.changed_at, c.is_destroyed FROM unnest($2::text[], $3::bigint[], $4::smallint[]) AS c(record_id, changed_at, is_destroyed)
       ON CONFLICT (sync, record_id) DO UPDATE SET
         is_destroyed = CASE WHEN excluded.changed_at >= airtable_changes.changed_at THEN excluded.is_destroyed ELSE airtable_changes.is_destroyed END,
         changed_at = GREATEST(airtable_changes.changed_at, excluded.changed_at)`,
      [sync, rows.map((c) => c.recordId), rows.map((c) => c.changedAt), rows.map((c) => (c.isDestroyed ? 1 : 0))],
    );
  }

  async listQuietAirtableChanges(sync: string, quietSince: number, limit: number): Promise<AirtableChange[]> {
    const { rows } = await this.#pool.query<ChangeRow>(
      'SELECT record_id, changed_at, is_destroyed FROM airtable_changes WHERE sync = $1 AND changed_at <= $2 ORDER BY changed_at, record_id COLLATE "C" LIMIT $3',
      [sync, quietSince, Math.max(1, Math.trunc(limit))],
    );
    return rows.map(changeOf);
  }

  async clearAirtableChanges(sync: string, changes: readonly AirtableChange[]): Promise<number> {
    if (changes.length === 0) return 0;
    const cleared = await this.#pool.query(
      `DELETE FROM airtable_changes AS c USING unnest($2::text[], $3::bigint[]) AS x(record_id, changed_at)
       WHERE c.sync = $1 AND c.record_id = x.record_id AND c.changed_at = x.changed_at`,
      [sync, changes.map((c) => c.recordId), changes.map((c) => c.changedAt)],
    );
    return cleared.rowCount ?? 0;
  }

  async countAirtableChanges(sync: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT count(*) AS n FROM airtable_changes WHERE sync = $1', [sync]);
    return rows[0]?.n ?? 0;
  }

  async listPendingAirtableRecords(sync: string, recordIds: readonly string[]): Promise<string[]> {
    if (recordIds.length === 0) return [];
    const { rows } = await this.#pool.query<{ record_id: string }>('SELECT record_id FROM airtable_changes WHERE sync = $1 AND record_id = ANY($2::text[]) ORDER BY record_id COLLATE "C"', [
      sync,
      recordIds,
    ]);
    return rows.map((row) => row.record_id);
  }

  async requestAirtableDelete(sync: string, input: AirtableDeleteInput, now: number): Promise<AirtableDeleteRequest> {
    // The unique index of pending requests is the arbiter: a second request (from any process)
    // inserts nothing and answers the pending one. Decided between the two statements: ask again.
    for (let tries = 0; tries < REQUEST_TRIES; tries += 1) {
      const inserted = await this.#pool.query<DeleteRow>(
        `INSERT INTO airtable_deletes (sync, kit_id, record_id, email, detected_by, detected_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sync, kit_id) WHERE status = 'pending' DO NOTHING RETURNING *`,
        [sync, input.kitId, input.recordId, input.email, input.detectedBy, now],
      );
      if (inserted.rows[0]) return deleteOf(inserted.rows[0]);
      const pending = await this.#pool.query<DeleteRow>(`SELECT * FROM airtable_deletes WHERE sync = $1 AND kit_id = $2 AND status = 'pending'`, [sync, input.kitId]);
      if (pending.rows[0]) return deleteOf(pending.rows[0]);
    }
    throw new Error(`the pending delete request of ${sync} subscriber ${input.kitId} kept changing while it was asked for`);
  }

  async listAirtableDeletes(filter: ListFilter & { readonly status?: AirtableDeleteStatus }): Promise<AirtableDeleteRequest[]> {
    return (await this.#list<DeleteRow>('airtable_deletes', filter)).map(deleteOf);
  }

  async getAirtableDelete(id: number): Promise<AirtableDeleteRequest | undefined> {
    const { rows } = await this.#pool.query<DeleteRow>('SELECT * FROM airtable_deletes WHERE id = $1', [id]);
    return rows[0] && deleteOf(rows[0]);
  }

  async decideAirtableDelete(id: number, status: Exclude<AirtableDeleteStatus, 'pending'>, now: number, note: string): Promise<AirtableDeleteRequest | undefined> {
    const { rows } = await this.#pool.query<DeleteRow>(`UPDATE airtable_deletes SET status = $2, decided_at = $3, note = $4 WHERE id = $1 AND status = 'pending' RETURNING *`, [
      id,
      status,
      now,
      note,
    ]);
    return rows[0] && deleteOf(rows[0]);
  }

  async withdrawAirtableDeletes(sync: string, kitIds: readonly number[], now: number, note: string): Promise<number> {
    if (kitIds.length === 0) return 0;
    const withdrawn = await this.#pool.query(
      `UPDATE airtable_deletes SET status = 'withdrawn', decided_at = $3, note = $4 WHERE sync = $1 AND status = 'pending' AND kit_id = ANY($2::bigint[])`,
      [sync, kitIds, now, note],
    );
    return withdrawn.rowCount ?? 0;
  }

  async recordAirtableDecisions(sync: string, decisions: readonly AirtableFieldDecisionInput[], now: number): Promise<AirtableFieldDecision[]> {
    if (decisions.length === 0) return [];
    return withTransaction(this.#pool, async (client) => {
      const logged: AirtableFieldDecision[] = [];
      for (const decision of decisions) {
        const isHeld = decision.winner === null;
        const { rows } = await client.query<DecisionRow>(
          `INSERT INTO airtable_decisions
             (sync, kit_id, record_id, field, kit_value, airtable_value, synced_value, policy, status, winner, detected_at, decided_at, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
          [
            sync,
            decision.kitId,
            decision.recordId,
            decision.field,
            valueText(decision.kitValue),
            valueText(decision.airtableValue),
            valueText(decision.syncedValue),
            decision.policy,
            isHeld ? 'held' : 'decided',
            decision.winner,
            now,
            isHeld ? null : now,
            decision.note ?? null,
          ],
        );
        logged.push(decisionOf(rows[0]!));
      }
      return logged;
    });
  }

  async listAirtableDecisions(filter: ListFilter & { readonly status?: AirtableFieldDecision['status'] }): Promise<AirtableFieldDecision[]> {
    return (await this.#list<DecisionRow>('airtable_decisions', filter)).map(decisionOf);
  }

  async getAirtableDecision(id: number): Promise<AirtableFieldDecision | undefined> {
    const { rows } = await this.#pool.query<DecisionRow>('SELECT * FROM airtable_decisions WHERE id = $1', [id]);
    return rows[0] && decisionOf(rows[0]);
  }

  async resolveAirtableDecision(id: number, winner: 'kit' | 'airtable', now: number, note: string): Promise<AirtableFieldDecision | undefined> {
    const { rows } = await this.#pool.query<DecisionRow>(
      `UPDATE airtable_decisions SET status = 'resolved', winner = $2, decided_at = $3, note = $4 WHERE id = $1 AND status = 'held' RETURNING *`,
      [id, winner, now, note],
    );
    return rows[0] && decisionOf(rows[0]);
  }

  async listHeldAirtableFields(sync: string, kitIds: readonly number[]): Promise<{ readonly kitId: number; readonly field: string }[]> {
    if (kitIds.length === 0) return [];
    const { rows } = await this.#pool.query<{ kit_id: number; field: string }>(
      `SELECT DISTINCT kit_id, field COLLATE "C" AS field FROM airtable_decisions
       WHERE sync = $1 AND status = 'held' AND kit_id = ANY($2::bigint[]) ORDER BY kit_id, field`,
      [sync, kitIds],
    );
    return rows.map((row) => ({ kitId: row.kit_id, field: row.field }));
  }

  /** A queue's rows, newest first, by the filters given. */
  async #list<Row extends pg.QueryResultRow>(table: 'airtable_deletes' | 'airtable_decisions', filter: ListFilter): Promise<Row[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT * FROM ${table}
       WHERE ($1::text IS NULL OR sync = $1) AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR kit_id = $3)
       ORDER BY id DESC LIMIT $4`,
      [filter.sync ?? null, filter.status ?? null, filter.kitId ?? null, Math.max(1, Math.trunc(filter.limit))],
    );
    return rows;
  }
}
