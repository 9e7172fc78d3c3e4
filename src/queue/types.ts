/**
 * The worker's public types: what it needs (`WorkerDeps`), what it offers (`Worker`), and what a
 * pass reports (`TickResult`). The implementation is worker.ts.
 */
import type { DestinationConfig, EnrichmentConfig, RuleConfig } from '../config/schema.js';
import type { IntegrationRegistry, KitClientFactory, OperatorPort, SecretResolver } from '../integrations/index.js';
import type { HttpClient } from '../lib/http.js';
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import type { RateBucketStore, Store } from '../store/types.js';

export interface QueueSettings {
  /** How long an idle loop sleeps before looking for due jobs again. */
  readonly pollIntervalMs: number;
  /** A claimed job's lease. */
  readonly leaseMs: number;
  /** How often leases of in-flight jobs are renewed. */
  readonly heartbeatMs: number;
}

export interface WorkerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics?: Metrics;
  /** The integrations, by destination type. @default every registered integration */
  readonly integrations?: IntegrationRegistry;
  /** The shared outbound client; its owner closes it. */
  readonly http: HttpClient;
  /** @default `kitrelay/<package version>` */
  readonly userAgent?: string;
  /** Rules and enrichments, for actions whose rule names an enrichment (`actions[].enrich`). */
  readonly enrichment?: { readonly rules: readonly RuleConfig[]; readonly enrichments: Readonly<Record<string, EnrichmentConfig>> };
  readonly destinations: Readonly<Record<string, DestinationConfig>>;
  readonly queue: QueueSettings;
  readonly secrets: SecretResolver;
  /** kitrelay's operator actions, for actions that act on the relay itself (Slack's Replay button). @default none */
  readonly operator?: OperatorPort;
  /** Kit, for actions that write there (Airtable → Kit edits). @default none: such jobs fail with a clear error */
  readonly kit?: KitClientFactory;
  /** Names this worker's leases. @default `<hostname>-<pid>-<random>` */
  readonly workerId?: string;
  /** Backoff jitter source, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /**
   * Rate-limit buckets shared with every other worker on the store (PostgreSQL): given, each
   * destination's `rateLimit` holds for all of them together. @default buckets in this process
   */
  readonly rateBuckets?: RateBucketStore;
}

/** What one `tick()` did. */
export interface TickResult {
  /** Jobs leased this pass. */
  claimed: number;
  succeeded: number;
  /** Attempts failed and the job was set to run again later. */
  retried: number;
  /** Jobs that ended dead (permanent failure or out of attempts). */
  dead: number;
  /** Attempts whose outcome is unknown (aborted by a stop, or the destination may have acted): the job runs again. */
  unknown: number;
  /** Shadow attempts: recorded, not sent. */
  shadow: number;
  /** Jobs handed back unattempted because their sub-key (or destination) bucket was empty. */
  deferred: number;
}

export interface StopOptions {
  /** How long in-flight attempts may take to finish before they are aborted. @default 10_000 */
  readonly graceMs?: number;
}

export interface Worker {
  readonly id: string;
  /** One pass over every destination, attempts awaited. Not while the loop runs. */
  tick(): Promise<TickResult>;
  /** Starts the background loop (no-op if running). */
  start(): void;
  /**
   * Stops claiming, lets in-flight attempts finish for up to `graceMs`, then aborts the rest and
   * records them as outcome `unknown` with the job pending again, so nothing is lost.
   */
  stop(options?: StopOptions): Promise<void>;
  /** Wakes the loop early: new jobs were committed. */
  nudge(): void;
  /** Attempts in flight now. */
  readonly inFlight: number;
}
