/**
 * What a run gets (ScheduleContext): its abort signal, progress reports, a checkpoint, and the
 * heartbeat that renews its lease while it runs. A run whose lease is lost (the heartbeat finds
 * another holder) has its signal aborted: another process has taken the schedule over.
 */
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { ScheduleRunRecord, SyncCheckpoint } from '../store/types.js';
import type { SavedCheckpoint, ScheduleContext, SchedulerStore } from './types.js';

export interface RunContextOptions {
  readonly store: SchedulerStore;
  readonly clock: Clock;
  readonly log: Log;
  readonly run: ScheduleRunRecord;
  readonly ownerId: string;
  readonly leaseMs: number;
  /** Aborted when the scheduler stops. */
  readonly stopping: AbortSignal;
}

export interface RunContext {
  readonly context: ScheduleContext;
  /** Stops the heartbeat. */
  close(): void;
  /** After a successful run: its checkpoint is complete, so the next run starts afresh. */
  completeCheckpoint(): Promise<void>;
}

/** The sync checkpoint a schedule's runs share (store/kit-types.ts). */
export function checkpointName(schedule: string): string {
  return `schedule:${schedule}`;
}

export function createRunContext(options: RunContextOptions): RunContext {
  const { store, clock, log, run, ownerId, leaseMs } = options;
  const lease = new AbortController();
  const signal = AbortSignal.any([options.stopping, lease.signal]);
  const name = checkpointName(run.schedule);
  const onLeaseAnswer = (isHeld: boolean): void => {
    if (isHeld || lease.signal.aborted) return;
    log.warn('the run lost its lease: another process has taken the schedule over; aborting it');
    lease.abort(new Error('the run lost its lease to another process'));
  };
  const heartbeat = setInterval(() => {
    store.extendScheduleLease(run.id, ownerId, clock.now() + leaseMs).then(onLeaseAnswer, (error: unknown) => {
      // The lease is still ours until it expires; the next beat tries again.
      log.warn({ err: error }, 'could not renew the schedule lease');
    });
  }, Math.max(Math.floor(leaseMs / 3), 50));
  heartbeat.unref();

  const unfinished = async (): Promise<SyncCheckpoint | undefined> => {
    const saved = await store.getCheckpoint(name);
    return saved !== undefined && saved.completedAt === null ? saved : undefined;
  };

  const context: ScheduleContext = {
    signal,
    now: () => clock.now(),
    log,
    runId: run.id,
    trigger: run.trigger,
    attempt: run.attempt,
    scheduledFor: run.scheduledFor,
    async reportProgress(progress) {
      const now = clock.now();
      onLeaseAnswer(await store.reportScheduleProgress(run.id, ownerId, { ...progress, at: now }, now + leaseMs));
    },
    checkpoint: {
      async load(): Promise<SavedCheckpoint | undefined> {
        const saved = await unfinished();
        return saved && { cursor: saved.cursor, data: saved.data };
      },
      async save(checkpoint) {
        const now = clock.now();
        const startedAt = (await unfinished())?.startedAt ?? run.startedAt;
        await store.saveCheckpoint({ name, cursor: checkpoint.cursor, data: checkpoint.data, startedAt, updatedAt: now, completedAt: null });
      },
    },
  };

  return {
    context,
    close: () => clearInterval(heartbeat),
    async completeCheckpoint() {
      const saved = await unfinished();
      if (saved !== undefined) await store.saveCheckpoint({ ...saved, updatedAt: clock.now(), completedAt: clock.now() });
    },
  };
}
