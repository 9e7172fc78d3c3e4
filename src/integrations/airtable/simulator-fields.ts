/**
 * Airtable's fields as the simulator keeps them: the field types it knows, what a write may put in
 * a cell of each (with and without `typecast`), and how a stored value reads back — in the REST
 * API's records (V1 cell values, names of select options) and in webhook payloads (V2 cell values,
 * select options as `{id, name, color}` objects) (reference/destinations.md §3.1, §3.3).
 *
 * A cell holds its value normalised: text as a string, numbers as numbers, a checkbox as `true`, a
 * single select as its option's name, multiple selects as an array of names, a date as
 * `YYYY-MM-DD`, a date-time as an ISO string with milliseconds. An empty value ('', [], false,
 * null) is no value: the cell is cleared, and read back it is left out of `fields` [V].
 */
import { errors, fail, ok, type Result } from './simulator-errors.js';

export const FIELD_TYPES = [
  'singleLineText',
  'email',
  'url',
  'phoneNumber',
  'multilineText',
  'richText',
  'number',
  'currency',
  'percent',
  'rating',
  'duration',
  'checkbox',
  'singleSelect',
  'multipleSelects',
  'date',
  'dateTime',
  'createdTime',
  'lastModifiedTime',
  'autoNumber',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

const TEXT_TYPES: ReadonlySet<FieldType> = new Set(['singleLineText', 'email', 'url', 'phoneNumber', 'multilineText', 'richText']);
const NUMBER_TYPES: ReadonlySet<FieldType> = new Set(['number', 'currency', 'percent', 'rating', 'duration']);
/** Airtable computes these; a write naming one fails. */
export const COMPUTED_TYPES: ReadonlySet<FieldType> = new Set(['createdTime', 'lastModifiedTime', 'autoNumber']);

/** Colours Airtable gives new options in turn [U: its real sequence]. */
const COLORS = ['blueLight2', 'cyanLight2', 'tealLight2', 'greenLight2', 'yellowLight2', 'orangeLight2', 'redLight2', 'pinkLight2', 'purpleLight2', 'grayLight2'] as const;

export interface Choice {
  /** `sel` + 14 characters. */
  readonly id: string;
  readonly name: string;
  readonly color: string;
}

export interface AirtableField {
  /** `fld` + 14 characters. */
  readonly id: string;
  readonly name: string;
  readonly type: FieldType;
  readonly description?: string;
  /** Select fields only; grows when a `typecast` write brings a new option. */
  readonly choices: Choice[];
}

/** A field as tests and `POST /_sim/bases` describe it. */
export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly description?: string;
  /** Select fields: the options, by name. @default none */
  readonly choices?: readonly string[];
}

export type CellValue = string | number | true | readonly string[];

export const isEmptyValue = (value: unknown): boolean => value === undefined || value === null || value === '' || value === false || (Array.isArray(value) && value.length === 0);

export function newChoice(name: string, index: number, id: string): Choice {
  return { id, name, color: COLORS[index % COLORS.length] ?? 'blueLight2' };
}

/** A cell as written, checked against its field: the value to store (undefined clears), and select options the write needs created. */
export interface ParsedCell {
  readonly value: CellValue | undefined;
  readonly newChoices: readonly string[];
}

/** Checks (and with `typecast`, converts) one value written to `field`. */
export function parseCell(field: AirtableField, raw: unknown, isTypecast: boolean): Result<ParsedCell> {
  if (COMPUTED_TYPES.has(field.type)) return fail(errors.computedField(field.name));
  if (isEmptyValue(raw)) return ok({ value: undefined, newChoices: [] });
  const value = (v: CellValue | undefined): Result<ParsedCell> => ok({ value: v, newChoices: [] });
  const invalid = () => fail<ParsedCell>(isTypecast ? errors.cannotParse(raw, field.name) : errors.invalidValue(field.name));
  if (TEXT_TYPES.has(field.type)) {
    if (typeof raw === 'string') return value(raw);
    // [U] what typecast makes of a number or a boolean in a text field: its text.
    return isTypecast && (typeof raw === 'number' || typeof raw === 'boolean') ? value(String(raw)) : invalid();
  }
  if (NUMBER_TYPES.has(field.type)) {
    const n = typeof raw === 'number' ? raw : isTypecast && typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim().replace(/,/g, '')) : NaN;
    if (!Number.isFinite(n) || (field.type === 'rating' && !Number.isInteger(n))) return invalid();
    return value(n);
  }
  switch (field.type) {
    case 'checkbox':
      if (raw === true) return value(true);
      if (!isTypecast) return invalid();
      // [U] the strings typecast reads as a tick.
      if (typeof raw === 'number') return value(raw !== 0 ? true : undefined);
      if (typeof raw === 'string') return /^(true|checked|yes|1|x)$/i.test(raw.trim()) ? value(true) : /^(false|no|0|)$/i.test(raw.trim()) ? value(undefined) : invalid();
      return invalid();
    case 'singleSelect': {
      const name = typeof raw === 'string' ? raw : isTypecast && typeof raw === 'number' ? String(raw) : undefined;
      return name === undefined ? invalid() : selectNames(field, [name], isTypecast, (names) => names[0]);
    }
    case 'multipleSelects': {
      // [U] typecast splits a string on commas.
      const names = Array.isArray(raw) ? raw : isTypecast && typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
      if (names === undefined || !names.every((n): n is string => typeof n === 'string')) return invalid();
      return selectNames(field, [...new Set(names)], isTypecast, (unique) => (unique.length === 0 ? undefined : unique));
    }
    case 'date':
    case 'dateTime': {
      if (typeof raw !== 'string') return invalid();
      // Without typecast only ISO 8601 text is taken [U: Airtable is lenient with some other forms].
      if (!isTypecast && !/^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(raw.trim())) return invalid();
      const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(raw.trim()) ? `${raw.trim()}T00:00:00.000Z` : raw.trim());
      if (Number.isNaN(ms)) return invalid();
      const iso = new Date(ms).toISOString();
      return value(field.type === 'date' ? iso.slice(0, 10) : iso);
    }
    default:
      return invalid();
  }
}

function selectNames(field: AirtableField, names: readonly string[], isTypecast: boolean, toValue: (names: string[]) => CellValue | undefined): Result<ParsedCell> {
  const known = new Set(field.choices.map((c) => c.name));
  const missing = names.filter((n) => !known.has(n));
  const [first] = missing;
  if (first !== undefined && !isTypecast) return fail(errors.unknownChoice(first));
  return ok({ value: toValue([...names]), newChoices: missing });
}

/** A stored value as the REST API returns it (`cellFormat=json`). */
export function restValue(value: CellValue): unknown {
  return Array.isArray(value) ? [...(value as readonly string[])] : value;
}

/** A stored value as `cellFormat=string` returns it [U: Airtable formats per field and locale]. */
export function stringValue(value: CellValue): string {
  if (Array.isArray(value)) return (value as readonly string[]).join(', ');
  return value === true ? 'checked' : String(value);
}

/** A stored value in a webhook payload (V2 cell values): select options as objects. */
export function v2Value(field: AirtableField, value: CellValue | undefined): unknown {
  if (value === undefined) return null;
  const choice = (name: string) => {
    const found = field.choices.find((c) => c.name === name);
    return found ? { id: found.id, name: found.name, color: found.color } : { name };
  };
  if (field.type === 'singleSelect' && typeof value === 'string') return choice(value);
  if (field.type === 'multipleSelects' && Array.isArray(value)) return (value as readonly string[]).map(choice);
  return restValue(value);
}

/** Two stored values are the same cell content. */
export function isSameValue(a: CellValue | undefined, b: CellValue | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}

/** The field's schema as `GET /v0/meta/bases/{id}/tables` shows it [C: options trimmed to what the simulator keeps]. */
export function fieldSchema(field: AirtableField): Record<string, unknown> {
  const options =
    field.type === 'singleSelect' || field.type === 'multipleSelects'
      ? { choices: field.choices.map((c) => ({ ...c })) }
      : field.type === 'checkbox'
        ? { icon: 'check', color: 'greenBright' }
        : undefined;
  return { id: field.id, name: field.name, type: field.type, ...(field.description === undefined ? {} : { description: field.description }), ...(options ? { options } : {}) };
}
