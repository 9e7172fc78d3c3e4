/**
 * One attempt: call the job's connector once, decide what happens to the job, and record both in
 * the store (`finishAttempt` writes the audit record and moves the job on in one transaction).
 *
 * Every way an attempt can end becomes a value here — the connector's result, a throw (a bug, but
 * retrying is safer than dropping the job), a connector that ignores its abort signal, a
 * destination removed from the config, a forced stop — so the worker never handles an outcome by
 * catching.
 */
import { performance } from 'node:perf_hooks';
import type { DestinationConfig, RetryPolicy } from '../config/schema.js';
import type { AttemptResult, ConnectorContext } from '../connectors/types.js';
import { toKitEvent } from '../kit/normalize.js';
import type { Log } from '../lib/log.js';
import type { AttemptInput, AttemptOutcome, ClaimedJob, JobNext, JobRecord } from '../store/types.js';
import { nextRunAt } from './backoff.js';
import type { BreakerSignal } from './breaker.js';
import type { WorkerDeps } from './types.js';

/**
 * After the attempt's signal aborts, how long the connector gets to return its own result (with
 * its request summary) before the attempt is abandoned: an HTTP client honours the abort within
 * milliseconds, so this only matters for a connector that ignores it.
 */
export const ABORT_SETTLE_MS = 1_000;

/** The worker's dependencies an attempt needs, with the worker's id and random source settled. */
export type AttemptDeps = Pick<WorkerDeps, 'store' | 'clock' | 'metrics' | 'connectors' | 'destinations' | 'secrets'> & {
  readonly workerId: string;
  readonly random: () => number;
};

/** What became of one attempt, for the worker's breaker and counters. */
export interface AttemptReport {
  readonly outcome: AttemptOutcome;
  readonly next: JobNext['status'];
  readonly breakerSignal: BreakerSignal;
  readonly error?: string;
  /** false when the worker had lost the lease: the audit record was kept, the job left alone. */
  readonly isJobUpdated: boolean;
}

/** How the call ended, before deciding about the job. */
type CallEnd = { readonly kind: 'result'; readonly result: AttemptResult } | { readonly kind: 'stopped' };

interface Decision {
  readonly outcome: AttemptOutcome;
  readonly errorClass?: AttemptInput['errorClass'];
  readonly error?: string;
  readonly next: JobNext;
  readonly breakerSignal: BreakerSignal;
}

/** Runs one claimed job's attempt and records it. Rejects only when the store cannot record it. */
export async function runAttempt(deps: AttemptDeps, claimed: ClaimedJob, stopSignal: AbortSignal): Promise<AttemptReport> {
  const { job, event } = claimed;
  const startedAt = deps.clock.now();
  const started = performance.now();
  const end = await callConnector(deps, claimed, stopSignal, startedAt);
  const finishedAt = deps.clock.now();
  const decision = decide(job, end, destinationOf(deps, job.destination)?.retry, finishedAt, deps.random);
  const call = end.kind === 'result' ? end.result.call : undefined;
  const attempt: AttemptInput = {
    jobId: job.id,
    attempt: job.attempts + 1,
    workerId: deps.workerId,
    startedAt,
    finishedAt,
    outcome: decision.outcome,
    ...(decision.errorClass ? { errorClass: decision.errorClass } : {}),
    ...(decision.error !== undefined ? { error: decision.error } : {}),
    ...(call ? { request: call.request } : {}),
    ...(call?.responseStatus !== undefined ? { responseStatus: call.responseStatus } : {}),
    ...(call?.responseBody !== undefined ? { responseBody: call.responseBody } : {}),
    correlation: {
      ...call?.correlation,
      idempotencyKey: job.idempotencyKey,
      ...(event.kitEventId ? { kitEventId: event.kitEventId } : {}),
    },
  };
  const isJobUpdated = await deps.store.finishAttempt({ attempt, next: decision.next, now: finishedAt });
  // Latency is real elapsed time, not clock time: a test clock would report every call as 0 s.
  deps.metrics?.attempts.inc({ destination: job.destination, outcome: decision.outcome });
  deps.metrics?.attemptDuration.observe({ destination: job.destination }, (performance.now() - started) / 1000);
  return {
    outcome: decision.outcome,
    next: decision.next.status,
    breakerSignal: decision.breakerSignal,
    ...(decision.error !== undefined ? { error: decision.error } : {}),
    isJobUpdated,
  };
}

/** One log line per attempt: dead jobs and lost leases at warn, successes at debug. */
export function logAttempt(log: Log, claimed: ClaimedJob, report: AttemptReport, isProbe: boolean): void {
  const { job } = claimed;
  const fields = { jobId: job.id, destination: job.destination, attempt: job.attempts + 1, outcome: report.outcome, next: report.next, isProbe, error: report.error };
  if (!report.isJobUpdated) log.warn(fields, 'attempt recorded, but the job had left this worker (cancelled, or its lease expired)');
  else if (report.next === 'dead') log.warn(fields, 'job dead');
  else if (report.outcome === 'succeeded') log.debug(fields, 'attempt succeeded');
  else log.info(fields, 'attempt failed');
}

/** Calls the connector with a signal that aborts on `timeoutMs` or on a forced stop. Never rejects. */
async function callConnector(deps: AttemptDeps, claimed: ClaimedJob, stopSignal: AbortSignal, now: number): Promise<CallEnd> {
  const { job, event: eventRecord } = claimed;
  const destination = destinationOf(deps, job.destination);
  if (!destination) {
    return failed(`destination "${job.destination}" is not in the config (was it removed or renamed?); replay the job once it is back`);
  }
  const connector = deps.connectors.get(destination.type);
  if (!connector) return failed(`no connector for destination type "${destination.type}"`);
  let event;
  try {
    event = toKitEvent(eventRecord);
  } catch (err) {
    // The stored event is what it is: normalising it again would throw again, so retrying is futile.
    return failed(`event ${eventRecord.id} could not be normalised: ${messageOf(err)}`);
  }
  const controller = new AbortController();
  const timeoutMs = destination.timeoutMs;
  const timer = setTimeout(() => controller.abort(new Error(`attempt timed out after ${timeoutMs} ms`)), timeoutMs);
  const onStop = (): void => controller.abort(stopSignal.reason);
  if (stopSignal.aborted) onStop();
  else stopSignal.addEventListener('abort', onStop, { once: true });
  const abandoned = afterAbort(controller.signal, ABORT_SETTLE_MS);
  const ctx: ConnectorContext = {
    job, eventRecord, event, destinationName: job.destination, destination,
    idempotencyKey: job.idempotencyKey, secrets: deps.secrets, signal: controller.signal, now,
  };
  try {
    // Promise.resolve().then turns a synchronous throw into a rejection; race() subscribes to
    // the call, so a rejection arriving after it was abandoned is handled, never unhandled.
    const result = await Promise.race([Promise.resolve().then(() => connector.send(ctx)), abandoned.promise]);
    if (result === ABANDONED) {
      return stopSignal.aborted ? { kind: 'stopped' } : retry(`attempt timed out after ${timeoutMs} ms (the connector did not return)`);
    }
    // Aborted by the stop and no answer from the destination: nobody knows whether it acted.
    if (stopSignal.aborted && result.outcome === 'retry' && result.call?.responseStatus === undefined) return { kind: 'stopped' };
    return { kind: 'result', result };
  } catch (err) {
    return retry(`connector threw (a bug; retried to be safe): ${messageOf(err)}`);
  } finally {
    clearTimeout(timer);
    abandoned.cancel();
    stopSignal.removeEventListener('abort', onStop);
  }
}

/** What the attempt means for the job. Pure: the policy, the time and the randomness are given. */
function decide(job: JobRecord, end: CallEnd, policy: RetryPolicy | undefined, now: number, random: () => number): Decision {
  if (end.kind === 'stopped') {
    return {
      outcome: 'unknown',
      errorClass: 'retryable',
      error: 'the worker stopped before the attempt finished and aborted it; the call may have reached the destination, so the job runs again (with the same idempotency key)',
      next: { status: 'pending', runAt: now },
      breakerSignal: 'unknown',
    };
  }
  const { result } = end;
  switch (result.outcome) {
    case 'succeeded':
      return { outcome: 'succeeded', next: { status: 'succeeded' }, breakerSignal: 'success' };
    case 'failed':
      return { outcome: 'failed', errorClass: 'permanent', error: result.error, next: { status: 'dead' }, breakerSignal: 'permanent' };
    case 'retry': {
      const attempt = job.attempts + 1;
      const errorClass = result.retryAfterMs === undefined ? 'retryable' : 'retry_after';
      if (attempt >= job.maxAttempts || !policy) {
        const why = policy ? `out of attempts (${attempt} of ${job.maxAttempts})` : 'no retry policy';
        return { outcome: 'failed', errorClass, error: `${result.error} — ${why}`, next: { status: 'dead' }, breakerSignal: 'retryable' };
      }
      const runAt = nextRunAt({ now, attempt, policy, random, ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}) });
      return { outcome: 'retry', errorClass, error: result.error, next: { status: 'pending', runAt }, breakerSignal: 'retryable' };
    }
  }
}

const ABANDONED = Symbol('abandoned');

/** Resolves `settleMs` after `signal` aborts; `cancel` clears the timer so nothing keeps the process up. */
function afterAbort(signal: AbortSignal, settleMs: number): { promise: Promise<typeof ABANDONED>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let arm: (() => void) | undefined;
  const promise = new Promise<typeof ABANDONED>((resolve) => {
    arm = () => {
      timer = setTimeout(() => resolve(ABANDONED), settleMs);
    };
    if (signal.aborted) arm();
    else signal.addEventListener('abort', arm, { once: true });
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
      if (arm) signal.removeEventListener('abort', arm);
    },
  };
}

/** Own keys only: a job for a destination named `constructor` must not find Object's. */
function destinationOf(deps: AttemptDeps, name: string): DestinationConfig | undefined {
  return Object.hasOwn(deps.destinations, name) ? deps.destinations[name] : undefined;
}

function failed(error: string): CallEnd {
  return { kind: 'result', result: { outcome: 'failed', error } };
}

function retry(error: string): CallEnd {
  return { kind: 'result', result: { outcome: 'retry', error } };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
