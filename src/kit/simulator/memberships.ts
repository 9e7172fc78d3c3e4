/**
 * Subscribers in collections: taggings (tag), form sign-ups (form) and sequence subscriptions
 * (sequence). Generated subscribers' memberships come from the seed (a hash of the subscriber and
 * the collection); only API writes are stored, as overrides, so a tag on a million generated
 * subscribers costs nothing until someone untags one. The same lag rule as subscribers.ts applies
 * to the list view.
 */
import { arraySource, rangeSource, type Entry, type Source } from './pagination.js';
import type { SeedModel } from './seed.js';
import type { SubscriberFilter, SubscriberStore } from './subscribers.js';

export type MembershipKind = 'tag' | 'form' | 'sequence';

export interface Membership {
  /** `tagged_at` / `added_at`, epoch ms. */
  readonly at: number;
  /** Forms only: the page the subscriber signed up on. */
  readonly referrer: string | null;
}

interface MembershipRecord {
  current: Membership | undefined;
  listed?: { readonly before: Membership | undefined; readonly until: number };
}

export interface MembershipFilter {
  readonly from?: number;
  readonly to?: number;
}

export class MembershipStore {
  readonly kind: MembershipKind;
  readonly #seed: SeedModel;
  readonly #subscribers: SubscriberStore;
  readonly #now: () => number;
  readonly #lagMs: number;
  /** collection id → subscriber id → record */
  readonly #records = new Map<number, Map<number, MembershipRecord>>();

  constructor(kind: MembershipKind, seed: SeedModel, subscribers: SubscriberStore, now: () => number, lagMs: number) {
    this.kind = kind;
    this.#seed = seed;
    this.#subscribers = subscribers;
    this.#now = now;
    this.#lagMs = lagMs;
  }

  #generated(collectionId: number, subscriberId: number): Membership | undefined {
    switch (this.kind) {
      case 'tag': {
        const at = this.#seed.taggedAt(subscriberId, collectionId);
        return at === undefined ? undefined : { at, referrer: null };
      }
      case 'form': {
        const form = this.#seed.formOf(subscriberId);
        return form?.formId === collectionId ? { at: form.addedAt, referrer: form.referrer } : undefined;
      }
      case 'sequence': {
        const at = this.#seed.sequenceAddedAt(subscriberId, collectionId);
        return at === undefined ? undefined : { at, referrer: null };
      }
    }
  }

  get(collectionId: number, subscriberId: number): Membership | undefined {
    const record = this.#records.get(collectionId)?.get(subscriberId);
    return record ? record.current : this.#generated(collectionId, subscriberId);
  }

  /** Sets (or with `undefined` removes) a membership. Returns whether anything changed. */
  set(collectionId: number, subscriberId: number, next: Membership | undefined): boolean {
    const previous = this.get(collectionId, subscriberId);
    if (previous === undefined && next === undefined) return false;
    if (previous && next && previous.at === next.at && previous.referrer === next.referrer) return false;
    let byCollection = this.#records.get(collectionId);
    if (!byCollection) this.#records.set(collectionId, (byCollection = new Map<number, MembershipRecord>()));
    const record = byCollection.get(subscriberId);
    const now = this.#now();
    const listed = this.#lagMs <= 0 ? undefined : record?.listed && record.listed.until > now ? record.listed : { before: previous, until: now + this.#lagMs };
    byCollection.set(subscriberId, listed ? { current: next, listed } : { current: next });
    return true;
  }

  #listView(collectionId: number, subscriberId: number): Membership | undefined {
    const record = this.#records.get(collectionId)?.get(subscriberId);
    if (!record) return this.#generated(collectionId, subscriberId);
    return record.listed && record.listed.until > this.#now() ? record.listed.before : record.current;
  }

  /** A subscriber's memberships among `collectionIds`, as list endpoints see them. */
  ofSubscriber(subscriberId: number, collectionIds: readonly number[]): Array<{ collectionId: number; membership: Membership }> {
    const out: Array<{ collectionId: number; membership: Membership }> = [];
    for (const collectionId of collectionIds) {
      const membership = this.#listView(collectionId, subscriberId);
      if (membership) out.push({ collectionId, membership });
    }
    return out;
  }

  /**
   * The members of one collection, ordered by subscriber id, as list sources. Seeded collections
   * scan the generated id range (only ids without an override); every collection adds its records.
   */
  sources<T>(collectionId: number, subscriberFilter: SubscriberFilter, filter: MembershipFilter, load: (subscriberId: number, m: Membership) => T): Source<T>[] {
    const records = this.#records.get(collectionId);
    const inWindow = (m: Membership | undefined): m is Membership =>
      m !== undefined && (filter.from === undefined || m.at >= filter.from) && (filter.to === undefined || m.at < filter.to);
    const sources: Source<T>[] = [];
    if (this.#isSeeded(collectionId)) {
      sources.push(
        rangeSource<T>({
          lo: 1,
          hi: this.#seed.size,
          keyOf: (id) => id,
          matches: (id) => !records?.has(id) && inWindow(this.#generated(collectionId, id)) && this.#subscribers.matches(id, subscriberFilter),
          load: (id) => load(id, this.#generated(collectionId, id) as Membership),
        }),
      );
    }
    const written: Entry<T>[] = [];
    for (const subscriberId of records?.keys() ?? []) {
      const membership = this.#listView(collectionId, subscriberId);
      if (!inWindow(membership) || !this.#subscribers.matches(subscriberId, subscriberFilter)) continue;
      written.push({ pos: { key: subscriberId, id: subscriberId }, load: () => load(subscriberId, membership) });
    }
    sources.push(arraySource(written));
    return sources;
  }

  #isSeeded(collectionId: number): boolean {
    const seeded = this.kind === 'tag' ? this.#seed.tags : this.kind === 'form' ? this.#seed.forms : this.#seed.sequences;
    return collectionId >= 1 && collectionId <= seeded.length && this.#seed.size > 0;
  }

  /** Stored membership records (memory grows with these, not with the account). */
  get recordCount(): number {
    let n = 0;
    for (const byCollection of this.#records.values()) n += byCollection.size;
    return n;
  }
}
