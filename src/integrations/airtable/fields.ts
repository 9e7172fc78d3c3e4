/**
 * A subscriber as an Airtable record: the mirror row turned into the `fields` object a sync
 * writes, per its mapping, and the content hash that says whether a write would change anything.
 * Pure.
 *
 * Every mapped field is in the record, an empty value as the value that clears its cell (`null`;
 * `[]` for a multiple select, `false` for a checkbox): Airtable's PATCH changes only the fields
 * given, so leaving an emptied value out would keep the old one. Which of them are sent is
 * records.ts's choice (a new row: all; then those Kit changed since the last sync). Airtable omits empty cells when
 * it answers (§3.1); nothing here depends on reading them back.
 */
import { createHash } from 'node:crypto';
import type { MirrorSubscriber } from '../../store/types.js';
import { resolveField, type AirtableSyncConfig, type FieldKind, type ResolvedField } from './schema.js';

/** A cell's value as the Web API takes it. */
export type CellValue = string | number | boolean | readonly string[] | null;
export type RecordFields = Readonly<Record<string, CellValue>>;

export interface ConvertedRecord {
  readonly fields: RecordFields;
  /** Values that could not be converted and were written empty (`Revenue: "12k" is not a number`). */
  readonly notes: readonly string[];
}

/** What clears a cell of this kind. */
export function emptyCell(kind: FieldKind): CellValue {
  if (kind === 'multipleSelects') return [];
  if (kind === 'checkbox') return false;
  return null;
}

/** The Kit id as the kit id field holds it. */
export function kitIdCell(kitId: number, as: 'number' | 'text'): number | string {
  return as === 'number' ? kitId : String(kitId);
}

/** The record a sync writes for this subscriber: the Kit id, every mapped field, the mark cleared. */
export function recordOf(subscriber: MirrorSubscriber, sync: AirtableSyncConfig): ConvertedRecord {
  const notes: string[] = [];
  const fields: Record<string, CellValue> = { [sync.kitIdField]: kitIdCell(subscriber.kitId, sync.kitIdAs) };
  for (const [name, mapping] of Object.entries(sync.fields)) {
    const resolved = resolveField(mapping);
    const converted = cellOf(subscriber, resolved);
    if (converted.note !== undefined) notes.push(`${name}: ${converted.note}`);
    fields[name] = converted.value;
  }
  // A subscriber back in the selection is unmarked.
  if (typeof sync.onDelete === 'object') fields[sync.onDelete.mark] = false;
  return { fields, notes };
}

/** The fields that mark a row whose subscriber left (`onDelete: { mark }`). */
export function markFields(sync: AirtableSyncConfig): RecordFields | undefined {
  return typeof sync.onDelete === 'object' ? { [sync.onDelete.mark]: true } : undefined;
}

/** The hash kept for a row kitrelay marked as left: no record's content hash looks like it. */
export const MARKED_HASH = 'marked';

/**
 * The content hash of a record's fields: sha256 of their JSON with the names sorted, so the
 * mapping's order does not matter. Equal hashes mean a write would change nothing.
 */
export function contentHash(fields: RecordFields): string {
  const sorted = Object.keys(fields)
    .sort()
    .map((name) => [name, fields[name] ?? null]);
  return createHash('sha256').update(JSON.stringify(sorted), 'utf8').digest('hex').slice(0, 32);
}

interface Converted {
  readonly value: CellValue;
  readonly note?: string;
}

function cellOf(subscriber: MirrorSubscriber, field: ResolvedField): Converted {
  if ('customField' in field) return fromText(subscriber.fields[field.customField] ?? null, field.as);
  switch (field.source) {
    case 'email':
      return { value: subscriber.email === '' ? null : subscriber.email };
    case 'first_name':
      return { value: nonEmpty(subscriber.firstName) };
    case 'state':
      return { value: nonEmpty(subscriber.state) };
    case 'kit_id':
      return { value: kitIdCell(subscriber.kitId, field.as === 'text' ? 'text' : 'number') };
    case 'created_at':
      return { value: subscriber.createdAt === null ? null : timeCell(subscriber.createdAt, field.as) };
    case 'tags': {
      const labels = tagLabels(subscriber);
      return { value: field.as === 'text' ? (labels.length === 0 ? null : labels.join(', ')) : labels };
    }
  }
}

/**
 * Tags by name (their id, as text, when the mirror has no name), sorted, so the same tags always
 * make the same value. Commas in a name would split it in a text field: they are kept as they
 * are, since Airtable's multiple select options may hold them.
 */
export function tagLabels(subscriber: Pick<MirrorSubscriber, 'tags'>): string[] {
  const labels = subscriber.tags.map((tag) => (tag.name !== undefined && tag.name.trim() !== '' ? tag.name.trim() : String(tag.id)));
  return [...new Set(labels)].sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' }) || (a < b ? -1 : a > b ? 1 : 0));
}

/** A custom field's text (Kit keeps them all as text) in the field's kind. */
export function fromText(raw: string | null, kind: FieldKind): Converted {
  const text = raw?.trim() ?? '';
  if (text === '') return { value: emptyCell(kind) };
  switch (kind) {
    case 'text':
      return { value: raw };
    case 'number': {
      const n = Number(text.replace(/,/g, ''));
      return Number.isFinite(n) ? { value: n } : { value: null, note: `"${text}" is not a number: written empty` };
    }
    case 'checkbox':
      return { value: /^(true|yes|y|1|on|x|checked)$/i.test(text) };
    case 'multipleSelects':
      return { value: [...new Set(text.split(',').map((part) => part.trim()).filter((part) => part !== ''))] };
    case 'date':
    case 'dateTime': {
      // A bare date stays that date (Date.parse would read it as UTC midnight: same day, fine).
      const at = Date.parse(text);
      return Number.isNaN(at) ? { value: null, note: `"${text}" is not a date: written empty` } : { value: timeCell(at, kind) };
    }
  }
}

/** An instant as a date (`2024-05-01`, in UTC), a dateTime or text (ISO 8601). */
function timeCell(at: number, kind: FieldKind): string {
  const iso = new Date(at).toISOString();
  return kind === 'date' ? iso.slice(0, 10) : iso;
}

function nonEmpty(value: string | null): string | null {
  return value === null || value.trim() === '' ? null : value;
}
