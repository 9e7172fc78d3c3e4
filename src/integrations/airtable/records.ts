/**
 * Writing subscribers' records, shared by the `upsert` action (a few subscribers, as webhooks
 * change them) and the backfill (every subscriber, page by page): what each subscriber's record
 * should be now (`planRecord`), and the calls that make it so (`applyPlans`), at most 10 records a
 * call, with what was written kept in the store.
 *
 * A refusal that may be one record's fault (a value a field refuses, a Kit id on two rows) or a
 * request too large splits the call in halves until each refused record stands alone: the others
 * are written, and only the record at fault fails, with Airtable's type and message. A refusal
 * that every call would get (the token, the budget, a 429, an unknown field) stops the rest.
 */
import { callRecordOf } from '../outbound.js';
import type { AirtableAttemptStore, CallRecord } from '../types.js';
import type { MirrorSubscriber, AirtableRecordState } from '../../store/types.js';
import { isSelected } from '../selection.js';
import { fieldRef, formulaValue, MAX_RECORDS_PER_WRITE, type AirtableCall, type AirtableClient, type AirtableRecord } from './client.js';
import { sameCell, syncedCell } from './cells.js';
import type { AirtableErrorOutcome } from './errors.js';
import { contentHash, kitIdCell, markFields, MARKED_HASH, recordOf, type RecordFields } from './fields.js';
import type { AirtableSyncConfig } from './schema.js';

/** What one subscriber's record needs now. */
export type RecordPlan =
  /**
   * Write these fields: update record `id` (a matched row), or upsert on the Kit id. `synced`: the
   * synced values to keep for fields not written (a matched row whose cells win: Kit's values, so
   * the cells read as Airtable's changes and go to Kit).
   */
  | { readonly kind: 'write'; readonly kitId: number; readonly fields: RecordFields; readonly hash: string; readonly id?: string; readonly notes: readonly string[]; readonly synced?: RecordFields }
  /** They left: delete their record, or mark it (`onDelete`). */
  | { readonly kind: 'remove'; readonly kitId: number; readonly recordId: string }
  /** Nothing to send: the record holds this already, or they have none and need none. */
  | { readonly kind: 'none'; readonly kitId: number; readonly why: 'unchanged' | 'not_selected' | 'marked' };

/** What became of one subscriber's plan. */
export type RecordReport =
  | { readonly kind: 'created' | 'updated' | 'deleted' | 'marked'; readonly kitId: number; readonly recordId: string; readonly call?: CallRecord }
  | { readonly kind: 'gone'; readonly kitId: number; readonly recordId: string; readonly call?: CallRecord }
  | { readonly kind: 'none'; readonly kitId: number; readonly why: string }
  | { readonly kind: 'error'; readonly kitId: number; readonly outcome: AirtableErrorOutcome; readonly call?: CallRecord };

/** The sync's name in the store: `<destination>/<sync>`. */
export function syncKey(destinationName: string, syncName: string): string {
  return `${destinationName}/${syncName}`;
}

/**
 * What a subscriber's record should be, from their mirror row (undefined: no longer in the
 * mirror) and what kitrelay last wrote. `force`: write even when the hash says nothing changed.
 */
export function planRecord(kitId: number, subscriber: MirrorSubscriber | undefined, state: AirtableRecordState | undefined, sync: AirtableSyncConfig, options: PlanOptions = {}): RecordPlan {
  if (subscriber && isSelected(subscriber, sync.select)) {
    const record = recordOf(subscriber, sync);
    const held = options.held ?? new Set<string>();
    const all = Object.fromEntries(Object.entries(record.fields).filter(([name]) => !held.has(name)));
    const hash = contentHash(record.fields);
    // A row marked as left is unmarked, and written whole: it was not kept up to date meanwhile.
    if (options.force || !state || state.hash === MARKED_HASH) return { kind: 'write', kitId, fields: all, hash, notes: record.notes };
    // A state from before synced values were kept: the hash says whether anything changed, and all is written.
    if (Object.keys(state.synced).length === 0) return state.hash === hash ? { kind: 'none', kitId, why: 'unchanged' } : { kind: 'write', kitId, fields: all, hash, notes: record.notes };
    // Only what Kit changed since the last sync: a field edited in Airtable meanwhile is not overwritten.
    const changed = Object.entries(all).filter(([name, value]) => name !== sync.kitIdField && !sameCell(value, state.synced[name]));
    if (changed.length === 0) return { kind: 'none', kitId, why: 'unchanged' };
    return { kind: 'write', kitId, fields: { [sync.kitIdField]: record.fields[sync.kitIdField] ?? null, ...Object.fromEntries(changed) }, hash, notes: record.notes };
  }
  if (!state) return { kind: 'none', kitId, why: 'not_selected' };
  if (state.hash === MARKED_HASH && !options.force) return { kind: 'none', kitId, why: 'marked' };
  return { kind: 'remove', kitId, recordId: state.recordId };
}

export interface PlanOptions {
  /** Write every field, whatever was last written. */
  readonly force?: boolean;
  /** Fields not to write: a conflict on them is held for an operator. */
  readonly held?: ReadonlySet<string>;
}

export interface ApplyDeps {
  readonly client: AirtableClient;
  readonly store: Pick<AirtableAttemptStore, 'setAirtableRecords' | 'forgetAirtableRecords'>;
  readonly sync: AirtableSyncConfig;
  /** `<destination>/<sync>`. */
  readonly key: string;
  readonly now: () => number;
}

/** Outcomes after which no further call of this run can succeed now. */
function stopsTheRest(outcome: AirtableErrorOutcome): boolean {
  // A single record's refusal stops nothing; anything else (the table missing included) would refuse the next call alike.
  return !(outcome.kind === 'invalid' && outcome.isPerRecord) && outcome.kind !== 'too_large';
}

/** Sends the plans (writes first, then removals), ≤ 10 records a call; one report per plan. */
export async function applyPlans(deps: ApplyDeps, plans: readonly RecordPlan[]): Promise<RecordReport[]> {
  const reports = new Map<RecordPlan, RecordReport>();
  let stop: { outcome: AirtableErrorOutcome; call?: CallRecord } | undefined;
  const writes = plans.filter((p): p is Extract<RecordPlan, { kind: 'write' }> => p.kind === 'write');
  const removes = plans.filter((p): p is Extract<RecordPlan, { kind: 'remove' }> => p.kind === 'remove');
  for (const plan of plans) if (plan.kind === 'none') reports.set(plan, { kind: 'none', kitId: plan.kitId, why: plan.why });
  for (const [chunks, send] of [
    [chunked(writes), (chunk: readonly RecordPlan[]) => writeChunk(deps, chunk as typeof writes)],
    [chunked(removes), (chunk: readonly RecordPlan[]) => removeChunk(deps, chunk as typeof removes)],
  ] as const) {
    for (const chunk of chunks) {
      if (stop) {
        for (const plan of chunk) reports.set(plan, { kind: 'error', kitId: plan.kitId, outcome: stop.outcome, ...(stop.call ? { call: stop.call } : {}) });
        continue;
      }
      const sent = await send(chunk);
      sent.forEach((report, i) => reports.set(chunk[i]!, report));
      const stopped = sent.find((r): r is Extract<RecordReport, { kind: 'error' }> => r.kind === 'error' && stopsTheRest(r.outcome));
      if (stopped) stop = { outcome: stopped.outcome, ...(stopped.call ? { call: stopped.call } : {}) };
    }
  }
  return plans.map((plan) => reports.get(plan) ?? { kind: 'none', kitId: plan.kitId, why: 'not sent' });
}

type WritePlan = Extract<RecordPlan, { kind: 'write' }>;
type RemovePlan = Extract<RecordPlan, { kind: 'remove' }>;

/**
 * One upsert call; on a per-record refusal or a request too large, the halves on their own.
 * Records with an id update that row (a matched row gets its Kit id); the rest merge on the Kit id.
 */
async function writeChunk(deps: ApplyDeps, chunk: readonly WritePlan[]): Promise<RecordReport[]> {
  const { client, sync } = deps;
  const sent = await client.upsert(sync.baseId, sync.table, {
    records: chunk.map((plan) => (plan.id === undefined ? { fields: plan.fields } : { id: plan.id, fields: plan.fields })),
    mergeOn: [sync.kitIdField],
    typecast: sync.typecast,
  });
  const call = sent.result ? callRecordOf(sent.result, { records: String(chunk.length) }) : undefined;
  if (sent.outcome.kind === 'ok' && sent.body) {
    const created = new Set(sent.body.createdRecords);
    const byKitId = recordsByKitId(sent.body.records, sync);
    const reports = chunk.map((plan, i): RecordReport => {
      const record = (plan.id !== undefined ? sent.body?.records.find((r) => r.id === plan.id) : byKitId.get(String(plan.kitId))) ?? sent.body?.records[i];
      if (!record) return { kind: 'error', kitId: plan.kitId, outcome: { kind: 'unknown', message: `Airtable's answer holds no record for Kit id ${plan.kitId}` }, ...(call ? { call } : {}) };
      return { kind: created.has(record.id) ? 'created' : 'updated', kitId: plan.kitId, recordId: record.id, ...(call ? { call } : {}) };
    });
    const written = reports.flatMap((r, i) => (r.kind === 'created' || r.kind === 'updated' ? [{ kitId: r.kitId, recordId: r.recordId, hash: chunk[i]!.hash, synced: syncedOf({ ...chunk[i]!.fields, ...chunk[i]!.synced }, deps.sync) }] : []));
    await deps.store.setAirtableRecords(deps.key, written, deps.now());
    return reports;
  }
  const outcome = sent.outcome as AirtableErrorOutcome;
  if (chunk.length > 1 && (outcome.kind === 'too_large' || (outcome.kind === 'invalid' && outcome.isPerRecord))) return splitAndSend(chunk, (half) => writeChunk(deps, half));
  return chunk.map((plan) => ({ kind: 'error', kitId: plan.kitId, outcome, ...(call ? { call } : {}) }));
}

/** One delete call (or one update checking the "left" box); a record already gone is forgotten. */
async function removeChunk(deps: ApplyDeps, chunk: readonly RemovePlan[]): Promise<RecordReport[]> {
  const { client, sync } = deps;
  const mark = markFields(sync);
  const ids = chunk.map((plan) => plan.recordId);
  const sent: AirtableCall<unknown> = mark ? await client.update(sync.baseId, sync.table, { records: ids.map((id) => ({ id, fields: mark })), typecast: sync.typecast }) : await client.remove(sync.baseId, sync.table, ids);
  const call = sent.result ? callRecordOf(sent.result, { records: String(chunk.length) }) : undefined;
  const outcome = sent.outcome;
  const isGone = outcome.kind === 'not_found' || (outcome.kind === 'invalid' && outcome.type === 'ROW_DOES_NOT_EXIST');
  if (outcome.kind === 'ok' || (isGone && chunk.length === 1)) {
    const kind = outcome.kind === 'ok' ? (mark ? 'marked' : 'deleted') : 'gone';
    if (kind === 'marked') await deps.store.setAirtableRecords(deps.key, chunk.map((plan) => ({ kitId: plan.kitId, recordId: plan.recordId, hash: MARKED_HASH })), deps.now());
    else await deps.store.forgetAirtableRecords(deps.key, chunk.map((plan) => plan.kitId));
    return chunk.map((plan) => ({ kind, kitId: plan.kitId, recordId: plan.recordId, ...(call ? { call } : {}) }));
  }
  if (chunk.length > 1 && (isGone || outcome.kind === 'too_large' || (outcome.kind === 'invalid' && outcome.isPerRecord))) return splitAndSend(chunk, (half) => removeChunk(deps, half));
  return chunk.map((plan) => ({ kind: 'error', kitId: plan.kitId, outcome, ...(call ? { call } : {}) }));
}

/** The two halves, one after the other; the second is not sent when the first met a refusal that stops the rest. */
async function splitAndSend<P extends RecordPlan>(chunk: readonly P[], send: (half: readonly P[]) => Promise<RecordReport[]>): Promise<RecordReport[]> {
  const middle = Math.ceil(chunk.length / 2);
  const first = await send(chunk.slice(0, middle));
  const stopped = first.find((r): r is Extract<RecordReport, { kind: 'error' }> => r.kind === 'error' && stopsTheRest(r.outcome));
  const second = stopped ? chunk.slice(middle).map((plan): RecordReport => ({ kind: 'error', kitId: plan.kitId, outcome: stopped.outcome, ...(stopped.call ? { call: stopped.call } : {}) })) : await send(chunk.slice(middle));
  return [...first, ...second];
}

/** What a write makes the synced values: the fields written (not the Kit id: it is the key). */
function syncedOf(fields: RecordFields, sync: AirtableSyncConfig): Record<string, unknown> {
  const synced: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) if (name !== sync.kitIdField) synced[name] = syncedCell(value);
  return synced;
}

/** The records of an answer by the Kit id they hold (as text: the field may be a number or text). */
function recordsByKitId(records: readonly AirtableRecord[], sync: AirtableSyncConfig): Map<string, AirtableRecord> {
  const map = new Map<string, AirtableRecord>();
  for (const record of records) {
    const value = record.fields[sync.kitIdField];
    if (typeof value === 'number' || typeof value === 'string') map.set(String(value).trim(), record);
  }
  return map;
}

function chunked<T>(items: readonly T[], size = MAX_RECORDS_PER_WRITE): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** `{Kit ID}=1` (or `="1"` for a text field): the formula that finds one subscriber's row. */
export function kitIdFormula(sync: AirtableSyncConfig, kitId: number): string {
  const cell = kitIdCell(kitId, sync.kitIdAs);
  return `${fieldRef(sync.kitIdField)}=${formulaValue(cell)}`;
}
