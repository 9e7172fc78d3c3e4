/**
 * The backfill (`kitrelay airtable backfill <sync>`): every subscriber the sync selects, read from
 * the mirror in Kit id order, written 10 to a call at the base's pace (the call budget: 5 a second
 * per base, 50 per token, shared with every other process), with a checkpoint after every call.
 *
 * Resumable and idempotent: the checkpoint (`airtable-backfill:<destination>:<sync>`) holds the
 * last Kit id whose call Airtable acknowledged, so a run killed mid-way resumes after it; a call
 * sent again (killed before the checkpoint) merges on the Kit id field, so no row is created
 * twice. A run after a finished one starts again from the first subscriber.
 *
 * First sync into an existing table: the table is read first (scan.ts) and a subscriber whose Kit
 * id has no row but whose email (or `match`) is on a row lacking a Kit id updates that row, Kit id
 * filled in (Kit wins for its fields); duplicates are reported. A subscriber whose row is paused
 * is left alone. What was last written is kept per subscriber; a record whose content did not
 * change is not sent again unless `force`. A subscriber who left the selection and still has a row
 * kitrelay wrote has it deleted or marked, as webhooks do.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { IntegrationSyncStore } from '../types.js';
import type { MirrorSubscriber, SyncCheckpoint } from '../../store/types.js';
import { MAX_RECORDS_PER_WRITE } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { applyPlans, planRecord, syncKey, type RecordPlan, type RecordReport } from './records.js';
import { inboundFields, matchOf, type AirtableSyncConfig } from './schema.js';
import { matchKey, needsScan, scanTable, type Duplicate, type TableScan } from './scan.js';
import type { ProgressReport, SyncRunDeps } from './open.js';

/** Mirror rows read at a time. */
const MIRROR_PAGE = 500;
/** Transient failures in a row (5xx, a lost answer) before the run stops (resumable). */
const MAX_TRANSIENT = 8;
/** Refused records and duplicates kept in the result (all are counted). */
const MAX_LISTED = 100;

export function backfillCheckpointName(destinationName: string, syncName: string): string {
  return `airtable-backfill:${destinationName}:${syncName}`;
}

export interface BackfillDeps extends SyncRunDeps<IntegrationSyncStore> {
  readonly progress?: ProgressReport;
}

export interface BackfillOptions {
  /** Send every selected subscriber's record, even those the store says are unchanged. */
  readonly force?: boolean;
  /** Calls in flight at once (each still waits for its turn in the call budget). @default 4 */
  readonly concurrency?: number;
  /** Start from the first subscriber even if a run was interrupted. */
  readonly restart?: boolean;
}

export interface BackfillStats {
  /** Mirror rows read (selected or not). */
  read: number;
  created: number;
  updated: number;
  /** Rows lacking a Kit id that got one (matched by email or `match`). */
  matched: number;
  unchanged: number;
  paused: number;
  removed: number;
  /** Records Airtable refused (per record: a value, a select option, a Kit id on two rows). */
  refused: number;
  calls: number;
}

export interface BackfillResult {
  readonly status: 'completed' | 'stopped' | 'failed';
  readonly stats: BackfillStats;
  readonly resumedAfter: number | null;
  readonly duplicates: readonly Duplicate[];
  readonly refusals: readonly { readonly kitId: number; readonly error: string }[];
  readonly error?: string;
}

export const emptyStats = (): BackfillStats => ({ read: 0, created: 0, updated: 0, matched: 0, unchanged: 0, paused: 0, removed: 0, refused: 0, calls: 0 });

export async function runBackfill(deps: BackfillDeps, options: BackfillOptions = {}): Promise<BackfillResult> {
  const { store, sync } = deps;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const name = backfillCheckpointName(deps.destinationName, deps.syncName);
  const saved = await store.getCheckpoint(name);
  const isResume = saved !== undefined && saved.completedAt === null && !options.restart;
  const startedAt = isResume ? saved.startedAt : deps.now();
  const stats: BackfillStats = isResume ? { ...emptyStats(), ...(saved.data.stats as Partial<BackfillStats> | undefined) } : emptyStats();
  const start = isResume && saved.cursor !== null ? Number(saved.cursor) : 0;
  const resumedAfter = isResume && saved.cursor !== null ? start : null;
  const refusals: { kitId: number; error: string }[] = [];
  const end = (status: BackfillResult['status'], extra: { duplicates?: readonly Duplicate[]; error?: string } = {}): BackfillResult => ({ status, stats, resumedAfter, duplicates: extra.duplicates ?? [], refusals, ...(extra.error ? { error: extra.error } : {}) });
  const checkpoint = (cursor: number, completedAt: number | null): SyncCheckpoint => ({ name, cursor: String(cursor), data: { stats: { ...stats }, ...(options.force ? { force: true } : {}) }, startedAt, updatedAt: deps.now(), completedAt });
  await store.saveCheckpoint(checkpoint(start, null));

  const total = await store.countSubscribers();
  let scan: TableScan | undefined;
  if (needsScan(sync)) {
    deps.progress?.({ done: 0, message: `reading ${sync.table} (rows lacking a Kit id, paused rows)` });
    const scanned = await scanTable(deps.client, sync, (rows) => deps.progress?.({ done: rows, message: `reading ${sync.table}` }));
    if (!scanned.ok) return end('failed', { error: `reading the table failed: ${scanned.outcome.message}` });
    scan = scanned.scan;
    stats.calls += scan.calls;
  }
  const duplicates = scan?.duplicates.slice(0, MAX_LISTED) ?? [];

  const key = syncKey(deps.destinationName, deps.syncName);
  /** Sends one call's plans until each is written or refused for good; what ends it otherwise. */
  const send = async (chunk: readonly RecordPlan[]): Promise<string | undefined> => {
    let plans = chunk;
    for (let transient = 0; ; ) {
      const reports = await applyPlans({ client: deps.client, store, sync, key, now: deps.now }, plans);
      const stop = tally(stats, reports, plans, refusals);
      await noteMatchedCells(reports, plans);
      // Only what was neither written nor refused for good goes again.
      plans = plans.filter((_, i) => { const r = reports[i]; return r?.kind === 'error' && !(r.outcome.kind === 'invalid' && r.outcome.isPerRecord); });
      if (stop === undefined || plans.length === 0) return undefined;
      if (deps.signal?.aborted) return 'stopped';
      if (stop.kind === 'throttled' || stop.kind === 'paced') continue; // the budget waits out the penalty first
      if ((stop.kind === 'transient' || stop.kind === 'unknown') && transient < MAX_TRANSIENT) {
        transient += 1;
        await delay(Math.min(30_000, 500 * 2 ** transient), undefined, deps.signal ? { signal: deps.signal } : {}).catch(() => undefined);
        continue;
      }
      return stop.message;
    }
  };
  /** Matched rows whose cells win are noted as changed, so the inbound side sends them to Kit. */
  const noteMatchedCells = async (reports: readonly RecordReport[], plans: readonly RecordPlan[]): Promise<void> => {
    const changedAt = deps.now() - sync.inbound.quietMs;
    const matched = reports.flatMap((r, i) => {
      const plan = plans[i];
      return r.kind === 'updated' && plan?.kind === 'write' && plan.synced !== undefined ? [{ recordId: r.recordId, changedAt, isDestroyed: false }] : [];
    });
    if (matched.length > 0) await store.noteAirtableChanges(key, matched);
  };
  // Calls in flight, oldest first: the checkpoint moves past a call only once every older one is done.
  const inFlight: { readonly last: number; readonly done: Promise<string | undefined> }[] = [];
  let pending: RecordPlan[] = [];
  let after = start;
  let failure: string | undefined;
  const settleOldest = async (): Promise<void> => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    const error = await oldest.done;
    if (error !== undefined) failure ??= error;
    else if (failure === undefined) await store.saveCheckpoint(checkpoint(oldest.last, null));
  };
  const dispatch = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = pending;
    pending = [];
    inFlight.push({ last: chunk.at(-1)!.kitId, done: send(chunk) });
    while (inFlight.length >= concurrency || (failure !== undefined && inFlight.length > 0)) await settleOldest();
  };
  const ended = (): BackfillResult | undefined => {
    if (failure === 'stopped' || (deps.signal?.aborted && failure === undefined)) return end('stopped', { duplicates });
    if (failure !== undefined) return end('failed', { duplicates, error: `${failure} — the backfill stopped; run it again to resume where it stopped` });
    return undefined;
  };

  for (;;) {
    if (deps.signal?.aborted) break;
    const page = await store.listSubscribers({ afterKitId: after, limit: MIRROR_PAGE });
    if (page.length === 0) break;
    const states = new Map((await store.getAirtableRecords(key, page.map((s) => s.kitId))).map((s) => [s.kitId, s]));
    for (const subscriber of page) {
      stats.read += 1;
      const plan = backfillPlan(subscriber, states.get(subscriber.kitId), sync, scan, options);
      if (plan === 'paused') stats.paused += 1;
      else if (plan.kind === 'none') stats.unchanged += plan.why === 'unchanged' ? 1 : 0;
      else {
        // Calls carry 10 records, writes and removals in calls of their own.
        if (pending.length === MAX_RECORDS_PER_WRITE || (pending[0] && pending[0].kind !== plan.kind)) await dispatch();
        if (failure !== undefined) break;
        pending.push(plan);
      }
    }
    if (failure !== undefined) break;
    after = page.at(-1)!.kitId;
    // Every subscriber read so far is done when no call is waiting: the checkpoint moves to the page's end.
    if (pending.length === 0 && inFlight.length === 0) await store.saveCheckpoint(checkpoint(after, null));
    deps.progress?.({ done: stats.read, total, message: `${deps.syncName}: ${stats.created} created, ${stats.updated + stats.matched} updated, ${stats.unchanged} unchanged` });
  }
  if (failure === undefined && !deps.signal?.aborted) await dispatch();
  while (inFlight.length > 0) await settleOldest();
  const stopped = ended();
  if (stopped) return stopped;
  await store.saveCheckpoint(checkpoint(after, deps.now()));
  return end('completed', { duplicates });
}

/** A subscriber's plan in a backfill: as a job's, corrected by what the table read showed. */
function backfillPlan(subscriber: MirrorSubscriber, state: Parameters<typeof planRecord>[2], sync: AirtableSyncConfig, scan: TableScan | undefined, options: BackfillOptions): RecordPlan | 'paused' {
  if (scan?.paused.has(subscriber.kitId)) return 'paused';
  const hasRow = scan ? scan.kitIds.has(subscriber.kitId) : undefined;
  // A row the store remembers but the table no longer has is written again.
  const plan = planRecord(subscriber.kitId, subscriber, hasRow === false ? undefined : state, sync, options.force ? { force: true } : {});
  if (plan.kind !== 'write' || hasRow !== false || !scan) return plan;
  const match = matchOf(sync);
  const value = match ? matchKey(matchValue(subscriber, match.source)) : undefined;
  const row = value === undefined ? undefined : scan.unmatched.get(value);
  if (!row || value === undefined) return plan;
  // One subscriber per row: a second subscriber with the same value (none in Kit for emails) gets a row of their own.
  scan.unmatched.delete(value);
  if (sync.firstSyncWinner === 'kit') return { ...plan, id: row.recordId };
  // The row's cells win: only what is Kit's alone is written; the rest go to Kit as edits made in Airtable.
  const inbound = inboundFields(sync);
  const fields = Object.fromEntries(Object.entries(plan.fields).filter(([name]) => !inbound.has(name)));
  const synced = Object.fromEntries(Object.entries(plan.fields).filter(([name]) => inbound.has(name)));
  return { ...plan, id: row.recordId, fields, synced };
}

function matchValue(subscriber: MirrorSubscriber, source: NonNullable<ReturnType<typeof matchOf>>['source']): unknown {
  if (typeof source === 'object') return subscriber.fields[source.customField];
  if (source === 'email') return subscriber.email;
  if (source === 'first_name') return subscriber.firstName;
  if (source === 'kit_id') return subscriber.kitId;
  // State, dates and tags identify nobody.
  return undefined;
}

/** Counts a call's reports; the outcome that stops the call's retry loop, if one did. */
function tally(stats: BackfillStats, reports: readonly RecordReport[], plans: readonly RecordPlan[], refusals: { kitId: number; error: string }[]): AirtableErrorOutcome | undefined {
  const matched = new Set(plans.flatMap((p) => (p.kind === 'write' && p.id !== undefined ? [p.kitId] : [])));
  let stop: AirtableErrorOutcome | undefined;
  const calls = new Set<unknown>();
  for (const report of reports) {
    if ('call' in report && report.call) calls.add(report.call);
    switch (report.kind) {
      case 'created': stats.created += 1; break;
      case 'updated': if (matched.has(report.kitId)) stats.matched += 1; else stats.updated += 1; break;
      case 'deleted': case 'marked': case 'gone': stats.removed += 1; break;
      case 'none': break;
      case 'error':
        if (report.outcome.kind === 'invalid' && report.outcome.isPerRecord) {
          stats.refused += 1;
          if (refusals.length < MAX_LISTED) refusals.push({ kitId: report.kitId, error: report.outcome.message });
        } else stop ??= report.outcome;
    }
  }
  stats.calls += calls.size;
  return stop;
}
