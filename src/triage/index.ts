/**
 * Triage: the operator's actions on events, jobs, quarantine and destinations. The CLI (and, on
 * the roadmap, the dashboard) act only through these functions, never on the store behind them.
 */
import type { CommitDeps } from '../ingest/commit.js';
import { commit } from '../ingest/commit.js';
import { bodyText } from '../ingest/handlers.js';
import type { IngestOutcome } from '../ingest/outcome.js';
import type { RouteTable } from '../ingest/routes.js';
import { parseLegacyDelivery, parseSignedDelivery } from '../kit/normalize.js';
import type { AttemptRecord, EventRecord, JobFilter, JobRecord, QuarantineRecord, Store } from '../store/types.js';

export interface EventDetail {
  readonly event: EventRecord;
  readonly jobs: readonly JobRecord[];
}

export interface JobDetail {
  readonly job: JobRecord;
  readonly event: EventRecord | undefined;
  readonly attempts: readonly AttemptRecord[];
}

export async function showEvent(store: Store, id: number): Promise<EventDetail | undefined> {
  const event = await store.getEvent(id);
  if (!event) return undefined;
  return { event, jobs: await store.listJobs({ eventId: id, limit: 1000 }) };
}

export async function showJob(store: Store, id: number): Promise<JobDetail | undefined> {
  const job = await store.getJob(id);
  if (!job) return undefined;
  const [event, attempts] = await Promise.all([store.getEvent(job.eventId), store.listAttempts({ jobId: id, limit: 1000 })]);
  return { job, event, attempts: [...attempts].reverse() };
}

export type ReplayResult =
  | { readonly kind: 'replayed'; readonly job: JobRecord }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_finished'; readonly job: JobRecord };

/** Runs one finished job again with a fresh attempt budget; its history stays. */
export async function replayJob(store: Store, id: number, extraAttempts: number, now: number): Promise<ReplayResult> {
  const before = await store.getJob(id);
  if (!before) return { kind: 'not_found' };
  if (before.status === 'pending' || before.status === 'running') return { kind: 'not_finished', job: before };
  const job = await store.replayJob(id, extraAttempts, now);
  return job ? { kind: 'replayed', job } : { kind: 'not_found' };
}

/**
 * Replays the jobs a filter selects (by default only dead ones): only the failed destination's
 * jobs, never the whole fan-out of their events.
 */
export async function replayJobs(store: Store, filter: JobFilter, extraAttempts: number, now: number, isDryRun = false): Promise<readonly number[]> {
  const selection: JobFilter = { ...filter, status: filter.status ?? 'dead' };
  if (isDryRun) return (await store.listJobs({ ...selection, limit: filter.limit ?? 1000 })).map((job) => job.id);
  return store.replayJobs(selection, extraAttempts, now);
}

export type CancelResult = { readonly kind: 'cancelled'; readonly job: JobRecord } | { readonly kind: 'not_found' } | { readonly kind: 'already_finished'; readonly job: JobRecord };

export async function cancelJob(store: Store, id: number, now: number): Promise<CancelResult> {
  const before = await store.getJob(id);
  if (!before) return { kind: 'not_found' };
  const job = await store.cancelJob(id, now);
  return job ? { kind: 'cancelled', job } : { kind: 'already_finished', job: before };
}

export type ReingestResult =
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_open'; readonly entry: QuarantineRecord }
  | { readonly kind: 'route_gone'; readonly entry: QuarantineRecord }
  | { readonly kind: 'still_invalid'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'done'; readonly outcome: IngestOutcome };

/**
 * Re-ingests a quarantined body (optionally replaced by a corrected one). The signature or token
 * was checked when it arrived, so it is not checked again. A body that still fails stays in
 * quarantine untouched; a good one is committed as events (deduplicated as usual) and the entry
 * is marked re-ingested in the same transaction.
 */
export async function reingestQuarantine(deps: CommitDeps & { routes: RouteTable }, id: number, now: number, correctedBody?: Buffer): Promise<ReingestResult> {
  const entry = await deps.store.getQuarantine(id);
  if (!entry) return { kind: 'not_found' };
  if (entry.status !== 'open') return { kind: 'not_open', entry };
  const body = correctedBody ?? entry.body;
  const delivery = { system: 'reingest' as const, route: `quarantine:${id}`, receivedAt: now, bodyBytes: body.length };

  if (entry.system === 'legacy') {
    const route = deps.routes.legacy.get(entry.route);
    if (!route) return { kind: 'route_gone', entry };
    const parsed = parseLegacyDelivery({
      spec: route.spec,
      ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}),
      body,
      maxDepth: deps.config.server.maxJsonDepth,
    });
    if (!parsed.ok) return { kind: 'still_invalid', reason: parsed.reason, detail: parsed.detail };
    return { kind: 'done', outcome: await commit(deps, delivery, [{ event: parsed.event, source: 'reingest', legacyRouteId: route.id, payloadJson: bodyText(body) }], [], { reingestOf: id }) };
  }

  // Signed: the entry is a whole envelope (it failed as a whole) or one event cut from a batch.
  const envelope = asEnvelope(body);
  if (!envelope) return { kind: 'still_invalid', reason: 'invalid_json', detail: 'the body is not JSON' };
  const parsed = parseSignedDelivery(envelope, deps.config.server.maxJsonDepth);
  if (!parsed.ok) return { kind: 'still_invalid', reason: parsed.reason, detail: parsed.detail };
  const bad = parsed.events.find((item) => !item.ok);
  if (bad && !bad.ok) return { kind: 'still_invalid', reason: bad.reason, detail: bad.detail };
  const events = parsed.events.flatMap((item) => (item.ok ? [{ event: item.event, source: 'reingest' as const }] : []));
  return { kind: 'done', outcome: await commit(deps, delivery, events, [], { reingestOf: id }) };
}

/**
 * A signed entry's body as an envelope: kept as it is when it is one (`{"events": [...]}`), else
 * (one event cut from a batch) wrapped around its bytes, not re-serialised, so the numbers stay
 * exactly as Kit wrote them. Undefined when the body is not JSON.
 */
function asEnvelope(body: Buffer): Buffer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // the caller reports it as still invalid
  }
  const isEnvelope = typeof value === 'object' && value !== null && Array.isArray((value as { events?: unknown }).events);
  return isEnvelope ? body : Buffer.concat([Buffer.from('{"events":['), body, Buffer.from(']}')]);
}
