/**
 * The Kit side of the store: what kitrelay keeps about the Kit account itself.
 *
 * More words (the glossary in types.ts has the rest):
 *
 * - **subscriber mirror**: kitrelay's copy of each Kit subscriber's state (email, state, fields,
 *   tags), kept current by webhooks and backfills, so sync jobs read it instead of re-pulling Kit.
 * - **sync checkpoint**: where a long-running sync (a backfill, a reconciliation) got to: its Kit
 *   cursor and counters, saved as it goes so an interrupted run resumes there.
 * - **rate budget**: the requests one Kit credential may still make in Kit's 60-second window,
 *   shared by every process on the same store (the service, a CLI backfill, other instances).
 * - **webhook registration**: a webhook kitrelay created in Kit (legacy `/v4/webhooks` or a
 *   Webhooks 2.0 endpoint), remembered so kitrelay only ever removes its own.
 */

export interface MirrorTag {
  readonly id: number;
  readonly name?: string;
  /** When the tag was added, if known (epoch ms). */
  readonly taggedAt?: number;
}

/** A subscriber's whole state as Kit returned it (a backfill page, a reconciliation). */
export interface SubscriberSnapshot {
  readonly kitId: number;
  /** Lower-cased. */
  readonly email: string;
  readonly firstName: string | null;
  readonly state: string;
  readonly fields: Readonly<Record<string, string | null>>;
  /** Undefined when this snapshot did not include tags (they are left as they are). */
  readonly tags?: readonly MirrorTag[];
  /** Kit's created_at (epoch ms). */
  readonly createdAt: number | null;
}

/** One change a webhook reports; applied to the mirror in the ingest transaction. */
export type MirrorChange =
  /** The subscriber object an event carried (state, fields, name): upserted. */
  | { readonly kind: 'subscriber'; readonly subscriber: Omit<SubscriberSnapshot, 'tags'> }
  | { readonly kind: 'tag_added'; readonly kitId: number; readonly email?: string; readonly tag: MirrorTag }
  | { readonly kind: 'tag_removed'; readonly kitId: number; readonly tagId: number };

export interface MirrorSubscriber extends SubscriberSnapshot {
  readonly tags: readonly MirrorTag[];
  /** When kitrelay last changed this row (epoch ms). */
  readonly updatedAt: number;
  /** What last changed it. */
  readonly source: 'webhook' | 'backfill' | 'reconcile';
}

export interface MirrorFilter {
  /** Kit ids greater than this (paging in id order). */
  readonly afterKitId?: number;
  /** Only these subscribers (answered in kit id order; ids not in the mirror are left out). */
  readonly kitIds?: readonly number[];
  readonly state?: string;
  readonly tagId?: number;
  /** @default 1000 */
  readonly limit?: number;
}

export interface SyncCheckpoint {
  /** The sync's name: `kit-backfill`, `kit-reconcile-legacy`, … */
  readonly name: string;
  /** Kit's `end_cursor` of the last page fully written, or null before the first. */
  readonly cursor: string | null;
  /** Counters and settings of the run (JSON). */
  readonly data: Readonly<Record<string, unknown>>;
  readonly startedAt: number;
  readonly updatedAt: number;
  /** Set when the run finished; a new run starts from scratch. */
  readonly completedAt: number | null;
}

export type RateBudgetDecision =
  | { readonly ok: true; readonly remaining: number }
  /** Wait this long before asking again. */
  | { readonly ok: false; readonly retryAfterMs: number };

export interface RateBudgetInput {
  /** A stable, non-secret id of the credential (e.g. a hash of the API key). */
  readonly credential: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly now: number;
}

export interface WebhookRegistration {
  readonly system: 'legacy' | 'signed';
  /** Kit's id of the webhook or endpoint. */
  readonly kitId: number;
  /** Legacy route id, or signed endpoint name. */
  readonly route: string;
  readonly url: string;
  readonly createdAt: number;
}

export interface KitStore {
  /** Writes whole subscriber snapshots (a backfill page) in one transaction. */
  upsertSubscribers(snapshots: readonly SubscriberSnapshot[], source: 'backfill' | 'reconcile', now: number): Promise<void>;
  getSubscriber(kitId: number): Promise<MirrorSubscriber | undefined>;
  getSubscriberByEmail(email: string): Promise<MirrorSubscriber | undefined>;
  listSubscribers(filter: MirrorFilter): Promise<MirrorSubscriber[]>;
  countSubscribers(): Promise<number>;

  getCheckpoint(name: string): Promise<SyncCheckpoint | undefined>;
  /** Creates or replaces the checkpoint. */
  saveCheckpoint(checkpoint: SyncCheckpoint): Promise<void>;

  /**
   * Spends one request from a credential's budget: a sliding window of `windowMs` holding at most
   * `limit` requests, counted across every process sharing the store.
   */
  takeRateBudget(input: RateBudgetInput): Promise<RateBudgetDecision>;
  /** After Kit answered 429: nobody spends from this credential until `until`. */
  blockRateBudget(credential: string, until: number): Promise<void>;

  listWebhookRegistrations(): Promise<WebhookRegistration[]>;
  saveWebhookRegistration(registration: WebhookRegistration): Promise<void>;
  deleteWebhookRegistration(system: 'legacy' | 'signed', kitId: number): Promise<void>;
}
