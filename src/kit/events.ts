/**
 * Kit's event vocabulary: one canonical set of names covering both webhook systems, so rules are
 * written once.
 *
 * Canonical names are Kit's Webhooks 2.0 names (`subscriber.tag_added`), because that is where Kit
 * says to build anything new (reference/kit.md §7B). The legacy `/v4/webhooks` names
 * (`subscriber.tag_add`) map onto them. Legacy events with no 2.0 counterpart keep a name in the
 * same style (`purchase.created`). Types Kit adds later pass through under their own name.
 */

/** The scope parameter a legacy webhook subscription needs, and where the event carries it. */
export type ScopeParam =
  | 'form_id'
  | 'sequence_id'
  | 'initiator_value'
  | 'product_id'
  | 'tag_id'
  | 'custom_field_id';

/** Every scope parameter, in the order Kit's `POST /v4/webhooks` body lists them (reference/kit.md §7A). */
export const SCOPE_PARAMS: readonly ScopeParam[] = [
  'form_id',
  'tag_id',
  'sequence_id',
  'product_id',
  'initiator_value',
  'custom_field_id',
];

export function isScopeParam(value: string): value is ScopeParam {
  return (SCOPE_PARAMS as readonly string[]).includes(value);
}

export interface LegacyEventSpec {
  /** The legacy name, as registered with `POST /v4/webhooks` (`event.name`). */
  readonly legacyName: string;
  /** The canonical name rules use. */
  readonly canonical: string;
  /** The scope parameter the legacy subscription requires, if any. */
  readonly scopeParam?: ScopeParam;
  /** Which payload shape the legacy body has (reference AsyncAPI seed, components/messages). */
  readonly payload: 'subscriber' | 'purchase' | 'custom_field';
  /** A short slug for route ids and URLs. */
  readonly slug: string;
}

/** All 15 legacy events of the AsyncAPI seed, each with its scope parameter. */
export const LEGACY_EVENTS: readonly LegacyEventSpec[] = [
  { legacyName: 'subscriber.subscriber_activate', canonical: 'subscriber.activated', payload: 'subscriber', slug: 'subscriber_activate' },
  { legacyName: 'subscriber.subscriber_unsubscribe', canonical: 'subscriber.unsubscribed', payload: 'subscriber', slug: 'subscriber_unsubscribe' },
  { legacyName: 'subscriber.subscriber_bounce', canonical: 'subscriber.bounced', payload: 'subscriber', slug: 'subscriber_bounce' },
  { legacyName: 'subscriber.subscriber_complain', canonical: 'subscriber.complained', payload: 'subscriber', slug: 'subscriber_complain' },
  { legacyName: 'subscriber.form_subscribe', canonical: 'subscriber.subscribed_to_form', scopeParam: 'form_id', payload: 'subscriber', slug: 'form_subscribe' },
  { legacyName: 'subscriber.course_subscribe', canonical: 'subscriber.added_to_sequence', scopeParam: 'sequence_id', payload: 'subscriber', slug: 'course_subscribe' },
  { legacyName: 'subscriber.course_complete', canonical: 'subscriber.sequence_completed', scopeParam: 'sequence_id', payload: 'subscriber', slug: 'course_complete' },
  { legacyName: 'subscriber.link_click', canonical: 'subscriber.link_clicked', scopeParam: 'initiator_value', payload: 'subscriber', slug: 'link_click' },
  { legacyName: 'subscriber.product_purchase', canonical: 'subscriber.product_purchased', scopeParam: 'product_id', payload: 'subscriber', slug: 'product_purchase' },
  { legacyName: 'subscriber.tag_add', canonical: 'subscriber.tag_added', scopeParam: 'tag_id', payload: 'subscriber', slug: 'tag_add' },
  { legacyName: 'subscriber.tag_remove', canonical: 'subscriber.tag_removed', scopeParam: 'tag_id', payload: 'subscriber', slug: 'tag_remove' },
  { legacyName: 'purchase.purchase_create', canonical: 'purchase.created', payload: 'purchase', slug: 'purchase_create' },
  { legacyName: 'custom_field.field_created', canonical: 'custom_field.created', payload: 'custom_field', slug: 'field_created' },
  { legacyName: 'custom_field.field_deleted', canonical: 'custom_field.deleted', payload: 'custom_field', slug: 'field_deleted' },
  { legacyName: 'custom_field.field_value_updated', canonical: 'subscriber.custom_field_value_updated', scopeParam: 'custom_field_id', payload: 'custom_field', slug: 'field_value_updated' },
];

/**
 * Webhooks 2.0 event types known on 2026-09 (reference/kit.md §7B). Kit marks only some as
 * available; the list is informative, never a filter: unknown types are kept, not rejected.
 */
export const SIGNED_EVENT_TYPES: readonly string[] = [
  'subscriber.created', 'subscriber.activated', 'subscriber.unsubscribed', 'subscriber.bounced',
  'subscriber.complained', 'subscriber.subscribed_to_form', 'subscriber.added_to_sequence',
  'subscriber.sequence_completed', 'subscriber.tag_added', 'subscriber.tag_removed',
  'subscriber.product_purchased', 'subscriber.link_clicked', 'subscriber.email_opened',
  'subscriber.custom_field_value_updated', 'tag.created', 'tag.deleted', 'custom_field.created',
  'custom_field.deleted', 'broadcast.created', 'broadcast.sent', 'broadcast.deleted',
  'sequence.created', 'sequence.deleted', 'sequence.published', 'sequence.disabled',
  'sequence.email_sent', 'landing_page.created', 'landing_page.deleted', 'webhook_endpoint.test',
];

/** Canonical type → the scope parameter that narrows it (tag id for tag events, …). */
export const SCOPE_OF: ReadonlyMap<string, ScopeParam> = new Map(
  LEGACY_EVENTS.flatMap((e) => (e.scopeParam ? [[e.canonical, e.scopeParam] as const] : [])),
);

const byLegacyName = new Map<string, LegacyEventSpec>();
for (const spec of LEGACY_EVENTS) {
  byLegacyName.set(spec.legacyName, spec);
  // Kit echoes legacy names without their prefix (`tag_add`) in `GET /v4/webhooks`
  // (reference/kit.md §7A "prefix-dropping quirk"), so accept that spelling too.
  byLegacyName.set(spec.legacyName.slice(spec.legacyName.indexOf('.') + 1), spec);
}

export function legacyEventSpec(name: string): LegacyEventSpec | undefined {
  return byLegacyName.get(name);
}

const LEGACY_BY_CANONICAL = new Map(LEGACY_EVENTS.map((spec) => [spec.canonical, spec]));

/** A legacy route may name its event by the legacy name or the canonical one. */
export function legacyEventSpecByAnyName(name: string): LegacyEventSpec | undefined {
  return legacyEventSpec(name) ?? LEGACY_BY_CANONICAL.get(canonicalEventType(name));
}

/** Any event name (legacy, prefix-less legacy, 2.0, or unknown) → its canonical name. */
export function canonicalEventType(name: string): string {
  return byLegacyName.get(name)?.canonical ?? name;
}

/** Whether a name is one kitrelay knows (a legacy name or a 2.0 name). */
export function isKnownEventType(name: string): boolean {
  return byLegacyName.has(name) || SIGNED_EVENT_TYPES.includes(name) || LEGACY_EVENTS.some((e) => e.canonical === name);
}

/**
 * Events that undo each other for the same subscriber and scope. A legacy duplicate is never
 * suppressed across an intervening opposite event: tag_add, tag_remove, tag_add is a real re-tag.
 */
const OPPOSITES: ReadonlyMap<string, readonly string[]> = new Map([
  ['subscriber.tag_added', ['subscriber.tag_removed']],
  ['subscriber.tag_removed', ['subscriber.tag_added']],
  ['subscriber.activated', ['subscriber.unsubscribed', 'subscriber.bounced', 'subscriber.complained']],
  ['subscriber.unsubscribed', ['subscriber.activated']],
  ['subscriber.bounced', ['subscriber.activated']],
  ['subscriber.complained', ['subscriber.activated']],
  ['subscriber.added_to_sequence', ['subscriber.sequence_completed']],
  ['subscriber.sequence_completed', ['subscriber.added_to_sequence']],
]);

export function oppositeTypes(canonical: string): readonly string[] {
  return OPPOSITES.get(canonical) ?? [];
}

/**
 * The normalised view of one event that rules, predicates and connectors see, whichever webhook
 * system it came through. `payload` keeps the event exactly as Kit sent it.
 */
export interface KitEvent {
  /** Canonical type (`subscriber.tag_added`). */
  readonly type: string;
  /** The type as Kit named it (`subscriber.tag_add` for a legacy delivery). */
  readonly kitType: string;
  readonly system: 'legacy' | 'signed';
  /** Kit's event id (signed deliveries only). */
  readonly kitEventId?: string;
  readonly scope?: { readonly param: ScopeParam; readonly value: string };
  readonly subscriber?: KitSubscriber;
  /** The purchase, for purchase events, unwrapped whether Kit sent it bare or wrapped. */
  readonly purchase?: Readonly<Record<string, unknown>>;
  readonly customField?: Readonly<Record<string, unknown>>;
  readonly tag?: Readonly<Record<string, unknown>>;
  /** When Kit says it happened (signed `created`); undefined for legacy deliveries. */
  readonly occurredAt?: number;
  readonly payload: unknown;
}

export interface KitSubscriber {
  readonly id?: number;
  /** Lower-cased and trimmed. */
  readonly email?: string;
  readonly firstName?: string | null;
  readonly state?: string;
  /**
   * Custom field values keyed by the field's key (`last_name`). Kit keys them by key in v4, but
   * older payloads used labels (`Last name`): labels are turned into keys the way Kit does
   * (lower-case, non-alphanumerics to `_`), and the original keys are kept too.
   */
  readonly fields: Readonly<Record<string, string | null>>;
}
