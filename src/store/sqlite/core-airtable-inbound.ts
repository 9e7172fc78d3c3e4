/**
 * What flows back from Airtable in a two-way sync (migration 010; words in airtable-types.ts):
 * pending changes waiting to be quiet, delete requests waiting for an operator, and the field
 * decisions taken on conflicts (held ones waiting for an operator).
 */
import type { Database, Statement } from 'better-sqlite3';
import type {
  AirtableChange,
  AirtableDeleteInput,
  AirtableDeleteRequest,
  AirtableDeleteStatus,
  AirtableFieldDecision,
  AirtableFieldDecisionInput,
} from '../airtable-types.js';
import { fromJson } from '../rows.js';
import { StatementCache } from './statements.js';

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

export class AirtableInboundOps {
  readonly #statements: StatementCache;
  readonly #noteChange: Statement<{ sync: string; recordId: string; changedAt: number; isDestroyed: number }>;
  readonly #quietChanges: Statement<{ sync: string; quietSince: number; limit: number }, ChangeRow>;
  readonly #clearChange: Statement<{ sync: string; recordId: string; changedAt: number }>;
  readonly #countChanges: Statement<[string], number>;
  readonly #pendingRecords: Statement<{ sync: string; recordIds: string }, string>;
  readonly #pendingDelete: Statement<{ sync: string; kitId: number }, DeleteRow>;
  readonly #insertDelete: Statement<{ sync: string; kitId: number; recordId: string; email: string | null; detectedBy: string; now: number }, DeleteRow>;
  readonly #getDelete: Statement<[number], DeleteRow>;
  readonly #decideDelete: Statement<{ id: number; status: AirtableDeleteStatus; now: number; note: string }, DeleteRow>;
  readonly #withdrawDeletes: Statement<{ sync: string; kitIds: string; now: number; note: string }>;
  readonly #insertDecision: Statement<Record<string, unknown>, DecisionRow>;
  readonly #getDecision: Statement<[number], DecisionRow>;
  readonly #resolveDecision: Statement<{ id: number; winner: 'kit' | 'airtable'; now: number; note: string }, DecisionRow>;
  readonly #heldFields: Statement<{ sync: string; kitIds: string }, { kit_id: number; field: string }>;

  constructor(db: Database) {
    this.#statements = new StatementCache(db);
    // SET reads the row as it was: the latest change's isDestroyed holds (on a tie, the one noted last).
    this.#noteChange = db.prepare(`
      INSERT INTO airtable_changes (sync, record_id, changed_at, is_destroyed) VALUES (@sync, @recordId, @changedAt, @isDestroyed)
      ON CONFLICT (sync, record_id) DO UPDATE SET
        is_destroyed = CASE WHEN excluded.changed_at >= changed_at THEN excluded.is_destroyed ELSE is_destroyed END,
        changed_at = max(changed_at, excluded.changed_at)`);
    this.#quietChanges = db.prepare(`
      SELECT record_id, changed_at, is_destroyed FROM airtable_changes
      WHERE sync = @sync AND changed_at <= @quietSince ORDER BY changed_at, record_id LIMIT @limit`);
    this.#clearChange = db.prepare('DELETE FROM airtable_changes WHERE sync = @sync AND record_id = @recordId AND changed_at = @changedAt');
    this.#countChanges = db.prepare<[string], number>('SELECT count(*) FROM airtable_changes WHERE sync = ?').pluck();
    this.#pendingRecords = db
      .prepare<{ sync: string; recordIds: string }, string>('SELECT record_id FROM airtable_changes WHERE sync = @sync AND record_id IN (SELECT value FROM json_each(@recordIds)) ORDER BY record_id')
      .pluck();
    this.#pendingDelete = db.prepare("SELECT * FROM airtable_deletes WHERE sync = @sync AND kit_id = @kitId AND status = 'pending'");
    this.#insertDelete = db.prepare(`
      INSERT INTO airtable_deletes (sync, kit_id, record_id, email, detected_by, detected_at)
      VALUES (@sync, @kitId, @recordId, @email, @detectedBy, @now) RETURNING *`);
    this.#getDelete = db.prepare('SELECT * FROM airtable_deletes WHERE id = ?');
    this.#decideDelete = db.prepare(`
      UPDATE airtable_deletes SET status = @status, decided_at = @now, note = @note WHERE id = @id AND status = 'pending' RETURNING *`);
    this.#withdrawDeletes = db.prepare(`
      UPDATE airtable_deletes SET status = 'withdrawn', decided_at = @now, note = @note
      WHERE sync = @sync AND status = 'pending' AND kit_id IN (SELECT value FROM json_each(@kitIds))`);
    this.#insertDecision = db.prepare(`
      INSERT INTO airtable_decisions
        (sync, kit_id, record_id, field, kit_value, airtable_value, synced_value, policy, status, winner, detected_at, decided_at, note)
      VALUES (@sync, @kitId, @recordId, @field, @kitValue, @airtableValue, @syncedValue, @policy, @status, @winner, @now, @decidedAt, @note)
      RETURNING *`);
    this.#getDecision = db.prepare('SELECT * FROM airtable_decisions WHERE id = ?');
    this.#resolveDecision = db.prepare(`
      UPDATE airtable_decisions SET status = 'resolved', winner = @winner, decided_at = @now, note = @note
      WHERE id = @id AND status = 'held' RETURNING *`);
    this.#heldFields = db.prepare(`
      SELECT DISTINCT kit_id, field FROM airtable_decisions
      WHERE sync = @sync AND status = 'held' AND kit_id IN (SELECT value FROM json_each(@kitIds)) ORDER BY kit_id, field`);
  }

  noteChanges(sync: string, changes: readonly AirtableChange[]): void {
    for (const change of changes) this.#noteChange.run({ sync, recordId: change.recordId, changedAt: change.changedAt, isDestroyed: change.isDestroyed ? 1 : 0 });
  }

  listQuietChanges(sync: string, quietSince: number, limit: number): AirtableChange[] {
    return this.#quietChanges.all({ sync, quietSince, limit: Math.max(1, Math.trunc(limit)) }).map(changeOf);
  }

  clearChanges(sync: string, changes: readonly AirtableChange[]): number {
    let cleared = 0;
    for (const change of changes) cleared += this.#clearChange.run({ sync, recordId: change.recordId, changedAt: change.changedAt }).changes;
    return cleared;
  }

  pendingRecords(sync: string, recordIds: readonly string[]): string[] {
    return recordIds.length === 0 ? [] : this.#pendingRecords.all({ sync, recordIds: JSON.stringify(recordIds) });
  }

  countChanges(sync: string): number {
    return this.#countChanges.get(sync) ?? 0;
  }

  requestDelete(sync: string, input: AirtableDeleteInput, now: number): AirtableDeleteRequest {
    const pending = this.#pendingDelete.get({ sync, kitId: input.kitId });
    if (pending !== undefined) return deleteOf(pending);
    const row = this.#insertDelete.get({ sync, kitId: input.kitId, recordId: input.recordId, email: input.email, detectedBy: input.detectedBy, now });
    if (row === undefined) throw new Error('INSERT … RETURNING answered no row');
    return deleteOf(row);
  }

  listDeletes(filter: ListFilter): AirtableDeleteRequest[] {
    return this.#list<DeleteRow>('airtable_deletes', filter).map(deleteOf);
  }

  getDelete(id: number): AirtableDeleteRequest | undefined {
    const row = this.#getDelete.get(id);
    return row && deleteOf(row);
  }

  decideDelete(id: number, status: Exclude<AirtableDeleteStatus, 'pending'>, now: number, note: string): AirtableDeleteRequest | undefined {
    const row = this.#decideDelete.get({ id, status, now, note });
    return row && deleteOf(row);
  }

  withdrawDeletes(sync: string, kitIds: readonly number[], now: number, note: string): number {
    if (kitIds.length === 0) return 0;
    return this.#withdrawDeletes.run({ sync, kitIds: JSON.stringify(kitIds), now, note }).changes;
  }

  recordDecisions(sync: string, decisions: readonly AirtableFieldDecisionInput[], now: number): AirtableFieldDecision[] {
    return decisions.map((decision) => {
      const isHeld = decision.winner === null;
      const row = this.#insertDecision.get({
        sync,
        kitId: decision.kitId,
        recordId: decision.recordId,
        field: decision.field,
        kitValue: valueText(decision.kitValue),
        airtableValue: valueText(decision.airtableValue),
        syncedValue: valueText(decision.syncedValue),
        policy: decision.policy,
        status: isHeld ? 'held' : 'decided',
        winner: decision.winner,
        now,
        decidedAt: isHeld ? null : now,
        note: decision.note ?? null,
      });
      if (row === undefined) throw new Error('INSERT … RETURNING answered no row');
      return decisionOf(row);
    });
  }

  listDecisions(filter: ListFilter): AirtableFieldDecision[] {
    return this.#list<DecisionRow>('airtable_decisions', filter).map(decisionOf);
  }

  getDecision(id: number): AirtableFieldDecision | undefined {
    const row = this.#getDecision.get(id);
    return row && decisionOf(row);
  }

  resolveDecision(id: number, winner: 'kit' | 'airtable', now: number, note: string): AirtableFieldDecision | undefined {
    const row = this.#resolveDecision.get({ id, winner, now, note });
    return row && decisionOf(row);
  }

  listHeldFields(sync: string, kitIds: readonly number[]): { kitId: number; field: string }[] {
    if (kitIds.length === 0) return [];
    return this.#heldFields.all({ sync, kitIds: JSON.stringify(kitIds) }).map((row) => ({ kitId: row.kit_id, field: row.field }));
  }

  /** A queue's rows, newest first, by the filters given. */
  #list<Row>(table: 'airtable_deletes' | 'airtable_decisions', filter: ListFilter): Row[] {
    const clauses: string[] = [];
    const params: Record<string, unknown> = { limit: Math.max(1, Math.trunc(filter.limit)) };
    if (filter.sync !== undefined) {
      clauses.push('sync = @sync');
      params.sync = filter.sync;
    }
    if (filter.status !== undefined) {
      clauses.push('status = @status');
      params.status = filter.status;
    }
    if (filter.kitId !== undefined) {
      clauses.push('kit_id = @kitId');
      params.kitId = filter.kitId;
    }
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    return this.#statements.get(`SELECT * FROM ${table} ${where} ORDER BY id DESC LIMIT @limit`).all(params) as Row[];
  }
}
