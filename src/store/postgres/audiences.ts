/**
 * Meta Custom Audiences on PostgreSQL (migration 006; words in audience-types.ts; the reference is
 * sqlite/core-audiences.ts). Rows are JSON arrays of hashed keys compared as text, so a row is
 * written in one canonical form (`JSON.stringify` of the array), as on SQLite.
 *
 * Several processes: every write that changes an audience's members (a refresh, an expiry, a
 * forgetting, an acknowledgement) first takes a transaction-level advisory lock on the audience,
 * so those writes run one at a time per audience, each seeing the last one's result — what
 * SQLite's single writer gave — and two of them never deadlock on member rows taken in different
 * orders. An acknowledgement is once: the batch row's `status <> 'acked'` update is the gate.
 */
import type pg from 'pg';
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
  AudienceStore,
  PlanAudienceBatchInput,
} from '../audience-types.js';
import { fromJson, toJson } from '../rows.js';
import { withTransaction, type Queryable } from './pool.js';

/** The advisory locks' first key: audiences (the second is the audience name's hash). */
const AUDIENCE_LOCK = 7_242_006;

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

interface ItemRow {
  subscriber_id: number;
  match_key: string;
  row: string;
}

const MEMBER_COLUMNS = 'subscriber_id, match_key, "row", sent_row';
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

type Page = { readonly afterSubscriberId?: number; readonly limit: number };

async function lockAudience(client: Queryable, audience: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AUDIENCE_LOCK, audience]);
}

/** Members with nothing expected and nothing confirmed go (all of the audience's, or these). */
async function dropSettled(client: Queryable, audience: string, subscriberIds?: readonly number[]): Promise<void> {
  const only = subscriberIds === undefined ? '' : 'AND subscriber_id = ANY($2::bigint[])';
  await client.query(`DELETE FROM audience_members WHERE audience = $1 AND "row" IS NULL AND sent_row IS NULL ${only}`, subscriberIds === undefined ? [audience] : [audience, subscriberIds]);
}

export class PgAudienceOps implements AudienceStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async setAudienceMembers(audience: string, members: readonly AudienceMemberInput[], now: number): Promise<number> {
    if (members.length === 0) return 0;
    // One subscriber given twice: the last one holds, as if written in turn. Subscriber order, so
    // the rows are taken in one order whoever writes.
    const last = new Map<number, AudienceMemberInput>();
    for (const member of members) last.set(member.subscriberId, member);
    const ordered = [...last.values()].sort((a, b) => a.subscriberId - b.subscriberId);
    const expected = ordered.filter((m) => m.row !== null);
    const leaving = ordered.filter((m) => m.row === null).map((m) => m.subscriberId);
    return withTransaction(this.#pool, async (client) => {
      await lockAudience(client, audience);
      let changed = 0;
      if (expected.length > 0) {
        // A member's expected row changes; what Meta confirmed stays until a batch says otherwise.
        const set = await client.query(
          `INSERT INTO audience_members (audience, subscriber_id, match_key, "row", changed_at)
           SELECT $1, m.subscriber_id, m.match_key, m.row, $5
           FROM unnest($2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS m(subscriber_id, match_key, row, n) ORDER BY m.n
           ON CONFLICT (audience, subscriber_id) DO UPDATE SET
             match_key = coalesce(excluded.match_key, audience_members.match_key), "row" = excluded."row", changed_at = excluded.changed_at
           WHERE audience_members."row" IS DISTINCT FROM excluded."row"`,
          [audience, expected.map((m) => m.subscriberId), expected.map((m) => m.matchKey), expected.map((m) => JSON.stringify(m.row)), now],
        );
        changed += set.rowCount ?? 0;
      }
      if (leaving.length > 0) {
        // Someone the audience should not hold: their expected row goes (no row is made for a
        // stranger), and the row itself once Meta holds nothing of theirs either.
        const unset = await client.query<{ subscriber_id: number }>(
          `UPDATE audience_members SET "row" = NULL, changed_at = $3
           WHERE audience = $1 AND subscriber_id = ANY($2::bigint[]) AND "row" IS NOT NULL RETURNING subscriber_id`,
          [audience, leaving, now],
        );
        changed += unset.rowCount ?? 0;
        if (unset.rows.length > 0) await dropSettled(client, audience, unset.rows.map((r) => r.subscriber_id));
      }
      return changed;
    });
  }

  async expireAudienceMembersNotInMirror(audience: string, now: number): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      await lockAudience(client, audience);
      const expired = await client.query(
        `UPDATE audience_members SET "row" = NULL, changed_at = $2
         WHERE audience = $1 AND "row" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM subscribers WHERE subscribers.kit_id = audience_members.subscriber_id)`,
        [audience, now],
      );
      const changed = expired.rowCount ?? 0;
      if (changed > 0) await dropSettled(client, audience);
      return changed;
    });
  }

  async forgetAudienceConfirmations(audience: string, reason: string, now: number): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      await lockAudience(client, audience);
      const forgotten = await client.query('UPDATE audience_members SET sent_row = NULL, sent_at = $2 WHERE audience = $1 AND sent_row IS NOT NULL', [audience, now]);
      await client.query(`UPDATE audience_batches SET status = 'failed', error = $2 WHERE audience = $1 AND status = 'planned'`, [audience, reason]);
      await dropSettled(client, audience);
      return forgotten.rowCount ?? 0;
    });
  }

  async listAudienceChanges(audience: string, page: Page & { readonly throughSubscriberId?: number }): Promise<AudienceChange[]> {
    const { rows } = await this.#pool.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM audience_members
       WHERE audience = $1 AND "row" IS DISTINCT FROM sent_row AND subscriber_id > $2 AND subscriber_id <= $3
       ORDER BY subscriber_id LIMIT $4`,
      [audience, page.afterSubscriberId ?? -1, page.throughSubscriberId ?? NO_LIMIT, page.limit],
    );
    return rows.map(changeFromRow);
  }

  async listAudienceMembers(audience: string, page: Page): Promise<AudienceChange[]> {
    const { rows } = await this.#pool.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM audience_members WHERE audience = $1 AND "row" IS NOT NULL AND subscriber_id > $2 ORDER BY subscriber_id LIMIT $3`,
      [audience, page.afterSubscriberId ?? -1, page.limit],
    );
    return rows.map(changeFromRow);
  }

  async countAudience(audience: string): Promise<AudienceCounts> {
    const { rows } = await this.#pool.query<{ expected: number; confirmed: number; to_add: number; to_remove: number }>(
      `SELECT count("row") AS expected, count(sent_row) AS confirmed,
         count(*) FILTER (WHERE "row" IS NOT NULL AND "row" IS DISTINCT FROM sent_row) AS to_add,
         count(*) FILTER (WHERE "row" IS NULL AND sent_row IS NOT NULL) AS to_remove
       FROM audience_members WHERE audience = $1`,
      [audience],
    );
    const row = rows[0]!;
    return { expected: row.expected, confirmed: row.confirmed, toAdd: row.to_add, toRemove: row.to_remove };
  }

  async findAudienceMembers(matchKey: string): Promise<(AudienceChange & { readonly audience: string })[]> {
    const { rows } = await this.#pool.query<MemberRow & { audience: string }>(
      `SELECT audience, ${MEMBER_COLUMNS} FROM audience_members WHERE match_key = $1 ORDER BY audience COLLATE "C", subscriber_id`,
      [matchKey],
    );
    return rows.map((row) => ({ audience: row.audience, ...changeFromRow(row) }));
  }

  async startAudienceRun(input: { readonly audience: string; readonly kind: AudienceRunKind; readonly now: number }): Promise<AudienceRunRecord> {
    const { rows } = await this.#pool.query<RunRow>(`INSERT INTO audience_runs (audience, kind, status, started_at) VALUES ($1, $2, 'running', $3) RETURNING *`, [input.audience, input.kind, input.now]);
    return runFromRow(rows[0]!);
  }

  async finishAudienceRun(input: { readonly runId: number; readonly status: Exclude<AudienceRunStatus, 'running'>; readonly stats: Readonly<Record<string, unknown>>; readonly detail?: string; readonly now: number }): Promise<void> {
    await this.#pool.query('UPDATE audience_runs SET status = $2, stats = $3, detail = $4, finished_at = $5 WHERE id = $1', [
      input.runId,
      input.status,
      toJson(input.stats) ?? '{}',
      input.detail ?? null,
      input.now,
    ]);
  }

  async listAudienceRuns(filter: { readonly audience?: string; readonly limit?: number }): Promise<AudienceRunRecord[]> {
    const { rows } = await this.#pool.query<RunRow>('SELECT * FROM audience_runs WHERE ($1::text IS NULL OR audience = $1) ORDER BY id DESC LIMIT $2', [filter.audience ?? null, filter.limit ?? 50]);
    return rows.map(runFromRow);
  }

  async planAudienceBatch(input: PlanAudienceBatchInput): Promise<AudienceBatchRecord> {
    const { items } = input;
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<BatchRow>(
        `INSERT INTO audience_batches (run_id, audience, op, session_id, seq, is_last, size, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'planned', $8) RETURNING *`,
        [input.runId, input.audience, input.op, input.sessionId, input.seq, input.isLast ? 1 : 0, items.length, input.now],
      );
      const batch = rows[0]!;
      if (items.length > 0) {
        await client.query(
          `INSERT INTO audience_batch_items (batch_id, subscriber_id, match_key, "row")
           SELECT $1, i.subscriber_id, i.match_key, i.row FROM unnest($2::bigint[], $3::text[], $4::text[]) AS i(subscriber_id, match_key, row)`,
          [batch.id, items.map((i) => i.subscriberId), items.map((i) => i.matchKey), items.map((i) => JSON.stringify(i.row))],
        );
      }
      return batchFromRow(batch);
    });
  }

  async ackAudienceBatch(input: { readonly batchId: number; readonly response: Readonly<Record<string, unknown>>; readonly now: number }): Promise<boolean> {
    return withTransaction(this.#pool, async (client) => {
      const found = await client.query<BatchRow>('SELECT * FROM audience_batches WHERE id = $1', [input.batchId]);
      const batch = found.rows[0];
      if (batch === undefined) return false;
      await lockAudience(client, batch.audience);
      // The gate: a second acknowledgement (here or in another process, which waits on the row) changes nothing.
      const marked = await client.query(`UPDATE audience_batches SET status = 'acked', response = $2, error = NULL, acked_at = $3 WHERE id = $1 AND status <> 'acked'`, [
        batch.id,
        toJson(input.response),
        input.now,
      ]);
      if (marked.rowCount === 0) return false;
      const target = [batch.id, batch.audience, input.now];
      if (batch.op === 'remove') {
        // A removal clears only the row it removed (an add of a new row may follow in the same run).
        await client.query(
          `UPDATE audience_members AS m SET sent_row = NULL, sent_at = $3 FROM audience_batch_items AS i
           WHERE i.batch_id = $1 AND m.audience = $2 AND m.subscriber_id = i.subscriber_id AND m.sent_row = i."row"`,
          target,
        );
      } else {
        // An add confirms the row it carried (a row changed since stays pending: it differs again).
        await client.query(
          `UPDATE audience_members AS m SET sent_row = i."row", sent_at = $3 FROM audience_batch_items AS i
           WHERE i.batch_id = $1 AND m.audience = $2 AND m.subscriber_id = i.subscriber_id`,
          target,
        );
      }
      if (batch.op === 'replace' && batch.is_last === 1) {
        // After a replace's last batch, Meta holds exactly what the session carried.
        await client.query(
          `UPDATE audience_members AS m SET sent_row = NULL, sent_at = $3
           WHERE m.audience = $2 AND m.sent_row IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM audience_batch_items AS i JOIN audience_batches AS b ON b.id = i.batch_id
             WHERE b.run_id = $1 AND b.op = 'replace' AND i.subscriber_id = m.subscriber_id)`,
          [batch.run_id, batch.audience, input.now],
        );
        await dropSettled(client, batch.audience);
      } else {
        await client.query(
          `DELETE FROM audience_members WHERE audience = $2 AND "row" IS NULL AND sent_row IS NULL
             AND subscriber_id IN (SELECT subscriber_id FROM audience_batch_items WHERE batch_id = $1)`,
          [batch.id, batch.audience],
        );
      }
      return true;
    });
  }

  async failAudienceBatch(input: { readonly batchId: number; readonly error: string; readonly response?: Readonly<Record<string, unknown>>; readonly now: number }): Promise<void> {
    await this.#pool.query(`UPDATE audience_batches SET status = 'failed', response = $2, error = $3 WHERE id = $1 AND status = 'planned'`, [
      input.batchId,
      input.response ? toJson(input.response) : null,
      input.error,
    ]);
  }

  async getAudienceBatch(id: number): Promise<AudienceBatchRecord | undefined> {
    const { rows } = await this.#pool.query<BatchRow>('SELECT * FROM audience_batches WHERE id = $1', [id]);
    return rows[0] && batchFromRow(rows[0]);
  }

  async listAudienceBatches(filter: { readonly runId?: number; readonly audience?: string; readonly status?: AudienceBatchRecord['status']; readonly limit?: number }): Promise<AudienceBatchRecord[]> {
    const { rows } = await this.#pool.query<BatchRow>(
      `SELECT * FROM audience_batches
       WHERE ($1::bigint IS NULL OR run_id = $1) AND ($2::text IS NULL OR audience = $2) AND ($3::text IS NULL OR status = $3)
       ORDER BY id LIMIT $4`,
      [filter.runId ?? null, filter.audience ?? null, filter.status ?? null, filter.limit ?? 1000],
    );
    return rows.map(batchFromRow);
  }

  async tallyAudienceBatches(filter: { readonly runId?: number; readonly audience?: string }): Promise<AudienceBatchTally> {
    // Meta's counts are JSON numbers in the response; anything else counts as nothing.
    const count = (field: string) =>
      `sum(CASE WHEN status = 'acked' AND jsonb_typeof(response::jsonb -> '${field}') = 'number' THEN (response::jsonb ->> '${field}')::numeric END)`;
    const { rows } = await this.#pool.query<{ status: AudienceBatchRecord['status']; n: number; received: number | null; invalid: number | null }>(
      `SELECT status, count(*) AS n, ${count('num_received')} AS received, ${count('num_invalid_entries')} AS invalid
       FROM audience_batches WHERE ($1::bigint IS NULL OR run_id = $1) AND ($2::text IS NULL OR audience = $2) GROUP BY status`,
      [filter.runId ?? null, filter.audience ?? null],
    );
    const tally = { planned: 0, acked: 0, failed: 0, numReceived: 0, numInvalid: 0 };
    for (const row of rows) {
      tally[row.status] = row.n;
      if (row.status === 'acked') Object.assign(tally, { numReceived: row.received ?? 0, numInvalid: row.invalid ?? 0 });
    }
    return tally;
  }

  async getAudienceBatchItems(batchId: number, page: Page): Promise<AudienceBatchItem[]> {
    const { rows } = await this.#pool.query<ItemRow>(
      'SELECT subscriber_id, match_key, "row" FROM audience_batch_items WHERE batch_id = $1 AND subscriber_id > $2 ORDER BY subscriber_id LIMIT $3',
      [batchId, page.afterSubscriberId ?? -1, page.limit],
    );
    return rows.map(itemFromRow);
  }

  async findAudienceItems(matchKey: string, limit = 100): Promise<AudienceSentItem[]> {
    const { rows } = await this.#pool.query<ItemRow & { batch: BatchRow }>(
      `SELECT i.subscriber_id, i.match_key, i."row", to_jsonb(b) AS batch
       FROM audience_batch_items AS i JOIN audience_batches AS b ON b.id = i.batch_id
       WHERE i.match_key = $1 ORDER BY i.batch_id LIMIT $2`,
      [matchKey, limit],
    );
    return rows.map((row) => ({ batch: batchFromRow(row.batch), subscriberId: row.subscriber_id, row: rowOf(row.row) ?? [] }));
  }
}

/**
 * Erasure's part in the audiences (sqlite/core-erase.ts): in the caller's transaction, the rows
 * of these Kit subscribers go where Meta holds nothing of theirs, become pending removals where it
 * does, and their batch items go (the batches keep their counts). Returns the rows changed.
 */
export async function eraseAudienceRows(client: Queryable, subscriberIds: readonly number[], now: number): Promise<number> {
  if (subscriberIds.length === 0) return 0;
  const ids = [subscriberIds];
  const dropped = await client.query('DELETE FROM audience_members WHERE subscriber_id = ANY($1::bigint[]) AND sent_row IS NULL', ids);
  const unset = await client.query('UPDATE audience_members SET "row" = NULL, changed_at = $2 WHERE subscriber_id = ANY($1::bigint[]) AND "row" IS NOT NULL', [subscriberIds, now]);
  const items = await client.query('DELETE FROM audience_batch_items WHERE subscriber_id = ANY($1::bigint[])', ids);
  return (dropped.rowCount ?? 0) + (unset.rowCount ?? 0) + (items.rowCount ?? 0);
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
