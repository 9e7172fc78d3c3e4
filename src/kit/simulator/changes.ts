/**
 * What changed in the simulated Kit account. The simulator's API routes report every state change
 * as a `KitChange`; the webhook emitter turns each into the webhooks Kit would send (a legacy POST
 * per matching `/v4/webhooks` subscription, and a signed Webhooks 2.0 event per matching endpoint).
 *
 * Types are kitrelay's canonical names (Kit's 2.0 names, see kit/events.ts); the objects are in
 * Kit's v4 JSON shapes (snake_case), ready to put on the wire.
 */

/** A subscriber as Kit's v4 API returns it (reference/kit.md §4). */
export interface KitSubscriberJson {
  readonly id: number;
  readonly first_name: string | null;
  readonly email_address: string;
  readonly state: string;
  readonly created_at: string;
  readonly fields: Readonly<Record<string, string | null>>;
}

export interface KitTagJson {
  readonly id: number;
  readonly name: string;
}

export interface KitCustomFieldJson {
  readonly id: number;
  readonly name: string;
  readonly key: string;
  readonly label: string;
}

export type KitChange =
  | {
      readonly type: 'subscriber.created' | 'subscriber.activated' | 'subscriber.unsubscribed' | 'subscriber.bounced' | 'subscriber.complained';
      readonly subscriber: KitSubscriberJson;
    }
  | { readonly type: 'subscriber.tag_added' | 'subscriber.tag_removed'; readonly subscriber: KitSubscriberJson; readonly tag: KitTagJson }
  | { readonly type: 'subscriber.subscribed_to_form'; readonly subscriber: KitSubscriberJson; readonly form: { readonly id: number; readonly name: string } }
  | {
      readonly type: 'subscriber.added_to_sequence' | 'subscriber.sequence_completed';
      readonly subscriber: KitSubscriberJson;
      readonly sequence: { readonly id: number; readonly name: string };
    }
  | { readonly type: 'subscriber.link_clicked'; readonly subscriber: KitSubscriberJson; readonly link: { readonly url: string } }
  | { readonly type: 'subscriber.product_purchased'; readonly subscriber: KitSubscriberJson; readonly product: { readonly id: number; readonly name: string } }
  | { readonly type: 'subscriber.custom_field_value_updated'; readonly subscriber: KitSubscriberJson; readonly customField: KitCustomFieldJson }
  | { readonly type: 'custom_field.created' | 'custom_field.deleted'; readonly customField: KitCustomFieldJson }
  /** The purchase in Kit's v4 purchase shape (`{id, transaction_id, status, email_address, …, products}`). */
  | { readonly type: 'purchase.created'; readonly purchase: Readonly<Record<string, unknown>>; readonly subscriber?: KitSubscriberJson };

/** Receives every change the simulator's API makes, in order. */
export type ChangeListener = (change: KitChange) => void;
