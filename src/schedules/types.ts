/**
 * Durable schedules: recurring work (retention, Kit recovery, integrations' scheduled syncs) run
 * from cron expressions, with leases and a run history in the store (words: store/schedule-types.ts).
 *
 * A schedule is a definition (this file) that the scheduler (scheduler.ts) runs: each slot of its
 * cron once across every process sharing the store; a slot missed while nothing ran, once; a failed
 * run again after a backoff, at most `retry.maxRetries` times before the next slot.
 */
import type { Log } from '../lib/log.js';
import type { ScheduleRunRecord, ScheduleTrigger, Store } from '../store/types.js';

/** What the scheduler needs of the store. */
export type SchedulerStore = Pick<
  Store,
  | 'upsertSchedules'
  | 'claimDueSchedule'
  | 'startManualRun'
  | 'extendScheduleLease'
  | 'reportScheduleProgress'
  | 'finishScheduleRun'
  | 'listSchedules'
  | 'getScheduleRun'
  | 'getCheckpoint'
  | 'saveCheckpoint'
>;

export interface ScheduleRetryPolicy {
  /** Retries of a failed run before it waits for its next slot. @default 3 */
  readonly maxRetries: number;
  /** The first retry waits this long, each next one twice as long (capped at an hour). @default 30_000 */
  readonly baseDelayMs: number;
}

export interface ScheduleDefinition {
  /** Unique; letters, digits and `- _ . :` (`retention`, `kit-recovery`, `airtable:crm`). */
  readonly name: string;
  /** Five fields (`0 * * * *`), or six with seconds first; `config.schedules.<name>.cron` overrides it. */
  readonly cron: string;
  /** IANA time zone the cron is read in. @default UTC */
  readonly timezone?: string;
  /** One line for `kitrelay schedules list`. */
  readonly description?: string;
  /** How long a run's lease lasts without renewal (renewed every third of it while it runs). @default 60_000 */
  readonly leaseMs?: number;
  /** @default { maxRetries: 3, baseDelayMs: 30_000 } */
  readonly retry?: ScheduleRetryPolicy;
  /**
   * Does the work. A throw, or a result with `error`, is a failed run: recorded, and retried unless
   * `isRetriable` is false. Should stop soon after `ctx.signal` aborts (shutdown, lease lost).
   */
  run(ctx: ScheduleContext): Promise<ScheduleRunResult>;
}

export interface ScheduleProgressReport {
  readonly done?: number;
  readonly total?: number;
  readonly message?: string;
}

/** Where the last unfinished run of this schedule got to, kept in the store (a sync checkpoint). */
export interface SavedCheckpoint {
  readonly cursor: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface ScheduleCheckpoint {
  /** The checkpoint an earlier failed or abandoned run saved; undefined after a run that succeeded. */
  load(): Promise<SavedCheckpoint | undefined>;
  /** Saves where this run got to; a run that succeeds marks it complete, so the next starts afresh. */
  save(checkpoint: SavedCheckpoint): Promise<void>;
}

export interface ScheduleContext {
  /** Aborted when the scheduler stops or the run loses its lease. */
  readonly signal: AbortSignal;
  now(): number;
  /** The scheduler's log with `schedule` and `runId`. */
  readonly log: Log;
  readonly runId: number;
  readonly trigger: ScheduleTrigger;
  /** 1, then 2, 3… for retries. */
  readonly attempt: number;
  /** The slot (or retry time) this run is for; null for a manual run. */
  readonly scheduledFor: number | null;
  /** Records progress (one store write: report per page, not per item) and renews the lease. */
  reportProgress(progress: ScheduleProgressReport): Promise<void>;
  readonly checkpoint: ScheduleCheckpoint;
}

export interface ScheduleRunResult {
  /** What the run counted (`purged: 12`, `created: 3`). */
  readonly counts?: Readonly<Record<string, number>>;
  /** What it changed, one entry per change; the store keeps the first 100 and counts the rest. */
  readonly changes?: readonly unknown[];
  readonly summary?: string;
  /** The run failed (with the counts and changes so far). */
  readonly error?: string;
  /** With `error`: false when a retry cannot help (it waits for the next slot). @default true */
  readonly isRetriable?: boolean;
}

/** What `runNow` (`kitrelay schedules run`) answers. */
export type ManualRunOutcome =
  | { readonly kind: 'finished'; readonly run: ScheduleRunRecord }
  /** Another run holds the lease (possibly in another process). */
  | { readonly kind: 'held'; readonly owner: string; readonly runId: number; readonly leaseExpiresAt: number }
  | { readonly kind: 'unknown_schedule' };

/** `config.schedules`: per schedule name, a cron or time zone in place of the built-in one, or off. */
export type ScheduleOverrides = Readonly<Record<string, { readonly cron?: string | undefined; readonly timezone?: string | undefined; readonly enabled?: boolean | undefined }>>;
