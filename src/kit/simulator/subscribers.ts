/**
 * The account's subscribers: the seed's generated ones (ids `1..seed.size`, never stored) plus a
 * record for every subscriber the API created or changed. Memory grows with writes, not with the
 * account: looking up a generated subscriber by email parses the id back out of the address
 * (seed.ts), and only written records are indexed by email.
 *
 * Eventual consistency (reference/kit.md §9.4): while a write is younger than `listLagMs`, list
 * endpoints still see the record as it was before that write (or not at all, if it was created);
 * `GET /v4/subscribers/{id}` always sees the current record.
 */
import { isoSeconds, type SubscriberData, type SubscriberState } from './model.js';
import { arraySource, rangeSource, type Entry, type Source } from './pagination.js';
import type { SeedModel } from './seed.js';

interface SubscriberRecord {
  current: SubscriberData;
  /** What list endpoints show until `until` (undefined: the record did not exist yet). */
  listed?: { readonly before: SubscriberData | undefined; readonly until: number };
}

export type SortField = 'id' | 'created_at' | 'updated_at' | 'cancelled_at';

export interface SubscriberFilter {
  readonly states?: ReadonlySet<SubscriberState>;
  /** Inclusive lower and exclusive upper bounds, epoch ms. */
  readonly createdFrom?: number;
  readonly createdTo?: number;
  readonly updatedFrom?: number;
  readonly updatedTo?: number;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export class SubscriberStore {
  readonly #seed: SeedModel;
  readonly #now: () => number;
  readonly #lagMs: number;
  readonly #records = new Map<number, SubscriberRecord>();
  readonly #byEmail = new Map<string, number>();
  #nextId: number;

  constructor(seed: SeedModel, now: () => number, lagMs: number) {
    this.#seed = seed;
    this.#now = now;
    this.#lagMs = lagMs;
    this.#nextId = seed.size + 1;
  }

  /** Every subscriber ever: ids are `1..count` with no gaps (Kit's v4 API deletes none). */
  get count(): number {
    return this.#nextId - 1;
  }

  /** Subscribers held in memory (created or changed through the API). */
  get recordCount(): number {
    return this.#records.size;
  }

  get(id: number): SubscriberData | undefined {
    const record = this.#records.get(id);
    if (record) return record.current;
    if (!Number.isInteger(id) || id < 1 || id > this.#seed.size) return undefined;
    const g = this.#seed.subscriber(id);
    return { ...g, updatedAt: g.createdAt };
  }

  idOfEmail(email: string): number | undefined {
    const normalized = normalizeEmail(email);
    const written = this.#byEmail.get(normalized);
    if (written !== undefined) return written;
    const generated = this.#seed.idOfEmail(normalized);
    // A generated subscriber whose email was changed through the API no longer answers to it.
    return generated !== undefined && !this.#records.has(generated) ? generated : undefined;
  }

  create(input: Omit<SubscriberData, 'id' | 'createdAt' | 'updatedAt' | 'canceledAt'>): SubscriberData {
    const at = this.#now();
    const data: SubscriberData = { ...input, id: this.#nextId++, createdAt: at, updatedAt: at, canceledAt: input.state === 'cancelled' ? at : null };
    this.#write(data, undefined);
    return data;
  }

  /** Replaces a subscriber (which must exist) with `changes` applied and a fresh `updatedAt`. */
  update(id: number, changes: Partial<Pick<SubscriberData, 'email' | 'firstName' | 'state' | 'canceledAt' | 'fields'>>): SubscriberData {
    const previous = this.get(id);
    if (!previous) throw new Error(`kit simulator: subscriber ${id} does not exist`);
    const next: SubscriberData = { ...previous, ...changes, updatedAt: this.#now() };
    this.#write(next, previous);
    return next;
  }

  #write(next: SubscriberData, previous: SubscriberData | undefined): void {
    const record = this.#records.get(next.id);
    const now = this.#now();
    // The list view lags by at most `listLagMs` behind the first write of a burst.
    const listed = this.#lagMs <= 0 ? undefined : record?.listed && record.listed.until > now ? record.listed : { before: previous, until: now + this.#lagMs };
    if (previous && normalizeEmail(previous.email) !== normalizeEmail(next.email)) this.#byEmail.delete(normalizeEmail(previous.email));
    this.#byEmail.set(normalizeEmail(next.email), next.id);
    this.#records.set(next.id, listed ? { current: next, listed } : { current: next });
  }

  /** The subscriber as list endpoints see it now (see the module comment on lag). */
  listView(id: number): SubscriberData | undefined {
    const record = this.#records.get(id);
    if (!record) return this.get(id);
    if (record.listed && record.listed.until > this.#now()) return record.listed.before;
    return record.current;
  }

  /** Whether the subscriber passes `filter` as list endpoints see it; cheap for untouched generated ids. */
  matches(id: number, filter: SubscriberFilter): boolean {
    if (!this.#records.has(id)) {
      if (id < 1 || id > this.#seed.size) return false;
      const createdAt = this.#seed.createdAt(id);
      return passes(filter, this.#seed.state(id), createdAt, createdAt);
    }
    const view = this.listView(id);
    return view !== undefined && passes(filter, view.state, view.createdAt, view.updatedAt);
  }

  /**
   * The sources a listing merges: untouched generated ids (a lazily scanned range narrowed by the
   * time filters) and the written records. `load` turns a subscriber into the item to return.
   */
  sources<T>(filter: SubscriberFilter, sort: SortField, load: (s: SubscriberData) => T): Source<T>[] {
    const seed = this.#seed;
    const keyOfGenerated = sort === 'id' ? (id: number) => id : sort === 'cancelled_at' ? (id: number) => seed.canceledAt(id) : (id: number) => seed.createdAt(id);
    // Untouched generated subscribers have updated_at = created_at, so both filters narrow the id range.
    const from = Math.max(filter.createdFrom ?? -Infinity, filter.updatedFrom ?? -Infinity);
    const to = Math.min(filter.createdTo ?? Infinity, filter.updatedTo ?? Infinity);
    const generated = rangeSource<T>({
      lo: this.#firstCreatedAtOrAfter(from),
      hi: this.#firstCreatedAtOrAfter(to) - 1,
      keyOf: keyOfGenerated,
      matches: (id) => !this.#records.has(id) && passes(filter, seed.state(id), seed.createdAt(id), seed.createdAt(id)),
      load: (id) => load(this.get(id) as SubscriberData),
    });
    const written: Entry<T>[] = [];
    for (const id of this.#records.keys()) {
      const view = this.listView(id);
      if (!view || !passes(filter, view.state, view.createdAt, view.updatedAt)) continue;
      written.push({ pos: { key: sortKey(view, sort), id }, load: () => load(view) });
    }
    return [generated, arraySource(written)];
  }

  /** Sources for an explicit set of ids (the `email_address` filter): no scan at all. */
  sourcesFor<T>(ids: readonly number[], filter: SubscriberFilter, sort: SortField, load: (s: SubscriberData) => T): Source<T>[] {
    const entries: Entry<T>[] = [];
    for (const id of new Set(ids)) {
      const view = this.listView(id);
      if (view && passes(filter, view.state, view.createdAt, view.updatedAt)) entries.push({ pos: { key: sortKey(view, sort), id }, load: () => load(view) });
    }
    return [arraySource(entries)];
  }

  /** The first generated id created at or after `at` (binary search: createdAt never decreases). */
  #firstCreatedAtOrAfter(at: number): number {
    let lo = 1;
    let hi = this.#seed.size + 1;
    if (at === -Infinity) return lo;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#seed.createdAt(mid) >= at) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

function passes(filter: SubscriberFilter, state: SubscriberState, createdAt: number, updatedAt: number): boolean {
  if (filter.states && !filter.states.has(state)) return false;
  if (filter.createdFrom !== undefined && createdAt < filter.createdFrom) return false;
  if (filter.createdTo !== undefined && createdAt >= filter.createdTo) return false;
  if (filter.updatedFrom !== undefined && updatedAt < filter.updatedFrom) return false;
  if (filter.updatedTo !== undefined && updatedAt >= filter.updatedTo) return false;
  return true;
}

function sortKey(s: SubscriberData, sort: SortField): number {
  switch (sort) {
    case 'id':
      return s.id;
    case 'created_at':
      return s.createdAt;
    case 'updated_at':
      return s.updatedAt;
    case 'cancelled_at':
      return s.canceledAt ?? s.updatedAt;
  }
}

/** For `include=canceled_at`. */
export function canceledAtJson(s: SubscriberData): string | null {
  return s.canceledAt === null ? null : isoSeconds(s.canceledAt);
}
