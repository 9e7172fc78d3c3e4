/**
 * Meta Custom Audiences in the store (issue 10): what each audience should hold, what Meta last
 * confirmed, and the proof of every batch sent.
 *
 * More words (the glossary in types.ts has the rest):
 *
 * - **audience**: one customer-file Custom Audience kitrelay keeps in step with a selection of Kit
 *   subscribers, named `<destination>/<audience>` from the config.
 * - **member row**: what an audience holds about one subscriber: the match keys, normalised and
 *   hashed in the audience's schema order (`["<email sha256>", "", "<extern id>"]`). Its identity,
 *   the **match key**, is its first non-empty hashed key (the address's hash, in practice): the
 *   hash an operator's `audit --email` looks for.
 * - **expected / confirmed**: a member is expected when the selection holds them now (`row` set);
 *   confirmed when an acknowledged batch added that row (`sentRow`). A member whose two differ is
 *   a pending change: an add, or a removal (expected no longer, still confirmed).
 * - **audience run**: one sync (incremental, a full replace, or a dry run), with its numbers.
 * - **audience batch**: one request to Meta (≤ 10,000 rows) of a run, and its items: which
 *   subscribers it carried with which rows. Planned before it is sent; acknowledged once.
 */

export interface AudienceMemberInput {
  readonly subscriberId: number;
  /** The member row as it should be sent now; null: they should not be in the audience. */
  readonly row: readonly string[] | null;
  /** The row's identity (its EMAIL hash, else its first key); null with a null row. */
  readonly matchKey: string | null;
}

/** A member whose expected row differs from the confirmed one. */
export interface AudienceChange {
  readonly subscriberId: number;
  readonly matchKey: string | null;
  readonly row: readonly string[] | null;
  readonly sentRow: readonly string[] | null;
}

export interface AudienceCounts {
  /** Members the selection holds now. */
  readonly expected: number;
  /** Members Meta confirmed (acknowledged adds not removed since). */
  readonly confirmed: number;
  /** Expected members not confirmed with their current row. */
  readonly toAdd: number;
  /** Confirmed members no longer expected. */
  readonly toRemove: number;
}

export type AudienceRunKind = 'sync' | 'replace' | 'dry_run';
/** held: stopped before removing (the removal guard), waiting for `--confirm-removals`. */
export type AudienceRunStatus = 'running' | 'succeeded' | 'failed' | 'held';

export interface AudienceRunRecord {
  readonly id: number;
  readonly audience: string;
  readonly kind: AudienceRunKind;
  readonly status: AudienceRunStatus;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  /** The run's numbers and decisions (sizes, adds, removes, drift, the guard, the match rate). */
  readonly stats: Readonly<Record<string, unknown>>;
  readonly detail: string | null;
}

export type AudienceBatchOp = 'add' | 'remove' | 'replace';

export interface AudienceBatchItem {
  readonly subscriberId: number;
  readonly matchKey: string;
  readonly row: readonly string[];
}

export interface PlanAudienceBatchInput {
  readonly runId: number;
  readonly audience: string;
  readonly op: AudienceBatchOp;
  /** Meta's `session.session_id` (an int64, as text). */
  readonly sessionId: string;
  /** Meta's `session.batch_seq`, 1-based. */
  readonly seq: number;
  readonly isLast: boolean;
  readonly items: readonly AudienceBatchItem[];
  readonly now: number;
}

export interface AudienceBatchRecord {
  readonly id: number;
  readonly runId: number;
  readonly audience: string;
  readonly op: AudienceBatchOp;
  readonly sessionId: string;
  readonly seq: number;
  readonly isLast: boolean;
  readonly size: number;
  readonly status: 'planned' | 'acked' | 'failed';
  /** Meta's answer: `num_received`, `num_invalid_entries`, `invalid_entry_samples`… */
  readonly response: Readonly<Record<string, unknown>> | null;
  readonly error: string | null;
  readonly createdAt: number;
  readonly ackedAt: number | null;
}

/** Batches counted by status (a run's, or an audience's), with Meta's counts summed over the acknowledged. */
export interface AudienceBatchTally {
  readonly planned: number;
  readonly acked: number;
  readonly failed: number;
  /** Meta's `num_received` summed over the acknowledged batches. */
  readonly numReceived: number;
  /** Meta's `num_invalid_entries` summed over the acknowledged batches. */
  readonly numInvalid: number;
}

/** One row of a batch, found by its match key: what was sent about someone, and when. */
export interface AudienceSentItem {
  readonly batch: AudienceBatchRecord;
  readonly subscriberId: number;
  readonly row: readonly string[];
}

export interface AudienceStore {
  /**
   * Sets what an audience should hold for these subscribers (a selection refresh, a webhook's
   * change). Members with nothing expected and nothing confirmed are dropped. Returns how many
   * rows changed.
   */
  setAudienceMembers(audience: string, members: readonly AudienceMemberInput[], now: number): Promise<number>;
  /**
   * Subscribers no longer in the mirror (deleted in Kit, erased) are expected no more: their rows
   * become pending removals. Returns how many.
   */
  expireAudienceMembersNotInMirror(audience: string, now: number): Promise<number>;
  /**
   * Meta holds none of what was confirmed any more (the audience's id changed: a new audience, the
   * sandbox's fresh simulator): every confirmed row becomes unconfirmed, so the next run sends
   * every expected member; batches still planned are failed (they name the old audience). Returns
   * how many confirmed rows were forgotten.
   */
  forgetAudienceConfirmations(audience: string, reason: string, now: number): Promise<number>;
  /** Pending changes in subscriber order, after `afterSubscriberId`: a page of the difference. */
  listAudienceChanges(audience: string, page: { readonly afterSubscriberId?: number; /** Only up to this subscriber id (a range of a refresh). */ readonly throughSubscriberId?: number; readonly limit: number }): Promise<AudienceChange[]>;
  /** Expected members in subscriber order (a replace sends them all). */
  listAudienceMembers(audience: string, page: { readonly afterSubscriberId?: number; readonly limit: number }): Promise<AudienceChange[]>;
  countAudience(audience: string): Promise<AudienceCounts>;
  /** Every audience's member with this match key (an address's hash): erasure finds a person by it. */
  findAudienceMembers(matchKey: string): Promise<(AudienceChange & { readonly audience: string })[]>;

  startAudienceRun(input: { readonly audience: string; readonly kind: AudienceRunKind; readonly now: number }): Promise<AudienceRunRecord>;
  finishAudienceRun(input: { readonly runId: number; readonly status: Exclude<AudienceRunStatus, 'running'>; readonly stats: Readonly<Record<string, unknown>>; readonly detail?: string; readonly now: number }): Promise<void>;
  /** Newest first. */
  listAudienceRuns(filter: { readonly audience?: string; readonly limit?: number }): Promise<AudienceRunRecord[]>;

  /** Records a batch and its items before it is sent. */
  planAudienceBatch(input: PlanAudienceBatchInput): Promise<AudienceBatchRecord>;
  /**
   * Meta acknowledged the batch: its members' confirmed rows follow (an add confirms its rows, a
   * removal clears them, the last batch of a replace clears every confirmed member the replace did
   * not carry), in one transaction. False (and nothing changed) when it was acknowledged already.
   */
  ackAudienceBatch(input: { readonly batchId: number; readonly response: Readonly<Record<string, unknown>>; readonly now: number }): Promise<boolean>;
  /** Meta refused the batch for good (recorded, not retried): its members stay pending. */
  failAudienceBatch(input: { readonly batchId: number; readonly error: string; readonly response?: Readonly<Record<string, unknown>>; readonly now: number }): Promise<void>;
  getAudienceBatch(id: number): Promise<AudienceBatchRecord | undefined>;
  /** Oldest first. */
  listAudienceBatches(filter: { readonly runId?: number; readonly audience?: string; readonly status?: AudienceBatchRecord['status']; readonly limit?: number }): Promise<AudienceBatchRecord[]>;
  /**
   * The batches of a run (or of an audience, without `runId`) counted by status: what a run polls
   * while it waits for its uploads, without reading the batches themselves.
   */
  tallyAudienceBatches(filter: { readonly runId?: number; readonly audience?: string }): Promise<AudienceBatchTally>;
  getAudienceBatchItems(batchId: number, page: { readonly afterSubscriberId?: number; readonly limit: number }): Promise<AudienceBatchItem[]>;
  /** Every batch row sent with this match key (the hash of an address), oldest first. */
  findAudienceItems(matchKey: string, limit?: number): Promise<AudienceSentItem[]>;
}
