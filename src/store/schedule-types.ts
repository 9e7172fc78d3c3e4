/**
 * Durable schedules: the store's side of recurring work (retention, Kit recovery, integrations'
 * scheduled syncs). The store keeps what every process sharing it must agree on; the cron
 * arithmetic is the caller's (src/schedules/), which passes the times it computed.
 *
 * More words (the glossary in types.ts has the rest):
 *
 * - **schedule**: a named piece of recurring work with a cron expression. Its row holds the next
 *   slot not yet run, a pending retry, its failure streak, and the lease of the process running it.
 * - **schedule run**: one execution of a schedule: why it started (its trigger), which process ran
 *   it, its progress while running, and how it ended (counts, what it changed, a summary, an error).
 * - **schedule lease**: the claim of one process on a schedule while a run is under way. Taken in a
 *   write transaction, only when free or expired, so two processes never run a schedule at once; a
 *   holder that stops renewing it (its process died) loses it, and its run is `abandoned`.
 *
 * Triggers: `cron` (its slot came), `missed` (its slot passed while no process was running: one
 * run however many slots passed), `manual` (`kitrelay schedules run`), `retry` (after a failed or
 * abandoned run).
 */

export type ScheduleTrigger = 'cron' | 'missed' | 'manual' | 'retry';
export type ScheduleRunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** A schedule as a process registers it (upsertSchedules). */
export interface ScheduleRegistration {
  readonly name: string;
  readonly cron: string;
  /** IANA time zone the cron expression is read in; null = UTC. */
  readonly timezone: string | null;
  /** The first slot after now: used when the schedule is new or its cron or time zone changed. */
  readonly nextRunAt: number;
}

export interface ScheduleProgress {
  readonly done?: number;
  readonly total?: number;
  readonly message?: string;
  /** When it was reported. */
  readonly at: number;
}

export interface ScheduleRunRecord {
  readonly id: number;
  readonly schedule: string;
  readonly trigger: ScheduleTrigger;
  /** 1 for a slot's (or a manual) run, then 2, 3… for its retries. */
  readonly attempt: number;
  /** The slot (or retry time) the run is for; null for manual runs. */
  readonly scheduledFor: number | null;
  readonly status: ScheduleRunStatus;
  /** The process that ran it (its scheduler's owner id). */
  readonly owner: string;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly progress: ScheduleProgress | null;
  readonly counts: Readonly<Record<string, number>> | null;
  /** What the run changed, as the schedule reported it; the first 100 entries. */
  readonly changes: readonly unknown[];
  readonly changesOmitted: number;
  readonly summary: string | null;
  readonly error: string | null;
}

export interface ScheduleRecord {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly nextRunAt: number;
  readonly retryAt: number | null;
  /** The attempt number of the latest run. */
  readonly attempt: number;
  readonly consecutiveFailures: number;
  /** Set while a run holds the lease (it may have expired: its holder died). */
  readonly lease: { readonly owner: string; readonly expiresAt: number; readonly runId: number } | null;
  readonly updatedAt: number;
  /** The latest run, if any. */
  readonly lastRun: ScheduleRunRecord | null;
}

export interface ClaimScheduleInput {
  readonly name: string;
  readonly owner: string;
  readonly now: number;
  readonly leaseMs: number;
  /**
   * The schedule's latest cron slot at or before `now`. A next run before it means at least one
   * later slot passed unrun too: the run is recorded as `missed`, and runs once.
   */
  readonly latestSlotAt: number | null;
}

export type ScheduleClaim =
  | { readonly kind: 'claimed'; readonly run: ScheduleRunRecord; readonly schedule: ScheduleRecord }
  /** Nothing due: neither its slot nor its retry has come, and no holder died. */
  | { readonly kind: 'not_due'; readonly nextRunAt: number; readonly retryAt: number | null }
  /** Another run holds the lease. */
  | { readonly kind: 'held'; readonly owner: string; readonly runId: number; readonly leaseExpiresAt: number }
  | { readonly kind: 'unknown_schedule' };

export interface FinishScheduleRunInput {
  readonly runId: number;
  readonly owner: string;
  readonly now: number;
  readonly status: 'succeeded' | 'failed';
  readonly counts?: Readonly<Record<string, number>>;
  /** Bounded when stored: the first 100 are kept. */
  readonly changes?: readonly unknown[];
  readonly summary?: string;
  readonly error?: string;
  /** The next slot; undefined keeps the one stored. */
  readonly nextRunAt?: number;
  /** When to retry a failed run; null = wait for the next slot. */
  readonly retryAt: number | null;
}

export interface ScheduleRunFilter {
  readonly schedule?: string;
  /** Only ids below this (paging, newest first). */
  readonly beforeId?: number;
  /** @default 100 */
  readonly limit?: number;
}

export interface ScheduleStore {
  /**
   * Registers the schedules a process runs. A new schedule starts at its `nextRunAt`; a known one
   * keeps its next run unless its cron or time zone changed. Rows of schedules left out stay (with
   * their history) and are simply not claimed.
   */
  upsertSchedules(registrations: readonly ScheduleRegistration[], now: number): Promise<void>;
  /**
   * Starts the schedule's due run for `owner`, atomically: only when its lease is free or expired,
   * and its slot or retry has come (or its holder died). An expired holder's run is marked
   * `abandoned` first and the new run is a `retry`.
   */
  claimDueSchedule(input: ClaimScheduleInput): Promise<ScheduleClaim>;
  /** Starts a `manual` run now, due or not; `held` when another run holds a live lease. */
  startManualRun(name: string, owner: string, now: number, leaseMs: number): Promise<ScheduleClaim>;
  /** Renews the lease of a running run. False when `owner` no longer holds it. */
  extendScheduleLease(runId: number, owner: string, leaseExpiresAt: number): Promise<boolean>;
  /** Records a running run's progress and renews its lease. False when `owner` no longer holds it. */
  reportScheduleProgress(runId: number, owner: string, progress: ScheduleProgress, leaseExpiresAt: number): Promise<boolean>;
  /**
   * Records how the run ended and releases the lease: next run, retry and failure streak move on.
   * Returns false when `owner` no longer held the lease (its run was abandoned and another process
   * took over): the run's outcome is still recorded, the schedule is left to the new holder.
   */
  finishScheduleRun(input: FinishScheduleRunInput): Promise<boolean>;
  /** Every registered schedule, by name, with its latest run. */
  listSchedules(): Promise<ScheduleRecord[]>;
  getScheduleRun(id: number): Promise<ScheduleRunRecord | undefined>;
  /** Runs, newest first. */
  listScheduleRuns(filter: ScheduleRunFilter): Promise<ScheduleRunRecord[]>;
}
