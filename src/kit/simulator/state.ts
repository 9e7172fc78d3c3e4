/**
 * The simulated Kit account and every way it changes. Routes validate HTTP input and call these
 * methods; each method returns an outcome value and reports each real change as a `KitChange`, in
 * order, after the change is made (a no-op — re-tagging, re-adding, unsubscribing twice — reports
 * nothing). Tests use the same methods directly, plus the helpers for what Kit's API cannot do
 * (bounce, complain, link click, sequence completion, confirming a double opt-in).
 */
import type { ChangeListener, KitChange, KitSubscriberJson } from './changes.js';
import { Catalog } from './catalog.js';
import { customFieldJson, subscriberJson, tagJson, type CustomField, type SubscriberData, type SubscriberState, type Tag } from './model.js';
import { MembershipStore, type Membership } from './memberships.js';
import { PurchaseStore, purchaseJson, type PurchaseData, type PurchaseInput } from './purchases.js';
import { SeedModel, type SeedSpec } from './seed.js';
import { SubscriberStore } from './subscribers.js';

export interface SimStateOptions {
  readonly seed?: SeedSpec;
  readonly now?: () => number;
  /** @default 0 */
  readonly listLagMs?: number;
  /**
   * Whether `POST /v4/subscribers` for an existing email also writes `fields`. Kit documents only
   * that it "updates the first name" [UNC]. @default false
   */
  readonly upsertWritesFields?: boolean;
}

export interface SubscriberInput {
  readonly email: string;
  readonly firstName?: string | null;
  readonly state?: SubscriberState;
  /** By custom field key; unknown keys are ignored and reported in `warnings`. */
  readonly fields?: Readonly<Record<string, string | null>>;
}

export type UpsertOutcome = { readonly subscriber: SubscriberData; readonly isNew: boolean; readonly warnings: string[] };
export type UpdateOutcome = { readonly subscriber: SubscriberData; readonly warnings: string[] } | 'not_found' | 'email_taken';
export type MembershipOutcome = { readonly subscriber: SubscriberData; readonly membership: Membership; readonly isNew: boolean } | 'collection_not_found' | 'subscriber_not_found';

/** Kit's S2 spec returns `warnings` for unknown field keys; the wording is [UNC]. */
export const unknownFieldWarning = (key: string): string => `Custom field with key '${key}' does not exist`;

export class SimState {
  readonly seed: SeedModel;
  readonly subscribers: SubscriberStore;
  readonly catalog: Catalog;
  readonly taggings: MembershipStore;
  readonly formSubscriptions: MembershipStore;
  readonly sequenceSubscriptions: MembershipStore;
  readonly purchases: PurchaseStore;
  readonly now: () => number;
  readonly #upsertWritesFields: boolean;
  readonly #listeners = new Set<ChangeListener>();

  constructor(options: SimStateOptions = {}) {
    this.now = options.now ?? Date.now;
    const lag = options.listLagMs ?? 0;
    this.#upsertWritesFields = options.upsertWritesFields ?? false;
    this.seed = new SeedModel(options.seed);
    this.subscribers = new SubscriberStore(this.seed, this.now, lag);
    this.catalog = new Catalog(this.seed, this.now);
    this.taggings = new MembershipStore('tag', this.seed, this.subscribers, this.now, lag);
    this.formSubscriptions = new MembershipStore('form', this.seed, this.subscribers, this.now, lag);
    this.sequenceSubscriptions = new MembershipStore('sequence', this.seed, this.subscribers, this.now, lag);
    this.purchases = new PurchaseStore(this.seed, this.subscribers, this.now);
  }

  /** Shortcuts to the catalog, in id order. */
  get tags(): readonly Tag[] {
    return this.catalog.tags;
  }

  get customFields(): readonly CustomField[] {
    return this.catalog.customFields;
  }

  /** Listens to every change, in order; returns the function that stops listening. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: KitChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  json(s: SubscriberData): KitSubscriberJson {
    return subscriberJson(s, this.catalog.customFields);
  }

  getSubscriber(id: number): KitSubscriberJson | undefined {
    const s = this.subscribers.get(id);
    return s && this.json(s);
  }

  findSubscriberByEmail(email: string): KitSubscriberJson | undefined {
    const id = this.subscribers.idOfEmail(email);
    return id === undefined ? undefined : this.getSubscriber(id);
  }

  /** Values by field id for the known keys of `fields`, and a warning per unknown key. */
  #fieldValues(fields: Readonly<Record<string, string | null>> | undefined): { values: Map<number, string | null>; warnings: string[] } {
    const values = new Map<number, string | null>();
    const warnings: string[] = [];
    for (const [key, value] of Object.entries(fields ?? {})) {
      const field = this.catalog.fieldByKey(key);
      if (field) values.set(field.id, value);
      else warnings.push(unknownFieldWarning(key));
    }
    return { values, warnings };
  }

  /** `POST /v4/subscribers`: creates, or for a known email updates the first name (state never changes). */
  upsertSubscriber(input: SubscriberInput): UpsertOutcome {
    const { values, warnings } = this.#fieldValues(input.fields);
    const id = this.subscribers.idOfEmail(input.email);
    if (id === undefined) {
      const subscriber = this.subscribers.create({ email: input.email.trim(), firstName: input.firstName ?? null, state: input.state ?? 'active', fields: values });
      const json = this.json(subscriber);
      this.#emit({ type: 'subscriber.created', subscriber: json });
      if (subscriber.state === 'active') this.#emit({ type: 'subscriber.activated', subscriber: json });
      return { subscriber, isNew: true, warnings };
    }
    let subscriber = this.subscribers.get(id) as SubscriberData;
    if (input.firstName !== undefined && input.firstName !== subscriber.firstName) subscriber = this.subscribers.update(id, { firstName: input.firstName });
    if (this.#upsertWritesFields) subscriber = this.#writeFields(subscriber, values);
    return { subscriber, isNew: false, warnings };
  }

  /** `PUT /v4/subscribers/{id}`. */
  updateSubscriber(id: number, input: Partial<SubscriberInput>): UpdateOutcome {
    let subscriber = this.subscribers.get(id);
    if (!subscriber) return 'not_found';
    if (input.email !== undefined) {
      const owner = this.subscribers.idOfEmail(input.email);
      if (owner !== undefined && owner !== id) return 'email_taken';
    }
    const { values, warnings } = this.#fieldValues(input.fields);
    const changes: { email?: string; firstName?: string | null } = {};
    if (input.email !== undefined && input.email.trim() !== subscriber.email) changes.email = input.email.trim();
    if (input.firstName !== undefined && input.firstName !== subscriber.firstName) changes.firstName = input.firstName;
    if (Object.keys(changes).length > 0) subscriber = this.subscribers.update(id, changes);
    subscriber = this.#writeFields(subscriber, values);
    return { subscriber, warnings };
  }

  /** Writes field values and reports `subscriber.custom_field_value_updated` once per field that changed. */
  #writeFields(subscriber: SubscriberData, values: ReadonlyMap<number, string | null>): SubscriberData {
    const changed = [...values].filter(([fieldId, value]) => (subscriber.fields.get(fieldId) ?? null) !== value);
    if (changed.length === 0) return subscriber;
    const fields = new Map(subscriber.fields);
    for (const [fieldId, value] of changed) fields.set(fieldId, value);
    const updated = this.subscribers.update(subscriber.id, { fields });
    const json = this.json(updated);
    for (const [fieldId] of changed) {
      const field = this.catalog.customField(fieldId) as CustomField;
      this.#emit({ type: 'subscriber.custom_field_value_updated', subscriber: json, customField: customFieldJson(field) });
    }
    return updated;
  }

  #setState(id: number, state: SubscriberState, type: 'subscriber.activated' | 'subscriber.unsubscribed' | 'subscriber.bounced' | 'subscriber.complained'): boolean {
    const subscriber = this.subscribers.get(id);
    if (!subscriber) return false;
    if (subscriber.state === state) return true;
    const updated = this.subscribers.update(id, { state, canceledAt: state === 'cancelled' ? this.now() : subscriber.canceledAt });
    this.#emit({ type, subscriber: this.json(updated) });
    return true;
  }

  /** `POST /v4/subscribers/{id}/unsubscribe`: state `cancelled`; tags and history stay. False if missing. */
  unsubscribe(id: number): boolean {
    return this.#setState(id, 'cancelled', 'subscriber.unsubscribed');
  }

  /** Test helper (Kit has no API for it): the subscriber's mail bounced. */
  bounce(id: number): boolean {
    return this.#setState(id, 'bounced', 'subscriber.bounced');
  }

  /** Test helper: the subscriber marked a mail as spam. */
  complain(id: number): boolean {
    return this.#setState(id, 'complained', 'subscriber.complained');
  }

  /** Test helper: the subscriber confirmed a double opt-in (or was reactivated). */
  activate(id: number): boolean {
    return this.#setState(id, 'active', 'subscriber.activated');
  }

  /** Test helper: the subscriber clicked a link in a mail. */
  clickLink(id: number, url: string): boolean {
    const subscriber = this.subscribers.get(id);
    if (!subscriber) return false;
    this.#emit({ type: 'subscriber.link_clicked', subscriber: this.json(subscriber), link: { url } });
    return true;
  }

  /** Test helper: the subscriber reached the end of a sequence they are in. */
  completeSequence(subscriberId: number, sequenceId: number): boolean {
    const subscriber = this.subscribers.get(subscriberId);
    const sequence = this.catalog.sequence(sequenceId);
    if (!subscriber || !sequence || !this.sequenceSubscriptions.get(sequenceId, subscriberId)) return false;
    this.#emit({ type: 'subscriber.sequence_completed', subscriber: this.json(subscriber), sequence: { id: sequence.id, name: sequence.name } });
    return true;
  }

  /** `POST /v4/tags/{tag_id}/subscribers[/{id}]`: `isNew` false (HTTP 200, no change) when already tagged. */
  tagSubscriber(tagId: number, subscriberId: number): MembershipOutcome {
    const tag = this.catalog.tag(tagId);
    if (!tag) return 'collection_not_found';
    return this.#join(this.taggings, tagId, subscriberId, null, (subscriber) => ({ type: 'subscriber.tag_added', subscriber, tag: tagJson(tag) }));
  }

  /** `DELETE /v4/tags/{tag_id}/subscribers[/{id}]`: true when a tag was removed. */
  untagSubscriber(tagId: number, subscriberId: number): boolean | 'collection_not_found' | 'subscriber_not_found' {
    const tag = this.catalog.tag(tagId);
    if (!tag) return 'collection_not_found';
    const subscriber = this.subscribers.get(subscriberId);
    if (!subscriber) return 'subscriber_not_found';
    if (!this.taggings.set(tagId, subscriberId, undefined)) return false;
    this.#emit({ type: 'subscriber.tag_removed', subscriber: this.json(subscriber), tag: tagJson(tag) });
    return true;
  }

  /** `POST /v4/forms/{form_id}/subscribers[/{id}]`: the subscriber must already exist. */
  addToForm(formId: number, subscriberId: number, referrer: string | null = null): MembershipOutcome {
    const form = this.catalog.form(formId);
    if (!form) return 'collection_not_found';
    return this.#join(this.formSubscriptions, formId, subscriberId, referrer, (subscriber) => ({ type: 'subscriber.subscribed_to_form', subscriber, form: { id: form.id, name: form.name } }));
  }

  /** `POST /v4/sequences/{sequence_id}/subscribers[/{id}]`. */
  addToSequence(sequenceId: number, subscriberId: number): MembershipOutcome {
    const sequence = this.catalog.sequence(sequenceId);
    if (!sequence) return 'collection_not_found';
    return this.#join(this.sequenceSubscriptions, sequenceId, subscriberId, null, (subscriber) => ({ type: 'subscriber.added_to_sequence', subscriber, sequence: { id: sequence.id, name: sequence.name } }));
  }

  #join(store: MembershipStore, collectionId: number, subscriberId: number, referrer: string | null, change: (s: KitSubscriberJson) => KitChange): MembershipOutcome {
    const subscriber = this.subscribers.get(subscriberId);
    if (!subscriber) return 'subscriber_not_found';
    const existing = store.get(collectionId, subscriberId);
    if (existing) return { subscriber, membership: existing, isNew: false };
    const membership: Membership = { at: this.now(), referrer };
    store.set(collectionId, subscriberId, membership);
    this.#emit(change(this.json(subscriber)));
    return { subscriber, membership, isNew: true };
  }

  createCustomField(label: string): ReturnType<Catalog['createCustomField']> {
    const field = this.catalog.createCustomField(label);
    if (typeof field !== 'string') this.#emit({ type: 'custom_field.created', customField: customFieldJson(field) });
    return field;
  }

  deleteCustomField(id: number): CustomField | undefined {
    const field = this.catalog.deleteCustomField(id);
    if (field) this.#emit({ type: 'custom_field.deleted', customField: customFieldJson(field) });
    return field;
  }

  /**
   * `POST /v4/purchases`. A purchase for an unknown email creates the subscriber [INF: Kit's
   * purchase API records buyers as subscribers]. Reports `purchase.created`, then
   * `subscriber.product_purchased` per line; products are matched by `pid`, created when missing.
   */
  createPurchase(input: PurchaseInput): PurchaseData {
    const existing = this.subscribers.idOfEmail(input.email);
    const subscriber = existing === undefined ? this.upsertSubscriber({ email: input.email, firstName: input.firstName }).subscriber : (this.subscribers.get(existing) as SubscriberData);
    const purchase = this.purchases.add(input, subscriber.id);
    const json = this.json(subscriber);
    this.#emit({ type: 'purchase.created', purchase: purchaseJson(purchase), subscriber: json });
    for (const line of purchase.products) {
      const product = this.catalog.ensureProduct(line.pid, line.name);
      this.#emit({ type: 'subscriber.product_purchased', subscriber: json, product: { id: product.id, name: product.name } });
    }
    return purchase;
  }
}
