/**
 * kitrelay's own events, committed like a source's: a closed digest window (`kitrelay:digest`) and a
 * dead job's alert (`kitrelay:job_dead`). Rules route them; a rule sees them only when its `on`
 * names them (`*` does not).
 *
 * Dead-job alerts come from an outbox the store fills in the transaction that makes a job dead
 * (migration 007's trigger). Each is committed with the outbox row removed in the same transaction:
 * raised once, never lost across a crash. Two guards keep alerts from looping:
 * - an alert is never sent through the destination whose job died (the action is dropped, with a
 *   `loop` decision on the event): a Slack outage does not alert into the same Slack;
 * - an alert rule's own dead jobs raise no alert (they are logged, and still replayable).
 */
import type { Config } from '../config/schema.js';
import { sourceKitEvent } from '../integrations/source-event.js';
import { routeEvent, type CompiledRule } from '../rules/route.js';
import type { DeadJobAlert, DigestWindowRecord, EventInput, RouteDecision, Store } from '../store/types.js';

export const DIGEST_EVENT_TYPE = 'kitrelay:digest';
export const DEAD_JOB_EVENT_TYPE = 'kitrelay:job_dead';

export interface InternalEventDeps {
  readonly store: Store;
  readonly config: Config;
  readonly rules: readonly CompiledRule[];
}

const BATCH = 100;

/** Closes every digest window that has ended by `now`; returns the windows closed. */
export async function closeDueDigests(deps: Pick<InternalEventDeps, 'store'>, now: number): Promise<DigestWindowRecord[]> {
  const closed: DigestWindowRecord[] = [];
  for (;;) {
    const batch = await deps.store.closeDigests({ now, limit: BATCH });
    closed.push(...batch);
    if (batch.length < BATCH) return closed;
  }
}

export interface RaisedAlerts {
  /** Alert events committed. */
  readonly raised: number;
  /** Jobs the alerts made. */
  readonly jobs: number;
  /** Dead jobs that raised no alert: no rule listens, or an alert rule's own job died. */
  readonly dropped: readonly { readonly jobId: number; readonly reason: string }[];
}

/** Raises an alert event for each dead job in the outbox (in batches), routed by the rules. */
export async function raiseDeadJobAlerts(deps: InternalEventDeps, now: number): Promise<RaisedAlerts> {
  const alertRules = new Set(deps.rules.filter((r) => r.types?.has(DEAD_JOB_EVENT_TYPE)).map((r) => r.rule.id));
  let raised = 0;
  let jobs = 0;
  const dropped: { jobId: number; reason: string }[] = [];
  for (;;) {
    const alerts = await deps.store.takeDeadJobAlerts(BATCH);
    if (alerts.length === 0) break;
    const events: EventInput[] = [];
    const settles: number[] = [];
    const silent: number[] = [];
    for (const alert of alerts) {
      const reason =
        alertRules.size === 0
          ? 'no rule listens for kitrelay:job_dead'
          : alert.job && alertRules.has(alert.job.rule)
            ? "an alert rule's own job: no alert about an alert"
            : alert.job?.rule.includes(':')
              ? // `<integration>:<source>` (config rule ids cannot hold a colon): a source's own job, such
                // as the answer to a Slack button press; its audit record says what happened.
                `a job ${alert.job.rule} made for an inbound request, not a rule`
              : undefined;
      if (reason !== undefined || !alert.job) {
        silent.push(alert.id);
        if (alertRules.size > 0) dropped.push({ jobId: alert.jobId, reason: reason ?? 'the job was purged before its alert' });
        continue;
      }
      events.push(alertEvent(alert, alert.job, deps, now));
      settles.push(alert.id);
    }
    if (silent.length > 0) await deps.store.settleDeadJobAlerts(silent);
    if (events.length > 0) {
      const result = await deps.store.commitDelivery({
        delivery: { system: 'internal', route: 'kitrelay/dead-jobs', receivedAt: now, bodyBytes: 0 },
        events,
        quarantine: [],
        settlesDeadJobAlerts: settles,
      });
      raised += events.length;
      jobs += result.events.reduce((n, e) => n + (e.status === 'accepted' ? e.jobIds.length : 0), 0);
    }
    if (alerts.length < BATCH) break;
  }
  return { raised, jobs, dropped };
}

function alertEvent(alert: DeadJobAlert, job: NonNullable<DeadJobAlert['job']>, deps: InternalEventDeps, now: number): EventInput {
  const payload = {
    job: {
      id: job.id,
      destination: job.destination,
      rule: job.rule,
      action: job.action,
      error: job.lastError,
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      failedAt: alert.createdAt,
    },
    event: { id: job.eventId, ...(alert.eventType !== undefined ? { type: alert.eventType } : {}), ...(alert.eventOrigin !== undefined ? { origin: alert.eventOrigin } : {}) },
    subscriber: { ...(job.subscriberId ? { id: job.subscriberId } : {}), ...(job.email ? { email_address: job.email } : {}) },
  };
  const view = sourceKitEvent({
    type: DEAD_JOB_EVENT_TYPE,
    payload,
    ...(job.email ? { email: job.email } : {}),
    ...(job.subscriberId ? { subscriberId: job.subscriberId } : {}),
    occurredAt: alert.createdAt,
  });
  const routed = routeEvent(view, deps.rules, deps.config, now);
  const decisions: RouteDecision[] = [...routed.decisions];
  const planned = routed.jobs.filter((planned) => {
    if (planned.destination !== job.destination) return true;
    decisions.push({ rule: planned.rule, destination: planned.destination, action: planned.action, outcome: 'loop', detail: `job #${job.id} died on ${job.destination}: its alert is not sent through it` });
    return false;
  });
  return {
    source: 'internal',
    origin: 'kitrelay',
    type: DEAD_JOB_EVENT_TYPE,
    kitType: 'job_dead',
    payload,
    // Not the subscriber key: alert jobs must not wait behind the subscriber's other jobs (per-subscriber FIFO).
    ...(job.email ? { email: job.email } : {}),
    ...(job.subscriberId ? { subscriberId: job.subscriberId } : {}),
    occurredAt: alert.createdAt,
    jobs: planned,
    decisions,
  };
}

export interface InternalEventLoopOptions {
  readonly deps: InternalEventDeps;
  readonly clock: { now(): number };
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** How often ended windows are closed and dead jobs' alerts raised. @default 1000 */
  readonly everyMs?: number;
  /** Called when a pass made jobs (the worker is nudged). */
  readonly onJobs?: () => void;
}

export interface InternalEventLoop {
  /** Runs one pass now (tests, shutdown); resolves when it is done. */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Closes ended digest windows and raises dead jobs' alerts every `everyMs`. Both are exact in the
 * store (a window closes once, an alert is raised once), so a pass that fails (the store is
 * unavailable) is simply run again at the next tick, and two processes may run it side by side.
 */
export function startInternalEvents(options: InternalEventLoopOptions): InternalEventLoop {
  const everyMs = options.everyMs ?? 1000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async (): Promise<void> => {
    const now = options.clock.now();
    try {
      const closed = await closeDueDigests(options.deps, now);
      const alerts = await raiseDeadJobAlerts(options.deps, now);
      const madeJobs = closed.some((w) => w.jobId !== null) || alerts.jobs > 0;
      if (closed.length > 0) options.log.info({ windows: closed.map((w) => ({ id: w.id, rule: w.rule, digested: w.digested, jobId: w.jobId })) }, 'digest windows closed');
      for (const drop of alerts.dropped) options.log.warn({ jobId: drop.jobId, reason: drop.reason }, 'dead job raised no alert');
      if (madeJobs) options.onJobs?.();
    } catch (error) {
      options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'closing digests / raising dead-job alerts failed; trying again at the next tick');
    }
  };
  const runOnce = (): Promise<void> => {
    running = (running ?? Promise.resolve()).then(pass);
    return running;
  };
  const tick = (): void => {
    if (stopped) return;
    void runOnce().finally(() => {
      if (!stopped) timer = setTimeout(tick, everyMs);
    });
  };
  timer = setTimeout(tick, everyMs);
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
