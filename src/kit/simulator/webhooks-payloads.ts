/**
 * What Kit puts on the wire for a change: the legacy body (reference/kit.md §7A) and the Webhooks
 * 2.0 event's `data` (§7B). Pure: no I/O, no clock.
 */
import type { LegacyEventSpec, ScopeParam } from '../events.js';
import type { KitChange, KitSubscriberJson } from './changes.js';

type JsonObject = Record<string, unknown>;

/** The change's own view of the scope a legacy subscription narrows by (tag id, link URL, …). */
export interface ChangeScope {
  readonly param: ScopeParam;
  /** As text, so ids compare equal whether registered as `7` or `"7"`. */
  readonly value: string;
}

/** The scope value of a change, for the types whose legacy webhooks are scoped. */
export function scopeOfChange(change: KitChange): ChangeScope | undefined {
  switch (change.type) {
    case 'subscriber.tag_added':
    case 'subscriber.tag_removed':
      return { param: 'tag_id', value: String(change.tag.id) };
    case 'subscriber.subscribed_to_form':
      return { param: 'form_id', value: String(change.form.id) };
    case 'subscriber.added_to_sequence':
    case 'subscriber.sequence_completed':
      return { param: 'sequence_id', value: String(change.sequence.id) };
    case 'subscriber.link_clicked':
      return { param: 'initiator_value', value: change.link.url };
    case 'subscriber.product_purchased':
      return { param: 'product_id', value: String(change.product.id) };
    case 'subscriber.custom_field_value_updated':
      return { param: 'custom_field_id', value: String(change.customField.id) };
    default:
      return undefined;
  }
}

/**
 * The subscriber exactly as Kit embeds it in webhooks: the six documented keys only. Whatever
 * context the API answer carried (`tagged_at`, `added_at`, `referrer`) is not in the body.
 */
export function webhookSubscriber(s: KitSubscriberJson): JsonObject {
  return { id: s.id, first_name: s.first_name, email_address: s.email_address, state: s.state, created_at: s.created_at, fields: { ...s.fields } };
}

export interface LegacyBodyOptions {
  /**
   * Send `purchase.purchase_create` as `{purchase: {…}}` (the AsyncAPI seed's model) instead of
   * bare at the top level (Kit's v3 docs). Neither is confirmed by real traffic [UNC §7A].
   */
  readonly isPurchaseWrapped: boolean;
}

/**
 * The body of one legacy webhook POST. Kit's legacy bodies carry no event name, no event id and
 * no scope id: the receiver knows the event only from the URL it registered (§7A).
 */
export function legacyBody(spec: LegacyEventSpec, change: KitChange, options: LegacyBodyOptions): JsonObject {
  switch (spec.payload) {
    case 'subscriber':
      return 'subscriber' in change && change.subscriber ? { subscriber: webhookSubscriber(change.subscriber) } : {};
    case 'purchase': {
      const purchase = change.type === 'purchase.created' ? { ...change.purchase } : {};
      return options.isPurchaseWrapped ? { purchase } : purchase;
    }
    case 'custom_field': {
      // Undocumented legacy shape [UNC §7A]; modelled on the AsyncAPI seed, as kit/fixtures.ts does.
      if (!('customField' in change)) return {};
      const body: JsonObject = { custom_field: { ...change.customField } };
      if ('subscriber' in change && change.subscriber) body['subscriber'] = webhookSubscriber(change.subscriber);
      return body;
    }
  }
}

/**
 * A Webhooks 2.0 event's `data`: the subscriber (v4 shape) plus the related resource under its
 * singular name. Only `subscriber` and the tag's `{id, name}` are evidenced; the rest follow the
 * same pattern [UNC §7B].
 */
export function signedEventData(change: KitChange): JsonObject {
  const data: JsonObject = {};
  if ('subscriber' in change && change.subscriber) data['subscriber'] = webhookSubscriber(change.subscriber);
  switch (change.type) {
    case 'subscriber.tag_added':
    case 'subscriber.tag_removed':
      data['tag'] = { id: change.tag.id, name: change.tag.name };
      break;
    case 'subscriber.subscribed_to_form':
      data['form'] = { ...change.form };
      break;
    case 'subscriber.added_to_sequence':
    case 'subscriber.sequence_completed':
      data['sequence'] = { ...change.sequence };
      break;
    case 'subscriber.link_clicked':
      data['link'] = { ...change.link };
      break;
    case 'subscriber.product_purchased':
      data['product'] = { ...change.product };
      break;
    case 'subscriber.custom_field_value_updated':
    case 'custom_field.created':
    case 'custom_field.deleted':
      data['custom_field'] = { ...change.customField };
      break;
    case 'purchase.created':
      data['purchase'] = { ...change.purchase };
      break;
    default:
      break;
  }
  return data;
}

/** ISO-8601 UTC with milliseconds: delivery history, where scaled retries are milliseconds apart. */
export function isoMillis(ms: number): string {
  return new Date(ms).toISOString();
}
