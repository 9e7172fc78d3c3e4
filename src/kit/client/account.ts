/**
 * The account and its small catalogues: custom fields, sequences, forms (reference/kit.md §5).
 * These lists are short by nature, so they come back whole rather than as page iterators.
 */
import { collectItems, paginate } from './paginate.js';
import { pick, seg } from './response.js';
import type { Transport } from './transport.js';
import type { KitAccount, KitCustomField, KitForm, KitSequence, KitSubscriber } from './types.js';

/** Who to add: an existing subscriber's id, or their email (Kit looks the subscriber up). */
export type SubscriberRef = { readonly subscriberId: number } | { readonly email: string };

export interface ListFormsOptions {
  /** @default 'active' */
  readonly status?: 'active' | 'archived' | 'trashed' | 'all';
  readonly type?: 'embed' | 'hosted';
}

export interface Added {
  readonly subscriber: KitSubscriber;
  /** 201 added; false on 200 (already there). */
  readonly isNew: boolean;
}

export interface AccountEndpoints {
  account(): Promise<KitAccount>;
  listCustomFields(): Promise<KitCustomField[]>;
  /** Not idempotent: labels are unique, so a resend answers 422 "Label has already been taken". */
  createCustomField(label: string): Promise<KitCustomField>;
  listSequences(): Promise<KitSequence[]>;
  addToSequence(sequenceId: number, who: SubscriberRef): Promise<Added>;
  listForms(options?: ListFormsOptions): Promise<KitForm[]>;
  /** Adding to a double opt-in form sends the confirmation email. */
  addToForm(formId: number, who: SubscriberRef & { readonly referrer?: string }): Promise<Added>;
}

export function accountEndpoints(t: Transport): AccountEndpoints {
  /** Sequence and form adds: 201 added, 200 already there, so resending is safe. */
  async function add(base: string, who: SubscriberRef, extra: Record<string, unknown>): Promise<Added> {
    const isById = 'subscriberId' in who;
    const path = isById ? `${base}/${seg(who.subscriberId)}` : base;
    const body = isById ? extra : { email_address: who.email, ...extra };
    const response = await t.request({ method: 'POST', path, body, isIdempotent: true });
    return { subscriber: pick<KitSubscriber>(response, 'subscriber', `POST ${path}`), isNew: response.status === 201 };
  }

  return {
    async account() {
      const response = await t.request({ method: 'GET', path: '/v4/account', isIdempotent: true });
      pick(response, 'account', 'GET /v4/account');
      return response.body as KitAccount;
    },

    listCustomFields: () => collectItems(paginate<KitCustomField>(t, '/v4/custom_fields', 'custom_fields', {}, { perPage: 1000 })),

    async createCustomField(label) {
      const response = await t.request({ method: 'POST', path: '/v4/custom_fields', body: { label }, isIdempotent: false });
      return pick<KitCustomField>(response, 'custom_field', 'POST /v4/custom_fields');
    },

    listSequences: () => collectItems(paginate<KitSequence>(t, '/v4/sequences', 'sequences', {}, { perPage: 1000 })),

    addToSequence: (sequenceId, who) => add(`/v4/sequences/${seg(sequenceId)}/subscribers`, who, {}),

    listForms: (options = {}) =>
      collectItems(paginate<KitForm>(t, '/v4/forms', 'forms', { status: options.status, type: options.type }, { perPage: 1000 })),

    addToForm: (formId, who) => add(`/v4/forms/${seg(formId)}/subscribers`, who, who.referrer === undefined ? {} : { referrer: who.referrer }),
  };
}
