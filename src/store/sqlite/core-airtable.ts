/**
 * Airtable syncs (migrations 009 and 010; words in airtable-types.ts): record states per sync and
 * subscriber with their synced values, the month's call count per destination, and the rate
 * windows and blocks every process on the store spends from. What flows back from Airtable
 * (pending changes, delete requests, field decisions) is in core-airtable-inbound.ts.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { AirtableCallCount, AirtableCallDecision, AirtableCallInput, AirtableRecordInput, AirtableRecordState } from '../airtable-types.js';
import { fromJson } from '../rows.js';

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

export class AirtableOps {
  readonly #getStates: Statement<{ sync: string; kitIds: string }, StateRow>;
  readonly #findStates: Statement<{ sync: string; recordIds: string }, StateRow>;
  readonly #setState: Statement<{ sync: string; kitId: number; recordId: string; hash: string; synced: string | null; now: number }>;
  readonly #forgetStates: Statement<{ sync: string; kitIds: string }>;
  readonly #listStates: Statement<{ sync: string; after: number; limit: number }, StateRow>;
  readonly #countStates: Statement<[string], number>;
  readonly #getCalls: Statement<{ destination: string; month: string }, { calls: number; warned_at: number | null }>;
  readonly #countCall: Statement<{ destination: string; month: string }>;
  readonly #markWarned: Statement<{ destination: string; month: string; now: number }>;
  readonly #blockedUntil: Statement<[string], number>;
  readonly #prune: Statement<{ key: string; cutoff: number }>;
  readonly #spent: Statement<{ key: string; since: number }, { count: number; oldest: number | null }>;
  readonly #spend: Statement<{ key: string; now: number }>;
  readonly #block: Statement<{ key: string; until: number }>;

  constructor(db: Database) {
    this.#getStates = db.prepare(`
      SELECT ${STATE_COLUMNS} FROM airtable_records
      WHERE sync = @sync AND kit_id IN (SELECT value FROM json_each(@kitIds)) ORDER BY kit_id`);
    this.#findStates = db.prepare(`
      SELECT ${STATE_COLUMNS} FROM airtable_records
      WHERE sync = @sync AND record_id IN (SELECT value FROM json_each(@recordIds)) ORDER BY kit_id`);
    // Synced values merge as an RFC 7396 merge patch (json_patch): a null empties a field, a field
    // not given keeps its value. Cells are never JSON objects, so no value is merged into another.
    // Patched over '{}' for a new row, so its nulls are dropped there too.
    this.#setState = db.prepare(`
      INSERT INTO airtable_records (sync, kit_id, record_id, hash, written_at, synced)
      VALUES (@sync, @kitId, @recordId, @hash, @now, json_patch('{}', coalesce(@synced, '{}')))
      ON CONFLICT (sync, kit_id) DO UPDATE SET record_id = excluded.record_id, hash = excluded.hash, written_at = excluded.written_at,
        synced = CASE WHEN @synced IS NULL THEN airtable_records.synced ELSE json_patch(airtable_records.synced, @synced) END`);
    this.#forgetStates = db.prepare('DELETE FROM airtable_records WHERE sync = @sync AND kit_id IN (SELECT value FROM json_each(@kitIds))');
    this.#listStates = db.prepare(`
      SELECT ${STATE_COLUMNS} FROM airtable_records
      WHERE sync = @sync AND kit_id > @after ORDER BY kit_id LIMIT @limit`);
    this.#countStates = db.prepare<[string], number>('SELECT count(*) FROM airtable_records WHERE sync = ?').pluck();
    this.#getCalls = db.prepare('SELECT calls, warned_at FROM airtable_calls WHERE destination = @destination AND month = @month');
    this.#countCall = db.prepare(`
      INSERT INTO airtable_calls (destination, month, calls) VALUES (@destination, @month, 1)
      ON CONFLICT (destination, month) DO UPDATE SET calls = calls + 1`);
    this.#markWarned = db.prepare('UPDATE airtable_calls SET warned_at = @now WHERE destination = @destination AND month = @month AND warned_at IS NULL');
    this.#blockedUntil = db.prepare<[string], number>('SELECT until FROM airtable_rate_blocks WHERE key = ?').pluck();
    this.#prune = db.prepare('DELETE FROM airtable_rate_log WHERE key = @key AND at <= @cutoff');
    this.#spent = db.prepare('SELECT count(*) AS count, min(at) AS oldest FROM airtable_rate_log WHERE key = @key AND at > @since');
    this.#spend = db.prepare('INSERT INTO airtable_rate_log (key, at) VALUES (@key, @now)');
    // Two processes may each get a 429: the later end holds.
    this.#block = db.prepare(`
      INSERT INTO airtable_rate_blocks (key, until) VALUES (@key, @until)
      ON CONFLICT (key) DO UPDATE SET until = max(airtable_rate_blocks.until, excluded.until)`);
  }

  getRecords(sync: string, kitIds: readonly number[]): AirtableRecordState[] {
    if (kitIds.length === 0) return [];
    return this.#getStates.all({ sync, kitIds: JSON.stringify(kitIds) }).map(stateOf);
  }

  findRecordsByRecordId(sync: string, recordIds: readonly string[]): AirtableRecordState[] {
    if (recordIds.length === 0) return [];
    return this.#findStates.all({ sync, recordIds: JSON.stringify(recordIds) }).map(stateOf);
  }

  setRecords(sync: string, records: readonly AirtableRecordInput[], now: number): void {
    for (const record of records) {
      const synced = record.synced === undefined ? null : JSON.stringify(record.synced);
      this.#setState.run({ sync, kitId: record.kitId, recordId: record.recordId, hash: record.hash, synced, now });
    }
  }

  forgetRecords(sync: string, kitIds: readonly number[]): number {
    if (kitIds.length === 0) return 0;
    return this.#forgetStates.run({ sync, kitIds: JSON.stringify(kitIds) }).changes;
  }

  listRecords(sync: string, page: { readonly afterKitId?: number; readonly limit: number }): AirtableRecordState[] {
    return this.#listStates.all({ sync, after: page.afterKitId ?? 0, limit: Math.max(1, Math.trunc(page.limit)) }).map(stateOf);
  }

  countRecords(sync: string): number {
    return this.#countStates.get(sync) ?? 0;
  }

  spendCall(input: AirtableCallInput): AirtableCallDecision {
    const { destination, month, now } = input;
    const counted = this.#getCalls.get({ destination, month });
    const calls = counted?.calls ?? 0;
    if (input.monthlyBudget !== undefined && calls >= input.monthlyBudget) return { ok: false, reason: 'budget', calls };
    let wait: { key: string; ms: number } | undefined;
    for (const limit of input.limits) {
      const until = this.#blockedUntil.get(limit.key);
      let ms = until !== undefined && until > now ? until - now : 0;
      if (ms === 0) {
        this.#prune.run({ key: limit.key, cutoff: now - 2 * limit.windowMs });
        const spent = this.#spent.get({ key: limit.key, since: now - limit.windowMs }) ?? { count: 0, oldest: null };
        if (spent.count >= limit.limit) ms = Math.max(1, (spent.oldest ?? now) + limit.windowMs - now);
      }
      if (ms > 0 && (wait === undefined || ms > wait.ms)) wait = { key: limit.key, ms };
    }
    if (wait) return { ok: false, reason: 'rate', retryAfterMs: wait.ms, key: wait.key };
    for (const limit of input.limits) this.#spend.run({ key: limit.key, now });
    this.#countCall.run({ destination, month });
    const isWarning = input.warnAt !== undefined && calls + 1 >= input.warnAt && this.#markWarned.run({ destination, month, now }).changes > 0;
    return { ok: true, calls: calls + 1, isWarning };
  }

  blockCalls(key: string, until: number): void {
    this.#block.run({ key, until });
  }

  getCalls(destination: string, month: string): AirtableCallCount {
    const row = this.#getCalls.get({ destination, month });
    return { calls: row?.calls ?? 0, warnedAt: row?.warned_at ?? null };
  }
}
