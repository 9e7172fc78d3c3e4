/**
 * The OAuth-only routes (reference/kit.md §1, §5): purchases and bulk. The server's auth hook
 * rejects API keys on them; here they only do the work.
 *
 * Bulk: up to 100 items are processed at once and answered 200 with `failures`; more are answered
 * 202 `{}`, processed after the answer, and the result (the same shape as the 200 body) is POSTed
 * to `callback_url` when one was given. Kit's callback signing, headers and retries are
 * undocumented [UNC]: the simulator makes one attempt and records its outcome in `callbacks`.
 */
import type { FastifyInstance } from 'fastify';
import { NOT_FOUND, bodyOf, idOf, param, queryOf, sendErrors, text, type RouteContext } from './http.js';
import { isRecord, isSubscriberState, isValidEmail, isoSeconds } from './model.js';
import { paginate, parsePageRequest } from './pagination.js';
import { parsePurchase, purchaseJson } from './purchases.js';
import type { SimState } from './state.js';

export const BULK_SYNC_LIMIT = 100;
export const NO_SUBSCRIBERS = 'No subscribers included for processing';
/** By analogy with the subscribers message [UNC]. */
export const NO_TAGGINGS = 'No taggings included for processing';

export interface BulkCallback {
  readonly url: string;
  readonly body: unknown;
  /** The receiver's status, or the reason there was none. */
  readonly outcome: { readonly status: number } | { readonly error: string };
  readonly at: number;
}

export interface CommerceContext extends RouteContext {
  readonly recordCallback: (callback: BulkCallback) => void;
}

function bulkSubscribers(state: SimState, items: readonly unknown[]): Record<string, unknown> {
  const subscribers: unknown[] = [];
  const failures: unknown[] = [];
  for (const item of items) {
    const input = isRecord(item) ? item : {};
    const email = text(input.email_address);
    const errors: string[] = [];
    if (email === undefined || !isValidEmail(email)) errors.push('Email address is invalid');
    if (input.state !== undefined && !isSubscriberState(input.state)) errors.push('State is invalid');
    if (errors.length > 0 || email === undefined) {
      failures.push({ subscriber: item, errors });
      continue;
    }
    const firstName = input.first_name === null ? null : text(input.first_name);
    const { subscriber } = state.upsertSubscriber({ email, firstName, ...(isSubscriberState(input.state) ? { state: input.state } : {}) });
    subscribers.push({ id: subscriber.id, first_name: subscriber.firstName, email_address: subscriber.email, state: subscriber.state, created_at: isoSeconds(subscriber.createdAt) });
  }
  return { subscribers, failures };
}

function bulkTaggings(state: SimState, items: readonly unknown[], isRemoval: boolean): Record<string, unknown> {
  const subscribers: unknown[] = [];
  const failures: unknown[] = [];
  for (const item of items) {
    const input = isRecord(item) ? item : {};
    const tagging = { tag_id: input.tag_id, subscriber_id: input.subscriber_id };
    const tagId = idOf(input.tag_id);
    const subscriberId = idOf(input.subscriber_id);
    const errors: string[] = [];
    if (subscriberId === undefined || !state.subscribers.get(subscriberId)) errors.push('Subscriber does not exist');
    if (tagId === undefined || !state.catalog.tag(tagId)) errors.push('Tag does not exist');
    if (errors.length > 0 || tagId === undefined || subscriberId === undefined) {
      failures.push({ errors, tagging });
      continue;
    }
    if (isRemoval) {
      state.untagSubscriber(tagId, subscriberId);
      continue;
    }
    const outcome = state.tagSubscriber(tagId, subscriberId);
    if (typeof outcome === 'string') continue;
    const s = outcome.subscriber;
    subscribers.push({ id: s.id, first_name: s.firstName, email_address: s.email, created_at: isoSeconds(s.createdAt), tagged_at: isoSeconds(outcome.membership.at) });
  }
  return isRemoval ? { failures } : { subscribers, failures };
}

async function postCallback(url: string, body: unknown): Promise<BulkCallback['outcome']> {
  try {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    return { status: response.status };
  } catch (error) {
    // One attempt only (Kit's retry policy for callbacks is undocumented): the outcome is recorded, not retried.
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export function registerCommerceRoutes(app: FastifyInstance, ctx: CommerceContext): void {
  const { state } = ctx;

  app.post('/v4/purchases', (request, reply) => {
    const input = parsePurchase(bodyOf(request));
    if (Array.isArray(input)) return sendErrors(reply, 422, ...input);
    return reply.code(201).send({ purchase: purchaseJson(state.createPurchase(input)) });
  });

  app.get('/v4/purchases', (request, reply) => {
    const page = parsePageRequest(queryOf(request), 'id');
    if ('error' in page) return sendErrors(reply, 422, page.error);
    const { items, pagination } = paginate(state.purchases.sources(), 'asc', page, 'id');
    return reply.send({ purchases: items.map(purchaseJson), pagination });
  });

  app.get('/v4/purchases/:id', (request, reply) => {
    const id = param(request, 'id');
    const purchase = id === undefined ? undefined : state.purchases.get(id);
    return purchase ? reply.send({ purchase: purchaseJson(purchase) }) : sendErrors(reply, 404, NOT_FOUND);
  });

  const bulk = (path: string, method: 'POST' | 'DELETE', key: string, emptyMessage: string, run: (items: readonly unknown[]) => Record<string, unknown>) => {
    app.route({
      method,
      url: path,
      handler: (request, reply) => {
        const body = bodyOf(request);
        const items = body[key];
        if (!Array.isArray(items) || items.length === 0) return sendErrors(reply, 422, emptyMessage);
        if (items.length <= BULK_SYNC_LIMIT) return reply.send(run(items));
        const callbackUrl = text(body.callback_url);
        ctx.background(async () => {
          const result = run(items);
          if (callbackUrl === undefined || !URL.canParse(callbackUrl)) return;
          ctx.recordCallback({ url: callbackUrl, body: result, outcome: await postCallback(callbackUrl, result), at: state.now() });
        });
        return reply.code(202).send({});
      },
    });
  };
  bulk('/v4/bulk/subscribers', 'POST', 'subscribers', NO_SUBSCRIBERS, (items) => bulkSubscribers(state, items));
  bulk('/v4/bulk/tags/subscribers', 'POST', 'taggings', NO_TAGGINGS, (items) => bulkTaggings(state, items, false));
  bulk('/v4/bulk/tags/subscribers', 'DELETE', 'taggings', NO_TAGGINGS, (items) => bulkTaggings(state, items, true));
}
