/**
 * The OAuth-only endpoints (reference/kit.md §1, §5 Bulk and Purchases): purchases and bulk
 * writes. With only an API key these fail before sending, with `KitOAuthRequiredError`.
 */
import { paginate, type Page, type PageOptions } from './paginate.js';
import { isoDate, pick, seg } from './response.js';
import type { Transport } from './transport.js';
import type { BulkResult, KitPurchase, KitSubscriber, SubscriberState } from './types.js';

export interface PurchaseInput {
  readonly email: string;
  readonly transactionId: string;
  /** Three letters: `USD`. */
  readonly currency: string;
  readonly products: readonly {
    readonly name: string;
    readonly pid: string | number;
    readonly lid: string | number;
    readonly quantity: number;
    readonly unitPrice: number;
    readonly sku?: string;
  }[];
  readonly firstName?: string;
  readonly status?: 'paid';
  readonly subtotal?: number;
  readonly tax?: number;
  readonly shipping?: number;
  readonly discount?: number;
  readonly total?: number;
  readonly transactionTime?: Date | string;
}

export interface BulkOptions {
  /** Kit POSTs the result here when it processes the batch in the background (>100 items). */
  readonly callbackUrl?: string;
}

export interface BulkSubscriberFailure {
  readonly subscriber: Readonly<Record<string, unknown>>;
  readonly errors: readonly string[];
}

export interface BulkTaggingFailure {
  readonly tagging: { readonly tag_id: number; readonly subscriber_id: number };
  readonly errors: readonly string[];
}

export interface Tagging {
  readonly tagId: number;
  readonly subscriberId: number;
}

export interface PurchaseEndpoints {
  listPurchases(options?: PageOptions): AsyncGenerator<Page<KitPurchase>, void, undefined>;
  /** Not resent after a lost answer: whether Kit dedupes on `transaction_id` is not documented [UNC]. */
  createPurchase(input: PurchaseInput): Promise<KitPurchase>;
  /** Undefined on 404. */
  getPurchase(id: number): Promise<KitPurchase | undefined>;
  /** Upserts by email, like `createSubscriber`. ≤100: answered now; more: `{ accepted: true }`. */
  bulkCreateSubscribers(
    subscribers: readonly { readonly email: string; readonly firstName?: string; readonly state?: SubscriberState }[],
    options?: BulkOptions,
  ): Promise<BulkResult<KitSubscriber, BulkSubscriberFailure>>;
  bulkTag(taggings: readonly Tagging[], options?: BulkOptions): Promise<BulkResult<KitSubscriber, BulkTaggingFailure>>;
  bulkUntag(taggings: readonly Tagging[], options?: BulkOptions): Promise<BulkResult<never, BulkTaggingFailure>>;
}

export function purchaseEndpoints(t: Transport): PurchaseEndpoints {
  /** Bulk writes are idempotent in effect (upserts, taggings), so they are resent after a lost answer. */
  async function bulk<T, F>(method: 'POST' | 'DELETE', path: string, body: Record<string, unknown>): Promise<BulkResult<T, F>> {
    const response = await t.request({ method, path, body, isIdempotent: true });
    if (response.status === 202) return { accepted: true };
    const record = (typeof response.body === 'object' && response.body !== null ? response.body : {}) as Record<string, unknown>;
    return {
      accepted: false,
      items: Array.isArray(record.subscribers) ? (record.subscribers as T[]) : [],
      failures: Array.isArray(record.failures) ? (record.failures as F[]) : [],
    };
  }

  const taggingsBody = (taggings: readonly Tagging[], options: BulkOptions): Record<string, unknown> => ({
    taggings: taggings.map((tg) => ({ tag_id: tg.tagId, subscriber_id: tg.subscriberId })),
    callback_url: options.callbackUrl,
  });

  return {
    listPurchases: (options = {}) => paginate<KitPurchase>(t, '/v4/purchases', 'purchases', {}, { ...options }),

    async createPurchase(input) {
      const purchase = {
        email_address: input.email,
        transaction_id: input.transactionId,
        currency: input.currency,
        products: input.products.map((p) => ({ name: p.name, pid: p.pid, lid: p.lid, quantity: p.quantity, unit_price: p.unitPrice, sku: p.sku })),
        first_name: input.firstName,
        status: input.status,
        subtotal: input.subtotal,
        tax: input.tax,
        shipping: input.shipping,
        discount: input.discount,
        total: input.total,
        transaction_time: isoDate(input.transactionTime),
      };
      const response = await t.request({ method: 'POST', path: '/v4/purchases', body: { purchase }, isIdempotent: false });
      return pick<KitPurchase>(response, 'purchase', 'POST /v4/purchases');
    },

    async getPurchase(id) {
      const path = `/v4/purchases/${seg(id)}`;
      const response = await t.request({ method: 'GET', path, isIdempotent: true, acceptStatuses: [404] });
      return response.status === 404 ? undefined : pick<KitPurchase>(response, 'purchase', `GET ${path}`);
    },

    bulkCreateSubscribers: (subscribers, options = {}) =>
      bulk('POST', '/v4/bulk/subscribers', {
        subscribers: subscribers.map((s) => ({ email_address: s.email, first_name: s.firstName, state: s.state })),
        callback_url: options.callbackUrl,
      }),

    bulkTag: (taggings, options = {}) => bulk('POST', '/v4/bulk/tags/subscribers', taggingsBody(taggings, options)),

    bulkUntag: (taggings, options = {}) => bulk('DELETE', '/v4/bulk/tags/subscribers', taggingsBody(taggings, options)),
  };
}
