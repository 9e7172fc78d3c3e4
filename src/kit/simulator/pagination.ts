/**
 * Kit's cursor pagination (reference/kit.md §3) over ordered sources that are never materialised.
 *
 * A listing is a merge of sources, each already ordered by a position `(key, id)`: the generated
 * subscribers (a range of ids whose key never decreases with the id, so it can be binary-searched)
 * and the records written through the API (a small sorted array). A page costs O(log n + what it
 * scans), never O(account size), which is what lets a 1M-subscriber account page cheaply.
 *
 * Cursors are opaque base64 of JSON like Kit's: `[147]` for id order, `["2023-…Z", 11]` for time
 * order. Both cursors are returned even for a single page; on an empty page both are `null`
 * (the sheet suggests it; Kit's value is [UNC]).
 */

export const DEFAULT_PER_PAGE = 500;
/** Kit documents 1000 as the maximum; whether more clamps or fails is [UNC]: the simulator clamps. */
export const MAX_PER_PAGE = 1000;
export const INVALID_CURSOR = 'Invalid pagination cursor';

/** How a listing orders its items: by id alone, or by a timestamp then id. */
export type KeyKind = 'id' | 'time';

export interface Position {
  readonly key: number;
  readonly id: number;
}

export interface PageRequest {
  readonly after?: Position;
  readonly before?: Position;
  readonly perPage: number;
  readonly includeTotalCount: boolean;
}

export interface PaginationJson {
  has_previous_page: boolean;
  has_next_page: boolean;
  start_cursor: string | null;
  end_cursor: string | null;
  per_page: number;
  total_count?: number;
}

export interface Entry<T> {
  readonly pos: Position;
  /** Builds the item; called only for the items a page returns. */
  load(): T;
}

export interface Source<T> {
  /** Entries strictly beyond `from` (or from `from` itself when inclusive) in direction `dir`. */
  scan(from: Position | undefined, dir: 1 | -1, inclusive: boolean): Iterator<Entry<T>>;
  count(): number;
}

export function comparePositions(a: Position, b: Position): number {
  return a.key - b.key || a.id - b.id;
}

export function encodeCursor(pos: Position, kind: KeyKind): string {
  const json = kind === 'id' ? [pos.id] : [new Date(pos.key).toISOString(), pos.id];
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

export function decodeCursor(raw: string, kind: KeyKind): Position | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (kind === 'id') {
    const [id] = parsed as unknown[];
    return parsed.length === 1 && Number.isSafeInteger(id) ? { key: id as number, id: id as number } : undefined;
  }
  const [at, id] = parsed as unknown[];
  const key = typeof at === 'string' ? Date.parse(at) : NaN;
  return parsed.length === 2 && Number.isFinite(key) && Number.isSafeInteger(id) ? { key, id: id as number } : undefined;
}

/** Reads `after`, `before`, `per_page`, `include_total_count`; an error message for a bad cursor. */
export function parsePageRequest(query: Readonly<Record<string, unknown>>, kind: KeyKind): PageRequest | { error: string } {
  const perPageRaw = Number(firstString(query.per_page) ?? DEFAULT_PER_PAGE);
  const perPage = Number.isFinite(perPageRaw) && perPageRaw >= 1 ? Math.min(Math.floor(perPageRaw), MAX_PER_PAGE) : DEFAULT_PER_PAGE;
  const includeTotalCount = firstString(query.include_total_count) === 'true';
  const cursor = (name: string): Position | undefined | 'bad' => {
    const raw = firstString(query[name]);
    if (raw === undefined || raw === '') return undefined;
    return decodeCursor(raw, kind) ?? 'bad';
  };
  const after = cursor('after');
  const before = cursor('before');
  if (after === 'bad' || before === 'bad') return { error: INVALID_CURSOR };
  return { after, before, perPage, includeTotalCount };
}

export function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** A source over a sorted copy of in-memory entries. */
export function arraySource<T>(entries: readonly Entry<T>[]): Source<T> {
  const sorted = [...entries].sort((a, b) => comparePositions(a.pos, b.pos));
  return {
    *scan(from, dir, inclusive) {
      let index = dir === 1 ? 0 : sorted.length - 1;
      if (from) index = dir === 1 ? firstIndex(sorted, from, inclusive) : firstIndex(sorted, from, !inclusive) - 1;
      for (; index >= 0 && index < sorted.length; index += dir) yield sorted[index] as Entry<T>;
    },
    count: () => sorted.length,
  };
}

/** First index whose position is > `from` (or >= when inclusive). */
function firstIndex<T>(sorted: readonly Entry<T>[], from: Position, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = comparePositions((sorted[mid] as Entry<T>).pos, from);
    if (c > 0 || (inclusive && c === 0)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface RangeSpec<T> {
  readonly lo: number;
  readonly hi: number;
  /** Never decreases as the id grows. */
  keyOf(id: number): number;
  /** Whether the id belongs to the listing (not overridden, passes the filters). */
  matches(id: number): boolean;
  load(id: number): T;
}

/** A source over the id range `lo..hi`, positioned by `(keyOf(id), id)`, scanned lazily. */
export function rangeSource<T>(spec: RangeSpec<T>): Source<T> {
  const pos = (id: number): Position => ({ key: spec.keyOf(id), id });
  // First id whose position is > from (>= when inclusive); hi + 1 when none.
  const firstId = (from: Position, inclusive: boolean): number => {
    let lo = spec.lo;
    let hi = spec.hi + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const c = comparePositions(pos(mid), from);
      if (c > 0 || (inclusive && c === 0)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  return {
    *scan(from, dir, inclusive) {
      let id = dir === 1 ? spec.lo : spec.hi;
      if (from) id = dir === 1 ? firstId(from, inclusive) : firstId(from, !inclusive) - 1;
      for (; id >= spec.lo && id <= spec.hi; id += dir) {
        if (!spec.matches(id)) continue;
        const at = id;
        yield { pos: pos(at), load: () => spec.load(at) };
      }
    },
    count() {
      let n = 0;
      for (let id = spec.lo; id <= spec.hi; id++) if (spec.matches(id)) n++;
      return n;
    },
  };
}

function* merge<T>(sources: readonly Source<T>[], from: Position | undefined, dir: 1 | -1, inclusive: boolean): Generator<Entry<T>> {
  const iterators = sources.map((s) => s.scan(from, dir, inclusive));
  const heads = iterators.map((it) => it.next());
  for (;;) {
    let best = -1;
    for (let k = 0; k < heads.length; k++) {
      const head = heads[k];
      if (!head || head.done) continue;
      const current = heads[best];
      if (!current || current.done || dir * comparePositions(head.value.pos, current.value.pos) < 0) best = k;
    }
    const winner = heads[best];
    if (!winner || winner.done) return;
    yield winner.value;
    heads[best] = (iterators[best] as Iterator<Entry<T>>).next();
  }
}

function take<T>(it: Iterator<Entry<T>>, n: number): Entry<T>[] {
  const out: Entry<T>[] = [];
  while (out.length < n) {
    const next = it.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

export interface Page<T> {
  readonly items: T[];
  readonly pagination: PaginationJson;
}

/**
 * One page of the merged sources in `order`. `after` continues forward from a page's end cursor,
 * `before` goes back from a page's start cursor; the flags are exact (a one-item probe each way).
 */
export function paginate<T>(sources: readonly Source<T>[], order: 'asc' | 'desc', req: PageRequest, kind: KeyKind, countAll?: () => number): Page<T> {
  const fwd = order === 'asc' ? 1 : -1;
  let entries: Entry<T>[];
  let hasPrevious: boolean;
  let hasNext: boolean;
  if (req.before && !req.after) {
    const back = take(merge(sources, req.before, -fwd as 1 | -1, false), req.perPage + 1);
    hasPrevious = back.length > req.perPage;
    entries = back.slice(0, req.perPage).reverse();
    const last = entries.at(-1);
    hasNext = take(merge(sources, last?.pos ?? req.before, fwd, !last), 1).length > 0;
  } else {
    const ahead = take(merge(sources, req.after, fwd, false), req.perPage + 1);
    hasNext = ahead.length > req.perPage;
    entries = ahead.slice(0, req.perPage);
    const first = entries[0];
    hasPrevious = req.after !== undefined && take(merge(sources, first?.pos ?? req.after, -fwd as 1 | -1, !first), 1).length > 0;
  }
  const first = entries[0];
  const last = entries.at(-1);
  const pagination: PaginationJson = {
    has_previous_page: hasPrevious,
    has_next_page: hasNext,
    start_cursor: first ? encodeCursor(first.pos, kind) : null,
    end_cursor: last ? encodeCursor(last.pos, kind) : null,
    per_page: req.perPage,
  };
  if (req.includeTotalCount) pagination.total_count = countAll ? countAll() : sources.reduce((n, s) => n + s.count(), 0);
  return { items: entries.map((e) => e.load()), pagination };
}

/** Pages a small in-memory list ordered by id (tags, custom fields, forms, …). */
export function paginateById<T extends { readonly id: number }>(items: readonly T[], req: PageRequest, order: 'asc' | 'desc' = 'asc'): Page<T> {
  return paginate([arraySource(items.map((item) => ({ pos: { key: item.id, id: item.id }, load: () => item })))], order, req, 'id');
}
