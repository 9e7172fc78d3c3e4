/**
 * The Airtable simulator's objects as Airtable shows them (reference/destinations.md §3.1): a
 * record (`{id, createdTime, fields}`, empty cells left out, fields by name or by id), a record as
 * a formula reads it, a base's schema (`GET /v0/meta/bases/{id}/tables`), and records as
 * `GET /_sim/state` lists them.
 */
import type { FormulaRecord, FormulaValue } from './simulator-formula.js';
import { COMPUTED_TYPES, fieldSchema, restValue, stringValue, type AirtableField, type CellValue } from './simulator-fields.js';
import { fieldOf, type SimBase, type SimRecord, type SimTable } from './simulator-state.js';

export interface RecordJson {
  readonly id: string;
  readonly createdTime: string;
  readonly fields: Record<string, unknown>;
  readonly commentCount?: number;
}

export interface RecordView {
  /** Only these field ids (`fields[]`). @default every field */
  readonly fieldIds?: ReadonlySet<string>;
  /** `returnFieldsByFieldId`. @default false */
  readonly isByFieldId?: boolean;
  /** @default 'json' */
  readonly cellFormat?: 'json' | 'string';
  /** `recordMetadata[]=commentCount`: the simulator keeps no comments, so 0. */
  readonly hasCommentCount?: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** LAST_MODIFIED_TIME() over these fields (every editable field when none): the latest change, if any. */
export function lastModified(table: SimTable, record: SimRecord, fieldIds: readonly string[] = []): number | undefined {
  const ids = fieldIds.length > 0 ? fieldIds : table.fields.filter((f) => !COMPUTED_TYPES.has(f.type)).map((f) => f.id);
  let latest: number | undefined;
  for (const id of ids) {
    const at = record.changedAt.get(id);
    if (at !== undefined && (latest === undefined || at > latest)) latest = at;
  }
  return latest;
}

/** A cell's value, computed fields included; undefined when empty. */
export function cellOf(table: SimTable, record: SimRecord, field: AirtableField): CellValue | undefined {
  switch (field.type) {
    case 'createdTime':
      return iso(record.createdTime);
    case 'lastModifiedTime': {
      // A record never edited shows its creation time [U].
      return iso(lastModified(table, record) ?? record.createdTime);
    }
    case 'autoNumber':
      return record.autoNumber;
    default:
      return record.cells.get(field.id);
  }
}

export function recordJson(table: SimTable, record: SimRecord, view: RecordView = {}): RecordJson {
  const fields: Record<string, unknown> = {};
  for (const field of table.fields) {
    if (view.fieldIds && !view.fieldIds.has(field.id)) continue;
    const value = cellOf(table, record, field);
    if (value === undefined) continue;
    fields[view.isByFieldId ? field.id : field.name] = view.cellFormat === 'string' ? stringValue(value) : restValue(value);
  }
  return { id: record.id, createdTime: iso(record.createdTime), fields, ...(view.hasCommentCount ? { commentCount: 0 } : {}) };
}

/** A record as `filterByFormula` and `sort` read it: a class, not closures, as a listing makes one per row. */
class FormulaView implements FormulaRecord {
  constructor(
    private readonly table: SimTable,
    private readonly record: SimRecord,
    readonly now: number,
  ) {}

  get id(): string {
    return this.record.id;
  }

  get createdTime(): number {
    return this.record.createdTime;
  }

  value(name: string): FormulaValue {
    return formulaValue(this.table, this.record, name);
  }

  lastModifiedTime(names: readonly string[]): number | undefined {
    const ids = names.map((n) => fieldOf(this.table, n)?.id ?? '');
    return lastModified(this.table, this.record, ids) ?? (names.length === 0 ? this.record.createdTime : undefined);
  }
}

export function formulaRecord(table: SimTable, record: SimRecord, now: number): FormulaRecord {
  return new FormulaView(table, record, now);
}

export function formulaValue(table: SimTable, record: SimRecord, name: string): FormulaValue {
  const field = fieldOf(table, name);
  const value = field && cellOf(table, record, field);
  if (field === undefined || value === undefined) return null;
  if (field.type === 'date' || field.type === 'dateTime' || field.type === 'createdTime' || field.type === 'lastModifiedTime') return new Date(Date.parse(String(value)));
  return value;
}

/** `GET /v0/meta/bases/{baseId}/tables`. */
export function tablesJson(base: SimBase): { tables: unknown[] } {
  return {
    tables: base.tables.map((t) => ({
      id: t.id,
      name: t.name,
      primaryFieldId: t.fields[0]?.id,
      ...(t.description === undefined ? {} : { description: t.description }),
      fields: t.fields.map(fieldSchema),
      views: t.views.map((v) => ({ ...v })),
    })),
  };
}

/** Bases, tables and records as `GET /_sim/state` shows them. */
export function basesSnapshot(bases: Iterable<SimBase>): unknown[] {
  return [...bases].map((base) => ({
    id: base.id,
    name: base.name,
    transactionNumber: base.transactionNumber,
    tables: base.tables.map((table) => ({
      id: table.id,
      name: table.name,
      fields: table.fields.map(fieldSchema),
      records: [...table.records.values()].map((r) => ({ ...recordJson(table, r), lastModifiedTime: iso(lastModified(table, r) ?? r.createdTime) })),
    })),
  }));
}
