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
 * - **synced values**: per record, the value of each mapped field both sides last agreed on (what
 *   kitrelay wrote to Airtable, or read from Airtable and applied to Kit). A side whose value now
 *   differs from it changed that field; both sides changed is a **conflict**. An empty cell is a
 *   field absent from the map.
 * - **pending change**: a record Airtable reported changed (a webhook payload, a poll) that waits
 *   until it has been quiet for the sync's debounce time, then is read and applied to Kit.
 * - **delete request**: a row deleted in Airtable, waiting for an operator: approved, the
 *   subscriber is unsubscribed in Kit; rejected, the row is written again; withdrawn by kitrelay
 *   when a row with their Kit id is seen again. Never acted on without approval.
 * - **field decision**: what a conflict policy (or an operator) decided for one field changed on
 *   both sides, with both values and the synced one; a `manual` policy's decision is **held** until
 *   `kitrelay airtable conflicts resolve`, and the field is not written either way meanwhile.
 */

export interface AirtableRecordState {
  readonly kitId: number;
  /** Airtable's record id (`rec…`). */
  readonly recordId: string;
  /** The content hash of the fields last written, or `marked`. */
  readonly hash: string;
  readonly writtenAt: number;
  /** Field name → the value both sides last agreed on; an empty cell is absent. */
  readonly synced: Readonly<Record<string, unknown>>;
}

export interface AirtableRecordInput {
  readonly kitId: number;
  readonly recordId: string;
  readonly hash: string;
  /**
   * Merged over the kept synced values, field by field (a JSON merge patch): a field given with a
   * value sets it, one given as null empties it, one not given keeps its value. Absent: all kept.
   */
  readonly synced?: Readonly<Record<string, unknown>>;
}

/** A record Airtable reported changed, waiting to be quiet (words above). */
export interface AirtableChange {
  readonly recordId: string;
  /** When the latest change to it was made (the payload's timestamp, the record's last modified time). */
  readonly changedAt: number;
  /** It was deleted in Airtable (a webhook's `destroyedRecordIds`). */
  readonly isDestroyed: boolean;
}

export type AirtableDeleteStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn';

export interface AirtableDeleteRequest {
  readonly id: number;
  /** `<destination>/<sync>`. */
  readonly sync: string;
  readonly kitId: number;
  /** The row that went. */
  readonly recordId: string;
  /** Their email when the request was made (from the mirror), to show the operator. */
  readonly email: string | null;
  /** How it was seen: `webhook` (a payload's destroyed record), `check` (missing from a full read). */
  readonly detectedBy: string;
  readonly detectedAt: number;
  readonly status: AirtableDeleteStatus;
  readonly decidedAt: number | null;
  /** Why it left the queue: who or what decided, in a few words. */
  readonly note: string | null;
}

/** A request to queue: what the store does not set itself. */
export type AirtableDeleteInput = Pick<AirtableDeleteRequest, 'kitId' | 'recordId' | 'email' | 'detectedBy'>;

export type ConflictPolicy = 'kit-wins' | 'airtable-wins' | 'newest-wins' | 'manual';

/** One field changed on both sides (words above). Values are as the Airtable field holds them; null: empty. */
export interface AirtableFieldDecision {
  readonly id: number;
  readonly sync: string;
  readonly kitId: number;
  readonly recordId: string;
  readonly field: string;
  readonly kitValue: unknown;
  readonly airtableValue: unknown;
  /** The value both last agreed on; null: empty or never synced. */
  readonly syncedValue: unknown;
  readonly policy: ConflictPolicy;
  /** `held`: waiting for an operator (policy `manual`); `decided`: by the policy; `resolved`: by an operator. */
  readonly status: 'held' | 'decided' | 'resolved';
  /** Whose value was kept; null while held. */
  readonly winner: 'kit' | 'airtable' | null;
  readonly detectedAt: number;
  readonly decidedAt: number | null;
  /** Why this winner (`newest-wins`: the two change times). */
  readonly note: string | null;
}

/** A decision to log: the decision without what the store sets (its id, status and times); `winner` null: held (policy `manual`). */
export type AirtableFieldDecisionInput = Pick<AirtableFieldDecision, 'kitId' | 'recordId' | 'field' | 'kitValue' | 'airtableValue' | 'syncedValue' | 'policy' | 'winner'> & {
  readonly note?: string;
};

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

  /** The record states of these rows (by Airtable record id) in a sync: those it has, in kit id order. */
  findAirtableRecordsByRecordId(sync: string, recordIds: readonly string[]): Promise<AirtableRecordState[]>;

  /**
   * Notes records Airtable reported changed: one pending change per record, its `changedAt` the
   * latest seen and `isDestroyed` that of the latest (a row restored by undo is no longer destroyed).
   */
  noteAirtableChanges(sync: string, changes: readonly AirtableChange[]): Promise<void>;
  /** Pending changes quiet since `quietSince` (`changedAt` ≤ it), oldest change first. */
  listQuietAirtableChanges(sync: string, quietSince: number, limit: number): Promise<AirtableChange[]>;
  /**
   * Clears pending changes once applied: each only if its `changedAt` is still the one given, so a
   * change noted meanwhile stays pending. Returns how many went.
   */
  clearAirtableChanges(sync: string, changes: readonly AirtableChange[]): Promise<number>;
  countAirtableChanges(sync: string): Promise<number>;
  /** Which of these records have a pending change (edited in Airtable, not yet applied). */
  listPendingAirtableRecords(sync: string, recordIds: readonly string[]): Promise<string[]>;

  /**
   * Queues a row deleted in Airtable for approval: one pending request per sync and subscriber
   * (asking again answers the pending one, unchanged).
   */
  requestAirtableDelete(sync: string, input: AirtableDeleteInput, now: number): Promise<AirtableDeleteRequest>;
  /** Delete requests, newest first; by sync, status and subscriber when given. */
  listAirtableDeletes(filter: { readonly sync?: string; readonly status?: AirtableDeleteStatus; readonly kitId?: number; readonly limit: number }): Promise<AirtableDeleteRequest[]>;
  getAirtableDelete(id: number): Promise<AirtableDeleteRequest | undefined>;
  /** Moves a pending request to `status`; undefined when there is no such pending request (decided already: nothing changes). */
  decideAirtableDelete(id: number, status: Exclude<AirtableDeleteStatus, 'pending'>, now: number, note: string): Promise<AirtableDeleteRequest | undefined>;
  /** Withdraws the pending requests of these subscribers (their row is back). Returns how many. */
  withdrawAirtableDeletes(sync: string, kitIds: readonly number[], now: number, note: string): Promise<number>;

  /** Logs field decisions (held ones included) in one transaction; answers them with their ids. */
  recordAirtableDecisions(sync: string, decisions: readonly AirtableFieldDecisionInput[], now: number): Promise<AirtableFieldDecision[]>;
  /** Decisions, newest first; `status` filters (`held`: the conflicts waiting for an operator). */
  listAirtableDecisions(filter: { readonly sync?: string; readonly status?: AirtableFieldDecision['status']; readonly kitId?: number; readonly limit: number }): Promise<AirtableFieldDecision[]>;
  getAirtableDecision(id: number): Promise<AirtableFieldDecision | undefined>;
  /** An operator's answer to a held conflict; undefined when it is not held (resolved already). */
  resolveAirtableDecision(id: number, winner: 'kit' | 'airtable', now: number, note: string): Promise<AirtableFieldDecision | undefined>;
  /** The held conflicts of these subscribers: fields not to write either way until resolved. */
  listHeldAirtableFields(sync: string, kitIds: readonly number[]): Promise<{ readonly kitId: number; readonly field: string }[]>;
}
