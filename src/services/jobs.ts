/** Jobs: the queue, and the dead-letter triage (show, replay, cancel). */
import type { AttemptRecord, EventRecord, JobFilter, JobRecord } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

export interface JobDetail {
  readonly job: JobRecord;
  /** Undefined once retention removed the event. */
  readonly event: EventRecord | undefined;
  /** Its audit records, oldest first. */
  readonly attempts: readonly AttemptRecord[];
}

/** Jobs matching the filter, newest first. */
export function listJobs(deps: ServiceDeps, filter: JobFilter): Promise<JobRecord[]> {
  return deps.store.listJobs(filter);
}

export async function showJob(deps: ServiceDeps, id: number): Promise<JobDetail | undefined> {
  const job = await deps.store.getJob(id);
  if (!job) return undefined;
  const [event, attempts] = await Promise.all([deps.store.getEvent(job.eventId), deps.store.listAttempts({ jobId: id, limit: 1000 })]);
  return { job, event, attempts: [...attempts].reverse() };
}

/**
 * How to replay one job.
 *
 * A plain replay runs the same job again: same id, same idempotency key, so a destination that
 * keeps a marker per job (a Bonjoro video task is made once per purpose per subscriber) sees it
 * was already done and does not act twice. `forceNew` is the explicit way to make it act again
 * (a second greet): a new job copying this one, with a new id and a new idempotency key, no facts
 * from the original's attempts, and the original's attempt limit; `extraAttempts` applies only
 * to a plain replay.
 */
export type ReplayOptions = { readonly forceNew?: false; readonly extraAttempts: number } | { readonly forceNew: true };

export type ReplayResult =
  /** The same job is pending again with `extraAttempts` more attempts; its history stays. */
  | { readonly kind: 'replayed'; readonly job: JobRecord }
  /** `forceNew`: `job` is the new pending copy of `original`, which is left as it was. */
  | { readonly kind: 'replayed_as_new'; readonly job: JobRecord; readonly original: JobRecord }
  | { readonly kind: 'not_found' }
  /** Pending or running: only finished (dead, cancelled, succeeded) jobs are replayed. */
  | { readonly kind: 'not_finished'; readonly job: JobRecord };

/** Runs one finished job again (see ReplayOptions for plain replay versus `forceNew`). */
export async function replayJob(deps: ServiceDeps, id: number, options: ReplayOptions): Promise<ReplayResult> {
  const before = await deps.store.getJob(id);
  if (!before) return { kind: 'not_found' };
  if (before.status === 'pending' || before.status === 'running') return { kind: 'not_finished', job: before };
  const now = deps.clock.now();
  if (options.forceNew) {
    const copy = await deps.store.cloneJob(id, now);
    if (!copy) return { kind: 'not_found' };
    // The store hands back the original itself when it is no longer finished (replayed meanwhile).
    return copy.id === id ? { kind: 'not_finished', job: copy } : { kind: 'replayed_as_new', job: copy, original: before };
  }
  const job = await deps.store.replayJob(id, options.extraAttempts, now);
  return job ? { kind: 'replayed', job } : { kind: 'not_found' };
}

export interface ReplayManyOptions {
  readonly extraAttempts: number;
  /** List what would be replayed, change nothing. */
  readonly isDryRun?: boolean;
}

/**
 * Replays the jobs a filter selects (dead ones unless the filter names a status): only those
 * jobs, never the rest of their events' fan-out. Returns the ids replayed (or, on a dry run, the
 * ids that would be).
 */
export async function replayJobs(deps: ServiceDeps, filter: JobFilter, options: ReplayManyOptions): Promise<readonly number[]> {
  const selection: JobFilter = { ...filter, status: filter.status ?? 'dead' };
  if (options.isDryRun) return (await deps.store.listJobs({ ...selection, limit: filter.limit ?? 1000 })).map((job) => job.id);
  return deps.store.replayJobs(selection, options.extraAttempts, deps.clock.now());
}

export type CancelResult =
  | { readonly kind: 'cancelled'; readonly job: JobRecord }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'already_finished'; readonly job: JobRecord };

/** Cancels a pending or running job (a running attempt finishes, but the job is not retried). */
export async function cancelJob(deps: ServiceDeps, id: number): Promise<CancelResult> {
  const before = await deps.store.getJob(id);
  if (!before) return { kind: 'not_found' };
  const job = await deps.store.cancelJob(id, deps.clock.now());
  return job ? { kind: 'cancelled', job } : { kind: 'already_finished', job: before };
}
