/**
 * The `upsert` action: brings subscribers' records in a sync's table up to date, up to 10 jobs in
 * one call (a batch action: the worker hands it the jobs of one base, one rate-limit token per
 * call, one audit record per job naming the call that wrote its record).
 *
 * A job names a sync and a subscriber, nothing more: the record is built when it is sent, from the
 * subscriber's mirror row as it is then. So every change Kit reported before the send is in it,
 * however many events made the job (they coalesce: follow.ts plans one delayed job per subscriber
 * per `coalesceMs`), and a job sent twice writes the same record. A subscriber still selected gets
 * an upsert merged on the Kit id field (never a second row); one who left (or is gone from the
 * mirror) has their row deleted or marked (`onDelete`); a record whose content hash equals what
 * was last written is not sent; only the fields Kit changed since the last sync are sent (one edited
 * in Airtable meanwhile is left for the inbound side), and none whose conflict is held for an
 * operator. With a `pauseField`, the jobs' rows are read first (one list call)
 * and a row with it checked is left alone.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ActionResult, AirtableAttemptStore, BatchAction, BatchContext, BatchResult, CallRecord, JobInput } from '../types.js';
import type { MirrorSubscriber } from '../../store/types.js';
import { callRecordOf } from '../outbound.js';
import { storeCallBudget } from './budget.js';
import { airtableClient, fieldRef, MAX_RECORDS_PER_WRITE, type AirtableClient } from './client.js';
import { resultOf } from './errors.js';
import { applyPlans, kitIdFormula, planRecord, syncKey, type RecordPlan, type RecordReport } from './records.js';
import { inboundFields, type AirtableDestinationConfig, type AirtableSyncConfig } from './schema.js';

export const upsertParamsSchema = z
  .object({
    /** The sync's config name (`destinations.<airtable>.syncs.<name>`). */
    sync: z.string().min(1),
    /** The Kit subscriber whose record is brought up to date. */
    kitId: z.number().int().positive(),
    /**
     * Planned by the inbound side once it settled the row's edit (Kit won a conflict): write Kit's
     * values although the edit may still be pending.
     */
    settled: z.literal(true).optional(),
    /** Fields not to write: their Airtable value is on its way to Kit (a `kit_update` of the same settlement). */
    keep: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type UpsertParams = z.output<typeof upsertParamsSchema>;

type Ctx = BatchContext<UpsertParams, AirtableDestinationConfig>;

export const upsertAction: BatchAction<UpsertParams, AirtableDestinationConfig> = {
  kind: 'batch',
  description: "bring subscribers' records up to date from the mirror: upsert on the Kit id, or delete/mark the row of one who left",
  params: upsertParamsSchema,
  maxBatchSize: () => MAX_RECORDS_PER_WRITE,
  runBatch,
};

async function runBatch(ctx: Ctx): Promise<BatchResult> {
  const results: ActionResult[] = ctx.items.map(() => ({ outcome: 'failed', error: 'not attempted' }));
  const store = ctx.airtable;
  if (!store) return { results: results.map(() => ({ outcome: 'failed', error: 'this worker has no Airtable store wired (a kitrelay bug): nothing was sent' })) };
  let token: string;
  try {
    token = ctx.secrets(ctx.destination.token);
  } catch (error) {
    const message = `cannot send to Airtable: ${error instanceof Error ? error.message : String(error)}`;
    return { results: results.map(() => ({ outcome: 'failed', error: message, opensBreaker: true })) };
  }
  // ctx.now is the attempt's start; time spent waiting for a turn is real time, added to it.
  const started = performance.now();
  const now = () => ctx.now + Math.round(performance.now() - started);
  const budget = storeCallBudget({
    store, destinationName: ctx.destinationName, destination: ctx.destination, token, now,
    onWarning: (warning) => ctx.log?.warn({ destination: ctx.destinationName, calls: warning.calls, budget: warning.budget, month: warning.month }, warning.message),
  });
  // Wait for a turn within the attempt while it leaves the calls most of their time; past that, hand the jobs back.
  const client = airtableClient((request) => ctx.http.send(request), { apiUrl: ctx.destination.apiUrl, token, userAgent: ctx.userAgent }, { budget, now, maxWaitMs: ctx.destination.timeoutMs / 4, signal: ctx.signal, penaltyMs: ctx.destination.rateLimitPenaltyMs });

  const bySync = new Map<string, number[]>();
  ctx.items.forEach((item, index) => bySync.set(item.params.sync, [...(bySync.get(item.params.sync) ?? []), index]));
  for (const [syncName, indexes] of bySync) {
    const sync = Object.hasOwn(ctx.destination.syncs, syncName) ? ctx.destination.syncs[syncName] : undefined;
    if (!sync) {
      for (const i of indexes) results[i] = { outcome: 'failed', error: `no sync "${syncName}" on destination ${ctx.destinationName} (syncs: ${Object.keys(ctx.destination.syncs).join(', ') || 'none'})` };
      continue;
    }
    const items = indexes.map((i) => ctx.items[i]!);
    const answers = await runSync({ client, store, now, destinationName: ctx.destinationName, syncName, sync }, items);
    indexes.forEach((i, position) => (results[i] = answers[position]!));
  }
  return { results };
}

interface SyncRun {
  readonly client: AirtableClient;
  readonly store: AirtableAttemptStore;
  readonly now: () => number;
  readonly destinationName: string;
  readonly syncName: string;
  readonly sync: AirtableSyncConfig;
}

/** One sync's jobs: read the mirror and what was written, skip paused rows, send the rest. */
async function runSync(run: SyncRun, items: readonly JobInput<UpsertParams>[]): Promise<ActionResult[]> {
  const { store, sync } = run;
  const key = syncKey(run.destinationName, run.syncName);
  const kitIds = [...new Set(items.map((item) => item.params.kitId))];
  const [subscribers, states, heldFields] = await Promise.all([store.listSubscribers({ kitIds, limit: kitIds.length }), store.getAirtableRecords(key, kitIds), store.listHeldAirtableFields(key, kitIds)]);
  const mirror = new Map<number, MirrorSubscriber>(subscribers.map((s) => [s.kitId, s]));
  const written = new Map(states.map((s) => [s.kitId, s]));
  const held = new Map<number, Set<string>>();
  for (const { kitId, field } of heldFields) held.set(kitId, (held.get(kitId) ?? new Set()).add(field));
  // A row edited in Airtable whose edit is not applied yet: the fields that go back to Kit wait for
  // the inbound side, which sees both changes and settles them by policy (a write now would erase the edit).
  const pending = new Set(await store.listPendingAirtableRecords(key, states.map((s) => s.recordId)));
  const reversible = [...inboundFields(sync).keys()];
  const settled = new Set(items.filter((item) => item.params.settled).map((item) => item.params.kitId));
  for (const item of items) if (item.params.keep) held.set(item.params.kitId, new Set([...(held.get(item.params.kitId) ?? []), ...item.params.keep]));
  for (const state of states) {
    if (pending.has(state.recordId) && !settled.has(state.kitId)) held.set(state.kitId, new Set([...(held.get(state.kitId) ?? []), ...reversible]));
  }
  const plans = kitIds.map((kitId) => planRecord(kitId, mirror.get(kitId), written.get(kitId), sync, { held: held.get(kitId) ?? new Set() }));
  const reports = new Map<number, RecordReport>();
  const paused = await pausedOf(run, plans);
  if (paused.kind === 'error') {
    for (const plan of plans) reports.set(plan.kitId, plan.kind === 'none' ? { kind: 'none', kitId: plan.kitId, why: plan.why } : { kind: 'error', kitId: plan.kitId, outcome: paused.outcome, ...(paused.call ? { call: paused.call } : {}) });
  } else {
    for (const kitId of paused.kitIds) reports.set(kitId, { kind: 'none', kitId, why: `paused in Airtable (${sync.pauseField ?? ''} is checked): left alone` });
    const sent = await applyPlans({ client: run.client, store, sync, key, now: run.now }, plans.filter((plan) => !paused.kitIds.has(plan.kitId)));
    for (const report of sent) reports.set(report.kitId, report);
  }
  const notes = new Map(plans.flatMap((plan) => (plan.kind === 'write' && plan.notes.length > 0 ? [[plan.kitId, plan.notes.join('; ')] as const] : [])));
  return items.map((item) => resultOfReport(reports.get(item.params.kitId), run.syncName, notes.get(item.params.kitId)));
}

type Paused = { readonly kind: 'ok'; readonly kitIds: ReadonlySet<number> } | { readonly kind: 'error'; readonly outcome: Parameters<typeof resultOf>[0]; readonly call?: CallRecord };

/**
 * With a pauseField, the rows of the subscribers about to be written or removed whose box is
 * checked: one list call, filtered by formula to those rows. Without one, none (and no call).
 */
async function pausedOf(run: SyncRun, plans: readonly RecordPlan[]): Promise<Paused> {
  const { sync } = run;
  const touched = plans.filter((plan) => plan.kind !== 'none');
  if (sync.pauseField === undefined || touched.length === 0) return { kind: 'ok', kitIds: new Set() };
  const formula = `AND(${fieldRef(sync.pauseField)}, OR(${touched.map((plan) => kitIdFormula(sync, plan.kitId)).join(', ')}))`;
  const listed = await run.client.list(sync.baseId, sync.table, { filterByFormula: formula, fields: [sync.kitIdField], pageSize: 100 });
  if (listed.outcome.kind !== 'ok' || !listed.body) {
    const call = listed.result ? callRecordOf(listed.result, { read: 'paused rows' }) : undefined;
    return { kind: 'error', outcome: listed.outcome as Parameters<typeof resultOf>[0], ...(call ? { call } : {}) };
  }
  const kitIds = new Set<number>();
  for (const record of listed.body.records) {
    const value = Number(record.fields[sync.kitIdField]);
    if (Number.isSafeInteger(value)) kitIds.add(value);
  }
  return { kind: 'ok', kitIds };
}

function resultOfReport(report: RecordReport | undefined, syncName: string, notes: string | undefined): ActionResult {
  if (!report) return { outcome: 'failed', error: 'no report for this subscriber (a kitrelay bug)' };
  const correlation = { sync: syncName, kitId: String(report.kitId), ...(notes ? { notes } : {}) };
  switch (report.kind) {
    case 'created':
    case 'updated':
    case 'deleted':
    case 'marked':
    case 'gone':
      return { outcome: 'succeeded', correlation: { ...correlation, op: report.kind, recordId: report.recordId }, ...(report.call ? { call: report.call } : {}) };
    case 'none':
      return { outcome: 'succeeded', correlation: { ...correlation, op: 'none', note: report.why === 'unchanged' ? 'the record holds this already: not sent' : report.why === 'not_selected' ? 'not in the selection, and no row to remove' : report.why } };
    case 'error':
      return { ...resultOf(report.outcome, report.call), correlation };
  }
}
