/**
 * Airtable syncs on PostgreSQL (migration 007; words in airtable-types.ts; the reference is
 * sqlite/core-airtable.ts): record states with their synced values, the month's call count per
 * destination, and the rate windows and blocks every process on the store spends from. What flows
 * back from Airtable is in airtable-inbound.ts.
 *
 * Several processes: a call is spent under transaction-level advisory locks on every key it
 * counts against (each rate key and the destination's month), taken in one global order, so two
 * processes never both take a window's last slot or the month's last call, and never deadlock.
 * Record states of one sync are written under an advisory lock on the sync: the synced values are
 * a read-merge-write (a JSON merge patch over the kept ones), and the lock makes it atomic also
 * against a row another process inserts or forgets meanwhile.
 */
import type pg from 'pg';
import type { AirtableCallCount, AirtableCallDecision, AirtableCallInput, AirtableRecordInput, AirtableRecordState, AirtableStore } from '../airtable-types.js';
import { fromJson } from '../rows.js';
import { withTransaction, type Queryable } from './pool.js';
import { mergePatch } from './merge-patch.js';

/** The advisory locks' first keys (the second is a hash of the name). */
const RECORDS_LOCK = 7_242_007;
const CALLS_LOCK = 7_242_017;

interface StateRow {
  kit_id: number;
  record_id: string;
  hash: string;
  written_at: number;
  synced: string;
}

const STATE_COLUMNS = 'kit_id, record_id, hash, written_at, synced';

const stateOf = (row: StateRow): AirtableRecordState => ({
  kitId: row.kit_id,
  recordId: row.record_id,
  hash: row.hash,
  writtenAt: row.written_at,
  synced: fromJson<Record<string, unknown>>(row.synced, {}),
});

async function lockRecords(client: Queryable, sync: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RECORDS_LOCK, sync]);
}

/** The methods of AirtableStore this class has; what flows back from Airtable is PgAirtableInboundOps'. */
export type OutboundMethods =
  | 'getAirtableRecords'
  | 'findAirtableRecordsByRecordId'
  | 'setAirtableRecords'
  | 'forgetAirtableRecords'
  | 'listAirtableRecords'
  | 'countAirtableRecords'
  | 'spendAirtableCall'
  | 'blockAirtableCalls'
  | 'getAirtableCalls';

export class PgAirtableOps implements Pick<AirtableStore, OutboundMethods> {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async getAirtableRecords(sync: string, kitIds: readonly number[]): Promise<AirtableRecordState[]> {
    if (kitIds.length === 0) return [];
    const { rows } = await this.#pool.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM airtable_records WHERE sync = $1 AND kit_id = ANY($2::bigint[]) ORDER BY kit_id`, [sync, kitIds]);
    return rows.map(stateOf);
  }

  async findAirtableRecordsByRecordId(sync: string, recordIds: readonly string[]): Promise<AirtableRecordState[]> {
    if (recordIds.length === 0) return [];
    const { rows } = await this.#pool.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM airtable_records WHERE sync = $1 AND record_id = ANY($2::text[]) ORDER BY kit_id`, [sync, recordIds]);
    return rows.map(stateOf);
  }

  async setAirtableRecords(sync: string, records: readonly AirtableRecordInput[], now: number): Promise<void> {
    if (records.length === 0) return;
    await withTransaction(this.#pool, async (client) => {
      await lockRecords(client, sync);
      const kept = await client.query<{ kit_id: number; synced: string }>('SELECT kit_id, synced FROM airtable_records WHERE sync = $1 AND kit_id = ANY($2::bigint[])', [
        sync,
        records.map((r) => r.kitId),
      ]);
      const synced = new Map<number, unknown>(kept.rows.map((row) => [row.kit_id, fromJson<unknown>(row.synced, {})]));
      // In turn, as SQLite writes them: a subscriber given twice gets both patches, the last record.
      const written = new Map<number, AirtableRecordInput>();
      for (const record of records) {
        // A new row is patched over `{}`, so its nulls are dropped too.
        const before = synced.get(record.kitId) ?? {};
        synced.set(record.kitId, record.synced === undefined ? before : mergePatch(before, record.synced));
        written.set(record.kitId, record);
      }
      const rows = [...written.values()].sort((a, b) => a.kitId - b.kitId);
      await client.query(
        `INSERT INTO airtable_records (sync, kit_id, record_id, hash, written_at, synced)
         SELECT $1, r.kit_id, r.record_id, r.hash, $6, r.synced FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS r(kit_id, record_id, hash, synced)
         ON CONFLICT (sync, kit_id) DO UPDATE SET record_id = excluded.record_id, hash = excluded.hash, written_at = excluded.written_at, synced = excluded.synced`,
        [sync, rows.map((r) => r.kitId), rows.map((r) => r.recordId), rows.map((r) => r.hash), rows.map((r) => JSON.stringify(synced.get(r.kitId) ?? {})), now],
      );
    });
  }

  async forgetAirtableRecords(sync: string, kitIds: readonly number[]): Promise<number> {
    if (kitIds.length === 0) return 0;
    return withTransaction(this.#pool, async (client) => {
      await lockRecords(client, sync);
      const forgotten = await client.query('DELETE FROM airtable_records WHERE sync = $1 AND kit_id = ANY($2::bigint[])', [sync, kitIds]);
      return forgotten.rowCount ?? 0;
    });
  }

  async listAirtableRecords(sync: string, page: { readonly afterKitId?: number; readonly limit: number }): Promise<AirtableRecordState[]> {
    const { rows } = await this.#pool.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM airtable_records WHERE sync = $1 AND kit_id > $2 ORDER BY kit_id LIMIT $3`, [
      sync,
      page.afterKitId ?? 0,
      Math.max(1, Math.trunc(page.limit)),
    ]);
    return rows.map(stateOf);
  }

  async countAirtableRecords(sync: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT count(*) AS n FROM airtable_records WHERE sync = $1', [sync]);
    return rows[0]?.n ?? 0;
  }

  async spendAirtableCall(input: AirtableCallInput): Promise<AirtableCallDecision> {
    const { destination, month, now } = input;
    return withTransaction(this.#pool, async (client) => {
      // Every key this call counts against, locked in the order of the locks' own keys.
      const names = [`calls:${destination}\n${month}`, ...input.limits.map((limit) => `rate:${limit.key}`)];
      await client.query('SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(name) AS h FROM unnest($2::text[]) AS name ORDER BY h) AS keys', [CALLS_LOCK, names]);
      const calls = (await readCalls(client, destination, month))?.calls ?? 0;
      if (input.monthlyBudget !== undefined && calls >= input.monthlyBudget) return { ok: false, reason: 'budget', calls };
      let wait: { key: string; ms: number } | undefined;
      for (const limit of input.limits) {
        const ms = await waitFor(client, limit, now);
        if (ms > 0 && (wait === undefined || ms > wait.ms)) wait = { key: limit.key, ms };
      }
      if (wait) return { ok: false, reason: 'rate', retryAfterMs: wait.ms, key: wait.key };
      if (input.limits.length > 0) {
        await client.query('INSERT INTO airtable_rate_log (key, at) SELECT key, $2 FROM unnest($1::text[]) AS key', [input.limits.map((limit) => limit.key), now]);
      }
      await client.query(
        `INSERT INTO airtable_calls (destination, month, calls) VALUES ($1, $2, 1)
         ON CONFLICT (destination, month) DO UPDATE SET calls = airtable_calls.calls + 1`,
        [destination, month],
      );
      let isWarning = false;
      if (input.warnAt !== undefined && calls + 1 >= input.warnAt) {
        const warned = await client.query('UPDATE airtable_calls SET warned_at = $3 WHERE destination = $1 AND month = $2 AND warned_at IS NULL', [destination, month, now]);
        isWarning = (warned.rowCount ?? 0) > 0;
      }
      return { ok: true, calls: calls + 1, isWarning };
    });
  }

  async blockAirtableCalls(key: string, until: number): Promise<void> {
    // Two processes may each get a 429: the later end holds.
    await this.#pool.query(
      `INSERT INTO airtable_rate_blocks (key, until) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET until = GREATEST(airtable_rate_blocks.until, excluded.until)`,
      [key, until],
    );
  }

  async getAirtableCalls(destination: string, month: string): Promise<AirtableCallCount> {
    const row = await readCalls(this.#pool, destination, month);
    return { calls: row?.calls ?? 0, warnedAt: row?.warned_at ?? null };
  }
}

async function readCalls(client: Queryable, destination: string, month: string): Promise<{ calls: number; warned_at: number | null } | undefined> {
  const { rows } = await client.query<{ calls: number; warned_at: number | null }>('SELECT calls, warned_at FROM airtable_calls WHERE destination = $1 AND month = $2', [destination, month]);
  return rows[0];
}

/** How long a call must wait under one limit (0: it has room): its block, else its full window. Prunes the log as it goes. */
async function waitFor(client: Queryable, limit: AirtableCallInput['limits'][number], now: number): Promise<number> {
  const blocked = await client.query<{ until: number }>('SELECT until FROM airtable_rate_blocks WHERE key = $1', [limit.key]);
  const until = blocked.rows[0]?.until;
  if (until !== undefined && until > now) return until - now;
  await client.query('DELETE FROM airtable_rate_log WHERE key = $1 AND at <= $2', [limit.key, now - 2 * limit.windowMs]);
  const { rows } = await client.query<{ count: number; oldest: number | null }>('SELECT count(*) AS count, min(at) AS oldest FROM airtable_rate_log WHERE key = $1 AND at > $2', [
    limit.key,
    now - limit.windowMs,
  ]);
  const spent = rows[0] ?? { count: 0, oldest: null };
  return spent.count >= limit.limit ? Math.max(1, (spent.oldest ?? now) + limit.windowMs - now) : 0;
}

/**
 * Erasure's part in the Airtable syncs (sqlite/core-erase.ts), in the caller's transaction: the
 * record states, delete requests (also those naming the address) and field decisions of these Kit
 * subscribers. Returns the rows deleted.
 */
export async function eraseAirtableRows(client: Queryable, kitIds: readonly number[], email: string): Promise<number> {
  const ids = [kitIds];
  const records = await client.query('DELETE FROM airtable_records WHERE kit_id = ANY($1::bigint[])', ids);
  const deletes = await client.query('DELETE FROM airtable_deletes WHERE kit_id = ANY($1::bigint[]) OR email = $2', [kitIds, email]);
  const decisions = await client.query('DELETE FROM airtable_decisions WHERE kit_id = ANY($1::bigint[])', ids);
  return (records.rowCount ?? 0) + (deletes.rowCount ?? 0) + (decisions.rowCount ?? 0);
}
