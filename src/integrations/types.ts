/**
 * The integration port: what one integration (the generic webhook, Bonjoro, Slack, Meta audiences,
 * Airtable, Kajabi) gives kitrelay. Everything about an integration lives in its folder
 * (`src/integrations/<name>/`): its config schema, its actions with their parameter schemas, its
 * API client, request formatting, sources, scheduled syncs, simulator and tests. Adding one is its
 * folder plus one line in `registry.ts`.
 *
 * Words (see the glossary in store/types.ts): a **destination** is one configured instance of an
 * integration (`config.destinations.<name>` with `type: '<integration>'`); an **action** is what a
 * job asks of it (`greet`, `send`); an **attempt** is one run of the action for a job, leaving one
 * audit record.
 *
 * Every outcome of an attempt is a value, never a throw: `succeeded`, `retry` (safe to send again),
 * `failed` (will never succeed as sent), or `unknown` (the request may have been applied: a timeout
 * after sending, a reset connection). A throw is a bug; the queue records it as a retryable failure.
 */
import type { z } from 'zod';
import type { KitEvent } from '../kit/events.js';
import type { HttpClient, HttpRequest, HttpResult } from '../lib/http.js';
import type { KitCall, KitClient } from '../kit/client/index.js';
import type { ScheduleDefinition } from '../schedules/types.js';
import type { AirtableStore, AttemptRecord, AudienceStore, EventRecord, JobRecord, KitStore, MirrorSubscriber, RequestSummary, Store } from '../store/types.js';
import type { KajabiStore } from '../store/kajabi-types.js';
import type { DestinationBase } from './destination.js';

/** Resolves a secret reference (`env('NAME')`) or passes a plain string through; throws when unset. */
export type SecretResolver = (value: string | { readonly $env: string }) => string;

/** What one outbound call sent and got back, for the audit record. */
export interface CallRecord {
  readonly request: RequestSummary;
  readonly responseStatus?: number;
  /** The start of the response body (kept short). */
  readonly responseBody?: string;
  /** Ids that tie this call to others: idempotency key, the response's request id, a batch id, … */
  readonly correlation: Readonly<Record<string, string>>;
}

/** Small facts an attempt keeps for the job's later attempts (a remote id, the marker it used). */
export type JobFacts = Readonly<Record<string, unknown>>;

/** What every action result may carry for the audit record and the job's later attempts. */
interface ResultRecord {
  /** The call it made (the last, when it made several). */
  readonly call?: CallRecord;
  readonly facts?: JobFacts;
  /**
   * Ids for the audit record besides the call's (who pressed a button, what was decided): the way
   * an attempt that made no call still says what it was about.
   */
  readonly correlation?: Readonly<Record<string, string>>;
}

export type ActionResult =
  | ({ readonly outcome: 'succeeded' } & ResultRecord)
  /**
   * Not applied; worth trying again (`retryAfterMs` when the destination said when).
   * `opensBreaker`: the destination refuses every job alike (a revoked credential, HTTP 401): the
   * breaker opens at once and the job waits with it instead of every job spending its attempts.
   */
  | ({ readonly outcome: 'retry'; readonly error: string; readonly retryAfterMs?: number; readonly opensBreaker?: boolean } & ResultRecord)
  /**
   * Will never succeed as sent (a 400, a 404, a config error): the job is dead with `error`.
   * `opensBreaker`: and every other job would fail alike (Slack's `invalid_auth`): the breaker opens.
   */
  | ({ readonly outcome: 'failed'; readonly error: string; readonly opensBreaker?: boolean } & ResultRecord)
  /** The request may have been applied: tried again, and the next attempt sees this one in `earlierAttempts`. */
  | ({ readonly outcome: 'unknown'; readonly error: string } & ResultRecord);

/**
 * The outbound HTTP an action sends through: the shared keep-alive client, with the attempt's
 * timeout and abort signal applied. In shadow mode, `send` records the request and ends the
 * attempt there (it throws `ShadowStop`, which the queue turns into a shadow attempt): nothing
 * leaves the machine. Actions must not catch it.
 */
export interface ActionHttp {
  send(request: OutboundRequest): Promise<HttpResult>;
}

export type OutboundRequest = Omit<HttpRequest, 'timeoutMs' | 'signal'> & {
  /** Shorter than the attempt's remaining time, if given. */
  readonly timeoutMs?: number;
};

/** One job as an action sees it. */
export interface JobInput<P> {
  readonly job: JobRecord;
  readonly eventRecord: EventRecord;
  /** The normalised event the job was made from. */
  readonly event: KitEvent;
  /** The rule's params for this action, templates rendered, checked against the action's schema. */
  readonly params: P;
  /** Stable per job across attempts: send it where the destination accepts one. */
  readonly idempotencyKey: string;
  /** This job's earlier attempts, oldest first (empty on the first). */
  readonly earlierAttempts: readonly AttemptRecord[];
  /** What earlier attempts kept (`ActionResult.facts`). */
  readonly facts: JobFacts;
  /** The rule action's enrichment, run for this attempt (or reused from the cache), if it names one. */
  readonly enrichment?: Enrichment;
}

/** What an enrichment step found; `isDegraded` when it failed or timed out (the job goes on without it). */
export interface Enrichment {
  readonly name: string;
  readonly fields: Readonly<Record<string, string | number | boolean | null>>;
  readonly isDegraded: boolean;
  readonly error?: string;
  readonly isCached?: boolean;
}

/** What every action gets besides its job(s). */
export interface AttemptEnvironment<D> {
  readonly destinationName: string;
  readonly destination: D;
  readonly secrets: SecretResolver;
  readonly http: ActionHttp;
  /** Aborted on timeout and on forced shutdown. */
  readonly signal: AbortSignal;
  /** Epoch ms, from the injected clock. */
  readonly now: number;
  /** `kitrelay/<version>`, for User-Agent headers. */
  readonly userAgent: string;
  /** kitrelay's own operator actions, for actions that act on the relay (Slack's Replay button); absent where none are wired. */
  readonly operator?: OperatorPort;
  /**
   * The store's audience side, for an integration whose jobs carry state kept there (a Meta upload
   * job names its batch; the batch's rows and its acknowledgement live in the store).
   */
  readonly audiences?: AudienceBatchStore;
  /**
   * The store's Airtable side and the subscriber mirror, for an integration whose jobs name a
   * subscriber and read their current row when sent (an Airtable upsert), and keep what they wrote.
   */
  readonly airtable?: AirtableAttemptStore;
  /** The store's Kajabi side, for the `enrol` job: one person's enrolments, read and written (the source of truth). */
  readonly kajabi?: KajabiAttemptStore;
  /** The worker's log, for what an operator must see besides the audit record (a budget nearly spent). */
  readonly log?: { warn(obj: object, msg: string): void };
  /**
   * Kit, for an action that writes there (Airtable → Kit edits): a client on the credentials the
   * service uses, spending from the shared rate budget. Absent where there is no Kit access.
   */
  readonly kit?: KitClientFactory;
}

/**
 * Opens a Kit client whose requests go through `http` (the attempt's: its timeout, abort and
 * shadow mode apply) and are each reported to `onCall` (for the audit record).
 */
export type KitClientFactory = (options: { readonly http: HttpClient; readonly onCall: (call: KitCall) => void }) => Promise<KitClient>;

/** What an Airtable job reads and writes: the mirror row, what was written, the call budget. */
export type AirtableAttemptStore = Pick<KitStore, 'listSubscribers' | 'upsertSubscribers'> & AirtableStore & SettingsStore;

/** What a Kajabi job reads and writes: one person's enrolments, the correction log, and their mirror row (its tags). */
export type KajabiAttemptStore = Pick<KajabiStore, 'getKajabiEnrolments' | 'saveKajabiEnrolments'> & Pick<KitStore, 'getSubscriberByEmail' | 'upsertSubscribers'>;

/** Small durable state an integration keeps by key (an Airtable sync's webhook: its id, MAC secret and cursor). */
export type SettingsStore = Pick<Store, 'getSetting' | 'setSetting'>;

/** What an integration's scheduled sync may use of the store. */
export type IntegrationSyncStore = Pick<KitStore, 'listSubscribers' | 'getSubscriberByEmail' | 'countSubscribers' | 'getCheckpoint' | 'saveCheckpoint'> &
  AirtableStore &
  KajabiStore &
  SettingsStore &
  Pick<
    AudienceStore,
    | 'setAudienceMembers'
    | 'expireAudienceMembersNotInMirror'
    | 'forgetAudienceConfirmations'
    | 'listAudienceRuns'
    | 'listAudienceChanges'
    | 'listAudienceMembers'
    | 'countAudience'
    | 'startAudienceRun'
    | 'finishAudienceRun'
    | 'planAudienceBatch'
    | 'listAudienceBatches'
    | 'tallyAudienceBatches'
  >;

/** What an upload job reads and writes of its batch (the Store's methods of the same names). */
export type AudienceBatchStore = Pick<AudienceStore, 'getAudienceBatch' | 'getAudienceBatchItems' | 'ackAudienceBatch' | 'failAudienceBatch'>;

/**
 * Operator actions an integration's action may take on kitrelay itself: Slack's Replay button and
 * its lookup command. The services implement them; integrations stand below services, so the
 * composition root hands them in (through the worker) instead of integrations importing them.
 */
export interface OperatorPort {
  /**
   * Runs a dead job again (same id and idempotency key, a fresh attempt budget). Only a dead job:
   * one pending, running, succeeded or cancelled is left alone, so a second press, or one on an
   * old alert, never sends again what was delivered.
   */
  replayJob(jobId: number): Promise<OperatorReplay>;
  /** The newest events and jobs of the subscriber with this email (case-insensitive), newest first. */
  subscriberActivity(email: string, limit: number): Promise<SubscriberActivity>;
}

export type OperatorReplay =
  | { readonly ok: true; readonly job: JobRecord }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'not_dead'; readonly job: JobRecord };

export interface SubscriberActivity {
  readonly events: readonly EventRecord[];
  readonly jobs: readonly JobRecord[];
}

export type ActionContext<P, D> = JobInput<P> & AttemptEnvironment<D>;

export interface BatchContext<P, D> extends AttemptEnvironment<D> {
  /** The jobs of this call, in claim order (per-subscriber order kept). */
  readonly items: readonly JobInput<P>[];
}

export interface BatchResult {
  /** The shared call; each job's audit record points at it. */
  readonly call?: CallRecord;
  /** One result per item, in the same order. */
  readonly results: readonly ActionResult[];
}

interface ActionCommon<P> {
  readonly description: string;
  /** The rule's `params` for this action: checked when the config loads, and again at each attempt. */
  readonly params: z.ZodType<P>;
}

/** One job → one attempt (which may make more than one call, e.g. a lookup then a create). */
export interface JobAction<P = unknown, D = unknown> extends ActionCommon<P> {
  readonly kind: 'job';
  /**
   * The job's rate-limit sub-key, decided at routing from its params when the rule sets none (Slack:
   * the channel, so a flood on one channel never slows another). Templates are not rendered yet.
   */
  subKey?(params: P, destination: D): string | undefined;
  run(ctx: ActionContext<P, D>): Promise<ActionResult>;
}

/** Many jobs → one call: one rate-limit token per call, one audit record per job. */
export interface BatchAction<P = unknown, D = unknown> extends ActionCommon<P> {
  readonly kind: 'batch';
  /** Most jobs in one call. */
  maxBatchSize(destination: D): number;
  runBatch(ctx: BatchContext<P, D>): Promise<BatchResult>;
}

export type ActionDefinition<P = unknown, D = unknown> = JobAction<P, D> | BatchAction<P, D>;

/**
 * An action of some params type, as the registry holds it: each action's params are checked by its
 * own schema before `run` sees them, so the registry need not know their type.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAction<D> = JobAction<any, D> | BatchAction<any, D>;

/** An inbound request as a source sees it: the raw bytes (signatures are computed over them). */
export interface InboundRequest {
  readonly method: string;
  /** The path after `/hooks/in/<destination>/<source>` ('' or '/<token>' …). */
  readonly subpath: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
}

/** One event a source received, before routing. */
export interface SourceEvent {
  /** The integration's own event type (`purchase.created`, `block_actions`, …). */
  readonly type: string;
  /** The id the integration gives it: the dedupe key (with the source), when it has one. */
  readonly id?: string;
  readonly email?: string;
  /** A Kit subscriber id when the source knows it. */
  readonly subscriberId?: string;
  /**
   * Jobs of events with one order key run one at a time, in commit order (per destination and
   * sub-key), as one subscriber's jobs do; a later job waits while an earlier one is pending or
   * retrying. For work whose calls must arrive in order (a Meta replace session's batches).
   * Takes the place of the subscriber as the ordering key.
   */
  readonly orderKey?: string;
  readonly occurredAt?: number;
  readonly payload: unknown;
  /**
   * Jobs the source itself plans on its own destination, whatever the rules say (a Slack button
   * press is answered by the Slack destination): committed with the event, in the same
   * transaction, recorded under the rule `<integration>:<source>`. A duplicate makes none.
   */
  readonly jobs?: readonly SourceJob[];
}

export interface SourceJob {
  /**
   * Another configured destination the job runs on (a Kajabi reconciliation's summary, posted by
   * a Slack destination); its `action` is then one of that destination's integration's actions.
   * @default the source's own destination
   */
  readonly destination?: string;
  /** One of the integration's actions. */
  readonly action: string;
  /** Checked against the action's schema at each attempt; no templates (they would be rendered). */
  readonly params: unknown;
  readonly subKey?: string;
  /** Made to run this long after it is committed, not at once (changes within it coalesce). */
  readonly delayMs?: number;
}

/** An answer a source gives the sender itself, instead of kitrelay's JSON acknowledgement. */
export interface SourceResponse {
  readonly status: number;
  /** @default 'text/plain; charset=utf-8' */
  readonly contentType?: string;
  /** '' for an empty body. */
  readonly body: string;
}

export type SourceParse =
  /** `respond`: sent once the events are committed (a duplicate gets it too), instead of the JSON ack. */
  | { readonly kind: 'events'; readonly events: readonly SourceEvent[]; readonly quarantine: readonly { readonly reason: string; readonly detail: string; readonly body: Buffer }[]; readonly respond?: SourceResponse }
  /** Authenticated but unreadable: kept in quarantine, answered 400. */
  | { readonly kind: 'malformed'; readonly reason: string; readonly detail: string }
  /** A request that is about the connection, not an event (a liveness check, a URL handshake): answered, nothing stored. */
  | { readonly kind: 'answer'; readonly respond: SourceResponse };

export type SourceAuth =
  | { readonly ok: true }
  /** `code` names the refusal in metrics (`kitrelay_ingest_rejected_total{reason}`). @default 'bad_token' (404: 'unknown_route') */
  | { readonly ok: false; readonly status: 401 | 403 | 404; readonly reason: string; readonly code?: 'bad_token' | 'missing_signature' | 'bad_signature' | 'stale_timestamp' };

/**
 * An inbound HTTP route, authenticated the integration's way (URL token, HMAC signature, MAC).
 * What it receives goes through the same commit step as Kit's webhooks: stored before the 2xx,
 * deduplicated by `SourceEvent.id`, quarantined when authenticated but malformed, routed by rules.
 */
export interface SourceDefinition<D = unknown> {
  readonly name: string;
  readonly description: string;
  /** Whether this destination's config turns the source on. @default always */
  isEnabled?(destination: D): boolean;
  /**
   * Checked before the body is parsed; `now` for timestamped signatures. `getSetting` reads the
   * store's settings, for a secret kitrelay was given at run time (an Airtable webhook's MAC
   * secret); absent where no store is at hand.
   */
  authenticate(
    request: InboundRequest,
    ctx: { readonly destination: D; readonly destinationName: string; readonly secrets: SecretResolver; readonly urlToken: string; readonly now: number; readonly getSetting?: (key: string) => Promise<string | undefined> },
  ): SourceAuth | Promise<SourceAuth>;
  parse(request: InboundRequest, ctx: { readonly destination: D; readonly destinationName: string }): SourceParse;
  /** How long an event id is remembered for dedupe. @default 72 h */
  readonly dedupeHours?: number;
}

/** What a destination's scheduled syncs are given when they are made. */
export interface ScheduleDeps<D> {
  readonly destinationName: string;
  readonly destination: D;
  readonly secrets: SecretResolver;
  /** The store's sides a sync reads and keeps state in: the subscriber mirror, audiences. */
  readonly store: IntegrationSyncStore;
  /** The shared outbound client; absent where none runs (a CLI listing schedules): make one per run then. */
  readonly http?: HttpClient;
  /** `kitrelay/<version>`, for User-Agent headers. */
  readonly userAgent: string;
  /**
   * A poller's findings, committed through the same step as an inbound source's: stored,
   * deduplicated by `SourceEvent.id`, routed by rules (events of source `poll`).
   */
  ingest(poller: string, events: readonly SourceEvent[]): Promise<PolledIngest>;
  /** A durable cursor by name: kept across runs, successful ones included (a run's checkpoint is not). */
  cursor(name: string): DurableCursor;
  /** Kit's changed subscribers into the mirror, through the shared rate budget; absent without Kit access. */
  readonly kit?: KitSubscriberPull;
}

/** Pulls from Kit into the subscriber mirror (sync/pull.ts), for a sync that reads the mirror. */
export interface KitSubscriberPull {
  /** Subscribers Kit changed since `since` (the backfill, while none has finished), page by page. */
  pull(options: { readonly since?: number; readonly signal?: AbortSignal; readonly onPage?: (progress: { readonly written: number; readonly total?: number }) => void }): Promise<KitPullResult>;
}

export interface KitPullResult {
  /** `backfill`: the mirror had no finished backfill, so this pull was it. */
  readonly kind: 'backfill' | 'changed';
  readonly written: number;
  readonly pages: number;
  /** The `updated_after` asked for (changed pulls). */
  readonly since?: number;
}

export interface PolledIngest {
  readonly accepted: number;
  readonly duplicates: number;
  readonly jobs: number;
}

export interface DurableCursor {
  load(): Promise<string | null>;
  save(value: string): Promise<void>;
}

/** What a destination's `followSubscribers` is given besides the subscribers. */
export interface FollowContext<D> {
  readonly destinationName: string;
  readonly destination: D;
  /** The store's sides a sync keeps state in (Meta: an audience's expected membership). */
  readonly store: IntegrationSyncStore;
  /** Epoch ms, from the injected clock. */
  readonly now: number;
  /**
   * Commits events with the jobs they plan, as a poller's (`ScheduleDeps.ingest`): how a hook
   * queues work (Airtable: one write per changed subscriber). Absent where nothing may be queued.
   */
  readonly ingest?: (poller: string, events: readonly SourceEvent[]) => Promise<PolledIngest>;
}

/** Scheduled work of one destination (reconciliations, pollers); each becomes a durable schedule. */
export type IntegrationSchedules<D> = (ctx: ScheduleDeps<D>) => readonly ScheduleDefinition[];

export interface Integration<D extends DestinationBase = DestinationBase> {
  /** The destination `type` (`webhook`, `bonjoro`, …). */
  readonly type: string;
  readonly description: string;
  /** The destination's config schema: an object with `type: z.literal(<type>)` and `...destinationCommon`. */
  readonly configSchema: z.ZodType<D>;
  readonly actions: Readonly<Record<string, AnyAction<D>>>;
  /** The action a rule gets when it names none. */
  readonly defaultAction?: string;
  readonly sources?: readonly SourceDefinition<D>[];
  readonly schedules?: IntegrationSchedules<D>;
  /**
   * Follows the subscriber mirror as Kit's events change it (ingest/follow.ts): called with the
   * current mirror rows of the subscribers whose accepted Kit events were committed since the last
   * call (each once, in kit id order). They are state, not a change log: a crash before the
   * follower saved its place calls again with the same subscribers, and the result must be the
   * same. A throw leaves the follower where it was; it tries again at its next pass. What no event
   * reports (a backfill, a subscriber deleted from the mirror) is left to the scheduled syncs.
   */
  followSubscribers?(ctx: FollowContext<D>, subscribers: readonly MirrorSubscriber[]): Promise<void>;
  /** Checks the schema cannot express; each message names the field and the fix. */
  check?(destination: D, name: string): readonly string[];
  /**
   * The sandbox (`kitrelay start` with no credentials): stand this integration's simulator in for a
   * destination whose credentials are not set. Undefined when the destination needs no stand-in.
   */
  sandbox?(ctx: { readonly destinationName: string; readonly destination: D; readonly env: Readonly<Record<string, string | undefined>> }): Promise<SandboxStandIn<D> | undefined>;
  /**
   * The sandbox listens now: finish setting up this integration's stand-in where that needs the
   * relay's address (Airtable: the base's webhook, pointed at the `webhook` source). `sourceUrl`
   * names one of the destination's sources. A throw is logged; the sandbox runs on.
   */
  sandboxStarted?(ctx: { readonly deps: ScheduleDeps<D>; readonly sourceUrl: (source: string) => string }): Promise<void>;
}

/** A simulator running in place of a destination's real API, and the config that points at it. */
export interface SandboxStandIn<D> {
  /** The destination's config, pointed at the simulator. */
  readonly destination: D;
  /** Values for env references the environment leaves unset (the simulator's token). */
  readonly overlay: Readonly<Record<string, string>>;
  readonly simulator: { readonly name: string; readonly url: string; close(): Promise<void> };
}

/** An integration of some destination type, as the registry holds it (each checks its own config). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyIntegration = Integration<any>;
