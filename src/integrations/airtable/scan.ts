/**
 * A backfill's read of the table before it writes (the first sync into a table that already has
 * rows): which Kit ids already have a row (and which are on two), which rows are paused, and the
 * rows that lack a Kit id, by their match value (the email, unless `match` says otherwise), so a
 * subscriber with such a row gets their Kit id filled in instead of a second row.
 *
 * Read once, page by page (100 rows a call, only the fields it needs). It keeps what the writes
 * need and no more: the Kit ids (numbers), the paused ones, and for rows lacking a Kit id their
 * match value, id and creation time. Two rows with one match value are reported, never merged:
 * the oldest gets the Kit id, the others stay as they are.
 */
import type { AirtableClient } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { matchOf, type AirtableSyncConfig } from './schema.js';

export interface TableScan {
  /** Kit ids that have a row (a Number field reads as a number, a text field as digits). */
  readonly kitIds: ReadonlySet<number>;
  /** Kit ids whose row has the pause box checked. */
  readonly paused: ReadonlySet<number>;
  /** Rows lacking a Kit id, by match value (trimmed, lower-cased): the oldest row and how many there are. */
  readonly unmatched: Map<string, { readonly recordId: string; readonly rows: readonly string[] }>;
  /** Two or more rows for one person: by Kit id, or by match value among rows lacking one. */
  readonly duplicates: readonly Duplicate[];
  readonly rows: number;
  readonly calls: number;
}

export interface Duplicate {
  /** `Kit ID 123` or `Email ann@example.com`. */
  readonly what: string;
  readonly recordIds: readonly string[];
  /** What kitrelay did: nothing (two rows with one Kit id make its upserts fail), or which row got the Kit id. */
  readonly note: string;
}

/** The match value as compared: trimmed, lower-cased. */
export function matchKey(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const key = value.trim().toLowerCase();
  return key === '' ? undefined : key;
}

/** Whether a backfill reads the table first: to match rows lacking a Kit id, or to find paused rows. */
export function needsScan(sync: AirtableSyncConfig): boolean {
  return matchOf(sync) !== undefined || sync.pauseField !== undefined;
}

export async function scanTable(client: AirtableClient, sync: AirtableSyncConfig, onPage?: (rows: number) => void): Promise<{ readonly ok: true; readonly scan: TableScan } | { readonly ok: false; readonly outcome: AirtableErrorOutcome }> {
  const match = matchOf(sync);
  const fields = [...new Set([sync.kitIdField, ...(match ? [match.field] : []), ...(sync.pauseField ? [sync.pauseField] : [])])];
  const kitIds = new Set<number>();
  const paused = new Set<number>();
  const byKitId = new Map<number, string[]>();
  const lacking = new Map<string, { recordId: string; createdTime: string; rows: string[] }>();
  let rows = 0;
  let calls = 0;
  let offset: string | undefined;
  do {
    const page = await client.list(sync.baseId, sync.table, { fields, ...(offset === undefined ? {} : { offset }) });
    calls += 1;
    if (page.outcome.kind !== 'ok' || !page.body) return { ok: false, outcome: page.outcome as AirtableErrorOutcome };
    for (const record of page.body.records) {
      rows += 1;
      const kitId = Number(record.fields[sync.kitIdField]);
      const isPaused = sync.pauseField !== undefined && record.fields[sync.pauseField] === true;
      if (Number.isSafeInteger(kitId) && kitId > 0) {
        if (kitIds.has(kitId)) byKitId.set(kitId, [...(byKitId.get(kitId) ?? []), record.id]);
        kitIds.add(kitId);
        if (isPaused) paused.add(kitId);
        continue;
      }
      // A paused row is left alone: it never gets a Kit id from kitrelay.
      const key = match && !isPaused ? matchKey(record.fields[match.field]) : undefined;
      if (key === undefined) continue;
      const created = record.createdTime ?? '';
      const seen = lacking.get(key);
      if (!seen) lacking.set(key, { recordId: record.id, createdTime: created, rows: [record.id] });
      else {
        seen.rows.push(record.id);
        if (created < seen.createdTime) Object.assign(seen, { recordId: record.id, createdTime: created });
      }
    }
    onPage?.(rows);
    offset = page.body.offset;
  } while (offset !== undefined);
  const duplicates: Duplicate[] = [];
  for (const [kitId, extra] of byKitId) duplicates.push({ what: `${sync.kitIdField} ${kitId}`, recordIds: extra, note: `more than one row holds this Kit id (these besides the first): kitrelay's writes to it fail until the extra rows are deleted` });
  const unmatched = new Map<string, { recordId: string; rows: readonly string[] }>();
  for (const [key, row] of lacking) {
    if (row.rows.length > 1) duplicates.push({ what: `${match?.field ?? 'match'} ${key}`, recordIds: row.rows, note: `rows lacking a Kit id with one ${match?.field ?? 'match'} value: the oldest (${row.recordId}) is matched, the others are left as they are (never merged)` });
    unmatched.set(key, { recordId: row.recordId, rows: row.rows });
  }
  return { ok: true, scan: { kitIds, paused, unmatched, duplicates, rows, calls } };
}
