/**
 * Meta Custom Audiences (migration 008; words in audience-types.ts): expected and confirmed
 * membership, runs, and batches with their items. Rows are JSON arrays of hashed keys; they are
 * compared as text, so a row is written in one canonical form (`JSON.stringify` of the array).
 */
import type { Database, Statement } from 'better-sqlite3';
import type {
  AudienceBatchItem,
  AudienceBatchRecord,
  AudienceBatchTally,
  AudienceChange,
  AudienceCounts,
  AudienceMemberInput,
  AudienceRunKind,
  AudienceRunRecord,
  AudienceRunStatus,
  AudienceSentItem,
  PlanAudienceBatchInput,
} from '../audience-types.js';
import { fromJson, toJson } from '../rows.js';

interface MemberRow {
  subscriber_id: number;
  match_key: string | null;
  row: string | null;
  sent_row: string | null;
}

interface RunRow {
  id: number;
  audience: string;
  kind: AudienceRunKind;
  status: AudienceRunStatus;
  started_at: number;
  finished_at: number | null;
  stats: string;
  detail: string | null;
}

interface BatchRow {
  id: number;
  run_id: number;
  audience: string;
  op: AudienceBatchRecord['op'];
  session_id: string;
  seq: number;
  is_last: number;
  size: number;
  status: AudienceBatchRecord['status'];
  response: string | null;
  error: string | null;
  created_at: number;
  acked_at: number | null;
}

interface TallyRow {
  status: AudienceBatchRecord['status'];
  n: number;
  received: number | null;
  invalid: number | null;
}

interface ItemRow {
  subscriber_id: number;
  match_key: string;
  row: string;
}

export class AudienceOps {
  readonly #setMember: Statement;
  readonly #unsetMember: Statement<{ audience: string; subscriberId: number; now: number }>;
  readonly #dropMember: Statement<{ audience: string; subscriberId: number }>;
  readonly #dropSettled: Statement<{ audience: string }>;
  readonly #dropSettledOfBatch: Statement<{ batchId: number; audience: string }>;
  readonly #expireMissing: Statement<{ audience: string; now: number }>;
  readonly #forgetConfirmed: Statement<{ audience: string; now: number }>;
  readonly #failPlanned: Statement<{ audience: string; error: string }>;
  readonly #changes: Statement<{ audience: string; after: number; through: number; limit: number }, MemberRow>;
  readonly #members: Statement<{ audience: string; after: number; limit: number }, MemberRow>;
  readonly #count: Statement<{ audience: string }, { expected: number; confirmed: number; to_add: number; to_remove: number }>;
  readonly #startRun: Statement;
  readonly #getRun: Statement<[number], RunRow>;
  readonly #finishRun: Statement;
  readonly #listRuns: Statement<{ audience: string | null; limit: number }, RunRow>;
  readonly #insertBatch: Statement;
  readonly #insertItem: Statement;
  readonly #getBatch: Statement<[number], BatchRow>;
  readonly #markAcked: Statement;
  readonly #markFailed: Statement;
  readonly #confirmAdds: Statement<{ batchId: number; audience: string; now: number }>;
  readonly #confirmRemovals: Statement<{ batchId: number; audience: string; now: number }>;
  readonly #clearNotReplaced: Statement<{ runId: number; audience: string; now: number }>;
  readonly #listBatches: Statement<{ runId: number | null; audience: string | null; status: string | null; limit: number }, BatchRow>;
  readonly #tallyRunBatches: Statement<{ runId: number; audience: string | null }, TallyRow>;
  readonly #tallyBatches: Statement<{ audience: string | null }, TallyRow>;
  readonly #items: Statement<{ batchId: number; after: number; limit: number }, ItemRow>;
  readonly #membersByKey: Statement<{ matchKey: string }, MemberRow & { audience: string }>;
  readonly #findItems: Statement<{ matchKey: string; limit: number }, ItemRow & { batch_id: number }>;

  constructor(db: Database) {
    // A member's expected row changes; what Meta confirmed stays until a batch says otherwise.
    this.#setMember = db.prepare(`
      INSERT INTO audience_members (audience, subscriber_id, match_key, row, changed_at)
      VALUES (@audience, @subscriberId, @matchKey, @row, @now)
      ON CONFLICT (audience, subscriber_id) DO UPDATE SET
        match_key = coalesce(excluded.match_key, audience_members.match_key), row = excluded.row, changed_at = excluded.changed_at
      WHERE audience_members.row IS NOT excluded.row`);
    // Someone the audience should not hold: their expected row goes (no row is made for a stranger),
    // and the row itself once Meta holds nothing of theirs either. By key: a refresh page must not
    // scan the whole audience.
    this.#unsetMember = db.prepare<{ audience: string; subscriberId: number; now: number }>(
      'UPDATE audience_members SET row = NULL, changed_at = @now WHERE audience = @audience AND subscriber_id = @subscriberId AND row IS NOT NULL',
    );
    this.#dropMember = db.prepare<{ audience: string; subscriberId: number }>(
      'DELETE FROM audience_members WHERE audience = @audience AND subscriber_id = @subscriberId AND row IS NULL AND sent_row IS NULL',
    );
    this.#dropSettled = db.prepare<{ audience: string }>('DELETE FROM audience_members WHERE audience = @audience AND row IS NULL AND sent_row IS NULL');
    this.#dropSettledOfBatch = db.prepare<{ batchId: number; audience: string }>(`
      DELETE FROM audience_members WHERE audience = @audience AND row IS NULL AND sent_row IS NULL
        AND subscriber_id IN (SELECT subscriber_id FROM audience_batch_items WHERE batch_id = @batchId)`);
    this.#expireMissing = db.prepare<{ audience: string; now: number }>(`
      UPDATE audience_members SET row = NULL, changed_at = @now
      WHERE audience = @audience AND row IS NOT NULL AND NOT EXISTS (SELECT 1 FROM subscribers WHERE subscribers.kit_id = audience_members.subscriber_id)`);
    this.#forgetConfirmed = db.prepare<{ audience: string; now: number }>('UPDATE audience_members SET sent_row = NULL, sent_at = @now WHERE audience = @audience AND sent_row IS NOT NULL');
    this.#failPlanned = db.prepare<{ audience: string; error: string }>(`UPDATE audience_batches SET status = 'failed', error = @error WHERE audience = @audience AND status = 'planned'`);
    this.#changes = db.prepare<{ audience: string; after: number; through: number; limit: number }, MemberRow>(`
      SELECT subscriber_id, match_key, row, sent_row FROM audience_members
      WHERE audience = @audience AND row IS NOT sent_row AND subscriber_id > @after AND subscriber_id <= @through
      ORDER BY subscriber_id LIMIT @limit`);
    this.#members = db.prepare<{ audience: string; after: number; limit: number }, MemberRow>(`
      SELECT subscriber_id, match_key, row, sent_row FROM audience_members
      WHERE audience = @audience AND row IS NOT NULL AND subscriber_id > @after
      ORDER BY subscriber_id LIMIT @limit`);
    this.#count = db.prepare<{ audience: string }, { expected: number; confirmed: number; to_add: number; to_remove: number }>(`
      SELECT
        count(row) AS expected,
        count(sent_row) AS confirmed,
        coalesce(sum(row IS NOT NULL AND row IS NOT sent_row), 0) AS to_add,
        coalesce(sum(row IS NULL AND sent_row IS NOT NULL), 0) AS to_remove
      FROM audience_members WHERE audience = @audience`);
    this.#startRun = db.prepare(`INSERT INTO audience_runs (audience, kind, status, started_at) VALUES (@audience, @kind, 'running', @now)`);
    this.#getRun = db.prepare<[number], RunRow>('SELECT * FROM audience_runs WHERE id = ?');
    this.#finishRun = db.prepare(`UPDATE audience_runs SET status = @status, stats = @stats, detail = @detail, finished_at = @now WHERE id = @runId`);
    this.#listRuns = db.prepare<{ audience: string | null; limit: number }, RunRow>(
      'SELECT * FROM audience_runs WHERE (@audience IS NULL OR audience = @audience) ORDER BY id DESC LIMIT @limit',
    );
    this.#insertBatch = db.prepare(`
      INSERT INTO audience_batches (run_id, audience, op, session_id, seq, is_last, size, status, created_at)
      VALUES (@runId, @audience, @op, @sessionId, @seq, @isLast, @size, 'planned', @now)`);
    this.#insertItem = db.prepare('INSERT INTO audience_batch_items (batch_id, subscriber_id, match_key, row) VALUES (?, ?, ?, ?)');
    this.#getBatch = db.prepare<[number], BatchRow>('SELECT * FROM audience_batches WHERE id = ?');
    this.#markAcked = db.prepare(`UPDATE audience_batches SET status = 'acked', response = @response, error = NULL, acked_at = @now WHERE id = @batchId AND status <> 'acked'`);
    this.#markFailed = db.prepare(`UPDATE audience_batches SET status = 'failed', response = @response, error = @error WHERE id = @batchId AND status = 'planned'`);
    // An add confirms the row it carried (a row changed since stays pending: it differs again).
    // Both walk the batch's items (IN) and find each member by its key; an UPDATE … FROM join let
    // SQLite walk the whole audience instead, probing the items for each member, on every ack.
    this.#confirmAdds = db.prepare<{ batchId: number; audience: string; now: number }>(`
      UPDATE audience_members SET sent_at = @now,
        sent_row = (SELECT i.row FROM audience_batch_items AS i WHERE i.batch_id = @batchId AND i.subscriber_id = audience_members.subscriber_id)
      WHERE audience = @audience AND subscriber_id IN (SELECT subscriber_id FROM audience_batch_items WHERE batch_id = @batchId)`);
    // A removal clears only the row it removed (an add of a new row may follow in the same run).
    this.#confirmRemovals = db.prepare<{ batchId: number; audience: string; now: number }>(`
      UPDATE audience_members SET sent_row = NULL, sent_at = @now
      WHERE audience = @audience AND subscriber_id IN (SELECT subscriber_id FROM audience_batch_items WHERE batch_id = @batchId)
        AND sent_row = (SELECT i.row FROM audience_batch_items AS i WHERE i.batch_id = @batchId AND i.subscriber_id = audience_members.subscriber_id)`);
    // After a replace's last batch, Meta holds exactly what the session carried.
    this.#clearNotReplaced = db.prepare<{ runId: number; audience: string; now: number }>(`
      UPDATE audience_members SET sent_row = NULL, sent_at = @now
      WHERE audience = @audience AND sent_row IS NOT NULL AND subscriber_id NOT IN (
        SELECT i.subscriber_id FROM audience_batch_items AS i JOIN audience_batches AS b ON b.id = i.batch_id
        WHERE b.run_id = @runId AND b.op = 'replace')`);
    this.#listBatches = db.prepare<{ runId: number | null; audience: string | null; status: string | null; limit: number }, BatchRow>(`
      SELECT * FROM audience_batches
      WHERE (@runId IS NULL OR run_id = @runId) AND (@audience IS NULL OR audience = @audience) AND (@status IS NULL OR status = @status)
      ORDER BY id LIMIT @limit`);
    // A run's by its index (a run polls this while it waits); an audience's by a scan.
    const tally = (where: string) => `
      SELECT status, count(*) AS n,
        sum(CASE WHEN status = 'acked' THEN json_extract(response, '$.num_received') END) AS received,
        sum(CASE WHEN status = 'acked' THEN json_extract(response, '$.num_invalid_entries') END) AS invalid
      FROM audience_batches WHERE ${where} GROUP BY status`;
    this.#tallyRunBatches = db.prepare<{ runId: number; audience: string | null }, TallyRow>(tally('run_id = @runId AND (@audience IS NULL OR audience = @audience)'));
    this.#tallyBatches = db.prepare<{ audience: string | null }, TallyRow>(tally('@audience IS NULL OR audience = @audience'));
    this.#items = db.prepare<{ batchId: number; after: number; limit: number }, ItemRow>(
      'SELECT subscriber_id, match_key, row FROM audience_batch_items WHERE batch_id = @batchId AND subscriber_id > @after ORDER BY subscriber_id LIMIT @limit',
    );
    this.#membersByKey = db.prepare<{ matchKey: string }, MemberRow & { audience: string }>(
      'SELECT audience, subscriber_id, match_key, row, sent_row FROM audience_members WHERE match_key = @matchKey ORDER BY audience, subscriber_id',
    );
    this.#findItems = db.prepare<{ matchKey: string; limit: number }, ItemRow & { batch_id: number }>(
      'SELECT batch_id, subscriber_id, match_key, row FROM audience_batch_items WHERE match_key = @matchKey ORDER BY batch_id LIMIT @limit',
    );
  }

  setMembers(audience: string, members: readonly AudienceMemberInput[], now: number): number {
    let changed = 0;
    for (const m of members) {
      if (m.row !== null) {
        changed += this.#setMember.run({ audience, subscriberId: m.subscriberId, matchKey: m.matchKey, row: JSON.stringify(m.row), now }).changes;
        continue;
      }
      // Most subscribers a refresh passes are strangers to the audience: one lookup finds nothing.
      const target = { audience, subscriberId: m.subscriberId };
      const unset = this.#unsetMember.run({ ...target, now }).changes;
      if (unset > 0) this.#dropMember.run(target);
      changed += unset;
    }
    return changed;
  }

  forgetConfirmations(audience: string, reason: string, now: number): number {
    const forgotten = this.#forgetConfirmed.run({ audience, now }).changes;
    this.#failPlanned.run({ audience, error: reason });
    this.#dropSettled.run({ audience });
    return forgotten;
  }

  expireMissing(audience: string, now: number): number {
    const changed = this.#expireMissing.run({ audience, now }).changes;
    if (changed > 0) this.#dropSettled.run({ audience });
    return changed;
  }

  listChanges(audience: string, page: { readonly afterSubscriberId?: number; readonly throughSubscriberId?: number; readonly limit: number }): AudienceChange[] {
    return this.#changes.all({ audience, after: page.afterSubscriberId ?? -1, through: page.throughSubscriberId ?? Number.MAX_SAFE_INTEGER, limit: page.limit }).map(changeFromRow);
  }

  listMembers(audience: string, page: { readonly afterSubscriberId?: number; readonly limit: number }): AudienceChange[] {
    return this.#members.all({ audience, after: page.afterSubscriberId ?? -1, limit: page.limit }).map(changeFromRow);
  }

  membersByKey(matchKey: string): (AudienceChange & { readonly audience: string })[] {
    return this.#membersByKey.all({ matchKey }).map((row) => ({ audience: row.audience, ...changeFromRow(row) }));
  }

  count(audience: string): AudienceCounts {
    const row = this.#count.get({ audience })!;
    return { expected: row.expected, confirmed: row.confirmed, toAdd: row.to_add, toRemove: row.to_remove };
  }

  startRun(input: { readonly audience: string; readonly kind: AudienceRunKind; readonly now: number }): AudienceRunRecord {
    const id = Number(this.#startRun.run(input).lastInsertRowid);
    return runFromRow(this.#getRun.get(id)!);
  }

  finishRun(input: { readonly runId: number; readonly status: Exclude<AudienceRunStatus, 'running'>; readonly stats: Readonly<Record<string, unknown>>; readonly detail?: string; readonly now: number }): void {
    this.#finishRun.run({ runId: input.runId, status: input.status, stats: toJson(input.stats) ?? '{}', detail: input.detail ?? null, now: input.now });
  }

  listRuns(filter: { readonly audience?: string; readonly limit?: number }): AudienceRunRecord[] {
    return this.#listRuns.all({ audience: filter.audience ?? null, limit: filter.limit ?? 50 }).map(runFromRow);
  }

  planBatch(input: PlanAudienceBatchInput): AudienceBatchRecord {
    const { items, ...batch } = input;
    const id = Number(this.#insertBatch.run({ ...batch, isLast: batch.isLast ? 1 : 0, size: items.length }).lastInsertRowid);
    for (const item of items) this.#insertItem.run(id, item.subscriberId, item.matchKey, JSON.stringify(item.row));
    return batchFromRow(this.#getBatch.get(id)!);
  }

  ackBatch(input: { readonly batchId: number; readonly response: Readonly<Record<string, unknown>>; readonly now: number }): boolean {
    const batch = this.#getBatch.get(input.batchId);
    if (!batch || this.#markAcked.run({ batchId: input.batchId, response: toJson(input.response), now: input.now }).changes === 0) return false;
    const target = { batchId: batch.id, audience: batch.audience, now: input.now };
    if (batch.op === 'remove') this.#confirmRemovals.run(target);
    else this.#confirmAdds.run(target);
    if (batch.op === 'replace' && batch.is_last === 1) {
      // The replace cleared members it did not carry: any of them may be settled now.
      this.#clearNotReplaced.run({ runId: batch.run_id, audience: batch.audience, now: input.now });
      this.#dropSettled.run({ audience: batch.audience });
    } else this.#dropSettledOfBatch.run({ batchId: batch.id, audience: batch.audience });
    return true;
  }

  failBatch(input: { readonly batchId: number; readonly error: string; readonly response?: Readonly<Record<string, unknown>>; readonly now: number }): void {
    this.#markFailed.run({ batchId: input.batchId, error: input.error, response: input.response ? toJson(input.response) : null });
  }

  getBatch(id: number): AudienceBatchRecord | undefined {
    const row = this.#getBatch.get(id);
    return row && batchFromRow(row);
  }

  listBatches(filter: { readonly runId?: number; readonly audience?: string; readonly status?: AudienceBatchRecord['status']; readonly limit?: number }): AudienceBatchRecord[] {
    return this.#listBatches.all({ runId: filter.runId ?? null, audience: filter.audience ?? null, status: filter.status ?? null, limit: filter.limit ?? 1000 }).map(batchFromRow);
  }

  tallyBatches(filter: { readonly runId?: number; readonly audience?: string }): AudienceBatchTally {
    const tally = { planned: 0, acked: 0, failed: 0, numReceived: 0, numInvalid: 0 };
    const audience = filter.audience ?? null;
    const rows = filter.runId !== undefined ? this.#tallyRunBatches.all({ runId: filter.runId, audience }) : this.#tallyBatches.all({ audience });
    for (const row of rows) {
      tally[row.status] = row.n;
      if (row.status === 'acked') Object.assign(tally, { numReceived: row.received ?? 0, numInvalid: row.invalid ?? 0 });
    }
    return tally;
  }

  batchItems(batchId: number, page: { readonly afterSubscriberId?: number; readonly limit: number }): AudienceBatchItem[] {
    return this.#items.all({ batchId, after: page.afterSubscriberId ?? -1, limit: page.limit }).map(itemFromRow);
  }

  findItems(matchKey: string, limit = 100): AudienceSentItem[] {
    return this.#findItems.all({ matchKey, limit }).map((row) => ({ batch: batchFromRow(this.#getBatch.get(row.batch_id)!), subscriberId: row.subscriber_id, row: rowOf(row.row) ?? [] }));
  }
}

function rowOf(text: string | null): string[] | null {
  return text === null ? null : fromJson<string[]>(text, []);
}

function changeFromRow(row: MemberRow): AudienceChange {
  return { subscriberId: row.subscriber_id, matchKey: row.match_key, row: rowOf(row.row), sentRow: rowOf(row.sent_row) };
}

function itemFromRow(row: ItemRow): AudienceBatchItem {
  return { subscriberId: row.subscriber_id, matchKey: row.match_key, row: rowOf(row.row) ?? [] };
}

function runFromRow(row: RunRow): AudienceRunRecord {
  return {
    id: row.id,
    audience: row.audience,
    kind: row.kind,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    stats: fromJson<Record<string, unknown>>(row.stats, {}),
    detail: row.detail,
  };
}

function batchFromRow(row: BatchRow): AudienceBatchRecord {
  return {
    id: row.id,
    runId: row.run_id,
    audience: row.audience,
    op: row.op,
    sessionId: row.session_id,
    seq: row.seq,
    isLast: row.is_last === 1,
    size: row.size,
    status: row.status,
    response: row.response === null ? null : fromJson<Record<string, unknown>>(row.response, {}),
    error: row.error,
    createdAt: row.created_at,
    ackedAt: row.acked_at,
  };
}
