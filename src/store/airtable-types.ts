/**
 * Airtable syncs in the store (issue 11): what kitrelay last wrote to each table, and the calls it
 * spends on Airtable's limits.
 *
 * More words (the glossary in types.ts has the rest):
 *
 * - **sync**: one Airtable table kept in step with a selection of Kit subscribers, one record per
 *   subscriber, named `<destination>/<sync>` from the config.
 * - **record state**: what kitrelay last wrote for one subscriber in one sync: Airtable's record id
 *   (`rec…`) and the **content hash** of the fields written (or `marked`, for a row kept with its
 *   "left" checkbox checked). A write whose hash equals the kept one would change nothing and is
 *   not sent. No state: kitrelay holds no row for them (never written, or deleted).
 * - **call budget**: the API calls a destination made in a calendar month (UTC), counted on every
 *   request, against the plan's monthly allowance (`monthlyCallBudget`).
 * - **rate window**: the requests sent under one key (a base, a token) in the last window, shared
 *   by every process on the store; a **block** holds a key after Airtable's 429 (30 s for a base).
 */

export interface AirtableRecordState {
  readonly kitId: number;
  /** Airtable's record id (`rec…`). */
  readonly recordId: string;
  /** The content hash of the fields last written, or `marked`. */
  readonly hash: string;
  readonly writtenAt: number;
}

export interface AirtableRecordInput {
  readonly kitId: number;
  readonly recordId: string;
  readonly hash: string;
}

export interface AirtableRateLimitInput {
  /** `base:<app…>`, `token:<hash>`: what the limit is counted under. */
  readonly key: string;
  /** Requests allowed in any `windowMs`. */
  readonly limit: number;
  readonly windowMs: number;
}

export interface AirtableCallInput {
  /** The destination the month's calls are counted for. */
  readonly destination: string;
  /** The calendar month, UTC: `2026-01`. */
  readonly month: string;
  /** The month's allowance: at it, the call is refused. Undefined: counted, never refused. */
  readonly monthlyBudget?: number;
  /** The count at which the month's warning is due (once a month per destination). */
  readonly warnAt?: number;
  /** Every limit the call counts against; all must have room, or none is spent. */
  readonly limits: readonly AirtableRateLimitInput[];
  readonly now: number;
}

export type AirtableCallDecision =
  /** Spent: `calls` is the month's count with this one; `isWarning` the first time it reached `warnAt`. */
  | { readonly ok: true; readonly calls: number; readonly isWarning: boolean }
  /** A limit is full or blocked: ask again after `retryAfterMs`; nothing was spent. */
  | { readonly ok: false; readonly reason: 'rate'; readonly retryAfterMs: number; readonly key: string }
  /** The month's allowance is spent: refused, nothing counted. */
  | { readonly ok: false; readonly reason: 'budget'; readonly calls: number };

export interface AirtableCallCount {
  readonly calls: number;
  /** When the month's warning was given, if it was. */
  readonly warnedAt: number | null;
}

export interface AirtableStore {
  /** The record states of these subscribers in a sync (those it has), in kit id order. */
  getAirtableRecords(sync: string, kitIds: readonly number[]): Promise<AirtableRecordState[]>;
  /** Records what was written (a new record id or hash replaces the old), in one transaction. */
  setAirtableRecords(sync: string, records: readonly AirtableRecordInput[], now: number): Promise<void>;
  /** Forgets these subscribers' rows (deleted in Airtable). Returns how many states went. */
  forgetAirtableRecords(sync: string, kitIds: readonly number[]): Promise<number>;
  /** A sync's record states in kit id order, after `afterKitId`. */
  listAirtableRecords(sync: string, page: { readonly afterKitId?: number; readonly limit: number }): Promise<AirtableRecordState[]>;
  countAirtableRecords(sync: string): Promise<number>;
  /**
   * Spends one call: refused past the month's budget, deferred while a limit is full or blocked,
   * else counted against every limit and the month. A write, so that two processes sharing the
   * store never both take the last slot.
   */
  spendAirtableCall(input: AirtableCallInput): Promise<AirtableCallDecision>;
  /** After Airtable's 429: no call under `key` until `until` (the later end holds). */
  blockAirtableCalls(key: string, until: number): Promise<void>;
  /** The calls a destination made in a month. */
  getAirtableCalls(destination: string, month: string): Promise<AirtableCallCount>;
}
