/**
 * One attempt: run the job's action once, decide what happens to the job, and record both in the
 * store (`finishAttempt` writes the audit record, the job's facts and its next state in one
 * transaction). Batch actions (many jobs, one call) are in batch.ts and share the pieces here.
 *
 * Every way an attempt can end becomes a value here — the action's result, a throw (a bug, but
 * retrying is safer than dropping the job), an action that ignores its abort signal, a destination
 * removed from the config, a shadow destination's recorded request, a forced stop — so the worker
 * never handles an outcome by catching.
 */
import { performance } from 'node:perf_hooks';
import type { DestinationConfig, RetryPolicy } from '../config/schema.js';
import { createActionHttp, renderParams, ShadowStop, templateScope, type ActionResult, type AnyAction, type AttemptEnvironment, type IntegrationRegistry, type JobInput } from '../integrations/index.js';
import { sourceKitEvent } from '../integrations/source-event.js';
import { toKitEvent } from '../kit/normalize.js';
import type { Log } from '../lib/log.js';
import type { AttemptInput, AttemptOutcome, ClaimedJob, JobNext, JobRecord, RequestSummary } from '../store/types.js';
import { nextRunAt } from './backoff.js';
import type { Enricher } from './enrich.js';
import type { BreakerSignal } from './breaker.js';
import type { WorkerDeps } from './types.js';

/**
 * After the attempt's signal aborts, how long the action gets to return its own result (with its
 * request summary) before the attempt is abandoned: an HTTP client honours the abort within
 * milliseconds, so this only matters for an action that ignores it.
 */
export const ABORT_SETTLE_MS = 1_000;

/** Earlier attempts an action is shown (the newest ones). */
const EARLIER_ATTEMPTS_SHOWN = 100;

/** The worker's dependencies an attempt needs, with the worker's id and random source settled. */
export type AttemptDeps = Pick<WorkerDeps, 'store' | 'clock' | 'metrics' | 'http' | 'destinations' | 'secrets' | 'operator' | 'kit'> & {
  readonly log?: Pick<Log, 'warn'>;
  readonly integrations: IntegrationRegistry;
  readonly enricher?: Enricher;
  readonly workerId: string;
  readonly random: () => number;
  readonly userAgent: string;
};

/** What became of one attempt, for the worker's breaker and counters. */
export interface AttemptReport {
  readonly outcome: AttemptOutcome;
  readonly next: JobNext['status'];
  readonly breakerSignal: BreakerSignal;
  readonly error?: string;
  readonly isShadow: boolean;
  /** false when the worker had lost the lease: the audit record was kept, the job left alone. */
  readonly isJobUpdated: boolean;
}

/** How the call ended, before deciding about the job. */
export type CallEnd =
  | { readonly kind: 'result'; readonly result: ActionResult }
  | { readonly kind: 'shadow'; readonly request: RequestSummary }
  | { readonly kind: 'stopped' };

interface Decision {
  readonly outcome: AttemptOutcome;
  readonly errorClass?: AttemptInput['errorClass'];
  readonly error?: string;
  readonly next: JobNext;
  readonly breakerSignal: BreakerSignal;
}

/** Runs one claimed job's attempt and records it. Rejects only when the store cannot record it. */
export async function runAttempt(deps: AttemptDeps, claimed: ClaimedJob, stopSignal: AbortSignal): Promise<AttemptReport> {
  const startedAt = deps.clock.now();
  const started = performance.now();
  const prepared = await prepareJob(deps, claimed);
  const end = prepared.ok ? await callAction(deps, prepared, stopSignal, startedAt) : failedEnd(prepared.error);
  const enrichment = prepared.ok ? prepared.input.enrichment : undefined;
  // The audit record says what the enrichment gave: `ok`, `cached`, or `degraded: <why>`.
  const correlation = enrichment ? { enrichment: `${enrichment.name}: ${enrichment.isDegraded ? `degraded: ${enrichment.error ?? 'failed'}` : enrichment.isCached ? 'cached' : 'ok'}` } : undefined;
  return recordAttempt(deps, claimed, end, { startedAt, started, ...(correlation ? { correlation } : {}) });
}

/** Decides and records one job's attempt; shared with batch attempts (one record per job). */
export async function recordAttempt(
  deps: AttemptDeps,
  claimed: ClaimedJob,
  end: CallEnd,
  timing: { readonly startedAt: number; readonly started: number; readonly correlation?: Readonly<Record<string, string>> },
): Promise<AttemptReport> {
  const { job, event } = claimed;
  const finishedAt = deps.clock.now();
  const destination = destinationOf(deps, job.destination);
  const decision = decide(job, end, destination?.retry, destination?.breaker.cooldownMs, finishedAt, deps.random);
  const result = end.kind === 'result' ? end.result : undefined;
  const call = result?.call;
  const request = end.kind === 'shadow' ? end.request : call?.request;
  const attempt: AttemptInput = {
    jobId: job.id,
    attempt: job.attempts + 1,
    workerId: deps.workerId,
    startedAt: timing.startedAt,
    finishedAt,
    outcome: decision.outcome,
    ...(decision.errorClass ? { errorClass: decision.errorClass } : {}),
    ...(decision.error !== undefined ? { error: decision.error } : {}),
    ...(request ? { request } : {}),
    ...(call?.responseStatus !== undefined ? { responseStatus: call.responseStatus } : {}),
    ...(call?.responseBody !== undefined ? { responseBody: call.responseBody } : {}),
    correlation: {
      ...result?.correlation,
      ...call?.correlation,
      ...timing.correlation,
      idempotencyKey: job.idempotencyKey,
      ...(event.kitEventId ? { kitEventId: event.kitEventId } : {}),
    },
    ...(end.kind === 'shadow' ? { isShadow: true } : {}),
  };
  const isJobUpdated = await deps.store.finishAttempt({ attempt, next: decision.next, now: finishedAt, ...(result?.facts ? { facts: result.facts } : {}) });
  // Latency is real elapsed time, not clock time: a test clock would report every call as 0 s.
  deps.metrics?.attempts.inc({ destination: job.destination, outcome: end.kind === 'shadow' ? 'shadow' : decision.outcome });
  deps.metrics?.attemptDuration.observe({ destination: job.destination }, (performance.now() - timing.started) / 1000);
  return {
    outcome: decision.outcome,
    next: decision.next.status,
    breakerSignal: decision.breakerSignal,
    ...(decision.error !== undefined ? { error: decision.error } : {}),
    isShadow: end.kind === 'shadow',
    isJobUpdated,
  };
}

/** One log line per attempt: dead jobs and lost leases at warn, successes at debug. */
export function logAttempt(log: Log, claimed: ClaimedJob, report: AttemptReport, isProbe: boolean): void {
  const { job } = claimed;
  const fields = { jobId: job.id, destination: job.destination, attempt: job.attempts + 1, outcome: report.outcome, next: report.next, isProbe, isShadow: report.isShadow, error: report.error };
  if (!report.isJobUpdated) log.warn(fields, 'attempt recorded, but the job had left this worker (cancelled, or its lease expired)');
  else if (report.next === 'dead') log.warn(fields, 'job dead');
  else if (report.outcome === 'succeeded') log.debug(fields, report.isShadow ? 'shadow attempt recorded (not sent)' : 'attempt succeeded');
  else log.info(fields, 'attempt failed');
}

export interface PreparedJob {
  readonly ok: true;
  readonly destination: DestinationConfig;
  readonly action: AnyAction<unknown>;
  readonly input: JobInput<unknown>;
}

/**
 * Everything the action needs that can fail before a call: the destination and action still in
 * the config, the event readable, the params rendered and valid, the earlier attempts read.
 * Failures here are permanent: the same job would fail the same way on every attempt.
 */
export async function prepareJob(deps: AttemptDeps, claimed: ClaimedJob): Promise<PreparedJob | { readonly ok: false; readonly error: string }> {
  const { job, event: eventRecord } = claimed;
  const destination = destinationOf(deps, job.destination);
  if (!destination) {
    return { ok: false, error: `destination "${job.destination}" is not in the config (was it removed or renamed?); replay the job once it is back` };
  }
  const integration = deps.integrations.get(destination.type);
  if (!integration) return { ok: false, error: `no integration for destination type "${destination.type}"` };
  const action = deps.integrations.action(destination.type, job.action);
  if (!action) return { ok: false, error: `the ${destination.type} integration has no action "${job.action}" (actions: ${Object.keys(integration.actions).join(', ')})` };
  let event;
  try {
    // An integration's source event is not Kit's: its view is built from what the source stored.
    event =
      eventRecord.origin === 'kit'
        ? toKitEvent(eventRecord)
        : sourceKitEvent({ type: eventRecord.type, payload: eventRecord.payload, ...(eventRecord.email ? { email: eventRecord.email } : {}), ...(eventRecord.subscriberId ? { subscriberId: eventRecord.subscriberId } : {}), ...(eventRecord.occurredAt !== null ? { occurredAt: eventRecord.occurredAt } : {}) });
  } catch (err) {
    // The stored event is what it is: normalising it again would throw again, so retrying is futile.
    return { ok: false, error: `event ${eventRecord.id} could not be normalised: ${messageOf(err)}` };
  }
  const params = action.params.safeParse(renderParams(job.params, templateScope(event)));
  if (!params.success) {
    const issues = params.error.issues.map((issue) => `${issue.path.join('.') || 'params'}: ${issue.message}`).join('; ');
    return { ok: false, error: `the job's params do not fit the ${job.action} action (after rendering templates): ${issues}` };
  }
  const [earlierAttempts, enrichment] = await Promise.all([
    job.attempts > 0 ? deps.store.listAttempts({ jobId: job.id, limit: EARLIER_ATTEMPTS_SHOWN }).then((list) => list.reverse()) : [],
    deps.enricher?.enrich(job, event, deps.clock.now()),
  ]);
  return {
    ok: true,
    destination,
    action,
    input: { job, eventRecord, event, params: params.data, idempotencyKey: job.idempotencyKey, earlierAttempts, facts: job.facts, ...(enrichment ? { enrichment } : {}) },
  };
}

/**
 * Runs `call` with a signal that aborts on the destination's `timeoutMs` or on a forced stop, and
 * turns every ending into a CallEnd. Never rejects.
 */
export async function withAttemptSignal(
  deps: AttemptDeps,
  destinationName: string,
  destination: DestinationConfig,
  stopSignal: AbortSignal,
  now: number,
  call: (env: AttemptEnvironment<unknown>) => Promise<ActionResult>,
): Promise<CallEnd> {
  const controller = new AbortController();
  const timeoutMs = destination.timeoutMs;
  const timer = setTimeout(() => controller.abort(new Error(`attempt timed out after ${timeoutMs} ms`)), timeoutMs);
  const onStop = (): void => controller.abort(stopSignal.reason);
  if (stopSignal.aborted) onStop();
  else stopSignal.addEventListener('abort', onStop, { once: true });
  const abandoned = afterAbort(controller.signal, ABORT_SETTLE_MS);
  const env: AttemptEnvironment<unknown> = {
    destinationName,
    destination,
    secrets: deps.secrets,
    http: createActionHttp({ http: deps.http, signal: controller.signal, timeoutMs, isShadow: destination.mode === 'shadow' }),
    signal: controller.signal,
    now,
    userAgent: deps.userAgent,
    ...(deps.operator ? { operator: deps.operator } : {}),
    ...(deps.kit ? { kit: deps.kit } : {}),
    audiences: deps.store,
    airtable: deps.store,
    kajabi: deps.store,
    ...(deps.log ? { log: deps.log } : {}),
  };
  try {
    // Promise.resolve().then turns a synchronous throw into a rejection; race() subscribes to
    // the call, so a rejection arriving after it was abandoned is handled, never unhandled.
    const result = await Promise.race([Promise.resolve().then(() => call(env)), abandoned.promise]);
    if (result === ABANDONED) {
      return stopSignal.aborted ? { kind: 'stopped' } : { kind: 'result', result: { outcome: 'unknown', error: `attempt timed out after ${timeoutMs} ms (the action did not return)` } };
    }
    // Aborted by the stop and no answer from the destination: nobody knows whether it acted.
    if (stopSignal.aborted && result.outcome !== 'succeeded' && result.outcome !== 'failed' && result.call?.responseStatus === undefined) return { kind: 'stopped' };
    return { kind: 'result', result };
  } catch (err) {
    if (err instanceof ShadowStop) return { kind: 'shadow', request: err.request };
    return { kind: 'result', result: { outcome: 'retry', error: `action threw (a bug; retried to be safe): ${messageOf(err)}` } };
  } finally {
    clearTimeout(timer);
    abandoned.cancel();
    stopSignal.removeEventListener('abort', onStop);
  }
}

function callAction(deps: AttemptDeps, prepared: PreparedJob, stopSignal: AbortSignal, now: number): Promise<CallEnd> {
  const { action, input, destination } = prepared;
  if (action.kind !== 'job') return Promise.resolve(failedEnd(`action "${input.job.action}" takes batches; the worker runs it through runBatch`));
  return withAttemptSignal(deps, input.job.destination, destination, stopSignal, now, (env) => action.run({ ...input, ...env }));
}

/** What the attempt means for the job. Pure: the policy, the time and the randomness are given. */
export function decide(job: JobRecord, end: CallEnd, policy: RetryPolicy | undefined, breakerCooldownMs: number | undefined, now: number, random: () => number): Decision {
  if (end.kind === 'stopped') {
    return {
      outcome: 'unknown',
      errorClass: 'retryable',
      error: 'the worker stopped before the attempt finished and aborted it; the call may have reached the destination, so the job runs again (with the same idempotency key)',
      next: { status: 'pending', runAt: now },
      breakerSignal: 'unknown',
    };
  }
  if (end.kind === 'shadow') return { outcome: 'succeeded', next: { status: 'succeeded' }, breakerSignal: 'success' };
  const { result } = end;
  const attempt = job.attempts + 1;
  switch (result.outcome) {
    case 'succeeded':
      return { outcome: 'succeeded', next: { status: 'succeeded' }, breakerSignal: 'success' };
    case 'failed':
      if (result.opensBreaker) {
        return { outcome: 'failed', errorClass: 'permanent', error: `${result.error} — the circuit breaker opens: the destination's other jobs wait until it is fixed`, next: { status: 'dead' }, breakerSignal: 'blocked' };
      }
      return { outcome: 'failed', errorClass: 'permanent', error: result.error, next: { status: 'dead' }, breakerSignal: 'permanent' };
    case 'retry': {
      if (result.opensBreaker) {
        // Every job of the destination would fail alike: the breaker holds them (spending nothing)
        // and this one waits with them, whatever its attempt count, until a probe gets through.
        const runAt = now + (breakerCooldownMs ?? 30_000);
        return { outcome: 'retry', errorClass: 'retryable', error: `${result.error} — the circuit breaker opens: the destination's jobs wait until it is fixed`, next: { status: 'pending', runAt }, breakerSignal: 'blocked' };
      }
      const errorClass = result.retryAfterMs === undefined ? 'retryable' : 'retry_after';
      if (attempt >= job.maxAttempts || !policy) {
        const why = policy ? `out of attempts (${attempt} of ${job.maxAttempts})` : 'no retry policy';
        return { outcome: 'failed', errorClass, error: `${result.error} — ${why}`, next: { status: 'dead' }, breakerSignal: 'retryable' };
      }
      const runAt = nextRunAt({ now, attempt, policy, random, ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}) });
      // A 429 says "slower", not "down": it must not open the breaker and hold every job (a burst
      // on one Slack channel would stop all the others). Retry-After paces the job itself.
      const breakerSignal = result.call?.responseStatus === 429 ? 'unknown' : 'retryable';
      return { outcome: 'retry', errorClass, error: result.error, next: { status: 'pending', runAt }, breakerSignal };
    }
    case 'unknown': {
      if (attempt >= job.maxAttempts || !policy) {
        const why = policy ? `out of attempts (${attempt} of ${job.maxAttempts})` : 'no retry policy';
        return { outcome: 'unknown', errorClass: 'retryable', error: `${result.error} — ${why}; the destination may have acted: check it before replaying`, next: { status: 'dead' }, breakerSignal: 'retryable' };
      }
      const runAt = nextRunAt({ now, attempt, policy, random });
      return { outcome: 'unknown', errorClass: 'retryable', error: result.error, next: { status: 'pending', runAt }, breakerSignal: 'retryable' };
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
export function destinationOf(deps: Pick<AttemptDeps, 'destinations'>, name: string): DestinationConfig | undefined {
  return Object.hasOwn(deps.destinations, name) ? deps.destinations[name] : undefined;
}

export function failedEnd(error: string): CallEnd {
  return { kind: 'result', result: { outcome: 'failed', error } };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
