/**
 * Cells compared and carried back: whether two values of a field are the same once Airtable's
 * ways are allowed for (it omits empty cells, keeps a multiple select in the order people picked,
 * answers a number where text was typed into a Number field), and what an Airtable cell becomes
 * in Kit (a first name, a custom field's text, a set of tag names). Pure.
 */
import type { CellValue } from './fields.js';
import type { ResolvedField } from './schema.js';

/** A value as compared: empty is null; text trimmed; a list of text sorted, without repeats. */
export type NormalCell = string | number | boolean | readonly string[] | null;

export function normalCell(value: unknown): NormalCell {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value === 'string') return value.trim() === '' ? null : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    // A multiple select holds text; collaborators and attachments hold objects, compared by their JSON.
    const items = value.map((item) => (typeof item === 'string' ? item.trim() : JSON.stringify(item))).filter((item) => item !== '');
    return items.length === 0 ? null : [...new Set(items)].sort();
  }
  return JSON.stringify(value);
}

/** Equal once normalised; a number and its text are equal (`42` and `"42"`). */
export function sameCell(a: unknown, b: unknown): boolean {
  const x = normalCell(a);
  const y = normalCell(b);
  if (x === y) return true;
  if (x === null || y === null) return false;
  if (Array.isArray(x) || Array.isArray(y)) return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((item, i) => item === y[i]);
  if ((typeof x === 'number' && typeof y === 'string') || (typeof x === 'string' && typeof y === 'number')) return Number(x) === Number(y) && String(x).trim() !== '' && String(y).trim() !== '';
  return false;
}

/** A cell's text as Kit keeps a custom field or a first name; null when empty. */
export function kitText(value: unknown, field: ResolvedField): string | null {
  const cell = normalCell(value);
  if (cell === null) return null;
  if (Array.isArray(cell)) return cell.join(', ');
  if (typeof cell === 'boolean') return cell ? 'true' : null;
  if (typeof cell === 'number') return String(cell);
  const text = cell as string;
  return field.as === 'date' ? text.slice(0, 10) : text;
}

/** The tag names a tags cell holds (a multiple select, or comma-separated text). */
export function tagNames(value: unknown): string[] {
  const cell = normalCell(value);
  if (cell === null) return [];
  const parts: readonly string[] = typeof cell === 'string' ? cell.split(',') : Array.isArray(cell) ? (cell as readonly string[]) : [String(cell)];
  return [...new Set(parts.map((part) => part.trim()).filter((part) => part !== ''))];
}

/** The value kept as synced for a cell: as written, or as read (absent means empty). */
export function syncedCell(value: unknown): CellValue {
  const cell = normalCell(value);
  return cell;
}
