/**
 * Airtable → Kit: what a person changed in the table, applied to Kit. Changes are detected by the
 * base's webhook or by polling (webhooks.ts) and noted in the store as pending; here, each record
 * that has been quiet for `inbound.quietMs` (so a half-typed value is not synced) is read once,
 * and each of its fields that go back to Kit (`inboundFields`) is compared with the value both
 * sides last agreed on (the record state's synced values) and with Kit's value now (the mirror):
 *
 * - Airtable's value equals the synced one: Airtable did not change it. Nothing to do, and this is
 *   also how kitrelay's own writes coming back as changes are recognised: a write sets the synced
 *   value to what it wrote, so its echo changes nothing (no loop).
 * - Only Airtable changed it: the value goes to Kit (one `kit_update` job per record).
 * - Both changed it to the same value: they agree; the synced value is moved on.
 * - Both changed it to different values: a conflict, settled by the field's policy (`conflicts`):
 *   `kit-wins` writes Kit's value over the cell (an `upsert` job), `airtable-wins` sends the cell to
 *   Kit, `newest-wins` compares when each side changed (the payload's time, the mirror row's), and
 *   `manual` holds it (`kitrelay airtable conflicts resolve`), written neither way meanwhile. Every
 *   decision is logged with both values.
 *
 * A row that is gone (destroyed, or no longer readable) and was kitrelay's goes to the delete
 * approval queue: a Kit subscriber is never unsubscribed because a row went. A row seen again
 * withdraws its pending request. Paused rows are skipped.
 *
 * The jobs are committed through the poller's step (stored, deduplicated by the change's id, so a
 * crash before the pending change is cleared plans nothing twice), and run by the worker with
 * their audit records: Kit's writes spend from Kit's shared rate budget.
 */
import type { MirrorSubscriber } from '../../store/types.js';
import type { AirtableChange, AirtableFieldDecisionInput, AirtableRecordState, ConflictPolicy } from '../../store/airtable-types.js';
import type { IntegrationSyncStore, PolledIngest, SourceEvent } from '../types.js';
import { kitText, normalCell, sameCell, syncedCell, tagNames } from './cells.js';
import { MAX_PAGE_SIZE, type AirtableRecord } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { contentHash, recordOf, tagLabels } from './fields.js';
import { syncKey } from './records.js';
import { conflictPolicyOf, inboundFields, type AirtableSyncConfig, type ResolvedField } from './schema.js';
import type { KitUpdateParams } from './kit-update.js';
import type { SyncRunDeps } from './open.js';

/** The poller name inbound changes are committed under (events `airtable:record_edited`). */
export const INBOUND_POLLER = 'inbound';
/** Pending changes read per pass, and records read per list call (a formula naming each). */
const PASS_SIZE = 100;
const READ_CHUNK = 50;
/** Passes per run: a run stays short; the next one (seconds later) takes the rest. */
const MAX_PASSES = 20;

export interface InboundDeps extends SyncRunDeps<IntegrationSyncStore> {
  readonly ingest: (poller: string, events: readonly SourceEvent[]) => Promise<PolledIngest>;
}

export interface InboundStats {
  /** Pending changes taken (quiet long enough). */
  taken: number;
  /** Records whose edits went to Kit (a `kit_update` job each). */
  toKit: number;
  /** Records written back from Kit (a conflict Kit won). */
  toAirtable: number;
  /** Fields both sides changed, by what was decided. */
  conflicts: number;
  held: number;
  /** Changes that were kitrelay's own writes coming back, or changed nothing that syncs. */
  unchanged: number;
  /** Rows gone, queued for approval; pending requests withdrawn because the row is back. */
  deleteRequests: number;
  withdrawn: number;
  paused: number;
  /** Rows with no Kit id, or one kitrelay never wrote, or not in the mirror: left alone. */
  unlinked: number;
}

export type InboundResult = { readonly ok: true; readonly stats: InboundStats } | { readonly ok: false; readonly stats: InboundStats; readonly error: string; readonly outcome: AirtableErrorOutcome };

function emptyInboundStats(): InboundStats {
  return { taken: 0, toKit: 0, toAirtable: 0, conflicts: 0, held: 0, unchanged: 0, deleteRequests: 0, withdrawn: 0, paused: 0, unlinked: 0 };
}

/** Applies every pending change of one sync that has been quiet long enough (bounded passes). */
export async function applyQuietChanges(deps: InboundDeps): Promise<InboundResult> {
  const stats = emptyInboundStats();
  if (deps.sync.inbound.mode === 'off') return { ok: true, stats };
  const key = syncKey(deps.destinationName, deps.syncName);
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    deps.signal?.throwIfAborted();
    const quiet = await deps.store.listQuietAirtableChanges(key, deps.now() - deps.sync.inbound.quietMs, PASS_SIZE);
    if (quiet.length === 0) break;
    const failed = await applyPass(deps, key, quiet, stats);
    if (failed) return { ok: false, stats, error: failed.message, outcome: failed };
    stats.taken += quiet.length;
    if (quiet.length < PASS_SIZE) break;
  }
  return { ok: true, stats };
}

async function applyPass(deps: InboundDeps, key: string, changes: readonly AirtableChange[], stats: InboundStats): Promise<AirtableErrorOutcome | undefined> {
  const { store, sync } = deps;
  const recordIds = changes.map((c) => c.recordId);
  const [states, read] = await Promise.all([store.findAirtableRecordsByRecordId(key, recordIds), readRows(deps, recordIds)]);
  if (!read.ok) return read.outcome;
  const stateByRecord = new Map(states.map((s) => [s.recordId, s]));
  const kitIdOf = (change: AirtableChange): number | undefined => {
    const row = read.rows.get(change.recordId);
    const fromRow = row ? kitIdIn(row, sync) : undefined;
    return fromRow ?? stateByRecord.get(change.recordId)?.kitId;
  };
  const kitIds = [...new Set(changes.map(kitIdOf).filter((id): id is number => id !== undefined))];
  const [subscribers, rowStates] = await Promise.all([
    kitIds.length === 0 ? [] : store.listSubscribers({ kitIds, limit: kitIds.length }),
    kitIds.length === 0 ? [] : store.getAirtableRecords(key, kitIds),
  ]);
  const mirror = new Map<number, MirrorSubscriber>(subscribers.map((s) => [s.kitId, s]));
  const stateByKitId = new Map(rowStates.map((s) => [s.kitId, s]));

  const events: SourceEvent[] = [];
  const decisions: AirtableFieldDecisionInput[] = [];
  const agreed: { kitId: number; recordId: string; hash: string; synced: Record<string, unknown> }[] = [];
  const back: number[] = [];
  const now = deps.now();
  for (const change of changes) {
    const row = read.rows.get(change.recordId);
    const ours = stateByRecord.get(change.recordId);
    if (!row) {
      // Gone (destroyed, or not found when read): only a row kitrelay holds as a subscriber's is asked about.
      if (!ours) {
        stats.unlinked += 1;
        continue;
      }
      const email = mirror.get(ours.kitId)?.email ?? null;
      await store.requestAirtableDelete(key, { kitId: ours.kitId, recordId: change.recordId, email: email === '' ? null : email, detectedBy: change.isDestroyed ? 'webhook' : 'read' }, now);
      stats.deleteRequests += 1;
      continue;
    }
    const kitId = kitIdOf(change);
    const state = kitId === undefined ? undefined : stateByKitId.get(kitId);
    const subscriber = kitId === undefined ? undefined : mirror.get(kitId);
    if (kitId === undefined || !state || state.recordId !== change.recordId || !subscriber) {
      stats.unlinked += 1;
      continue;
    }
    back.push(kitId);
    if (sync.pauseField !== undefined && row.fields[sync.pauseField] === true) {
      stats.paused += 1;
      continue;
    }
    const plan = planInbound(sync, row, state, subscriber, change.changedAt);
    decisions.push(...plan.decisions.map((d) => ({ ...d, kitId, recordId: change.recordId })));
    stats.conflicts += plan.decisions.filter((d) => d.winner !== null).length;
    stats.held += plan.decisions.filter((d) => d.winner === null).length;
    if (Object.keys(plan.agreed).length > 0) agreed.push({ kitId, recordId: change.recordId, hash: state.hash, synced: plan.agreed });
    const jobs: NonNullable<SourceEvent['jobs']>[number][] = [];
    if (plan.toKit) {
      const params: KitUpdateParams = { sync: deps.syncName, kitId, recordId: change.recordId, ...plan.toKit };
      jobs.push({ action: 'kit_update', params, subKey: 'kit' });
      stats.toKit += 1;
    }
    if (plan.toAirtable) {
      const keep = Object.keys(plan.toKit?.synced ?? {});
      jobs.push({ action: 'upsert', params: { sync: deps.syncName, kitId, settled: true, ...(keep.length > 0 ? { keep } : {}) }, subKey: sync.baseId });
      stats.toAirtable += 1;
    }
    if (jobs.length === 0) {
      if (plan.decisions.length === 0 && Object.keys(plan.agreed).length === 0) stats.unchanged += 1;
      continue;
    }
    events.push({
      type: 'record_edited',
      id: `${deps.syncName}:${change.recordId}:${change.changedAt}`,
      subscriberId: String(kitId),
      ...(subscriber.email !== '' ? { email: subscriber.email } : {}),
      occurredAt: change.changedAt,
      payload: { sync: deps.syncName, recordId: change.recordId, kitId, toKit: plan.toKit ?? null, kitWins: plan.toAirtable, conflicts: plan.decisions.map((d) => ({ field: d.field, policy: d.policy, winner: d.winner })) },
      jobs,
    });
  }
  if (back.length > 0) stats.withdrawn += await store.withdrawAirtableDeletes(key, back, now, 'the row is in Airtable again');
  if (events.length > 0) await deps.ingest(INBOUND_POLLER, events);
  if (decisions.length > 0) await store.recordAirtableDecisions(key, await newDecisions(store, key, decisions), now);
  if (agreed.length > 0) await store.setAirtableRecords(key, agreed, now);
  await store.clearAirtableChanges(key, changes);
  return undefined;
}

/**
 * A held conflict already logged for the same field and values is not logged again (a run that
 * crashed after logging it and before clearing the change reads it again).
 */
async function newDecisions(store: IntegrationSyncStore, key: string, decisions: readonly AirtableFieldDecisionInput[]): Promise<AirtableFieldDecisionInput[]> {
  const held = decisions.filter((d) => d.winner === null);
  if (held.length === 0) return [...decisions];
  const kept = new Set<string>();
  for (const kitId of new Set(held.map((d) => d.kitId))) {
    for (const d of await store.listAirtableDecisions({ sync: key, status: 'held', kitId, limit: 100 })) kept.add(`${d.kitId}\u0000${d.field}\u0000${JSON.stringify(normalCell(d.airtableValue))}`);
  }
  return decisions.filter((d) => d.winner !== null || !kept.has(`${d.kitId}\u0000${d.field}\u0000${JSON.stringify(normalCell(d.airtableValue))}`));
}

/** The Kit writes one record's edits come to, being built (a `kit_update` job's params less the record). */
type KitWrites = { -readonly [K in keyof Omit<KitUpdateParams, 'sync' | 'kitId' | 'recordId'>]: KitUpdateParams[K] } & { synced: Record<string, unknown> };

/** What one record's edits come to. */
export interface InboundPlan {
  /** The Kit side's writes, and the cells they bring Kit in line with (synced once applied). */
  readonly toKit?: Omit<KitUpdateParams, 'sync' | 'kitId' | 'recordId'>;
  /** Kit won a conflict, or changed a field the row's edit held back: the record is written from the mirror. */
  readonly toAirtable: boolean;
  /** Fields both sides changed to the same value: synced now. */
  readonly agreed: Record<string, unknown>;
  readonly decisions: readonly Omit<AirtableFieldDecisionInput, 'kitId' | 'recordId'>[];
}

/** Field by field, what a record's cells mean against the synced values and the mirror (pure). */
export function planInbound(sync: AirtableSyncConfig, row: AirtableRecord, state: AirtableRecordState, subscriber: MirrorSubscriber, airtableChangedAt: number): InboundPlan {
  const kitRecord = recordOf(subscriber, sync).fields;
  const toKit: KitWrites = { synced: {} };
  const agreed: Record<string, unknown> = {};
  const decisions: Omit<AirtableFieldDecisionInput, 'kitId' | 'recordId'>[] = [];
  let toAirtable = false;
  // A state from before synced values were kept: what was written is Kit's record while its hash still matches.
  const base = Object.keys(state.synced).length === 0 && state.hash === contentHash(kitRecord) ? kitRecord : state.synced;
  for (const [name, field] of inboundFields(sync)) {
    const cell = row.fields[name];
    const synced = base[name];
    const kitValue = kitRecord[name];
    if (sameCell(cell, synced)) {
      // Only Kit changed it: a write of the row's pending edit held it back, so it is written now.
      if (!sameCell(kitValue, synced)) toAirtable = true;
      continue;
    }
    if (sameCell(kitValue, synced)) {
      sendToKit(toKit, name, field, cell, subscriber);
      continue;
    }
    if (sameCell(cell, kitValue)) {
      agreed[name] = syncedCell(cell);
      continue;
    }
    const policy: ConflictPolicy = conflictPolicyOf(sync, name);
    const winner = winnerOf(policy, airtableChangedAt, subscriber.updatedAt);
    const note = policy === 'newest-wins' ? `Airtable changed it at ${new Date(airtableChangedAt).toISOString()}, Kit at ${new Date(subscriber.updatedAt).toISOString()}` : undefined;
    decisions.push({ field: name, kitValue: normalCell(kitValue), airtableValue: normalCell(cell), syncedValue: normalCell(synced), policy, winner, ...(note ? { note } : {}) });
    if (winner === 'airtable') sendToKit(toKit, name, field, cell, subscriber);
    else if (winner === 'kit') toAirtable = true;
  }
  const hasKitWrite = toKit.firstName !== undefined || toKit.fields !== undefined || toKit.addTags !== undefined || toKit.removeTags !== undefined || Object.keys(toKit.synced).length > 0;
  return { ...(hasKitWrite ? { toKit } : {}), toAirtable, agreed, decisions };
}

function winnerOf(policy: ConflictPolicy, airtableChangedAt: number, kitChangedAt: number): 'kit' | 'airtable' | null {
  switch (policy) {
    case 'kit-wins':
      return 'kit';
    case 'airtable-wins':
      return 'airtable';
    case 'newest-wins':
      return airtableChangedAt >= kitChangedAt ? 'airtable' : 'kit';
    case 'manual':
      return null;
  }
}

/** The Kit writes that bring one field in line with a cell (an operator's answer to a held conflict). */
export function kitWriteFor(sync: AirtableSyncConfig, name: string, cell: unknown, subscriber: MirrorSubscriber): Omit<KitUpdateParams, 'sync' | 'kitId' | 'recordId'> | undefined {
  const field = inboundFields(sync).get(name);
  if (!field) return undefined;
  const toKit = { synced: {} };
  sendToKit(toKit, name, field, cell, subscriber);
  return toKit;
}

/** Adds one cell's value to the Kit writes; the cell becomes the synced value once they succeed. */
function sendToKit(
  toKit: KitWrites,
  name: string,
  field: ResolvedField,
  cell: unknown,
  subscriber: MirrorSubscriber,
): void {
  toKit.synced[name] = syncedCell(cell);
  if ('customField' in field) {
    toKit.fields = { ...toKit.fields, [field.customField]: kitText(cell, field) };
    return;
  }
  if (field.source === 'first_name') {
    toKit.firstName = kitText(cell, field);
    return;
  }
  // Tags: the cell is the whole set; what Kit has and the cell lacks is removed, and the reverse added.
  const wanted = tagNames(cell);
  const have = tagLabels(subscriber);
  const lower = (names: readonly string[]) => new Set(names.map((n) => n.toLowerCase()));
  const haveLower = lower(have);
  const wantedLower = lower(wanted);
  const add = wanted.filter((n) => !haveLower.has(n.toLowerCase()));
  const remove = have.filter((n) => !wantedLower.has(n.toLowerCase()));
  if (add.length > 0) toKit.addTags = [...new Set([...(toKit.addTags ?? []), ...add])];
  if (remove.length > 0) toKit.removeTags = [...new Set([...(toKit.removeTags ?? []), ...remove])];
}

/** The Kit id a row holds, if it holds one. */
export function kitIdIn(row: AirtableRecord, sync: AirtableSyncConfig): number | undefined {
  const value = row.fields[sync.kitIdField];
  const id = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

type Read = { readonly ok: true; readonly rows: Map<string, AirtableRecord> } | { readonly ok: false; readonly outcome: AirtableErrorOutcome };

/** The rows by id, read with a formula naming them (50 a call); a row not answered is gone. */
async function readRows(deps: InboundDeps, recordIds: readonly string[]): Promise<Read> {
  const { sync } = deps;
  const fields = [sync.kitIdField, ...inboundFields(sync).keys(), ...(sync.pauseField !== undefined ? [sync.pauseField] : [])];
  const rows = new Map<string, AirtableRecord>();
  for (let i = 0; i < recordIds.length; i += READ_CHUNK) {
    const chunk = recordIds.slice(i, i + READ_CHUNK);
    const formula = `OR(${chunk.map((id) => `RECORD_ID()='${id.replace(/[^A-Za-z0-9]/g, '')}'`).join(',')})`;
    let offset: string | undefined;
    do {
      const page = await deps.client.list(sync.baseId, sync.table, { filterByFormula: formula, fields, pageSize: MAX_PAGE_SIZE, ...(offset !== undefined ? { offset } : {}) });
      if (page.outcome.kind !== 'ok' || !page.body) return { ok: false, outcome: page.outcome as AirtableErrorOutcome };
      for (const record of page.body.records) rows.set(record.id, record);
      offset = page.body.offset;
    } while (offset !== undefined);
  }
  return { ok: true, rows };
}
