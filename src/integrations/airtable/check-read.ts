/**
 * The out-of-sync check's read of the table (check.ts): every row, 100 a call, only the fields the
 * check looks at (the Kit id, the mapped fields, the pause and "left" boxes), each row kept as its
 * normalised cells and their content hash, grouped by the Kit id it holds. Rows with no Kit id are
 * only counted.
 *
 * A 429 or a pacing refusal is sent again once the budget lets it (budget.ts waits out the
 * penalty), a 5xx or a lost answer after a pause; an iterator Airtable ended
 * (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, §3.2) starts the read again from the first page.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { normalCell, type NormalCell } from './cells.js';
import type { AirtableRecord } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { contentHash } from './fields.js';
import type { AirtableSyncConfig } from './schema.js';
import type { CheckCounts, CheckDeps } from './check.js';

/** Failures in a row (429s, 5xx, lost answers) before the read gives up. */
const MAX_FAILURES = 8;
/** Times the read starts again after Airtable ended its iterator. */
const MAX_RESTARTS = 3;

/** A row as compared. */
export interface Row {
  readonly id: string;
  readonly createdTime: string;
  readonly isPaused: boolean;
  /** The compared fields, normalised (null: empty). */
  readonly cells: Readonly<Record<string, NormalCell>>;
  readonly hash: string;
}

export type TableRead = { readonly ok: true; readonly byKitId: Map<number, Row[]> } | { readonly ok: false; readonly error: string };

/** The fields compared: the mapped ones, and the "left" box (a selected subscriber's is unchecked). */
export function comparedFields(sync: AirtableSyncConfig): string[] {
  return [...new Set([...Object.keys(sync.fields), ...(typeof sync.onDelete === 'object' ? [sync.onDelete.mark] : [])])];
}

/** A record's content hash over the compared fields, each normalised. */
export function hashOf(cells: Readonly<Record<string, NormalCell>>, names: readonly string[]): string {
  return contentHash(Object.fromEntries(names.map((name) => [name, cells[name] ?? null])));
}

/** The whole table, rows grouped by the Kit id they hold; `counts.rows`, `noKitId` and `calls` kept. */
export async function readTable(deps: CheckDeps, names: readonly string[], counts: CheckCounts): Promise<TableRead> {
  for (let restart = 0; ; restart += 1) {
    const read = await readOnce(deps, names, counts);
    if (read !== 'expired') return read;
    if (restart >= MAX_RESTARTS) return { ok: false, error: `reading ${deps.sync.table} failed: Airtable ended the listing ${MAX_RESTARTS + 1} times (LIST_RECORDS_ITERATOR_NOT_AVAILABLE)` };
  }
}

async function readOnce(deps: CheckDeps, names: readonly string[], counts: CheckCounts): Promise<TableRead | 'expired'> {
  const { sync } = deps;
  const fields = [...new Set([sync.kitIdField, ...names, ...(sync.pauseField !== undefined ? [sync.pauseField] : [])])];
  const byKitId = new Map<number, Row[]>();
  Object.assign(counts, { rows: 0, noKitId: 0 });
  let offset: string | undefined;
  for (let failures = 0; ; ) {
    if (deps.signal?.aborted) return { ok: false, error: `stopped while reading ${sync.table}: nothing was changed` };
    const page = await deps.client.list(sync.baseId, sync.table, { fields, ...(offset !== undefined ? { offset } : {}) });
    if (page.result) counts.calls += 1;
    if (page.outcome.kind === 'ok' && page.body) {
      for (const record of page.body.records) addRow(byKitId, record, sync, names, counts);
      deps.progress?.({ done: counts.rows, message: `reading ${sync.table}` });
      if (page.body.offset === undefined) return { ok: true, byKitId };
      offset = page.body.offset;
      failures = 0;
      continue;
    }
    const outcome = page.outcome as AirtableErrorOutcome;
    if (outcome.kind === 'invalid' && outcome.type === 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE' && offset !== undefined) return 'expired';
    const isPassing = outcome.kind === 'throttled' || outcome.kind === 'paced' || outcome.kind === 'transient' || outcome.kind === 'unknown';
    if (!isPassing || failures >= MAX_FAILURES) return { ok: false, error: `reading ${sync.table} failed: ${outcome.message}` };
    failures += 1;
    if (outcome.kind === 'transient' || outcome.kind === 'unknown') await delay(Math.min(30_000, 250 * 2 ** failures), undefined, deps.signal ? { signal: deps.signal } : {}).catch(() => undefined);
  }
}

function addRow(byKitId: Map<number, Row[]>, record: AirtableRecord, sync: AirtableSyncConfig, names: readonly string[], counts: CheckCounts): void {
  counts.rows += 1;
  const kitId = kitIdIn(record.fields[sync.kitIdField]);
  if (kitId === undefined) {
    counts.noKitId += 1;
    return;
  }
  const cells = Object.fromEntries(names.map((name) => [name, normalCell(record.fields[name])]));
  const row: Row = { id: record.id, createdTime: record.createdTime ?? '', isPaused: sync.pauseField !== undefined && record.fields[sync.pauseField] === true, cells, hash: hashOf(cells, names) };
  const rows = byKitId.get(kitId);
  if (rows) rows.push(row);
  else byKitId.set(kitId, [row]);
}

/** The Kit id a cell holds: a Number field reads as a number, a text field as digits. */
function kitIdIn(value: unknown): number | undefined {
  if (typeof value !== 'number' && (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value))) return undefined;
  const kitId = Number(value);
  return Number.isSafeInteger(kitId) && kitId > 0 ? kitId : undefined;
}
