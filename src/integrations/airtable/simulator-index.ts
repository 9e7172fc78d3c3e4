/**
 * Upsert's lookup, indexed: for each set of fields a client has merged on (`fieldsToMergeOn`), a
 * map from those fields' values to the records holding them. Built on first use, then kept up to
 * date by every write (simulator-transaction.ts), so matching a record costs one lookup instead of
 * a pass over the table — a backfill of 50,000 rows upserted 10 at a time would otherwise scan
 * the table 50,000 times.
 *
 * Keys are the stored (normalised) values as JSON, so two cells match exactly when isSameValue
 * says they are the same. Only stored cells are indexed: computed fields read as empty.
 */
import type { CellValue } from './simulator-fields.js';
import type { SimRecord, SimTable } from './simulator-state.js';

/** Field-id list (joined) → values key → record ids. */
export type MergeIndexes = Map<string, { readonly fieldIds: readonly string[]; readonly byKey: Map<string, Set<string>> }>;

export function mergeKey(fieldIds: readonly string[], cells: ReadonlyMap<string, CellValue | undefined>): string {
  return JSON.stringify(fieldIds.map((id) => cells.get(id) ?? null));
}

/** The ids of the records whose `fieldIds` hold these values. */
export function lookup(table: SimTable, fieldIds: readonly string[], cells: ReadonlyMap<string, CellValue | undefined>): readonly string[] {
  const signature = fieldIds.join(',');
  let index = table.mergeIndexes.get(signature);
  if (!index) {
    index = { fieldIds: [...fieldIds], byKey: new Map() };
    for (const record of table.records.values()) add(index.byKey, mergeKey(fieldIds, record.cells), record.id);
    table.mergeIndexes.set(signature, index);
  }
  return [...(index.byKey.get(mergeKey(fieldIds, cells)) ?? [])];
}

/** Call before a record's cells change or it is destroyed. */
export function unindex(table: SimTable, record: SimRecord): void {
  for (const { fieldIds, byKey } of table.mergeIndexes.values()) {
    const key = mergeKey(fieldIds, record.cells);
    const ids = byKey.get(key);
    ids?.delete(record.id);
    if (ids?.size === 0) byKey.delete(key);
  }
}

/** Call after a record is created or its cells changed. */
export function reindex(table: SimTable, record: SimRecord): void {
  for (const { fieldIds, byKey } of table.mergeIndexes.values()) add(byKey, mergeKey(fieldIds, record.cells), record.id);
}

function add(byKey: Map<string, Set<string>>, key: string, id: string): void {
  let ids = byKey.get(key);
  if (!ids) byKey.set(key, (ids = new Set()));
  ids.add(id);
}
