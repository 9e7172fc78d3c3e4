/**
 * Evaluates a parsed `filterByFormula` (simulator-formula.ts) against one record, with Airtable's
 * loose typing as far as list filters need it:
 *
 * - a field reads as text (single line, select), a number, a checkbox as true or BLANK(), multiple
 *   selects as the list of names (text `a, b` wherever text is wanted), a date or date-time as a
 *   date; an empty cell as BLANK();
 * - `=` compares text exactly (case counts [U]); BLANK() equals '', 0 and FALSE() [U]; a date
 *   compared with text reads the text as a date, so `LAST_MODIFIED_TIME() > '2026-03-01T00:00:00Z'`
 *   works as `IS_AFTER(LAST_MODIFIED_TIME(), '2026-03-01T00:00:00Z')` does;
 * - TRUE() is 1 and FALSE() is 0 in arithmetic and text (`TRUE() & ''` is `1`);
 * - an error (`VALUE('x')`, a bad date) makes the record's value #ERROR!, which filters it out.
 *
 * Functions: AND OR XOR NOT IF TRUE FALSE BLANK RECORD_ID CREATED_TIME LAST_MODIFIED_TIME NOW TODAY
 * IS_AFTER IS_BEFORE IS_SAME DATEADD DATETIME_PARSE FIND SEARCH LOWER UPPER TRIM LEN CONCATENATE
 * ARRAYJOIN VALUE.
 */
import type { Node } from './simulator-formula.js';

export type FormulaValue = string | number | boolean | Date | readonly string[] | null;

/** A record as a formula sees it. */
export interface FormulaRecord {
  readonly id: string;
  /** Epoch ms. */
  readonly createdTime: number;
  /** Epoch ms, the simulator's clock: NOW() and TODAY(). */
  readonly now: number;
  /** A field's value by name (the parser checked the name). */
  value(fieldName: string): FormulaValue;
  /** Epoch ms of the latest change to these fields (all editable fields when none are named), if any. */
  lastModifiedTime(fieldNames: readonly string[]): number | undefined;
}

/** #ERROR!: ends the record's evaluation; the record is filtered out. */
class FormulaError extends Error {}

type Fn = (args: readonly Node[], record: FormulaRecord) => FormulaValue;

const toText = (v: FormulaValue): string => {
  if (v === null) return '';
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return (v as readonly string[]).join(', ');
  return String(v);
};

const toNumber = (v: FormulaValue): number => {
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  const text = toText(v).trim();
  const n = text === '' ? 0 : Number(text);
  if (Number.isNaN(n)) throw new FormulaError(`not a number: ${text}`);
  return n;
};

const toDate = (v: FormulaValue): Date | null => {
  if (v === null || v === '') return null;
  if (v instanceof Date) return v;
  const ms = typeof v === 'number' ? v : Date.parse(toText(v));
  if (Number.isNaN(ms)) throw new FormulaError(`not a date: ${toText(v)}`);
  return new Date(ms);
};

const isNumeric = (v: FormulaValue): boolean => typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));

export function isTruthy(v: FormulaValue): boolean {
  if (v === null) return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.length > 0;
  return v !== false;
}

const isBlankish = (v: FormulaValue) => v === null || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0);
const isText = (v: FormulaValue) => typeof v === 'string' || Array.isArray(v);

function isEqual(a: FormulaValue, b: FormulaValue): boolean {
  if (a === null || b === null) return isBlankish(a) && isBlankish(b);
  if (a instanceof Date || b instanceof Date) return toDate(a)?.getTime() === toDate(b)?.getTime();
  if (isText(a) && isText(b)) return toText(a) === toText(b);
  if (isNumeric(a) && isNumeric(b)) return toNumber(a) === toNumber(b);
  return toText(a) === toText(b);
}

function compare(op: string, a: FormulaValue, b: FormulaValue): boolean {
  if (op === '=') return isEqual(a, b);
  if (op === '!=') return !isEqual(a, b);
  let order: number;
  if (a instanceof Date || b instanceof Date) {
    const [x, y] = [toDate(a), toDate(b)];
    if (x === null || y === null) return false;
    order = x.getTime() - y.getTime();
  } else if (typeof a === 'string' && typeof b === 'string' && !(isNumeric(a) && isNumeric(b))) {
    order = a < b ? -1 : a > b ? 1 : 0;
  } else order = toNumber(a) - toNumber(b);
  return op === '<' ? order < 0 : op === '>' ? order > 0 : op === '<=' ? order <= 0 : order >= 0;
}

function arithmetic(op: string, a: FormulaValue, b: FormulaValue): FormulaValue {
  if (op === '&') return toText(a) + toText(b);
  const [x, y] = [toNumber(a), toNumber(b)];
  if (op === '+') return x + y;
  if (op === '-') return x - y;
  if (op === '*') return x * y;
  if (y === 0) throw new FormulaError('division by zero');
  return x / y;
}

/** How much of an ISO time two dates must share to be "the same" unit. */
const UNIT_PREFIX: Readonly<Record<string, number>> = { year: 4, month: 7, day: 10, hour: 13, minute: 16, second: 19, millisecond: 24 };
const UNIT_MS: Readonly<Record<string, number>> = { millisecond: 1, second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };
const unitOf = (v: FormulaValue | undefined): string => (v === undefined || v === null ? 'millisecond' : toText(v).toLowerCase().replace(/s$/, ''));

function dateArg(args: readonly Node[], index: number, r: FormulaRecord): Date {
  const node = args[index];
  const date = node === undefined ? null : toDate(ev(node, r));
  if (date === null) throw new FormulaError('a date is required');
  return date;
}

const arg = (args: readonly Node[], index: number, r: FormulaRecord): FormulaValue => {
  const node = args[index];
  if (node === undefined) throw new FormulaError('missing argument');
  return ev(node, r);
};

export const FUNCTIONS: Readonly<Record<string, Fn>> = {
  AND: (args, r) => {
    for (const a of args) if (!isTruthy(ev(a, r))) return false;
    return args.length > 0;
  },
  OR: (args, r) => {
    for (const a of args) if (isTruthy(ev(a, r))) return true;
    return false;
  },
  XOR: (args, r) => args.filter((a) => isTruthy(ev(a, r))).length % 2 === 1,
  NOT: (args, r) => !isTruthy(arg(args, 0, r)),
  IF: (args, r) => (isTruthy(arg(args, 0, r)) ? arg(args, 1, r) : args[2] === undefined ? null : ev(args[2], r)),
  TRUE: () => true,
  FALSE: () => false,
  BLANK: () => null,
  RECORD_ID: (_args, r) => r.id,
  CREATED_TIME: (_args, r) => new Date(r.createdTime),
  LAST_MODIFIED_TIME: (args, r) => {
    const names = args.map((a) => {
      if (a.kind !== 'field') throw new FormulaError('LAST_MODIFIED_TIME takes field references');
      return a.name;
    });
    const at = r.lastModifiedTime(names);
    return at === undefined ? null : new Date(at);
  },
  NOW: (_args, r) => new Date(r.now),
  TODAY: (_args, r) => new Date(`${new Date(r.now).toISOString().slice(0, 10)}T00:00:00.000Z`),
  IS_AFTER: (args, r) => dateArg(args, 0, r).getTime() > dateArg(args, 1, r).getTime(),
  IS_BEFORE: (args, r) => dateArg(args, 0, r).getTime() < dateArg(args, 1, r).getTime(),
  IS_SAME: (args, r) => {
    const length = UNIT_PREFIX[unitOf(args[2] === undefined ? undefined : ev(args[2], r))] ?? 24;
    return dateArg(args, 0, r).toISOString().slice(0, length) === dateArg(args, 1, r).toISOString().slice(0, length);
  },
  DATEADD: (args, r) => {
    const date = dateArg(args, 0, r);
    const count = toNumber(arg(args, 1, r));
    const unit = unitOf(arg(args, 2, r));
    const out = new Date(date.getTime());
    if (unit === 'month') out.setUTCMonth(out.getUTCMonth() + count);
    else if (unit === 'year') out.setUTCFullYear(out.getUTCFullYear() + count);
    else if (UNIT_MS[unit] !== undefined) out.setTime(out.getTime() + count * UNIT_MS[unit]);
    else throw new FormulaError(`unknown unit ${unit}`);
    return out;
  },
  DATETIME_PARSE: (args, r) => dateArg(args, 0, r),
  FIND: (args, r) => toText(arg(args, 1, r)).indexOf(toText(arg(args, 0, r)), args[2] === undefined ? 0 : toNumber(ev(args[2], r)) - 1) + 1,
  SEARCH: (args, r) => {
    const at = toText(arg(args, 1, r)).toLowerCase().indexOf(toText(arg(args, 0, r)).toLowerCase(), args[2] === undefined ? 0 : toNumber(ev(args[2], r)) - 1);
    return at === -1 ? null : at + 1;
  },
  LOWER: (args, r) => toText(arg(args, 0, r)).toLowerCase(),
  UPPER: (args, r) => toText(arg(args, 0, r)).toUpperCase(),
  TRIM: (args, r) => toText(arg(args, 0, r)).trim(),
  LEN: (args, r) => toText(arg(args, 0, r)).length,
  CONCATENATE: (args, r) => args.map((a) => toText(ev(a, r))).join(''),
  ARRAYJOIN: (args, r) => {
    const value = arg(args, 0, r);
    const separator = args[1] === undefined ? ', ' : toText(ev(args[1], r));
    return Array.isArray(value) ? (value as readonly string[]).join(separator) : toText(value);
  },
  VALUE: (args, r) => toNumber(arg(args, 0, r)),
};

/** Evaluates a node; functions call it on their arguments (lazily: IF evaluates one branch). */
function ev(node: Node, record: FormulaRecord): FormulaValue {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'field':
      return record.value(node.name);
    case 'negate':
      return -toNumber(ev(node.operand, record));
    case 'binary': {
      const [a, b] = [ev(node.left, record), ev(node.right, record)];
      return COMPARISONS.has(node.op) ? compare(node.op, a, b) : arithmetic(node.op, a, b);
    }
    case 'call': {
      const fn = FUNCTIONS[node.name];
      if (fn === undefined) throw new FormulaError(`unknown function ${node.name}`);
      return fn(node.args, record);
    }
  }
}

const COMPARISONS: ReadonlySet<string> = new Set(['=', '!=', '<', '>', '<=', '>=']);

/** The formula's value for the record; an error (#ERROR!) reads as BLANK(), which no filter keeps. */
export function evaluate(node: Node, record: FormulaRecord): FormulaValue {
  try {
    return ev(node, record);
  } catch (error) {
    if (error instanceof FormulaError) return null;
    throw error;
  }
}
