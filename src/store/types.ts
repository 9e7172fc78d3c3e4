/**
 * The store: every durable fact kitrelay keeps, behind one async interface so the embedded SQLite
 * store and the PostgreSQL store (roadmap) pass the same contract suite (`contract.ts`).
 *
 * Glossary — these words mean one thing everywhere in kitrelay:
 *
 * - **event**: one thing that happened in Kit (a tag added, a purchase). Carries a canonical type
 *   (see kit/events.ts), an optional scope (tag id, form id…), the subscriber it concerns, and the
 *   payload exactly as Kit sent it.
 * - **delivery**: one inbound POST from Kit carrying one event (legacy webhooks) or 1–100 events
 *   (signed Webhooks 2.0).
 * - **rule**: config that turns an event into jobs: event type + scope + optional predicate →
 *   actions on destinations.
 * - **job**: one event × one action on one destination. Jobs are what the queue runs.
 * - **attempt**: one outbound call for a job. Every attempt leaves one audit record.
 * - **audit record**: what an attempt sent and got back (a request summary without secrets, the
 *   response status, duration, correlation ids). Append-only.
 * - **integration** (connector): the code for one kind of destination (the generic webhook,
 *   Bonjoro, later Slack, …), in `src/integrations/<name>/`: its actions, sources and syncs.
 * - **destination**: one configured instance of an integration (`crm-hook`, `#sales` Slack…), with
 *   its own rate limits, concurrency, retry policy, circuit breaker, pause switch and mode
 *   (`live`, or `shadow`: requests recorded, never sent).
 * - **action**: what a job asks of its destination (`send`, `greet`); its outcome is `succeeded`,
 *   `retry`, `failed` or `unknown` (the request may have been applied).
 * - **job facts**: small values an attempt keeps for the job's later attempts (the greet it made).
 * - **source**: an integration's inbound route or poller; its events carry the integration as
 *   their `origin` (`kit` for Kit's own).
 * - **ledger**: keys that make something happen once (e.g. "one Bonjoro video per purpose per
 *   subscriber"). A ledger key is written in the same transaction as the job it guards.
 * - **dedupe key**: the key an inbound event is recognised by when Kit sends it again (the 2.0
 *   event id, or a fingerprint of a legacy route + body). Kept apart from events so it outlives
 *   event retention.
 * - **quarantine**: authenticated inbound bytes that could not be turned into events (broken JSON,
 *   an event failing validation). Kept raw so an operator can inspect and re-ingest them.
 * - **digest window**: one rule action's slice of time (`digest: { window }`): the events past its
 *   threshold are collected there instead of making jobs, and closing it makes one digest event
 *   (`kitrelay:digest`) and one job. Counted in the ingest transaction, closed once.
 * - **dead-job alert**: a row the store writes when a job goes dead, until an alert event
 *   (`kitrelay:job_dead`) for it is committed.
 * - **subscriber key**: `id:<kit subscriber id>`, else `email:<lower-cased email>`. Jobs with the
 *   same destination, subscriber key and sub-key run in order (per-subscriber FIFO; "earlier" means
 *   a lower job id, and ids are made visible in commit order: SQLite's one writer commits one
 *   transaction at a time; on PostgreSQL every transaction that inserts jobs holds the ingest
 *   advisory lock to its commit, so a job committed after another always has the higher id and
 *   no claim can see a later job of a stream before an earlier one). Different sub-keys (Slack channels) are independent streams.
 *
 * All times are epoch milliseconds. Ids are positive integers assigned by the store.
 *
 * The Kit side of the store (subscriber mirror, sync checkpoints, rate budget, webhook
 * registrations) has its words and port in kit-types.ts; Meta audiences (membership, runs,
 * batches) in audience-types.ts; Airtable syncs (record states, call budget, rate windows) in
 * airtable-types.ts; Kajabi enrolments and their corrections in kajabi-types.ts; durable
 * schedules (schedule, schedule run, schedule lease) in schedule-types.ts.
 */
import type { RequestSummary } from '../lib/http.js';
import type { AirtableStore } from './airtable-types.js';
import type { AudienceStore } from './audience-types.js';
import type { KajabiStore } from './kajabi-types.js';
import type { KitStore, MirrorChange } from './kit-types.js';

/** What an audit record keeps of a request (defined beside the HTTP client that makes it). */
export type { RequestSummary } from '../lib/http.js';
import type { ScheduleStore } from './schedule-types.js';

export type * from './airtable-types.js';
export type * from './audience-types.js';
export type * from './kajabi-types.js';
export type * from './kit-types.js';
export type * from './schedule-types.js';

export type WebhookSystem = 'legacy' | 'signed';

/**
 * How an event reached kitrelay: a Kit webhook system, re-ingest from quarantine, a Kit-side
 * reconciliation, an integration's inbound route (`source`) or its poller (`poll`), or kitrelay itself
 * (`internal`: a closed digest window, a dead job's alert; origin `kitrelay`). Which integration it
 * came from is the event's `origin`.
 */
export type EventSource = WebhookSystem | 'reingest' | 'reconciled' | 'source' | 'poll' | 'internal';

export type EventStatus = 'accepted' | 'duplicate';

/**
 * pending: waiting to run (new, or retrying at run_at). running: leased to a worker.
 * succeeded / dead / cancelled: terminal. A dead or cancelled job never blocks the jobs behind it.
 */
export type JobStatus = 'pending' | 'running' | 'succeeded' | 'dead' | 'cancelled';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'dead', 'cancelled'];

/**
 * succeeded: the destination accepted it. retry / retry_after: failed, will run again.
 * failed: permanent failure (or out of attempts). unknown: the worker died mid-attempt, so nobody
 * knows whether the destination acted on it.
 */
export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'unknown';

export type QuarantineStatus = 'open' | 'reingested' | 'discarded';

export interface EventScope {
  /** The scope parameter (`tag_id`, `form_id`, …). */
  readonly param: string;
  /** Its value, as a string (`"123"`, or a link URL for `initiator_value`). */
  readonly value: string;
}

/** A rule's decision about one event, kept on the event to answer "why didn't it fire?". */
export interface RouteDecision {
  readonly rule: string;
  readonly destination?: string;
  readonly action?: string;
  /**
   * job: a job was made. predicate_false: the rule's `when` said no. once: its ledger key was already
   * spent. digested: collected in digest window `windowId` instead of a job of its own. loop: an
   * alert about a destination's dead job, not sent through that same destination.
   */
  readonly outcome: 'job' | 'predicate_false' | 'predicate_error' | 'once' | 'digested' | 'loop';
  readonly detail?: string;
  readonly jobId?: number;
  readonly windowId?: number;
}

// ---------------------------------------------------------------- ingest

export interface DeliveryInput {
  readonly system: WebhookSystem | 'reingest' | 'source' | 'internal';
  /** Legacy route id, signed endpoint name, `<integration>/<source>`, or the quarantine id being re-ingested. */
  readonly route: string;
  /** `X-Kit-Delivery` for signed deliveries. */
  readonly kitDeliveryId?: string;
  readonly receivedAt: number;
  readonly bodyBytes: number;
}

export interface PlannedJob {
  readonly rule: string;
  readonly destination: string;
  readonly action: string;
  /** Action parameters from the rule, as JSON. */
  readonly params: unknown;
  /** Rate-limit sub-key within the destination (e.g. a Slack channel). */
  readonly subKey?: string;
  readonly maxAttempts: number;
  /** When set, the job is made only if this ledger key has not been spent. */
  readonly ledgerKey?: string;
  /** When the ledger key may be spent again (a rule's `repeatAfterDays`); absent = never. */
  readonly ledgerExpiresAt?: number;
  /** The rule digests: the event joins this window instead of making a job (past the threshold). */
  readonly digest?: DigestPlan;
  /** When the job may first run. @default the event's receivedAt (at once) */
  readonly runAt?: number;
}

/**
 * A rule's digest (`digest: { window, threshold? }`) for one event. Windows are fixed slices of
 * time (`windowStart` = receivedAt rounded down to the window's length), one per rule action.
 */
export interface DigestPlan {
  /** `<rule>#<action index>`: whose window. */
  readonly key: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** The first `threshold` events of a window go out one by one; the rest are digested. @default 0 */
  readonly threshold?: number;
}

export interface DedupeInput {
  readonly key: string;
  readonly expiresAt: number;
  /**
   * For legacy fingerprints: the subscriber/type/scope, so an opposite event can clear them
   * (tag_add, tag_remove, tag_add is a real re-tag).
   */
  readonly subscriberKey?: string;
  readonly type?: string;
  /** The event's scope as one string: `dedupeScope(event.scope)`. */
  readonly scope?: string;
}

/** An event scope as the one string dedupe keys store (`tag_id:123`). */
export function dedupeScope(scope: EventScope): string {
  return `${scope.param}:${scope.value}`;
}

export interface EventInput {
  readonly source: EventSource;
  /** The integration it came from. @default 'kit' */
  readonly origin?: string;
  readonly kitEventId?: string;
  /** Canonical type. */
  readonly type: string;
  /** The type as Kit named it. */
  readonly kitType: string;
  readonly scope?: EventScope;
  readonly subscriberId?: string;
  readonly email?: string;
  readonly subscriberKey?: string;
  readonly occurredAt?: number;
  /** The event exactly as Kit sent it (legacy: the whole body; signed: one element of `events`). */
  readonly payload: unknown;
  /**
   * `payload` as JSON text, when the caller has it already (a legacy body is its own JSON): the
   * store keeps this text instead of serialising `payload` again. Must parse to `payload`.
   */
  readonly payloadJson?: string;
  readonly dedupe?: DedupeInput;
  /**
   * Legacy dedupe keys of these types, for this subscriber and scope, stop counting. The subscriber
   * and scope are `dedupe.subscriberKey` / `dedupe.scope` when set, else `subscriberKey` /
   * `dedupeScope(scope)`. Only keys stored with a subscriber key (legacy fingerprints) can be cleared.
   */
  readonly clearsDedupeTypes?: readonly string[];
  readonly jobs: readonly PlannedJob[];
  /** Decisions that made no job (predicate false / error), kept with the event. */
  readonly decisions: readonly RouteDecision[];
  /**
   * Changes to the subscriber mirror this event reports; applied in the same transaction, only if
   * the event is accepted (not a duplicate).
   */
  readonly mirror?: readonly MirrorChange[];
}

export interface QuarantineInput {
  readonly system: WebhookSystem | 'reingest' | 'source';
  readonly route: string;
  readonly reason: string;
  readonly detail: string;
  /** Request headers worth keeping, already stripped of secrets. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly receivedAt: number;
}

export interface CommitDeliveryInput {
  readonly delivery: DeliveryInput;
  readonly events: readonly EventInput[];
  readonly quarantine: readonly QuarantineInput[];
  /** When re-ingesting a quarantined body, mark that entry as re-ingested in the same transaction. */
  readonly reingestOf?: number;
  /** Dead-job alert rows (`takeDeadJobAlerts`) these events raise: removed in the same transaction. */
  readonly settlesDeadJobAlerts?: readonly number[];
}

export type EventCommitOutcome =
  | { readonly status: 'accepted'; readonly eventId: number; readonly jobIds: readonly number[] }
  | { readonly status: 'duplicate'; readonly eventId: number; readonly duplicateOf: number };

export interface CommitDeliveryResult {
  readonly deliveryId: number;
  readonly events: readonly EventCommitOutcome[];
  readonly quarantineIds: readonly number[];
}

// ---------------------------------------------------------------- records

export interface DeliveryRecord {
  readonly id: number;
  readonly system: string;
  readonly route: string;
  readonly kitDeliveryId: string | null;
  readonly receivedAt: number;
  readonly bodyBytes: number;
  readonly eventCount: number;
  readonly quarantinedCount: number;
}

export interface EventRecord {
  readonly id: number;
  readonly deliveryId: number;
  readonly source: EventSource;
  /** The integration it came from: `kit`, or a source's integration (`slack`, `kajabi`, …). */
  readonly origin: string;
  readonly kitEventId: string | null;
  readonly type: string;
  readonly kitType: string;
  readonly scope: EventScope | null;
  readonly subscriberId: string | null;
  readonly email: string | null;
  readonly subscriberKey: string | null;
  readonly occurredAt: number | null;
  readonly receivedAt: number;
  readonly status: EventStatus;
  readonly duplicateOf: number | null;
  /** null once retention has removed it. */
  readonly payload: unknown;
  /**
   * Set (and `payload` null) when the stored payload nests too deep to be read safely: stored
   * before ingest limited depth (`server.maxJsonDepth`). The row keeps it; its jobs go dead.
   */
  readonly unreadablePayload?: string;
  readonly decisions: readonly RouteDecision[];
}

/**
 * The few columns of an event that a follower of the event stream reads (`listEventHeads`): which
 * subscriber it was about, and whether it was accepted, from where.
 */
export interface EventHead {
  readonly id: number;
  readonly status: EventStatus;
  readonly origin: string;
  readonly subscriberId: string | null;
}

export interface JobRecord {
  readonly id: number;
  readonly eventId: number;
  readonly rule: string;
  readonly destination: string;
  readonly action: string;
  readonly params: unknown;
  readonly subKey: string | null;
  readonly subscriberKey: string | null;
  readonly subscriberId: string | null;
  readonly email: string | null;
  readonly status: JobStatus;
  /** Attempts finished so far (including ones whose outcome is unknown). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly runAt: number;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly lastError: string | null;
  readonly idempotencyKey: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
  readonly replays: number;
  /** What the job's attempts noted for later ones (a remote id, a marker): see FinishAttemptInput.facts. */
  readonly facts: Readonly<Record<string, unknown>>;
  /** Set on a job made by `jobs replay --force-new`: the job it copies. */
  readonly copyOf: number | null;
}

export interface AttemptInput {
  readonly jobId: number;
  readonly attempt: number;
  readonly workerId: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly outcome: AttemptOutcome;
  readonly errorClass?: 'retryable' | 'retry_after' | 'permanent';
  readonly error?: string;
  readonly request?: RequestSummary;
  readonly responseStatus?: number;
  readonly responseBody?: string;
  /** Idempotency key, response request id, Kit event id, … */
  readonly correlation: Readonly<Record<string, string>>;
  /** A shadow attempt: the request was built and recorded but never sent (destination mode `shadow`). */
  readonly isShadow?: boolean;
}

/** One audit record: an attempt plus the job context it ran in, denormalised so it outlives the job. */
export interface AttemptRecord extends AttemptInput {
  readonly id: number;
  readonly eventId: number;
  readonly destination: string;
  readonly action: string;
  readonly subscriberKey: string | null;
  readonly email: string | null;
  readonly durationMs: number;
  /** Set once retention or erasure removed personal data from this record. */
  readonly scrubbedAt: number | null;
}

export interface QuarantineRecord {
  readonly id: number;
  readonly system: string;
  readonly route: string;
  readonly reason: string;
  readonly detail: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** When the bytes first arrived. */
  readonly receivedAt: number;
  /** How often the same bytes arrived on the same route (a retried delivery): counted here, not added again. */
  readonly timesReceived: number;
  readonly lastReceivedAt: number;
  readonly status: QuarantineStatus;
  readonly resolvedAt: number | null;
  readonly reingestedEventIds: readonly number[];
}

export interface DestinationState {
  readonly destination: string;
  readonly pausedAt: number | null;
  readonly pausedReason: string | null;
  /** While now < breakerOpenUntil, the destination's jobs are held: no attempts are spent. */
  readonly breakerOpenUntil: number | null;
  readonly breakerOpenings: number;
  readonly updatedAt: number;
}

/** A job handed to a worker, with the event it was made from. */
export interface ClaimedJob {
  readonly job: JobRecord;
  readonly event: EventRecord;
}

// ---------------------------------------------------------------- queries

/** On the record's own time (events: receivedAt, jobs: createdAt, attempts: startedAt). */
export interface TimeRange {
  /** Inclusive. */
  readonly since?: number;
  /** Exclusive. */
  readonly until?: number;
}

export interface SubscriberFilter {
  readonly subscriberId?: string;
  /** Matched case-insensitively. */
  readonly email?: string;
}

export interface Page {
  /** Newest first, at most 1000. @default 100 */
  readonly limit?: number;
  /** Return records with id < beforeId (newest first paging). */
  readonly beforeId?: number;
}

export interface EventFilter extends TimeRange, SubscriberFilter, Page {
  readonly status?: EventStatus;
  readonly type?: string;
}

export interface JobFilter extends TimeRange, SubscriberFilter, Page {
  readonly status?: JobStatus;
  readonly destination?: string;
  readonly eventId?: number;
  readonly rule?: string;
}

export interface AttemptFilter extends TimeRange, SubscriberFilter, Page {
  readonly jobId?: number;
  readonly destination?: string;
  readonly outcome?: AttemptOutcome;
  /** Only shadow attempts (true) or only real ones (false). */
  readonly isShadow?: boolean;
}

export interface QuarantineFilter extends TimeRange, Page {
  readonly status?: QuarantineStatus;
  readonly route?: string;
}

// ---------------------------------------------------------------- worker

export interface ClaimInput {
  readonly workerId: string;
  readonly destination: string;
  readonly limit: number;
  readonly now: number;
  readonly leaseMs: number;
  /**
   * The destination's calls that may be running at once across every worker on this store (its
   * concurrency, global across instances): the claim leases no more jobs than the calls left. A
   * running job under an unexpired lease is one call, except jobs of the batch actions named in
   * `batchActions` (action → most jobs a call carries), whose running jobs count as
   * ⌈jobs / size⌉ calls. @default no cap beyond `limit`
   */
  readonly maxRunning?: number;
  readonly batchActions?: Readonly<Record<string, number>>;
}

/** One token bucket of a rate limit shared between processes: a destination's, or a destination and sub-key's. */
export interface RateBucketSpec {
  readonly key: string;
  readonly perSecond: number;
  /** Capacity in whole tokens. */
  readonly burst: number;
}

/**
 * Rate-limit buckets every process on one database shares (PostgreSQL; queue/rate-limit-shared.ts).
 * SQLite has none: one process owns its file, and its worker keeps the buckets in memory.
 */
export interface RateBucketStore {
  /** Takes one token from each bucket, all or none: 0 when taken, else the ms until each holds a whole token. */
  takeRateTokens(buckets: readonly RateBucketSpec[], now: number): Promise<number>;
  /** The whole tokens in a bucket now, and the ms until it holds one (0 when it does); takes nothing. */
  peekRateTokens(bucket: RateBucketSpec, now: number): Promise<{ readonly available: number; readonly msUntilToken: number }>;
  /** Deletes the buckets that are full at `now` (the same as no row); answers how many. */
  sweepRateBuckets(now: number): Promise<number>;
}

/** What happens to a job after an attempt. */
export type JobNext =
  | { readonly status: 'succeeded' }
  | { readonly status: 'pending'; readonly runAt: number }
  | { readonly status: 'dead' };

export interface FinishAttemptInput {
  readonly attempt: AttemptInput;
  readonly next: JobNext;
  readonly now: number;
  /**
   * Facts for the job's later attempts, merged into `JobRecord.facts` (a key set to null is
   * removed). Written only while the worker holds the lease, like the job's status.
   */
  readonly facts?: Readonly<Record<string, unknown>>;
}

export interface JobCount {
  readonly destination: string;
  readonly status: JobStatus;
  readonly count: number;
}

// ---------------------------------------------------------------- digests and dead-job alerts

export interface DigestWindowRecord {
  readonly id: number;
  /** `<rule>#<action index>` */
  readonly key: string;
  readonly rule: string;
  readonly destination: string;
  readonly action: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Events that went out one by one (under the threshold). */
  readonly sent: number;
  /** Events collected for the digest. */
  readonly digested: number;
  readonly status: 'open' | 'closed';
  readonly closedAt: number | null;
  /** The digest event and job closing made; null when nothing was digested. */
  readonly eventId: number | null;
  readonly jobId: number | null;
}

/** What a closed window's digest event carries (its payload's `digest`). */
export interface DigestSummary {
  readonly windowId: number;
  readonly rule: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Digested events (the ones in this message). */
  readonly total: number;
  /** Events of the window that went out one by one before the threshold was reached. */
  readonly sentIndividually: number;
  /** Digested events by stored type. */
  readonly counts: Readonly<Record<string, number>>;
  /** The first few digested events, oldest first. */
  readonly examples: readonly DigestExample[];
}

export interface DigestExample {
  readonly eventId: number;
  readonly type: string;
  readonly kitType: string;
  readonly source: EventSource;
  readonly origin: string;
  readonly kitEventId: string | null;
  readonly email: string | null;
  readonly subscriberId: string | null;
  readonly scope: EventScope | null;
  readonly receivedAt: number;
  /** The event as received (null once retention removed it). */
  readonly payload: unknown;
}

export interface CloseDigestsInput {
  readonly now: number;
  /** Most windows closed in one call. */
  readonly limit: number;
  /** How many examples a digest carries. @default 5 */
  readonly examples?: number;
}

/** A job that went dead and whose alert is not raised yet (the job as it is now, if still stored). */
export interface DeadJobAlert {
  readonly id: number;
  readonly jobId: number;
  /** When the job went dead. */
  readonly createdAt: number;
  readonly job?: JobRecord;
  /** The job's event's type and origin, when the event is still stored. */
  readonly eventType?: string;
  readonly eventOrigin?: string;
}

/** `kitrelay erase <email>`: what to erase. */
export interface EraseInput {
  readonly email: string;
  readonly now: number;
}

/** What an erasure removed (counts), and which Kit subscriber ids the address led to. */
export interface EraseResult {
  /** The address, normalised (trimmed, lower-cased). */
  readonly email: string;
  readonly subscriberIds: readonly string[];
  readonly events: number;
  readonly jobs: number;
  /** Audit records kept, with every personal value removed. */
  readonly auditRecordsScrubbed: number;
  /** Subscriber mirror rows. */
  readonly mirror: number;
  readonly quarantine: number;
  /** Once-per-purpose keys the person's jobs had spent. */
  readonly ledgerKeys: number;
  /** Meta audience membership rows and batch items (hashes) about them. */
  readonly audienceRows: number;
  /** Airtable record states, delete requests and field decisions about them. */
  readonly airtableRows: number;
  /** Kajabi enrolments and the corrections logged about them. */
  readonly kajabiRows: number;
}

export interface PurgeInput {
  readonly now: number;
  /** Delete events (with their terminal jobs) received before this time. */
  readonly eventsBefore?: number;
  /** Delete resolved quarantine entries received before this time. */
  readonly quarantineBefore?: number;
  /** Remove personal data from audit records older than this; the record itself stays. */
  readonly auditScrubBefore?: number;
}

export interface PurgeResult {
  readonly events: number;
  readonly jobs: number;
  readonly quarantine: number;
  readonly auditScrubbed: number;
  readonly dedupeKeys: number;
}

export interface Store extends KitStore, ScheduleStore, AudienceStore, AirtableStore, KajabiStore {
  /** Which implementation: the contract suite and the CLI use it to name backend gaps. */
  readonly dialect: 'sqlite' | 'postgres';

  /** Ingest: the delivery, its events, their jobs and ledger keys, and any quarantine, in one transaction. */
  commitDelivery(input: CommitDeliveryInput): Promise<CommitDeliveryResult>;

  getDelivery(id: number): Promise<DeliveryRecord | undefined>;
  getEvent(id: number): Promise<EventRecord | undefined>;
  listEvents(filter: EventFilter): Promise<EventRecord[]>;
  /**
   * Events with an id above `afterId`, lowest id first, at most `limit` (capped at 1000): how a
   * follower of the event stream reads on from the last id it saved (ingest/follow.ts). Ids rise
   * in commit order (an event becomes visible only after every event with a lower id), so a
   * follower that saves the last id it read misses none.
   */
  listEventHeads(input: { readonly afterId: number; readonly limit: number }): Promise<EventHead[]>;
  getJob(id: number): Promise<JobRecord | undefined>;
  listJobs(filter: JobFilter): Promise<JobRecord[]>;
  listAttempts(filter: AttemptFilter): Promise<AttemptRecord[]>;
  getQuarantine(id: number): Promise<QuarantineRecord | undefined>;
  listQuarantine(filter: QuarantineFilter): Promise<QuarantineRecord[]>;
  /** Marks an open quarantine entry discarded. Returns false if it was not open. */
  discardQuarantine(id: number, now: number): Promise<boolean>;
  /** Whether the ledger key is spent (at `now`, for keys that expire; @default now = the current time). */
  hasLedgerKey(key: string, now?: number): Promise<boolean>;

  /**
   * Leases up to `limit` runnable jobs of one destination: pending with runAt <= now, or running
   * with an expired lease (the previous holder's attempt is then recorded with outcome unknown).
   * A job is runnable only when no earlier job of the same destination, subscriber key and sub-key
   * is pending or running. A paused destination's jobs are never leased (checked in the same
   * transaction, so a pause holds at once whatever the caller last read); open breakers are the
   * caller's concern.
   */
  claimJobs(input: ClaimInput): Promise<ClaimedJob[]>;
  /** Extends the leases this worker holds. Returns the ids it still holds. */
  extendLeases(workerId: string, jobIds: readonly number[], leaseExpiresAt: number): Promise<number[]>;
  /**
   * Records the attempt's audit record and moves the job on. Returns false (and records nothing
   * about the job's status) when the worker no longer holds the lease; the audit record is kept
   * regardless, since the call did happen. A job cancelled while running stays cancelled.
   */
  finishAttempt(input: FinishAttemptInput): Promise<boolean>;
  /** Hands leased jobs back without spending an attempt (shutdown, rate-limit deferral). */
  releaseJobs(workerId: string, jobIds: readonly number[], runAt: number, now: number): Promise<void>;

  /**
   * Sets a dead / cancelled / succeeded job pending again (runAt = now) with a fresh attempt budget
   * (maxAttempts = attempts + extraAttempts). A job that is not terminal is returned unchanged;
   * undefined when there is no such job.
   */
  replayJob(id: number, extraAttempts: number, now: number): Promise<JobRecord | undefined>;
  /**
   * Replays every terminal job matching the filter (typically status dead + destination); the
   * filter's `limit` applies only when given. Returns the replayed ids, oldest first.
   */
  replayJobs(filter: JobFilter, extraAttempts: number, now: number): Promise<number[]>;
  /**
   * `jobs replay --force-new`: a new pending job copying a terminal one (same event, rule, action,
   * params; a new id, so a new idempotency key and no facts), for when the destination must act
   * again. The original is left as it is. Undefined when there is no such job; the original job
   * unchanged when it is not terminal.
   */
  cloneJob(id: number, now: number): Promise<JobRecord | undefined>;
  /** Cancels a job that is not terminal. Returns the job, or undefined if it was already terminal. */
  cancelJob(id: number, now: number): Promise<JobRecord | undefined>;

  getDestinationStates(): Promise<DestinationState[]>;
  pauseDestination(destination: string, reason: string, now: number): Promise<void>;
  resumeDestination(destination: string, now: number): Promise<void>;
  /** Opens (until > now) or closes (until = null) a destination's circuit breaker. */
  setBreaker(destination: string, openUntil: number | null, now: number): Promise<void>;

  countJobs(): Promise<JobCount[]>;
  purge(input: PurgeInput): Promise<PurgeResult>;

  /**
   * Closes the open digest windows that ended by `now` (oldest first, at most `limit`): each window
   * that digested events becomes one event (origin `kitrelay`, type `kitrelay:digest`, payload
   * `{ digest: DigestSummary }`) with one job for the window's rule action, in the transaction
   * that marks it closed, so a window is closed once whatever crashes. Returns the closed windows.
   */
  closeDigests(input: CloseDigestsInput): Promise<DigestWindowRecord[]>;
  /** Digest windows, newest first. */
  listDigestWindows(filter: { readonly status?: 'open' | 'closed'; readonly limit?: number }): Promise<DigestWindowRecord[]>;
  /**
   * Dead jobs whose alert is not raised yet, oldest first. Rows stay until a commit settles them
   * (`CommitDeliveryInput.settlesDeadJobAlerts`) or `settleDeadJobAlerts` drops them.
   */
  takeDeadJobAlerts(limit: number): Promise<DeadJobAlert[]>;
  /** Drops alert rows that raise no event (no rule listens, or an alert's own job died). */
  settleDeadJobAlerts(ids: readonly number[]): Promise<void>;

  /**
   * Erases one person (GDPR): their events, jobs, mirror row, quarantined bodies, digest items and
   * spent ledger keys go; their audit records stay without any personal value. One transaction.
   */
  eraseSubscriber(input: EraseInput): Promise<EraseResult>;

  getSetting(key: string): Promise<string | undefined>;
  /** Sets the value only if the key has none; returns the value now stored. */
  initSetting(key: string, value: string): Promise<string>;
  setSetting(key: string, value: string): Promise<void>;

  /** Whether the store is open and answering. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export { StoreUnavailableError } from '../lib/errors.js';
