/**
 * Webhook management: legacy `/v4/webhooks` (reference/kit.md §7A) and Webhooks 2.0
 * `/v4/webhook_endpoints` (§7B). Creating either is not idempotent (a resend registers a second
 * webhook), so creates and secret rotation are never resent after a lost answer; reads, PATCH and
 * DELETE are.
 */
import { collectItems, paginate, type Page, type PageOptions } from './paginate.js';
import { KitUnexpectedResponseError } from './errors/unexpected-response-error.js';
import { pick, seg } from './response.js';
import type { Transport } from './transport.js';
import type { KitWebhook, KitWebhookDelivery, KitWebhookEndpoint } from './types.js';

export interface CreateWebhookInput {
  readonly targetUrl: string;
  /** `{ name: 'subscriber.tag_add', tag_id: 12 }`: the legacy name and its scope parameter. */
  readonly event: { readonly name: string } & Readonly<Record<string, string | number | null | undefined>>;
}

export interface CreateWebhookEndpointInput {
  readonly url: string;
  readonly events: readonly string[];
  readonly name?: string;
  readonly description?: string;
}

export interface UpdateWebhookEndpointInput {
  readonly url?: string;
  /** Replaces the whole list. */
  readonly events?: readonly string[];
  readonly name?: string;
  readonly description?: string;
  readonly status?: 'active' | 'disabled';
}

export interface ListWebhookDeliveriesOptions extends PageOptions {
  readonly status?: 'pending' | 'retrying' | 'delivered' | 'failed';
  readonly eventType?: string;
}

export interface WebhookEndpoints {
  listWebhooks(): Promise<KitWebhook[]>;
  createWebhook(input: CreateWebhookInput): Promise<KitWebhook>;
  deleteWebhook(id: number): Promise<void>;

  listWebhookEndpoints(options?: { readonly status?: 'active' | 'disabled' }): Promise<KitWebhookEndpoint[]>;
  /** Undefined on 404. */
  getWebhookEndpoint(id: number): Promise<KitWebhookEndpoint | undefined>;
  /** The answer holds `secret`: the only time Kit shows it besides rotation. */
  createWebhookEndpoint(input: CreateWebhookEndpointInput): Promise<KitWebhookEndpoint & { readonly secret: string }>;
  updateWebhookEndpoint(id: number, input: UpdateWebhookEndpointInput): Promise<KitWebhookEndpoint>;
  deleteWebhookEndpoint(id: number): Promise<void>;
  /** New secret; the old one stays valid ~24 h. Inside that window, 409 `KitConflictError` unless `force`. */
  rotateWebhookSecret(id: number, options?: { readonly force?: boolean }): Promise<KitWebhookEndpoint & { readonly secret: string }>;
  /** Newest first. */
  listWebhookDeliveries(endpointId: number, options?: ListWebhookDeliveriesOptions): AsyncGenerator<Page<KitWebhookDelivery>, void, undefined>;
  /** Undefined on 404. */
  getWebhookDelivery(endpointId: number, deliveryId: number | string): Promise<KitWebhookDelivery | undefined>;
}

export function webhookEndpoints(t: Transport): WebhookEndpoints {
  function withSecret(endpoint: KitWebhookEndpoint, described: string): KitWebhookEndpoint & { secret: string } {
    if (typeof endpoint.secret !== 'string') {
      throw new KitUnexpectedResponseError("answered without the endpoint's secret", { request: described });
    }
    return { ...endpoint, secret: endpoint.secret };
  }

  return {
    listWebhooks: () => collectItems(paginate<KitWebhook>(t, '/v4/webhooks', 'webhooks', {}, { perPage: 1000 })),

    async createWebhook(input) {
      const response = await t.request({
        method: 'POST',
        path: '/v4/webhooks',
        body: { target_url: input.targetUrl, event: input.event },
        isIdempotent: false,
      });
      return pick<KitWebhook>(response, 'webhook', 'POST /v4/webhooks');
    },

    async deleteWebhook(id) {
      await t.request({ method: 'DELETE', path: `/v4/webhooks/${seg(id)}`, isIdempotent: true });
    },

    listWebhookEndpoints: (options = {}) =>
      collectItems(paginate<KitWebhookEndpoint>(t, '/v4/webhook_endpoints', 'webhook_endpoints', { status: options.status }, { perPage: 1000 })),

    async getWebhookEndpoint(id) {
      const path = `/v4/webhook_endpoints/${seg(id)}`;
      const response = await t.request({ method: 'GET', path, isIdempotent: true, acceptStatuses: [404] });
      return response.status === 404 ? undefined : pick<KitWebhookEndpoint>(response, 'webhook_endpoint', `GET ${path}`);
    },

    async createWebhookEndpoint(input) {
      const body = { url: input.url, events: input.events, name: input.name, description: input.description };
      const response = await t.request({ method: 'POST', path: '/v4/webhook_endpoints', body, isIdempotent: false });
      return withSecret(pick<KitWebhookEndpoint>(response, 'webhook_endpoint', 'POST /v4/webhook_endpoints'), 'POST /v4/webhook_endpoints');
    },

    async updateWebhookEndpoint(id, input) {
      const path = `/v4/webhook_endpoints/${seg(id)}`;
      const response = await t.request({ method: 'PATCH', path, body: input, isIdempotent: true });
      return pick<KitWebhookEndpoint>(response, 'webhook_endpoint', `PATCH ${path}`);
    },

    async deleteWebhookEndpoint(id) {
      await t.request({ method: 'DELETE', path: `/v4/webhook_endpoints/${seg(id)}`, isIdempotent: true });
    },

    async rotateWebhookSecret(id, options = {}) {
      const path = `/v4/webhook_endpoints/${seg(id)}/rotate_secret`;
      const body = options.force === undefined ? {} : { force: options.force };
      const response = await t.request({ method: 'POST', path, body, isIdempotent: false });
      return withSecret(pick<KitWebhookEndpoint>(response, 'webhook_endpoint', `POST ${path}`), `POST ${path}`);
    },

    listWebhookDeliveries: (endpointId, options = {}) =>
      paginate<KitWebhookDelivery>(
        t,
        `/v4/webhook_endpoints/${seg(endpointId)}/deliveries`,
        'deliveries',
        { status: options.status, event_type: options.eventType },
        options,
      ),

    async getWebhookDelivery(endpointId, deliveryId) {
      const path = `/v4/webhook_endpoints/${seg(endpointId)}/deliveries/${seg(deliveryId)}`;
      const response = await t.request({ method: 'GET', path, isIdempotent: true, acceptStatuses: [404] });
      return response.status === 404 ? undefined : pick<KitWebhookDelivery>(response, 'delivery', `GET ${path}`);
    },
  };
}
