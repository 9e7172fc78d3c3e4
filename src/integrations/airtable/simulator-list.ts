/**
 * Listing records as Airtable does (reference/destinations.md §3.2): the parameters from the query
 * string (`fields[]`, `sort[0][field]`, as airtable.js writes them) or from the JSON body of
 * `POST …/listRecords`, filtering, sorting, and paging through **iterators**.
 *
 * The first page of a listing that has more makes an iterator: the ids of every matching record,
 * in order, as they were then. Its `offset` reads `itr…/rec…` — the iterator and the first record
 * of the next page [V: the form]. Later pages come from that list (records deleted since are
 * skipped; edited ones show as they are now). An iterator left idle longer than `ttlMs`, or
 * expired on demand, answers 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE [C]: the client restarts
 * without an offset. Airtable does not say how long an iterator lives, nor whether writes end it
 * [U]: both are options.
 */
import { errors, fail, ok, type Result } from './simulator-errors.js';
import { compileFilter, type FormulaValue } from './simulator-formula.js';
import type { AirtableState, SimTable } from './simulator-state.js';
import { fieldOf } from './simulator-state.js';
import { formulaRecord, formulaValue, recordJson, type RecordJson } from './simulator-views.js';

export const MAX_PAGE_SIZE = 100;

export interface SortSpec {
  readonly field: string;
  readonly direction: 'asc' | 'desc';
}

export interface ListParams {
  readonly pageSize: number;
  readonly maxRecords: number | undefined;
  readonly offset: string | undefined;
  readonly fields: readonly string[] | undefined;
  readonly sort: readonly SortSpec[];
  readonly view: string | undefined;
  readonly filterByFormula: string | undefined;
  readonly cellFormat: 'json' | 'string';
  readonly returnFieldsByFieldId: boolean;
  readonly recordMetadata: readonly string[];
}

export interface ListPage {
  readonly records: readonly RecordJson[];
  readonly offset?: string;
}

interface RawParams {
  readonly [name: string]: unknown;
}

/** The query string of `GET /v0/{base}/{table}`, read as airtable.js writes it (object_to_query_param_string). */
export function queryParams(url: string): Result<ListParams> {
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const raw: Record<string, unknown> = {};
  const fields: string[] = [];
  const metadata: string[] = [];
  const sort: Array<Record<string, string>> = [];
  for (const [key, value] of query) {
    const sortMatch = /^sort\[(\d+)\]\[(field|direction)\]$/.exec(key);
    if (/^fields\[\d*\]$/.test(key)) fields.push(value);
    else if (/^recordMetadata\[\d*\]$/.test(key)) metadata.push(value);
    else if (sortMatch) (sort[Number(sortMatch[1])] ??= {})[sortMatch[2] as string] = value;
    else raw[key] = value;
  }
  return normalize({ ...raw, fields: fields.length > 0 ? fields : undefined, recordMetadata: metadata, sort: sort.filter((s) => s !== undefined) }, 'query');
}

/** The JSON body of `POST /v0/{base}/{table}/listRecords`; `timeZone` and `userLocale` stay in the query (§3.2). */
export function bodyParams(body: unknown, url: string): Result<ListParams> {
  if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body))) return fail(errors.invalidRequest('the body must be a JSON object'));
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const fromQuery = Object.fromEntries(['timeZone', 'userLocale'].flatMap((k) => (query.has(k) ? [[k, query.get(k)]] : [])));
  return normalize({ ...fromQuery, ...(body as RawParams | undefined) }, 'body');
}

function normalize(raw: RawParams, from: 'query' | 'body'): Result<ListParams> {
  const int = (value: unknown): number | undefined | 'bad' => {
    if (value === undefined || value === '') return undefined;
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    return Number.isInteger(n) && n >= 1 ? n : 'bad';
  };
  const pageSize = int(raw.pageSize);
  // [U] whether Airtable refuses or clamps a page size above 100: the fact sheet says enforce it.
  if (pageSize === 'bad' || (pageSize !== undefined && pageSize > MAX_PAGE_SIZE)) return fail(errors.invalidRequest(`pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE}`));
  const maxRecords = int(raw.maxRecords);
  if (maxRecords === 'bad') return fail(errors.invalidRequest('maxRecords must be a positive whole number'));
  const texts = (value: unknown): string[] | undefined | 'bad' => (value === undefined ? undefined : Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : 'bad');
  const fields = texts(raw.fields);
  const recordMetadata = texts(raw.recordMetadata);
  if (fields === 'bad' || recordMetadata === 'bad') return fail(errors.invalidRequest('fields and recordMetadata must be lists of text'));
  const sort = Array.isArray(raw.sort) ? raw.sort : raw.sort === undefined ? [] : undefined;
  const sorts: SortSpec[] = [];
  for (const s of sort ?? [null]) {
    const spec = s as { field?: unknown; direction?: unknown } | null;
    if (!spec || typeof spec.field !== 'string' || (spec.direction !== undefined && spec.direction !== 'asc' && spec.direction !== 'desc')) return fail(errors.invalidRequest('sort takes {field, direction: "asc" | "desc"} objects'));
    sorts.push({ field: spec.field, direction: spec.direction ?? 'asc' });
  }
  for (const name of ['offset', 'view', 'filterByFormula', 'cellFormat']) if (raw[name] !== undefined && typeof raw[name] !== 'string') return fail(errors.invalidRequest(`${name} must be text`));
  const text = (value: unknown) => value as string | undefined;
  const [offset, view, filterByFormula, cellFormat] = [text(raw.offset), text(raw.view), text(raw.filterByFormula), text(raw.cellFormat) ?? 'json'];
  if (cellFormat !== 'json' && cellFormat !== 'string') return fail(errors.invalidRequest('cellFormat must be "json" or "string"'));
  // [V] cellFormat=string needs both; the simulator formats values without them.
  if (cellFormat === 'string' && (typeof raw.timeZone !== 'string' || typeof raw.userLocale !== 'string')) return fail(errors.invalidRequest('cellFormat "string" requires timeZone and userLocale'));
  const byId = raw.returnFieldsByFieldId;
  const returnFieldsByFieldId = from === 'query' ? byId === 'true' || byId === '1' : byId === true;
  return ok({ pageSize: pageSize ?? MAX_PAGE_SIZE, maxRecords, offset, fields, sort: sorts, view, filterByFormula, cellFormat, returnFieldsByFieldId, recordMetadata: recordMetadata ?? [] });
}

interface Iterator {
  readonly id: string;
  readonly tableId: string;
  readonly ids: readonly string[];
  readonly version: number;
  lastUsedAt: number;
}

export interface IteratorOptions {
  /** An iterator idle this long is gone [U]. @default 60_000 */
  readonly ttlMs?: number;
  /** Any write to the table ends its iterators [U]. @default false */
  readonly isEndedByWrites?: boolean;
  /** Iterators kept at once (each holds its listing's ids); the oldest go first. @default 100 */
  readonly max?: number;
}

const OFFSET = /^(itr[A-Za-z0-9]{14})\/(rec[A-Za-z0-9]{14})$/;

export class Iterators {
  readonly #iterators = new Map<string, Iterator>();
  readonly #state: AirtableState;
  readonly #ttlMs: number;
  readonly #isEndedByWrites: boolean;
  readonly #max: number;

  constructor(state: AirtableState, options: IteratorOptions = {}) {
    this.#state = state;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#isEndedByWrites = options.isEndedByWrites ?? false;
    this.#max = options.max ?? 100;
  }

  get size(): number {
    return this.#iterators.size;
  }

  /** Every iterator answers LIST_RECORDS_ITERATOR_NOT_AVAILABLE from now on. */
  expireAll(): void {
    this.#iterators.clear();
  }

  page(table: SimTable, params: ListParams): Result<ListPage> {
    const fieldIds = new Set<string>();
    for (const name of params.fields ?? []) {
      const field = fieldOf(table, name);
      if (!field) return fail(errors.unknownField(name));
      fieldIds.add(field.id);
    }
    // Views filter and sort nothing here [U: simplified]; an unknown one is refused.
    if (params.view !== undefined && !table.views.some((v) => v.id === params.view || v.name === params.view)) return fail(errors.viewNotFound(params.view));
    const start = params.offset === undefined ? this.#start(table, params) : this.#resume(table, params.offset);
    if ('error' in start) return start;
    const { iterator, ids, position } = start.ok;
    const now = this.#state.now();
    const slice = ids.slice(position, position + params.pageSize);
    const view = { fieldIds: params.fields ? fieldIds : undefined, isByFieldId: params.returnFieldsByFieldId, cellFormat: params.cellFormat, hasCommentCount: params.recordMetadata.includes('commentCount') };
    const records = slice.flatMap((id) => {
      const record = table.records.get(id);
      return record ? [recordJson(table, record, view)] : [];
    });
    const next = ids[position + params.pageSize];
    // The iterator outlives the last page: a client retrying a page whose answer it lost gets it again.
    if (next === undefined) return ok({ records });
    const kept = iterator ?? this.#keep({ id: this.#state.newId('itr'), tableId: table.id, ids, version: table.version, lastUsedAt: now });
    kept.lastUsedAt = now;
    return ok({ records, offset: `${kept.id}/${next}` });
  }

  #start(table: SimTable, params: ListParams): Result<{ iterator: undefined; ids: readonly string[]; position: 0 }> {
    for (const s of params.sort) if (!fieldOf(table, s.field)) return fail(errors.unknownField(s.field));
    const filter = compileFilter(params.filterByFormula ?? '', (name) => fieldOf(table, name) !== undefined);
    if ('error' in filter) return filter;
    const now = this.#state.now();
    let records = [...table.records.values()].filter((r) => filter.ok(formulaRecord(table, r, now)));
    if (params.sort.length > 0) {
      records = records
        .map((record, index) => ({ record, index, keys: params.sort.map((s) => formulaValue(table, record, s.field)) }))
        .sort((a, b) => {
          for (const [i, s] of params.sort.entries()) {
            const order = compareValues(a.keys[i] ?? null, b.keys[i] ?? null);
            if (order !== 0) return s.direction === 'desc' ? -order : order;
          }
          return a.index - b.index;
        })
        .map((x) => x.record);
    }
    const ids = records.slice(0, params.maxRecords ?? records.length).map((r) => r.id);
    return ok({ iterator: undefined, ids, position: 0 });
  }

  #resume(table: SimTable, offset: string): Result<{ iterator: Iterator; ids: readonly string[]; position: number }> {
    const match = OFFSET.exec(offset);
    if (!match) return fail(errors.invalidOffset(offset));
    const iterator = this.#iterators.get(match[1] as string);
    const now = this.#state.now();
    const isLive = iterator !== undefined && iterator.tableId === table.id && now - iterator.lastUsedAt <= this.#ttlMs && (!this.#isEndedByWrites || iterator.version === table.version);
    const position = isLive ? iterator.ids.indexOf(match[2] as string) : -1;
    if (!isLive || position === -1) {
      if (iterator) this.#iterators.delete(iterator.id);
      return fail(errors.iteratorNotAvailable());
    }
    return ok({ iterator, ids: iterator.ids, position });
  }

  /** Keeps a new iterator, forgetting idle ones, and the oldest past `max`. */
  #keep(iterator: Iterator): Iterator {
    for (const [id, kept] of this.#iterators) if (iterator.lastUsedAt - kept.lastUsedAt > this.#ttlMs) this.#iterators.delete(id);
    this.#iterators.set(iterator.id, iterator);
    for (const id of this.#iterators.keys()) {
      if (this.#iterators.size <= this.#max) break;
      this.#iterators.delete(id);
    }
    return iterator;
  }
}

/** Sort order [U: Airtable's for mixed types]: empty first, then numbers, dates, text. */
function compareValues(a: FormulaValue, b: FormulaValue): number {
  const rank = (v: FormulaValue) => (v === null ? 0 : typeof v === 'number' || typeof v === 'boolean' ? 1 : v instanceof Date ? 2 : 3);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a === null || b === null) return 0;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if ((typeof a === 'number' || typeof a === 'boolean') && (typeof b === 'number' || typeof b === 'boolean')) return Number(a) - Number(b);
  const text = (v: FormulaValue) => (Array.isArray(v) ? (v as readonly string[]).join(', ') : String(v));
  return text(a).localeCompare(text(b));
}
