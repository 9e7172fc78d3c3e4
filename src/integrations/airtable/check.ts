/**
 * The out-of-sync check (`kitrelay airtable check <sync> [--repair]`, and the schedule
 * `airtable-check:<destination>:<sync>`, nightly, report-only unless `check.repair`): the whole
 * table, read 100 rows a call with only the fields the sync looks at, compared with what the
 * subscriber mirror says it should hold. Per Kit id:
 *
 * - **missing**: a subscriber the sync selects has no row;
 * - **extra**: a row whose Kit id the sync does not select (or the mirror does not hold), unless
 *   it is a row marked "left" when `onDelete` marks;
 * - **duplicate**: two or more rows hold one Kit id;
 * - **different**: the content hash of the row's compared fields (the mapped ones, and the "left"
 *   box), normalised as Airtable answers them (empty cells left out, text trimmed, a multiple
 *   select in any order: cells.ts), differs from that of the record the mirror makes, and a field
 *   really differs (`sameCell`: a number and its text are one value).
 *
 * Paused rows are skipped (counted, never repaired); rows with no Kit id are not kitrelay's
 * (counted). A missing row kitrelay wrote (a record state names it) was deleted in Airtable: it is
 * never written again by the check, but queued for approval (store/airtable-types.ts, delete
 * request), in a report as in a repair; a row seen again for a Kit id with a pending request
 * withdraws it. The table read is in check-read.ts; what `repair` does, in check-repair.ts.
 *
 * The table is read before the record states, and a state written after the read began is not
 * judged (a job wrote it meanwhile, its row possibly after the page that would have shown it): so
 * a row created mid-read is never taken for one deleted in Airtable.
 */
import type { ScheduleDefinition } from '../../schedules/types.js';
import type { AirtableRecordState, MirrorSubscriber } from '../../store/types.js';
import { isSelected } from '../selection.js';
import type { IntegrationSyncStore, ScheduleDeps } from '../types.js';
import { openClient } from './open.js';
import { normalCell, sameCell, type NormalCell } from './cells.js';
import { comparedFields, hashOf, readTable, type Row } from './check-read.js';
import { note, repairDrift, type Drift } from './check-repair.js';
import { MARKED_HASH, recordOf } from './fields.js';
import { syncKey } from './records.js';
import type { AirtableDestinationConfig, AirtableSyncConfig } from './schema.js';
import type { ProgressReport, SyncRunDeps } from './open.js';

/** Mirror rows and record states read at a time. */
const PAGE = 500;

export function checkScheduleName(destinationName: string, syncName: string): string {
  return `airtable-check:${destinationName}:${syncName}`;
}

export interface CheckDeps extends SyncRunDeps<IntegrationSyncStore> {
  readonly progress?: ProgressReport;
  /** Each change, as it is made (a repair, a delete request): the CLI prints it, the schedule logs it. */
  readonly onFix?: (fix: CheckFix) => void;
}

export interface CheckOptions {
  /** Fix what is found; without it, only report. */
  readonly repair?: boolean;
  /** Examples kept of each kind (all are counted). @default 10 */
  readonly examples?: number;
}

export interface CheckCounts {
  /** Rows read. */
  rows: number;
  /** Subscribers the sync selects (in the mirror). */
  selected: number;
  /** Selected subscribers whose one row holds what the mirror says. */
  ok: number;
  missing: number;
  /** Of `missing`: rows kitrelay wrote, deleted in Airtable (waiting for approval, never recreated). */
  deletedInAirtable: number;
  extra: number;
  /** Kit ids held by two rows or more. */
  duplicate: number;
  different: number;
  /** Rows with the pause box checked: skipped. */
  paused: number;
  /** Rows of subscribers who left, marked "left" (`onDelete: { mark }`): as they should be. */
  marked: number;
  noKitId: number;
  /** Rows as they should be that no record state names (never written by kitrelay, or another row was). */
  unlinked: number;
  /** Record states of subscribers with no row who need none. */
  stale: number;
  /** Record states written while the check ran: judged next time. */
  busy: number;
  /** API calls made. */
  calls: number;
}

export type CheckIssueKind = 'missing' | 'extra' | 'duplicate' | 'different' | 'paused';

export interface FieldDifference {
  readonly field: string;
  /** What the mirror says, normalised (null: empty). */
  readonly kit: NormalCell;
  readonly airtable: NormalCell;
  /** A conflict on it is held for an operator: repair leaves it. */
  readonly isHeld?: boolean;
}

export interface CheckIssue {
  readonly kind: CheckIssueKind;
  readonly kitId: number;
  readonly email: string | null;
  readonly recordIds: readonly string[];
  readonly detail: string;
  readonly fields?: readonly FieldDifference[];
}

export type CheckFixAction = 'created' | 'updated' | 'deleted' | 'marked' | 'linked' | 'forgotten' | 'delete_requested' | 'delete_withdrawn' | 'failed';

/** One change the check made. */
export interface CheckFix {
  readonly kitId: number;
  readonly recordId: string | null;
  /** What was found: an issue, or `state` (a record state or delete request set right). */
  readonly found: CheckIssueKind | 'state';
  readonly action: CheckFixAction;
  readonly detail: string;
}

export interface CheckResult {
  /** `drift`: found, not repaired (a report); `repaired`: found and fixed; `failed`: the read or a fix failed. */
  readonly status: 'clean' | 'drift' | 'repaired' | 'failed';
  readonly isRepair: boolean;
  readonly counts: CheckCounts;
  readonly examples: Readonly<Record<CheckIssueKind, readonly CheckIssue[]>>;
  readonly fixes: readonly CheckFix[];
  readonly error?: string;
}

const emptyCounts = (): CheckCounts => ({ rows: 0, selected: 0, ok: 0, missing: 0, deletedInAirtable: 0, extra: 0, duplicate: 0, different: 0, paused: 0, marked: 0, noKitId: 0, unlinked: 0, stale: 0, busy: 0, calls: 0 });

/** Checks one sync: reads the table, the record states and the mirror, judges each Kit id, repairs if asked. */
export async function checkSync(deps: CheckDeps, options: CheckOptions = {}): Promise<CheckResult> {
  const counts = emptyCounts();
  const startedAt = deps.now();
  const names = comparedFields(deps.sync);
  const table = await readTable(deps, names, counts);
  const drift = newDrift(counts, options.examples ?? 10);
  const end = (status: CheckResult['status'], error?: string): CheckResult => ({ status, isRepair: options.repair === true, counts, examples: drift.examples, fixes: drift.fixes, ...(error !== undefined ? { error } : {}) });
  if (!table.ok) return end('failed', table.error);

  const key = syncKey(deps.destinationName, deps.syncName);
  const states = await readStates(deps.store, key);
  const pending = new Set((await deps.store.listAirtableDeletes({ sync: key, status: 'pending', limit: 1_000_000 })).map((request) => request.kitId));
  const judge = (kitId: number, subscriber: MirrorSubscriber | undefined): void => {
    const rows = table.byKitId.get(kitId) ?? [];
    table.byKitId.delete(kitId);
    const state = states.get(kitId);
    states.delete(kitId);
    if (rows.length > 0 && pending.has(kitId)) drift.back.push(kitId);
    judgeKitId(deps.sync, drift, { kitId, subscriber, rows, state, names, startedAt, hasPendingDelete: pending.has(kitId) });
  };
  for (let after = 0; ; ) {
    const page = await deps.store.listSubscribers({ afterKitId: after, limit: PAGE });
    if (page.length === 0) break;
    for (const subscriber of page) judge(subscriber.kitId, subscriber);
    after = page.at(-1)!.kitId;
  }
  // Rows and states of Kit ids the mirror does not hold.
  for (const kitId of [...table.byKitId.keys(), ...states.keys()]) if (table.byKitId.has(kitId) || states.has(kitId)) judge(kitId, undefined);

  const error = await repairDrift({ ...deps, key }, drift, { isRepair: options.repair === true, now: deps.now() });
  const found = counts.missing + counts.extra + counts.duplicate + counts.different;
  if (error !== undefined) return end('failed', error);
  return end(found === 0 ? 'clean' : options.repair ? 'repaired' : 'drift');
}

/** What the mirror says this subscriber's row should hold, normalised. */
export function expectedCells(subscriber: MirrorSubscriber, sync: AirtableSyncConfig, names: readonly string[]): Record<string, NormalCell> {
  const { fields } = recordOf(subscriber, sync);
  return Object.fromEntries(names.map((name) => [name, normalCell(fields[name])]));
}

async function readStates(store: IntegrationSyncStore, key: string): Promise<Map<number, AirtableRecordState>> {
  const states = new Map<number, AirtableRecordState>();
  for (let after = 0; ; ) {
    const page = await store.listAirtableRecords(key, { afterKitId: after, limit: PAGE });
    for (const state of page) states.set(state.kitId, state);
    if (page.length < PAGE) return states;
    after = page.at(-1)!.kitId;
  }
}

function newDrift(counts: CheckCounts, limit: number): Drift {
  return { counts, limit, examples: { missing: [], extra: [], duplicate: [], different: [], paused: [] }, fixes: [], creates: [], rewrites: [], removes: [], duplicates: [], links: [], stale: [], deleted: [], back: [] };
}

interface Judged {
  readonly kitId: number;
  readonly subscriber: MirrorSubscriber | undefined;
  readonly rows: readonly Row[];
  readonly state: AirtableRecordState | undefined;
  readonly names: readonly string[];
  readonly startedAt: number;
  /** A delete request for them waits for approval already. */
  readonly hasPendingDelete: boolean;
}

/** One Kit id: its rows against its mirror row and record state; what is wrong goes to `drift`. */
function judgeKitId(sync: AirtableSyncConfig, drift: Drift, judged: Judged): void {
  const { kitId, subscriber, rows, state } = judged;
  const { counts } = drift;
  const isWanted = subscriber !== undefined && isSelected(subscriber, sync.select);
  const email = subscriber && subscriber.email !== '' ? subscriber.email : null;
  if (isWanted) counts.selected += 1;
  if (state && state.writtenAt > judged.startedAt) {
    counts.busy += 1;
    return;
  }
  if (rows.length === 0) return judgeMissing(drift, judged, isWanted, email);
  const keeper = keeperOf(rows, state);
  const others = rows.filter((row) => row !== keeper);
  if (others.length > 0) {
    counts.duplicate += 1;
    const paused = others.filter((row) => row.isPaused);
    note(drift, { kind: 'duplicate', kitId, email, recordIds: rows.map((row) => row.id), detail: `${rows.length} rows hold this Kit id: ${keeper.id} is kept (${state?.recordId === keeper.id ? 'the row kitrelay wrote' : 'the oldest'}), the others deleted on repair${paused.length > 0 ? ` (paused ones left: ${paused.map((row) => row.id).join(', ')})` : ''}` });
    for (const row of others) {
      if (row.isPaused) counts.paused += 1;
      else drift.duplicates.push({ kitId, recordId: row.id });
    }
  }
  const expected = isWanted ? expectedCells(subscriber, sync, judged.names) : undefined;
  if (keeper.isPaused) {
    counts.paused += 1;
    const differences = expected ? differencesOf(keeper, expected, judged.names) : [];
    note(drift, { kind: 'paused', kitId, email, recordIds: [keeper.id], detail: `paused: skipped${differences.length > 0 ? ` (differs: ${differences.map((d) => d.field).join(', ')})` : ''}`, ...(differences.length > 0 ? { fields: differences } : {}) });
    return;
  }
  if (expected && subscriber) {
    const differences = differencesOf(keeper, expected, judged.names);
    if (differences.length > 0) {
      counts.different += 1;
      drift.rewrites.push({ kitId, subscriber, state, recordId: keeper.id, differences });
    } else {
      counts.ok += 1;
      if (!state || state.recordId !== keeper.id || state.hash === MARKED_HASH) {
        counts.unlinked += 1;
        drift.links.push({ kitId, subscriber, recordId: keeper.id });
      }
    }
    return;
  }
  if (typeof sync.onDelete === 'object' && keeper.cells[sync.onDelete.mark] === true) {
    counts.marked += 1;
    return;
  }
  counts.extra += 1;
  note(drift, { kind: 'extra', kitId, email, recordIds: [keeper.id], detail: subscriber ? `the sync does not select this subscriber (${subscriber.state})` : 'this Kit id is not in the subscriber mirror' });
  drift.removes.push({ kitId, recordId: keeper.id });
}

function judgeMissing(drift: Drift, judged: Judged, isWanted: boolean, email: string | null): void {
  const { kitId, state, subscriber } = judged;
  const { counts } = drift;
  if (!isWanted || !subscriber) {
    // Their row is gone and they need none: only the state is left to forget.
    if (state) {
      counts.stale += 1;
      drift.stale.push(kitId);
    }
    return;
  }
  counts.missing += 1;
  // A row kitrelay marked "left" and a person deleted was not the subscriber's data: they are written again.
  if (state && state.hash !== MARKED_HASH) {
    counts.deletedInAirtable += 1;
    note(drift, { kind: 'missing', kitId, email, recordIds: [state.recordId], detail: 'missing (deleted in Airtable: waiting for approval)' });
    drift.deleted.push({ kitId, recordId: state.recordId, email, isPending: judged.hasPendingDelete });
    return;
  }
  note(drift, { kind: 'missing', kitId, email, recordIds: [], detail: 'missing: never written (or deleted before kitrelay kept what it wrote); created on repair' });
  drift.creates.push({ kitId, subscriber });
}

/** Of rows holding one Kit id, the one kept: the row the record state names, else the oldest. */
function keeperOf(rows: readonly Row[], state: AirtableRecordState | undefined): Row {
  const named = state ? rows.find((row) => row.id === state.recordId) : undefined;
  if (named) return named;
  return [...rows].sort((a, b) => (a.createdTime < b.createdTime ? -1 : a.createdTime > b.createdTime ? 1 : a.id < b.id ? -1 : 1))[0]!;
}

/** The fields whose values differ, when the hashes do. */
export function differencesOf(row: Row, expected: Readonly<Record<string, NormalCell>>, names: readonly string[]): FieldDifference[] {
  if (row.hash === hashOf(expected, names)) return [];
  return names.flatMap((field) => (sameCell(expected[field], row.cells[field]) ? [] : [{ field, kit: expected[field] ?? null, airtable: row.cells[field] ?? null }]));
}

export interface CheckRun extends CheckOptions {
  readonly now: () => number;
  readonly signal?: AbortSignal;
  readonly progress?: CheckDeps['progress'];
  readonly onFix?: CheckDeps['onFix'];
  /** Where the month's budget warning goes. */
  readonly warn?: (message: string) => void;
}

/** Runs one sync's check with what a schedule (or the CLI, or a test) is given. */
export async function runCheck(deps: ScheduleDeps<AirtableDestinationConfig>, syncName: string, run: CheckRun): Promise<CheckResult> {
  const { destination, destinationName } = deps;
  const sync = Object.hasOwn(destination.syncs, syncName) ? destination.syncs[syncName] : undefined;
  if (!sync) throw new Error(`no sync "${syncName}" on destination ${destinationName} (syncs: ${Object.keys(destination.syncs).join(', ') || 'none'})`);
  const opened = openClient(deps, run);
  try {
    const signal = run.signal ? { signal: run.signal } : {};
    return await checkSync({ store: deps.store, client: opened.client, destinationName, syncName, sync, now: run.now, ...signal, ...(run.progress ? { progress: run.progress } : {}), ...(run.onFix ? { onFix: run.onFix } : {}) }, { ...(run.repair ? { repair: true } : {}), ...(run.examples !== undefined ? { examples: run.examples } : {}) });
  } finally {
    await opened.close();
  }
}

/** One schedule per sync: the check at `check.schedule`, repairing when `check.repair`. */
export function checkSchedules(deps: ScheduleDeps<AirtableDestinationConfig>): ScheduleDefinition[] {
  return Object.entries(deps.destination.syncs).map(([name, sync]) => ({
    name: checkScheduleName(deps.destinationName, name),
    cron: sync.check.schedule,
    description: `Airtable sync ${name}: compare the table with the mirror (missing, extra, duplicate, different rows)${sync.check.repair ? ' and repair' : ', report only'}`,
    // A page a call at the base's pace: progress renews the lease meanwhile.
    leaseMs: 120_000,
    async run(ctx) {
      const result = await runCheck(deps, name, {
        now: () => ctx.now(),
        signal: ctx.signal,
        repair: sync.check.repair,
        progress: (report) => void ctx.reportProgress(report).catch(() => undefined),
        onFix: (fix) => ctx.log.info({ fix }, `airtable check ${name}: Kit id ${fix.kitId} ${fix.action}`),
        warn: (message) => ctx.log.warn(message),
      });
      const { counts } = result;
      const summary = `${result.status}: ${counts.rows} rows, ${counts.missing} missing (${counts.deletedInAirtable} deleted in Airtable), ${counts.extra} extra, ${counts.duplicate} duplicate, ${counts.different} different, ${counts.paused} paused${result.isRepair ? `; ${result.fixes.filter((f) => f.action !== 'failed').length} fixes` : ''}`;
      if (result.status === 'failed') return { counts: { ...counts }, changes: result.fixes, summary, error: result.error ?? 'the check failed' };
      return { counts: { ...counts }, changes: result.fixes, summary };
    },
  }));
}
