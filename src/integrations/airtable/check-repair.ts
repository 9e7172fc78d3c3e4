/**
 * What the out-of-sync check (check.ts) does about what it found.
 *
 * Always, report or repair: a row kitrelay wrote that is gone goes to the delete approval queue
 * (never recreated here: approved, the subscriber is unsubscribed in Kit; rejected, the row is
 * written again), and a pending request whose row is back is withdrawn.
 *
 * On repair: of duplicates, every row but the one kept is deleted (by record id, the record state
 * left alone: it names the kept row); a missing row is created (an upsert merged on the Kit id, so
 * a row a job created meanwhile is updated, not doubled); a different row is written with the
 * mirror's values by its record id, fields whose conflict is held for an operator left as they are;
 * an extra row is deleted or marked (`onDelete`); a row as it should be that no state names gets
 * one; a state whose row is gone and needed by nobody is forgotten. Paused rows are never touched.
 * Each change is a fix, reported as it is made.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { MirrorSubscriber, AirtableRecordState, AirtableRecordInput } from '../../store/types.js';
import { syncedCell } from './cells.js';
import { MAX_RECORDS_PER_WRITE } from './client.js';
import type { AirtableErrorOutcome, AirtableOutcome } from './errors.js';
import { contentHash, recordOf } from './fields.js';
import { applyPlans, planRecord, type ApplyDeps, type RecordPlan, type RecordReport } from './records.js';
import type { CheckCounts, CheckDeps, CheckFix, CheckIssue, CheckIssueKind, FieldDifference } from './check.js';

/** Subscribers whose held conflicts are read at a time. */
const HELD_PAGE = 500;
/** Sends of one call after a 429, a pacing refusal, a 5xx or a lost answer. */
const MAX_TRIES = 6;

/** What a check found, gathered per Kit id while judging, and the fixes made. */
export interface Drift {
  readonly counts: CheckCounts;
  /** Examples kept of each kind. */
  readonly limit: number;
  readonly examples: Record<CheckIssueKind, CheckIssue[]>;
  readonly fixes: CheckFix[];
  /** Selected subscribers with no row and no state: created on repair. */
  readonly creates: { readonly kitId: number; readonly subscriber: MirrorSubscriber }[];
  readonly rewrites: { readonly kitId: number; readonly subscriber: MirrorSubscriber; readonly state: AirtableRecordState | undefined; readonly recordId: string; readonly differences: readonly FieldDifference[] }[];
  /** Extra rows: deleted or marked. */
  readonly removes: { readonly kitId: number; readonly recordId: string }[];
  /** Rows beyond the one kept of a Kit id: deleted. */
  readonly duplicates: { readonly kitId: number; readonly recordId: string }[];
  /** Rows as they should be that no state names. */
  readonly links: { readonly kitId: number; readonly subscriber: MirrorSubscriber; readonly recordId: string }[];
  /** States of subscribers with no row who need none. */
  readonly stale: number[];
  /** Rows kitrelay wrote, deleted in Airtable. */
  readonly deleted: { readonly kitId: number; readonly recordId: string; readonly email: string | null; readonly isPending: boolean }[];
  /** Kit ids with a pending delete request and a row. */
  readonly back: number[];
}

export function note(drift: Drift, issue: CheckIssue): void {
  const list = drift.examples[issue.kind];
  if (list.length < drift.limit) list.push(issue);
}

type RepairDeps = CheckDeps & { readonly key: string };

/** Acts on the drift (see the top); answers why a fix failed, if one did. */
export async function repairDrift(deps: RepairDeps, drift: Drift, options: { readonly isRepair: boolean; readonly now: number }): Promise<string | undefined> {
  const fix = (made: CheckFix): void => {
    drift.fixes.push(made);
    deps.onFix?.(made);
  };
  await settleDeleteRequests(deps, drift, options.now, fix);
  const held = await heldFields(deps, [...drift.rewrites.map((r) => r.kitId), ...(options.isRepair ? drift.creates.map((c) => c.kitId) : [])]);
  for (const rewrite of drift.rewrites) {
    const differences = rewrite.differences.map((d) => (held.get(rewrite.kitId)?.has(d.field) ? { ...d, isHeld: true } : d));
    const isAllHeld = differences.every((d) => d.isHeld === true);
    const detail = `differs: ${differences.map((d) => `${d.field}${d.isHeld ? ' (conflict held: left as it is)' : ''}`).join(', ')}`;
    note(drift, { kind: 'different', kitId: rewrite.kitId, email: rewrite.subscriber.email === '' ? null : rewrite.subscriber.email, recordIds: [rewrite.recordId], detail: isAllHeld ? `${detail}; resolve the conflict with kitrelay airtable conflicts` : detail, fields: differences });
  }
  if (!options.isRepair) return undefined;

  await deleteDuplicates(deps, drift.duplicates, drift.counts, fix);
  await writeAndRemove(deps, drift, held, fix);
  await settleStates(deps, drift, options.now, fix);
  const failed = drift.fixes.filter((f) => f.action === 'failed');
  return failed.length === 0 ? undefined : `${failed.length} fix${failed.length === 1 ? '' : 'es'} failed (Kit id ${failed[0]!.kitId}: ${failed[0]!.detail}); run the check again to retry`;
}

async function settleDeleteRequests(deps: RepairDeps, drift: Drift, now: number, fix: (made: CheckFix) => void): Promise<void> {
  for (const gone of drift.deleted) {
    if (gone.isPending) continue;
    const request = await deps.store.requestAirtableDelete(deps.key, { kitId: gone.kitId, recordId: gone.recordId, email: gone.email, detectedBy: 'check' }, now);
    fix({ kitId: gone.kitId, recordId: gone.recordId, found: 'missing', action: 'delete_requested', detail: `deleted in Airtable: delete request ${request.id} waits for approval (the row is not recreated)` });
  }
  if (drift.back.length === 0) return;
  await deps.store.withdrawAirtableDeletes(deps.key, drift.back, now, 'the row is in Airtable again (seen by the check)');
  for (const kitId of drift.back) fix({ kitId, recordId: null, found: 'state', action: 'delete_withdrawn', detail: 'the row is in Airtable again: its delete request is withdrawn' });
}

/** The fields of these subscribers whose conflict waits for an operator. */
async function heldFields(deps: RepairDeps, kitIds: readonly number[]): Promise<Map<number, Set<string>>> {
  const held = new Map<number, Set<string>>();
  for (let i = 0; i < kitIds.length; i += HELD_PAGE) {
    for (const { kitId, field } of await deps.store.listHeldAirtableFields(deps.key, kitIds.slice(i, i + HELD_PAGE))) {
      const fields = held.get(kitId) ?? new Set<string>();
      fields.add(field);
      held.set(kitId, fields);
    }
  }
  return held;
}

/** The extra rows of duplicated Kit ids, 10 a call; the record state (naming the kept row) is left as it is. */
async function deleteDuplicates(deps: RepairDeps, rows: readonly { readonly kitId: number; readonly recordId: string }[], counts: CheckCounts, fix: (made: CheckFix) => void): Promise<void> {
  const { client, sync } = deps;
  const sendChunk = async (chunk: readonly { readonly kitId: number; readonly recordId: string }[]): Promise<void> => {
    const outcome = await withTries(deps, async () => {
      const sent = await client.remove(sync.baseId, sync.table, chunk.map((row) => row.recordId));
      if (sent.result) counts.calls += 1;
      return sent.outcome;
    });
    const isGone = outcome.kind === 'not_found' || (outcome.kind === 'invalid' && outcome.type === 'ROW_DOES_NOT_EXIST');
    if (chunk.length > 1 && outcome.kind !== 'ok' && (isGone || (outcome.kind === 'invalid' && outcome.isPerRecord))) {
      for (const row of chunk) await sendChunk([row]);
      return;
    }
    for (const row of chunk) {
      if (outcome.kind === 'ok' || isGone) fix({ kitId: row.kitId, recordId: row.recordId, found: 'duplicate', action: 'deleted', detail: isGone ? 'a second row for this Kit id: already gone' : 'a second row for this Kit id: deleted' });
      else fix({ kitId: row.kitId, recordId: row.recordId, found: 'duplicate', action: 'failed', detail: outcome.message });
    }
  };
  for (let i = 0; i < rows.length; i += MAX_RECORDS_PER_WRITE) await sendChunk(rows.slice(i, i + MAX_RECORDS_PER_WRITE));
}

/** Sends a call again while the failure is one a later try may not meet (a 429, a 5xx, a lost answer). */
async function withTries(deps: RepairDeps, send: () => Promise<AirtableOutcome>): Promise<AirtableOutcome> {
  for (let tries = 1; ; tries += 1) {
    const outcome = await send();
    if (outcome.kind === 'ok' || !isPassing(outcome) || tries >= MAX_TRIES || deps.signal?.aborted) return outcome;
    if (outcome.kind === 'transient' || outcome.kind === 'unknown') await pause(deps, tries);
  }
}

function isPassing(outcome: AirtableErrorOutcome): boolean {
  // The budget waits out a 429's penalty before the next call; 5xx and lost answers get a pause.
  return outcome.kind === 'throttled' || outcome.kind === 'paced' || outcome.kind === 'transient' || outcome.kind === 'unknown';
}

function pause(deps: RepairDeps, tries: number): Promise<unknown> {
  return delay(Math.min(30_000, 250 * 2 ** tries), undefined, deps.signal ? { signal: deps.signal } : {}).catch(() => undefined);
}

/** Missing rows created, different ones written, extra ones deleted or marked, through the writes every sync makes. */
async function writeAndRemove(deps: RepairDeps, drift: Drift, held: ReadonlyMap<number, ReadonlySet<string>>, fix: (made: CheckFix) => void): Promise<void> {
  const found = new Map<RecordPlan, { readonly found: CheckIssueKind; readonly detail: string }>();
  const plans: RecordPlan[] = [];
  const add = (plan: RecordPlan, what: { readonly found: CheckIssueKind; readonly detail: string }): void => {
    plans.push(plan);
    found.set(plan, what);
  };
  for (const { kitId, subscriber } of drift.creates) add(planRecord(kitId, subscriber, undefined, deps.sync, { force: true, ...heldOf(held, kitId) }), { found: 'missing', detail: 'row created' });
  for (const rewrite of drift.rewrites) {
    const fields = rewrite.differences.filter((d) => !held.get(rewrite.kitId)?.has(d.field)).map((d) => d.field);
    if (fields.length === 0) continue;
    const plan = planRecord(rewrite.kitId, rewrite.subscriber, rewrite.state, deps.sync, { force: true, ...heldOf(held, rewrite.kitId) });
    // By its record id: an upsert merged on the Kit id would fail while a duplicate row stood.
    if (plan.kind === 'write') add({ ...plan, id: rewrite.recordId }, { found: 'different', detail: `written from Kit: ${fields.join(', ')}` });
  }
  for (const { kitId, recordId } of drift.removes) add({ kind: 'remove', kitId, recordId }, { found: 'extra', detail: 'a row the sync does not hold' });
  if (plans.length === 0) return;
  const reports = await applyWithTries({ client: deps.client, store: deps.store, sync: deps.sync, key: deps.key, now: deps.now }, plans, deps, drift.counts);
  plans.forEach((plan, i) => fix(fixOf(reports[i]!, found.get(plan)!)));
}

function heldOf(held: ReadonlyMap<number, ReadonlySet<string>>, kitId: number): { readonly held?: ReadonlySet<string> } {
  const fields = held.get(kitId);
  return fields ? { held: fields } : {};
}

/** `applyPlans`, sending again the plans that met a 429, a 5xx or a lost answer. */
async function applyWithTries(apply: ApplyDeps, plans: readonly RecordPlan[], deps: RepairDeps, counts: CheckCounts): Promise<RecordReport[]> {
  const reports = new Map<RecordPlan, RecordReport>();
  let todo = plans;
  for (let tries = 1; todo.length > 0; tries += 1) {
    const sent = await applyPlans(apply, todo);
    counts.calls += new Set(sent.flatMap((report) => ('call' in report && report.call ? [report.call] : []))).size;
    const again: RecordPlan[] = [];
    sent.forEach((report, i) => {
      const plan = todo[i]!;
      if (report.kind === 'error' && isPassing(report.outcome) && tries < MAX_TRIES && !deps.signal?.aborted) again.push(plan);
      else reports.set(plan, report);
    });
    if (again.length > 0 && sent.some((r) => r.kind === 'error' && (r.outcome.kind === 'transient' || r.outcome.kind === 'unknown'))) await pause(deps, tries);
    todo = again;
  }
  return plans.map((plan) => reports.get(plan)!);
}

function fixOf(report: RecordReport, what: { readonly found: CheckIssueKind; readonly detail: string }): CheckFix {
  const base = { kitId: report.kitId, found: what.found };
  switch (report.kind) {
    case 'created':
    case 'updated':
      return { ...base, recordId: report.recordId, action: report.kind, detail: what.detail };
    case 'deleted':
    case 'marked':
      return { ...base, recordId: report.recordId, action: report.kind, detail: `${what.detail}: ${report.kind === 'deleted' ? 'row deleted' : 'row marked as left'}` };
    case 'gone':
      return { ...base, recordId: report.recordId, action: 'deleted', detail: `${what.detail}: already gone` };
    case 'none':
      return { ...base, recordId: null, action: 'failed', detail: `nothing was sent (${report.why})` };
    case 'error':
      return { ...base, recordId: null, action: 'failed', detail: report.outcome.message };
  }
}

/** Record states set right: rows as they should be linked, states nobody needs forgotten. */
async function settleStates(deps: RepairDeps, drift: Drift, now: number, fix: (made: CheckFix) => void): Promise<void> {
  if (drift.links.length > 0) {
    const inputs: AirtableRecordInput[] = drift.links.map(({ kitId, subscriber, recordId }) => {
      const { fields } = recordOf(subscriber, deps.sync);
      const synced = Object.fromEntries(Object.entries(fields).filter(([name]) => name !== deps.sync.kitIdField).map(([name, value]) => [name, syncedCell(value)]));
      return { kitId, recordId, hash: contentHash(fields), synced };
    });
    await deps.store.setAirtableRecords(deps.key, inputs, now);
    for (const { kitId, recordId } of drift.links) fix({ kitId, recordId, found: 'state', action: 'linked', detail: 'the row holds what kitrelay would write: kept as theirs' });
  }
  if (drift.stale.length > 0) {
    await deps.store.forgetAirtableRecords(deps.key, drift.stale);
    for (const kitId of drift.stale) fix({ kitId, recordId: null, found: 'state', action: 'forgotten', detail: 'no row and none needed: what kitrelay kept of it is forgotten' });
  }
}
