/**
 * Deterministic generation of a simulated Kit account. Nothing here is stored: subscriber `i` (and
 * its tags, form, sequences, custom field values, purchases) is a pure function of `(seed, i)`, so a
 * 1,000,000-subscriber account costs no memory until something changes it. The state keeps only
 * mutations on top (see subscribers.ts, memberships.ts).
 *
 * Invariants the listing relies on:
 * - generated subscriber ids are `1..size`, and `createdAt(i)` never decreases as `i` grows (Kit's
 *   ids grow with sign-up time), so the generated range can be binary-searched by time;
 * - a generated email `first.last{i}@example.com` parses back to `i` (lookup by email needs no index).
 */
import type { SubscriberState } from './model.js';

export interface SeedSpec {
  /** Generated subscribers, ids `1..subscribers`. */
  readonly subscribers: number;
  /** @default 10 */
  readonly tags?: number;
  /** @default 3 */
  readonly customFields?: number;
  /** @default 3 */
  readonly forms?: number;
  /** @default 2 */
  readonly sequences?: number;
  /** Generated purchases (OAuth-only `/v4/purchases`). @default 0 */
  readonly purchases?: number;
  /** The same seed gives the same account, byte for byte. @default 1 */
  readonly seed?: number;
}

const DAY_MS = 86_400_000;
/** Generated subscribers sign up between these instants (3 years), fixed so runs are reproducible. */
export const SEED_START_MS = Date.parse('2022-01-01T00:00:00Z');
export const SEED_END_MS = Date.parse('2025-01-01T00:00:00Z');
/** Generated cancelled subscribers unsubscribed this long after signing up (keeps `canceled_at` monotonic in id). */
const CANCEL_DELAY_MS = 30 * DAY_MS;

const FIRST_NAMES = [
  'Olivia', 'Liam', 'Emma', 'Noah', 'Ava', 'Oliver', 'Sophia', 'Elijah', 'Isabella', 'James', 'Mia', 'William',
  'Amelia', 'Benjamin', 'Harper', 'Lucas', 'Evelyn', 'Henry', 'Abigail', 'Theodore', 'Emily', 'Jack', 'Ella',
  'Levi', 'Elizabeth', 'Alexander', 'Camila', 'Jackson', 'Luna', 'Mateo', 'Sofia', 'Daniel', 'Avery', 'Michael',
  'Mila', 'Mason', 'Aria', 'Sebastian', 'Scarlett', 'Ethan', 'Penelope', 'Logan', 'Layla', 'Owen', 'Chloe',
  'Samuel', 'Victoria', 'Jacob', 'Madison', 'Asher', 'Eleanor', 'Aiden', 'Grace', 'John', 'Nora', 'Joseph',
  'Riley', 'Wyatt', 'Zoey', 'David', 'Hannah', 'Leo', 'Hazel', 'Priya', 'Wei', 'Fatima', 'Kenji', 'Ines',
];
const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker',
  'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson',
  'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Patel', 'Kim', 'Chen', 'Muller',
];
const COMPANIES = ['Acme Co', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries', 'Wayne Enterprises', 'Tyrell'];
const CITIES = ['London', 'Austin', 'Berlin', 'Toronto', 'Sydney', 'Lisbon', 'Denver', 'Dublin', 'Portland', 'Paris'];
const REFERRERS = ['https://example.com/', 'https://example.com/blog/welcome', 'https://example.com/free-guide', null];
const TAG_NAMES = [
  'Customer', 'Lead', 'Newsletter', 'Webinar attendee', 'Course: Foundations', 'Podcast listener', 'VIP',
  'Workshop 2024', 'Ebook download', 'Beta tester',
];
const FIELD_LABELS = ['Last name', 'Company', 'City', 'Phone', 'Plan', 'Birthday'];
const FORM_NAMES = ['Homepage signup', 'Free guide', 'Blog footer', 'Webinar registration', 'Waitlist'];
const SEQUENCE_NAMES = ['Welcome series', 'Onboarding', 'Course launch', 'Re-engagement'];
export const SEED_PRODUCTS = [
  { name: 'Foundations Course', pid: 'prod_foundations', sku: 'FND-1', unitPrice: 199 },
  { name: 'Pricing Ebook', pid: 'prod_ebook', sku: 'EBK-1', unitPrice: 19 },
  { name: 'Coaching Call', pid: 'prod_coaching', sku: null, unitPrice: 250 },
] as const;

// Salts keep the hash streams of different attributes independent.
const SALT = { first: 1, last: 2, noName: 3, state: 4, created: 5, tag: 6, taggedAt: 7, form: 8, referrer: 9, seq: 10, seqAt: 11, field: 12, purchase: 13 } as const;

function mix(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of (seed, a, b, c): cheap, stateless, well spread. */
export function hash(seed: number, a: number, b = 0, c = 0): number {
  let h = mix(seed + 0x9e3779b9);
  h = mix(h ^ mix(a));
  h = mix(h ^ mix(b + 0x632be5ab));
  return mix(h ^ mix(c + 0x85157af5));
}

/** The hash as a fraction in [0, 1). */
function unit(seed: number, a: number, b = 0, c = 0): number {
  return hash(seed, a, b, c) / 4_294_967_296;
}

function pick<T>(list: readonly T[], h: number): T {
  return list[h % list.length] as T;
}

export interface SeededTag { readonly id: number; readonly name: string; readonly createdAt: number }
export interface SeededField { readonly id: number; readonly label: string }
export interface SeededForm { readonly id: number; readonly name: string; readonly type: 'embed' | 'hosted'; readonly createdAt: number }
export interface SeededSequence { readonly id: number; readonly name: string; readonly createdAt: number }

/** The generated part of one subscriber; fields by custom field id (seeded fields only). */
export interface GeneratedSubscriber {
  readonly id: number;
  readonly email: string;
  readonly firstName: string | null;
  readonly state: SubscriberState;
  readonly createdAt: number;
  readonly canceledAt: number | null;
  readonly fields: ReadonlyMap<number, string | null>;
}

export interface GeneratedPurchase {
  readonly id: number;
  readonly subscriberId: number;
  readonly productIndex: number;
  readonly quantity: number;
  readonly transactionTime: number;
}

/** The generator of one account. Every method is pure. */
export class SeedModel {
  readonly size: number;
  readonly seed: number;
  readonly tags: readonly SeededTag[];
  readonly fields: readonly SeededField[];
  readonly forms: readonly SeededForm[];
  readonly sequences: readonly SeededSequence[];
  /** Products purchases refer to (any seeded account has the three of SEED_PRODUCTS). */
  readonly products: ReadonlyArray<{ readonly id: number; readonly name: string; readonly pid: string }>;
  readonly purchaseCount: number;
  readonly #stepMs: number;

  constructor(spec: SeedSpec | undefined) {
    this.size = Math.max(0, Math.floor(spec?.subscribers ?? 0));
    this.seed = spec?.seed ?? 1;
    const count = (n: number | undefined, fallback: number) => (spec ? Math.max(0, Math.floor(n ?? fallback)) : 0);
    const before = (k: number, n: number) => SEED_START_MS - (n - k + 1) * DAY_MS;
    const nTags = count(spec?.tags, 10);
    const nForms = count(spec?.forms, 3);
    const nSeqs = count(spec?.sequences, 2);
    this.tags = range(nTags).map((k) => ({ id: k, name: TAG_NAMES[k - 1] ?? `Tag ${k}`, createdAt: before(k, nTags) }));
    this.fields = range(count(spec?.customFields, 3)).map((k) => ({ id: k, label: FIELD_LABELS[k - 1] ?? `Field ${k}` }));
    this.forms = range(nForms).map((k) => ({ id: k, name: FORM_NAMES[k - 1] ?? `Form ${k}`, type: k % 3 === 0 ? 'hosted' : 'embed', createdAt: before(k, nForms) }));
    this.sequences = range(nSeqs).map((k) => ({ id: k, name: SEQUENCE_NAMES[k - 1] ?? `Sequence ${k}`, createdAt: before(k, nSeqs) }));
    this.products = spec ? SEED_PRODUCTS.map((p, k) => ({ id: k + 1, name: p.name, pid: p.pid })) : [];
    this.purchaseCount = this.size > 0 ? count(spec?.purchases, 0) : 0;
    this.#stepMs = this.size > 0 ? (SEED_END_MS - SEED_START_MS) / this.size : 0;
  }

  /** Sign-up time of subscriber `i`, whole seconds; never decreases as `i` grows. */
  createdAt(i: number): number {
    // floor((i-1)·step) + jitter with jitter < step stays below floor(i·step) + jitter': monotonic.
    const ms = SEED_START_MS + Math.floor((i - 1) * this.#stepMs) + Math.floor(unit(this.seed, i, SALT.created) * this.#stepMs);
    return ms - (ms % 1000);
  }

  /** `canceled_at` of a generated cancelled subscriber; monotonic in `i` like `createdAt`. */
  canceledAt(i: number): number {
    return Math.min(this.createdAt(i) + CANCEL_DELAY_MS, SEED_END_MS);
  }

  state(i: number): SubscriberState {
    const r = unit(this.seed, i, SALT.state);
    if (r < 0.85) return 'active';
    if (r < 0.91) return 'inactive';
    if (r < 0.96) return 'cancelled';
    if (r < 0.99) return 'bounced';
    return 'complained';
  }

  #names(i: number): { first: string; last: string } {
    return { first: pick(FIRST_NAMES, hash(this.seed, i, SALT.first)), last: pick(LAST_NAMES, hash(this.seed, i, SALT.last)) };
  }

  email(i: number): string {
    const { first, last } = this.#names(i);
    return `${first.toLowerCase()}.${last.toLowerCase()}${i}@example.com`;
  }

  /** The generated id an email names, or undefined; the caller still checks the id was not edited. */
  idOfEmail(email: string): number | undefined {
    const match = /^[a-z]+\.[a-z]+(\d+)@example\.com$/.exec(email);
    if (!match?.[1]) return undefined;
    const i = Number(match[1]);
    return i >= 1 && i <= this.size && this.email(i) === email ? i : undefined;
  }

  subscriber(i: number): GeneratedSubscriber {
    const { first, last } = this.#names(i);
    const state = this.state(i);
    const fields = new Map<number, string | null>();
    for (const field of this.fields) fields.set(field.id, this.#fieldValue(i, field.id, last));
    return {
      id: i,
      email: `${first.toLowerCase()}.${last.toLowerCase()}${i}@example.com`,
      firstName: unit(this.seed, i, SALT.noName) < 0.03 ? null : first,
      state,
      createdAt: this.createdAt(i),
      canceledAt: state === 'cancelled' ? this.canceledAt(i) : null,
      fields,
    };
  }

  #fieldValue(i: number, fieldId: number, last: string): string | null {
    const h = hash(this.seed, i, SALT.field, fieldId);
    const r = (h % 1000) / 1000;
    switch (fieldId) {
      case 1: return r < 0.9 ? last : null;
      case 2: return r < 0.4 ? pick(COMPANIES, h >>> 10) : null;
      case 3: return r < 0.6 ? pick(CITIES, h >>> 10) : null;
      case 4: return r < 0.2 ? `+1555${String(h % 10_000_000).padStart(7, '0')}` : null;
      case 5: return r < 0.5 ? pick(['free', 'pro', 'team'], h >>> 10) : null;
      default: return r < 0.3 ? `value ${h % 100}` : null;
    }
  }

  /** When generated subscriber `i` was tagged with seeded tag `tagId`, or undefined if not tagged. */
  taggedAt(i: number, tagId: number): number | undefined {
    if (i < 1 || i > this.size || tagId < 1 || tagId > this.tags.length) return undefined;
    // Tag popularity falls with the tag id: 35 % for the first tag, ~11 % for the tenth.
    if (unit(this.seed, i, SALT.tag, tagId) >= 0.35 / Math.sqrt(tagId)) return undefined;
    return this.#after(i, hash(this.seed, i, SALT.taggedAt, tagId), 90);
  }

  /** The seeded form generated subscriber `i` signed up through (70 % did), with its referrer. */
  formOf(i: number): { formId: number; addedAt: number; referrer: string | null } | undefined {
    if (i < 1 || i > this.size || this.forms.length === 0) return undefined;
    const h = hash(this.seed, i, SALT.form);
    if (h % 10 >= 7) return undefined;
    return { formId: 1 + ((h >>> 8) % this.forms.length), addedAt: this.createdAt(i), referrer: pick(REFERRERS, hash(this.seed, i, SALT.referrer)) };
  }

  /** When generated subscriber `i` was added to seeded sequence `sequenceId` (15 % are), or undefined. */
  sequenceAddedAt(i: number, sequenceId: number): number | undefined {
    if (i < 1 || i > this.size || sequenceId < 1 || sequenceId > this.sequences.length) return undefined;
    if (unit(this.seed, i, SALT.seq, sequenceId) >= 0.15) return undefined;
    return this.#after(i, hash(this.seed, i, SALT.seqAt, sequenceId), 7);
  }

  purchase(p: number): GeneratedPurchase {
    const h = hash(this.seed, p, SALT.purchase);
    const subscriberId = 1 + (h % this.size);
    return {
      id: p,
      subscriberId,
      productIndex: (h >>> 12) % SEED_PRODUCTS.length,
      quantity: 1 + ((h >>> 20) % 3 === 0 ? 1 : 0),
      transactionTime: this.#after(subscriberId, hash(this.seed, p, SALT.purchase, 1), 60),
    };
  }

  /** A time up to `days` after subscriber `i` signed up, whole seconds, capped at the seed's end. */
  #after(i: number, h: number, days: number): number {
    const ms = Math.min(this.createdAt(i) + (h % (days * 86_400)) * 1000, SEED_END_MS);
    return Math.max(ms, this.createdAt(i));
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k + 1);
}
