/**
 * Lenient readers that pull the parts of a KitEvent (subscriber, purchase, custom field, tag,
 * scope) out of a payload Kit sent. They never throw and never reject: validation is payloads.ts's
 * job, done once at ingest; these also run on stored events (toKitEvent), where the payload has
 * already been accepted and must always yield an event.
 */
import type { KitEvent, KitSubscriber } from './events.js';

export type JsonObject = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Kit id (integer or digit string) as decimal text, without leading zeros; else undefined. */
export function idText(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return /^\d+$/.test(trimmed) ? trimmed.replace(/^0+(?=\d)/, '') : undefined;
}

/** Trimmed, lower-cased email (the subscriber key and matching are case-insensitive). */
export function normalizeEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const email = value.trim().toLowerCase();
  return email === '' ? undefined : email;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
}

/**
 * A custom field label as Kit turns it into a key: `"Last name"` → `last_name` (reference/kit.md §4:
 * "ASCII, lowercased, underscored label"). Accents are folded to ASCII and runs of other characters
 * become one `_`, as Rails' `parameterize` does [UNC: Kit's exact rule is not published].
 */
export function fieldKey(label: string): string {
  return label
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function fieldValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Custom field values keyed by key. Kit keys them by key in v4 but by label in older payloads
 * (reference/kit.md §4 [UNC]), so each label also appears under its key form; original keys are
 * kept and win over a derived one. Not an object (e.g. `[]` for an empty hash) → no fields.
 */
export function normalizeFields(value: unknown): Readonly<Record<string, string | null>> {
  if (!isRecord(value)) return {};
  // A Map, then Object.fromEntries: a `__proto__` key stays an own property, never a prototype.
  const fields = new Map<string, string | null>();
  for (const [key, raw] of Object.entries(value)) fields.set(key, fieldValue(raw));
  for (const [key, raw] of Object.entries(value)) {
    const derived = fieldKey(key);
    if (derived !== '' && !fields.has(derived)) fields.set(derived, fieldValue(raw));
  }
  return Object.fromEntries(fields);
}

export function toKitSubscriber(raw: JsonObject): KitSubscriber {
  const id = idText(raw.id);
  const numericId = id === undefined ? undefined : Number(id);
  const firstName = raw.first_name;
  return {
    id: numericId !== undefined && Number.isSafeInteger(numericId) ? numericId : undefined,
    email: normalizeEmail(raw.email_address),
    firstName: typeof firstName === 'string' || firstName === null ? firstName : undefined,
    state: typeof raw.state === 'string' ? raw.state : undefined,
    fields: normalizeFields(raw.fields),
  };
}

/**
 * A purchase names its buyer by `email_address` and (S2 only) `subscriber_id`
 * (reference/kit.md §4). Read as a subscriber so rules and once-keys work the same on purchases.
 */
function subscriberOfPurchase(purchase: JsonObject): JsonObject | undefined {
  if (purchase.subscriber_id == null && purchase.email_address == null) return undefined;
  return { id: purchase.subscriber_id, email_address: purchase.email_address, first_name: purchase.first_name };
}

/** Where a payload keeps its parts: legacy bodies by their event's shape, signed events in `data`. */
export type PayloadKind = 'subscriber' | 'purchase' | 'custom_field' | 'signed';

export interface PayloadParts {
  /** The raw subscriber object (for identity), if any. */
  readonly rawSubscriber?: JsonObject;
  readonly subscriber?: KitSubscriber;
  readonly purchase?: JsonObject;
  readonly customField?: JsonObject;
  readonly tag?: JsonObject;
}

export function readParts(kind: PayloadKind, container: JsonObject): PayloadParts {
  const purchase = isRecord(container.purchase) ? container.purchase : kind === 'purchase' ? container : undefined;
  const customField = isRecord(container.custom_field)
    ? container.custom_field
    : kind === 'custom_field' && !isRecord(container.subscriber)
      ? container
      : undefined;
  const rawSubscriber = isRecord(container.subscriber)
    ? container.subscriber
    : purchase
      ? subscriberOfPurchase(purchase)
      : undefined;
  return {
    rawSubscriber,
    subscriber: rawSubscriber ? toKitSubscriber(rawSubscriber) : undefined,
    purchase,
    customField,
    tag: isRecord(container.tag) ? container.tag : undefined,
  };
}

export interface SubscriberIdentity {
  readonly subscriberId?: string;
  readonly email?: string;
  /** `id:<id>`, else `email:<email>` (store/types.ts glossary). */
  readonly subscriberKey?: string;
}

export function identityOf(rawSubscriber: JsonObject | undefined): SubscriberIdentity {
  if (!rawSubscriber) return { subscriberId: undefined, email: undefined, subscriberKey: undefined };
  const subscriberId = idText(rawSubscriber.id);
  const email = normalizeEmail(rawSubscriber.email_address);
  const subscriberKey = subscriberId ? `id:${subscriberId}` : email ? `email:${email}` : undefined;
  return { subscriberId, email, subscriberKey };
}

function nested(data: JsonObject, object: string, key: string): unknown {
  const inner = data[object];
  return isRecord(inner) ? inner[key] : undefined;
}

/**
 * Where a signed event carries the id its legacy counterpart was scoped by. Webhooks 2.0 has no
 * scope on the subscription, so the receiver filters (reference/kit.md §7B). Only `tag` `{id,name}`
 * has been seen in a fixture; `form` and `sequence` are documented as present without a shape, and
 * the rest are guesses [UNC, §7B and §10] — hence the flat `*_id` / `url` fallbacks. An event whose
 * scope cannot be read is still accepted: it just matches no scoped rule.
 */
const SIGNED_SCOPE_READERS: ReadonlyMap<string, (data: JsonObject) => string | undefined> = new Map([
  ['subscriber.tag_added', (d: JsonObject) => idText(nested(d, 'tag', 'id')) ?? idText(d.tag_id)],
  ['subscriber.tag_removed', (d: JsonObject) => idText(nested(d, 'tag', 'id')) ?? idText(d.tag_id)],
  ['subscriber.subscribed_to_form', (d: JsonObject) => idText(nested(d, 'form', 'id')) ?? idText(d.form_id)],
  ['subscriber.added_to_sequence', (d: JsonObject) => idText(nested(d, 'sequence', 'id')) ?? idText(d.sequence_id)],
  ['subscriber.sequence_completed', (d: JsonObject) => idText(nested(d, 'sequence', 'id')) ?? idText(d.sequence_id)],
  [
    'subscriber.custom_field_value_updated',
    (d: JsonObject) => idText(nested(d, 'custom_field', 'id')) ?? idText(d.custom_field_id),
  ],
  ['subscriber.product_purchased', (d: JsonObject) => idText(nested(d, 'product', 'id')) ?? idText(d.product_id)],
  [
    'subscriber.link_clicked',
    (d: JsonObject) => text(nested(d, 'link', 'url')) ?? text(d.url) ?? text(d.initiator_value),
  ],
]);

/** The scope value of a signed event of a canonical type, read from its `data`. */
export function signedScopeValue(type: string, data: JsonObject): string | undefined {
  return SIGNED_SCOPE_READERS.get(type)?.(data);
}

/** Builds the event from its header (type, system, scope…) and the parts read from its payload. */
export function assembleKitEvent(
  head: Pick<KitEvent, 'type' | 'kitType' | 'system' | 'kitEventId' | 'scope' | 'occurredAt' | 'payload'>,
  parts: PayloadParts,
): KitEvent {
  return {
    ...head,
    subscriber: parts.subscriber,
    purchase: parts.purchase,
    customField: parts.customField,
    tag: parts.tag,
  };
}
