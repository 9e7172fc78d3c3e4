/**
 * Sample bodies as Kit sends them, for tests and the benchmark: all 15 legacy events (the AsyncAPI
 * seed's channels, bodies per reference/kit.md §7A) and a few signed Webhooks 2.0 deliveries
 * (§7B). Every builder takes overrides (subscriber id, email, scope…) so end-to-end tests can make
 * distinct events. Deterministic: the same overrides give the same bytes and the same event ids.
 *
 * Not part of the folder's public surface (index.ts): import it from `kit/fixtures.js` directly.
 */
import { createHash } from 'node:crypto';
import { LEGACY_EVENTS, legacyEventSpec, type LegacyEventSpec, type ScopeParam } from './events.js';
import { fieldKey } from './extract.js';

type JsonObject = Record<string, unknown>;

export interface SubscriberOverrides {
  /** @default 1 */
  readonly id?: number;
  /** @default 'john@example.com' */
  readonly email?: string;
  /** @default 'John' */
  readonly firstName?: string | null;
  /** @default 'active' (or what the event implies: `cancelled` after an unsubscribe, …) */
  readonly state?: string;
  /** @default { last_name: 'Doe' } */
  readonly fields?: Readonly<Record<string, string | null>>;
}

/** A subscriber as Kit embeds it (reference/kit.md §4, §7A; the ms timestamp is the docs' own). */
export function subscriberObject(o: SubscriberOverrides = {}): JsonObject {
  return {
    id: o.id ?? 1,
    first_name: o.firstName === undefined ? 'John' : o.firstName,
    email_address: o.email ?? 'john@example.com',
    state: o.state ?? 'active',
    created_at: '2018-02-15T19:40:24.913Z',
    fields: o.fields ?? { last_name: 'Doe' },
  };
}

/** Body of every legacy `subscriber.*` event. */
export function legacySubscriberBody(o: SubscriberOverrides = {}): JsonObject {
  return { subscriber: subscriberObject(o) };
}

export interface PurchaseOverrides extends SubscriberOverrides {
  /** @default 8 */
  readonly purchaseId?: number;
  /** @default 'txn-<purchaseId>' */
  readonly transactionId?: string;
  /** Wrap as `{purchase: {…}}` (the AsyncAPI seed's model) instead of bare (v3 docs). @default false */
  readonly wrapped?: boolean;
}

/** `purchase.purchase_create`: the purchase bare at the top level, as the v3 docs show (§7A [UNC]). */
export function legacyPurchaseBody(o: PurchaseOverrides = {}): JsonObject {
  const purchaseId = o.purchaseId ?? 8;
  const purchase = {
    id: purchaseId,
    transaction_id: o.transactionId ?? `txn-${purchaseId}`,
    status: 'paid',
    email_address: o.email ?? 'john@example.com',
    currency: 'USD',
    transaction_time: '2018-03-17T11:28:04Z',
    subtotal: 20.0,
    shipping: 2.0,
    discount: 3.0,
    tax: 2.0,
    total: 21.0,
    products: [
      { unit_price: 5.0, quantity: 2, sku: '7890-ijkl', name: 'Floppy Disk (512k)', pid: 9999, lid: 7777 },
      { unit_price: 10.0, quantity: 1, sku: 'mnop-1234', name: 'Super Nintendo', pid: 5555, lid: 7778 },
    ],
  };
  return o.wrapped ? { purchase } : purchase;
}

export interface CustomFieldOverrides extends SubscriberOverrides {
  /** @default 99 */
  readonly customFieldId?: number;
  /** @default 'Last name' */
  readonly label?: string;
  /** Include the subscriber whose value changed. @default false */
  readonly withSubscriber?: boolean;
}

/**
 * `custom_field.*`: undocumented legacy bodies [UNC, §7A], modelled on the AsyncAPI seed:
 * `{custom_field: {id, name, key, label}}`, plus the subscriber for `field_value_updated`.
 */
export function legacyCustomFieldBody(o: CustomFieldOverrides = {}): JsonObject {
  const id = o.customFieldId ?? 99;
  const label = o.label ?? 'Last name';
  const key = fieldKey(label);
  const customField = { id, name: `ck_field_${id}_${key}`, key, label };
  return o.withSubscriber ? { custom_field: customField, subscriber: subscriberObject(o) } : { custom_field: customField };
}

/** The scope value each scoped legacy fixture is routed with, unless overridden. */
export const DEFAULT_SCOPE_VALUES: Readonly<Record<ScopeParam, string>> = {
  form_id: '1234',
  tag_id: '4242',
  sequence_id: '5678',
  product_id: '777',
  initiator_value: 'https://example.com/offer',
  custom_field_id: '99',
};

export interface LegacyFixture {
  readonly spec: LegacyEventSpec;
  /** The route's scope value, for events with a scope parameter. */
  readonly scopeValue?: string;
  readonly body: JsonObject;
}

export interface LegacyFixtureOverrides extends PurchaseOverrides, Omit<CustomFieldOverrides, 'withSubscriber'> {
  /** @default DEFAULT_SCOPE_VALUES[spec.scopeParam] */
  readonly scopeValue?: string;
}

const STATE_AFTER: Readonly<Record<string, string>> = {
  'subscriber.subscriber_unsubscribe': 'cancelled',
  'subscriber.subscriber_bounce': 'bounced',
  'subscriber.subscriber_complain': 'complained',
};

/** One legacy delivery: its route's event and scope, and the body Kit would POST. */
export function legacyFixture(name: string, o: LegacyFixtureOverrides = {}): LegacyFixture {
  const spec = legacyEventSpec(name);
  if (!spec) throw new Error(`legacyFixture: unknown legacy event ${name}`);
  const scopeValue = spec.scopeParam ? (o.scopeValue ?? DEFAULT_SCOPE_VALUES[spec.scopeParam]) : undefined;
  const state = o.state ?? STATE_AFTER[spec.legacyName];
  let body: JsonObject;
  if (spec.payload === 'purchase') body = legacyPurchaseBody(o);
  else if (spec.payload === 'custom_field') {
    const isValueUpdate = spec.scopeParam === 'custom_field_id';
    const customFieldId = o.customFieldId ?? (isValueUpdate && /^\d+$/.test(scopeValue ?? '') ? Number(scopeValue) : undefined);
    body = legacyCustomFieldBody({ ...o, state, customFieldId, withSubscriber: isValueUpdate });
  } else body = legacySubscriberBody({ ...o, state });
  return { spec, scopeValue, body };
}

/** All 15 legacy events, in LEGACY_EVENTS order. */
export function legacyFixtures(o: LegacyFixtureOverrides = {}): LegacyFixture[] {
  return LEGACY_EVENTS.map((spec) => legacyFixture(spec.legacyName, o));
}

/** The bytes Kit would send for a body. */
export function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

// ---------------------------------------------------------------- signed (Webhooks 2.0)

export interface SignedEventOverrides extends SubscriberOverrides {
  /** @default a UUID derived from the type, subscriber and scope (stable, like Kit's across retries) */
  readonly eventId?: string;
  /** @default '2026-07-29T14:32:10Z' */
  readonly created?: string;
}

/** A UUID-shaped id derived from a seed, so fixtures are deterministic. */
export function fixtureUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** One element of a signed delivery's `events`: `{id, type, created, data}` (§7B). */
export function signedEvent(type: string, data: JsonObject, o: SignedEventOverrides = {}): JsonObject {
  return {
    id: o.eventId ?? fixtureUuid(`${type}|${JSON.stringify(data)}`),
    type,
    created: o.created ?? '2026-07-29T14:32:10Z',
    data,
  };
}

/** `subscriber.tag_added` with `data.tag` `{id, name}` (the shape seen in a fixture, §7B [UNC]). */
export function signedTagAddedEvent(o: SignedEventOverrides & { readonly tagId?: number; readonly tagName?: string } = {}): JsonObject {
  const tag = { id: o.tagId ?? 4242, name: o.tagName ?? 'Customer' };
  return signedEvent('subscriber.tag_added', { subscriber: subscriberObject(o), tag }, o);
}

/** `subscriber.subscribed_to_form` with `data.form` (present per §7B; shape from the v4 form [UNC]). */
export function signedFormSubscribedEvent(
  o: SignedEventOverrides & { readonly formId?: number; readonly formName?: string } = {},
): JsonObject {
  const form = { id: o.formId ?? 1234, name: o.formName ?? 'Newsletter signup', type: 'embed' };
  return signedEvent('subscriber.subscribed_to_form', { subscriber: subscriberObject(o), form }, o);
}

/** A type kitrelay does not know yet: it must be kept under its own name. */
export function signedUnknownEvent(o: SignedEventOverrides & { readonly type?: string } = {}): JsonObject {
  const type = o.type ?? 'subscriber.referral_completed';
  return signedEvent(type, { subscriber: subscriberObject(o), referral: { id: 31, referrer_id: 2 } }, o);
}

/** A signed delivery: `{delivery_id, events}`. */
export function signedEnvelope(events: readonly JsonObject[], o: { readonly deliveryId?: number } = {}): JsonObject {
  return { delivery_id: o.deliveryId ?? 123456, events: [...events] };
}
