/**
 * The scheduler: runs schedule definitions from the store's schedules table, in every process that
 * starts one, each slot once between them.
 *
 * A pass reads the schedules, and for each one of its own that looks due asks the store to claim it
 * (`claimDueSchedule`): the store takes the lease only if it is free or expired and the slot, retry
 * or dead holder's rerun is still due, in one write transaction, so of two processes sharing the
 * file only one starts the run. While a run is under way a heartbeat renews the lease; a holder that
 * dies leaves it to expire, and the next pass anywhere marks its run abandoned and runs it again.
 *
 * The next slot is computed when a run finishes, as the first after that moment: a slot missed while
 * nothing ran (or while a long run ran) is run once, not once per slot. A failed run is retried with
 * exponential backoff (`retry`), at most `maxRetries` times, never past the next slot.
 *
 * Nothing throws out of the loop: a store fault is logged and the pass tried again at the next poll;
 * a run's failure is recorded in its run record.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseCron, type CronSchedule } from '../lib/cron.js';
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { ScheduleRecord, ScheduleRunRecord } from '../store/types.js';
import { createRunContext } from './context.js';
import type { ManualRunOutcome, ScheduleDefinition, ScheduleRetryPolicy, ScheduleRunResult, SchedulerStore } from './types.js';

export interface SchedulerOptions {
  readonly store: SchedulerStore;
  readonly clock: Clock;
  readonly log: Log;
  readonly schedules: readonly ScheduleDefinition[];
  /** Names this process in leases and run records. @default `<host>:<pid>:<random>` */
  readonly ownerId?: string;
  /**
   * Longest wait between passes. Passes also wake at the earliest next run, retry or lease expiry
   * they read, so this only bounds how late a change made by another process is seen. @default 10_000
   */
  readonly pollIntervalMs?: number;
}

export interface Scheduler {
  readonly ownerId: string;
  /** Starts polling (timers are unref'ed: they keep no process alive). */
  start(): void;
  /** Stops polling, aborts running runs' signals and waits up to `graceMs` for them to finish. */
  stop(options?: { readonly graceMs?: number }): Promise<void>;
  /** Runs a schedule now in this process (trigger `manual`), holding its lease; waits for the run. */
  runNow(name: string): Promise<ManualRunOutcome>;
  /** One pass: claims and runs what is due now, and waits for those runs (tests drive it with a TestClock). */
  tick(): Promise<ScheduleRunRecord[]>;
}

export const DEFAULT_LEASE_MS = 60_000;
export const DEFAULT_RETRY: ScheduleRetryPolicy = { maxRetries: 3, baseDelayMs: 30_000 };
const DEFAULT_POLL_INTERVAL_MS = 10_000;
const MAX_RETRY_DELAY_MS = 3_600_000;
const DEFAULT_STOP_GRACE_MS = 5_000;
/** Timers can fire a little before the clock reads the time they aimed at. */
const WAKE_SLACK_MS = 5;
export const SCHEDULE_NAME = /^[a-z0-9][a-z0-9_.:-]*$/i;

interface Entry {
  readonly definition: ScheduleDefinition;
  readonly cron: CronSchedule;
  readonly leaseMs: number;
  readonly retry: ScheduleRetryPolicy;
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const { store, clock, log } = options;
  const ownerId = options.ownerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const entries = new Map(options.schedules.map((definition) => [definition.name, toEntry(definition)] as const));
  if (entries.size !== options.schedules.length) throw new Error('two schedules share a name: schedule names must be unique');
  const running = new Map<string, Promise<ScheduleRunRecord | undefined>>();
  const stopping = new AbortController();
  let isRegistered = false;
  let isStarted = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<unknown> | undefined;
  let isWakeRequested = false;

  const register = async (): Promise<void> => {
    if (isRegistered) return;
    const now = clock.now();
    const registrations = [...entries.values()].map(({ definition, cron }) => ({
      name: definition.name,
      cron: definition.cron,
      timezone: definition.timezone ?? null,
      nextRunAt: cron.nextAfter(now) ?? Number.MAX_SAFE_INTEGER,
    }));
    await store.upsertSchedules(registrations, now);
    isRegistered = true;
  };

  /** Claims what is due; answers the runs started and when to look again. */
  const claimDue = async (): Promise<{ started: Promise<ScheduleRunRecord | undefined>[]; wakeAt: number }> => {
    await register();
    const rows = new Map((await store.listSchedules()).map((row) => [row.name, row] as const));
    const now = clock.now();
    const started: Promise<ScheduleRunRecord | undefined>[] = [];
    let wakeAt = now + pollIntervalMs;
    for (const entry of entries.values()) {
      const name = entry.definition.name;
      const row = rows.get(name);
      if (row === undefined || running.has(name) || stopping.signal.aborted) continue;
      const dueAt = dueTime(row);
      if (dueAt > now) {
        wakeAt = Math.min(wakeAt, dueAt);
        continue;
      }
      const claim = await store.claimDueSchedule({ name, owner: ownerId, now, leaseMs: entry.leaseMs, latestSlotAt: entry.cron.latestAtOrBefore(now) });
      if (claim.kind !== 'claimed') continue;
      started.push(track(name, execute(entry, claim.run)));
    }
    return { started, wakeAt };
  };

  const track = (name: string, run: Promise<ScheduleRunRecord | undefined>): Promise<ScheduleRunRecord | undefined> => {
    running.set(name, run);
    void run.finally(() => {
      running.delete(name);
      wake();
    });
    return run;
  };

  /**
   * A run has ended: look again now rather than at the next poll, since its next slot (or retry)
   * may come sooner than that (a schedule every few seconds). A pass in flight looks again once
   * it ends instead.
   */
  const wake = (): void => {
    if (!isStarted || stopping.signal.aborted) return;
    if (pass !== undefined) {
      isWakeRequested = true;
      return;
    }
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void loop(), WAKE_SLACK_MS);
    timer.unref();
  };

  /** Runs a claimed run to its end and records it. Never throws. */
  const execute = async (entry: Entry, run: ScheduleRunRecord): Promise<ScheduleRunRecord | undefined> => {
    const { definition } = entry;
    const runLog = log.child({ schedule: definition.name, runId: run.id, trigger: run.trigger, attempt: run.attempt });
    if (run.trigger === 'retry' && run.attempt > entry.retry.maxRetries + 1) {
      // Only a dead holder's rerun gets here: retries after failures stop at maxRetries.
      const error = `gave up after ${run.attempt - 1} attempts that failed or were abandoned; waiting for the next slot`;
      return finish(entry, run, { error, isRetriable: false }, runLog);
    }
    const context = createRunContext({ store, clock, log: runLog, run, ownerId, leaseMs: entry.leaseMs, stopping: stopping.signal });
    let result: ScheduleRunResult;
    try {
      runLog.info('schedule run started');
      result = await definition.run(context.context);
    } catch (error) {
      result = { error: errorText(error) };
    } finally {
      context.close();
    }
    if (result.error === undefined) await context.completeCheckpoint().catch((error: unknown) => runLog.warn({ err: error }, 'could not mark the checkpoint complete'));
    return finish(entry, run, result, runLog);
  };

  const finish = async (entry: Entry, run: ScheduleRunRecord, result: ScheduleRunResult, runLog: Log): Promise<ScheduleRunRecord | undefined> => {
    const now = clock.now();
    const isFailed = result.error !== undefined;
    const nextRunAt = entry.cron.nextAfter(now) ?? undefined;
    const retryAt = isFailed && run.trigger !== 'manual' && result.isRetriable !== false ? retryTime(entry, run.attempt, now, nextRunAt) : null;
    try {
      const isCurrent = await store.finishScheduleRun({
        runId: run.id,
        owner: ownerId,
        now,
        status: isFailed ? 'failed' : 'succeeded',
        ...(result.counts ? { counts: result.counts } : {}),
        ...(result.changes ? { changes: result.changes } : {}),
        ...(result.summary !== undefined ? { summary: result.summary } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(nextRunAt !== undefined ? { nextRunAt } : {}),
        retryAt,
      });
      if (!isCurrent) runLog.warn('the run finished after losing its lease: another process has taken the schedule over');
      if (isFailed) runLog.error({ error: result.error, retryAt: retryAt && new Date(retryAt).toISOString() }, 'schedule run failed');
      else runLog.info({ counts: result.counts, summary: result.summary }, 'schedule run succeeded');
      return await store.getScheduleRun(run.id);
    } catch (error) {
      // The lease expires and the next pass (here or elsewhere) reruns it as abandoned.
      runLog.error({ err: error }, 'could not record the end of a schedule run; it will run again once its lease expires');
      return undefined;
    }
  };

  const loop = async (): Promise<void> => {
    timer = undefined;
    let wakeAt = clock.now() + pollIntervalMs;
    try {
      const current = claimDue();
      pass = current;
      ({ wakeAt } = await current);
    } catch (error) {
      log.error({ err: error }, 'schedules: a pass failed; trying again at the next poll');
    } finally {
      pass = undefined;
    }
    if (stopping.signal.aborted) return;
    const delay = isWakeRequested ? WAKE_SLACK_MS : Math.min(Math.max(wakeAt - clock.now(), 0), pollIntervalMs) + WAKE_SLACK_MS;
    isWakeRequested = false;
    timer = setTimeout(() => void loop(), delay);
    timer.unref();
  };

  return {
    ownerId,
    start() {
      if (isStarted) return;
      isStarted = true;
      void loop();
    },
    async stop(stopOptions = {}) {
      stopping.abort(new Error('the scheduler is stopping'));
      if (timer) clearTimeout(timer);
      if (pass === undefined && running.size === 0) return;
      // A pass in flight may still claim a slot and start its run (the claim was already asked
      // for): wait for the pass first, then for every run, those it started included.
      const inFlight = pass;
      const settled = (async () => {
        await inFlight?.catch(() => undefined);
        await Promise.allSettled([...running.values()]);
      })();
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise((resolve) => (graceTimer = setTimeout(resolve, stopOptions.graceMs ?? DEFAULT_STOP_GRACE_MS)));
      await Promise.race([settled, grace]);
      clearTimeout(graceTimer);
    },
    async runNow(name) {
      const entry = entries.get(name);
      if (entry === undefined) return { kind: 'unknown_schedule' };
      await register();
      const claim = await store.startManualRun(name, ownerId, clock.now(), entry.leaseMs);
      if (claim.kind === 'not_due') throw new Error('startManualRun answered not_due, which it never should');
      if (claim.kind !== 'claimed') return claim;
      const run = await track(name, execute(entry, claim.run));
      if (run === undefined) throw new Error(`schedule ${name}: run ${claim.run.id} ended but its record could not be written`);
      return { kind: 'finished', run };
    },
    async tick() {
      const { started } = await claimDue();
      const runs = await Promise.all(started);
      return runs.filter((run) => run !== undefined);
    },
  };
}

function toEntry(definition: ScheduleDefinition): Entry {
  if (!SCHEDULE_NAME.test(definition.name)) throw new Error(`schedule name "${definition.name}": use letters, digits, - _ . or :`);
  const parsed = parseCron(definition.cron, definition.timezone);
  if (!parsed.ok) throw new Error(`schedule ${definition.name}: ${parsed.message}`);
  return { definition, cron: parsed.schedule, leaseMs: definition.leaseMs ?? DEFAULT_LEASE_MS, retry: definition.retry ?? DEFAULT_RETRY };
}

/** When a schedule can next be claimed: its lease's end while held, else its next slot or retry. */
function dueTime(row: ScheduleRecord): number {
  if (row.lease) return row.lease.expiresAt;
  return Math.min(row.nextRunAt, row.retryAt ?? Number.POSITIVE_INFINITY);
}

/** Backoff for the retry after failed attempt `attempt`: base × 2^(attempt−1), none past the next slot. */
function retryTime(entry: Entry, attempt: number, now: number, nextRunAt: number | undefined): number | null {
  if (attempt > entry.retry.maxRetries) return null;
  const retryAt = now + Math.min(entry.retry.baseDelayMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
  return nextRunAt !== undefined && retryAt >= nextRunAt ? null : retryAt;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
