/**
 * Airtable syncs (migration 009; words in airtable-types.ts): record states per sync and
 * subscriber, the month's call count per destination, and the rate windows and blocks every
 * process on the store spends from.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { AirtableCallCount, AirtableCallDecision, AirtableCallInput, AirtableRecordInput, AirtableRecordState } from '../airtable-types.js';

interface StateRow {
  kit_id: number;
  record_id: string;
  hash: string;
  written_at: number;
}

const stateOf = (row: StateRow): AirtableRecordState => ({ kitId: row.kit_id, recordId: row.record_id, hash: row.hash, writtenAt: row.written_at });

export class AirtableOps {
  readonly #getStates: Statement<{ sync: string; kitIds: string }, StateRow>;
  readonly #setState: Statement<{ sync: string; kitId: number; recordId: string; hash: string; now: number }>;
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
      SELECT kit_id, record_id, hash, written_at FROM airtable_records
      WHERE sync = @sync AND kit_id IN (SELECT value FROM json_each(@kitIds)) ORDER BY kit_id`);
    this.#setState = db.prepare(`
      INSERT INTO airtable_records (sync, kit_id, record_id, hash, written_at) VALUES (@sync, @kitId, @recordId, @hash, @now)
      ON CONFLICT (sync, kit_id) DO UPDATE SET record_id = excluded.record_id, hash = excluded.hash, written_at = excluded.written_at`);
    this.#forgetStates = db.prepare('DELETE FROM airtable_records WHERE sync = @sync AND kit_id IN (SELECT value FROM json_each(@kitIds))');
    this.#listStates = db.prepare(`
      SELECT kit_id, record_id, hash, written_at FROM airtable_records
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

  setRecords(sync: string, records: readonly AirtableRecordInput[], now: number): void {
    for (const record of records) this.#setState.run({ sync, kitId: record.kitId, recordId: record.recordId, hash: record.hash, now });
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
