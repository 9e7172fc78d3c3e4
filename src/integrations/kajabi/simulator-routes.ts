/**
 * The Kajabi simulator's `/v1` reads and hooks (reference/destinations.md §5.2–5.3): sites,
 * offers, customers, purchases (deactivate/reactivate), transactions (with their documented
 * filters `site_id, customer_id, name_or_email, start_date, end_date`), and `/v1/hooks`
 * (register, list with `filter[event_eq]`, show, delete). Contacts are in simulator-contacts.ts.
 */
import type { FastifyInstance } from 'fastify';
import { send } from '../../simulators/index.js';
import { errorAnswer } from './simulator-jsonapi.js';
import { dataOf, filterOf, recordOf, relationshipId, sendList, sendNotFound, sendOne, sinceFilter } from './simulator-http.js';
import { customerResource, hookResource, offerResource, orderResources, purchaseResource, siteResource, transactionResource } from './simulator-resources.js';
import { HOOK_EVENTS, type HookEvent, type KajabiState } from './simulator-state.js';

type ById = { Params: { id: string } };

export function registerResourceRoutes(app: FastifyInstance, state: KajabiState): void {
  app.get('/v1/version', () => ({ version: '1.1.0' }));
  app.get('/v1/me', (request, reply) => sendOne(request, reply, { type: 'users', id: '1', attributes: { name: 'Simulated Owner', email: 'owner@example.com' } }));

  app.get('/v1/sites', (request, reply) => sendList(request, reply, [...state.sites.values()].map(siteResource)));
  app.get<ById>('/v1/sites/:id', (request, reply) => {
    const site = state.sites.get(request.params.id);
    return sendOne(request, reply, site && siteResource(site));
  });

  app.get('/v1/offers', (request, reply) => {
    const siteId = filterOf(request, 'site_id');
    return sendList(request, reply, [...state.offers.values()].filter((o) => siteId === undefined || o.siteId === siteId).map(offerResource));
  });
  app.get<ById>('/v1/offers/:id', (request, reply) => {
    const offer = state.offers.get(request.params.id);
    return sendOne(request, reply, offer && offerResource(offer));
  });

  app.get('/v1/customers', (request, reply) => {
    const siteId = filterOf(request, 'site_id');
    const search = filterOf(request, 'search')?.toLowerCase();
    const offerId = filterOf(request, 'has_offer_id');
    const customers = [...state.customers.values()].filter((c) => {
      const contact = state.contacts.get(c.contactId);
      return (siteId === undefined || c.siteId === siteId) && (search === undefined || `${contact?.email ?? ''} ${contact?.name ?? ''}`.toLowerCase().includes(search)) && (offerId === undefined || contact?.offerIds.has(offerId) === true);
    });
    return sendList(request, reply, customers.map((c) => customerResource(state, c)));
  });
  app.get<ById>('/v1/customers/:id', (request, reply) => {
    const customer = state.customers.get(request.params.id);
    return sendOne(request, reply, customer && customerResource(state, customer));
  });

  registerPurchaseRoutes(app, state);
  registerTransactionRoutes(app, state);
  registerHookRoutes(app, state);
}

function registerPurchaseRoutes(app: FastifyInstance, state: KajabiState): void {
  app.get('/v1/purchases', (request, reply) => {
    const siteId = filterOf(request, 'site_id');
    const customerId = filterOf(request, 'customer_id');
    const purchases = [...state.purchases.values()].filter((p) => (siteId === undefined || p.siteId === siteId) && (customerId === undefined || p.customerId === customerId));
    return sendList(request, reply, purchases.map(purchaseResource));
  });
  app.get<ById>('/v1/purchases/:id', (request, reply) => {
    const purchase = state.purchases.get(request.params.id);
    return sendOne(request, reply, purchase && purchaseResource(purchase));
  });
  for (const action of ['deactivate', 'reactivate'] as const) {
    app.post<ById>(`/v1/purchases/:id/${action}`, (request, reply) => {
      if (!state.purchases.has(request.params.id)) return sendNotFound(reply);
      const purchase = action === 'deactivate' ? state.deactivate(request.params.id, 'api') : state.reactivate(request.params.id);
      return sendOne(request, reply, purchaseResource(purchase));
    });
  }
}

function registerTransactionRoutes(app: FastifyInstance, state: KajabiState): void {
  app.get('/v1/transactions', (request, reply) => {
    const siteId = filterOf(request, 'site_id');
    const customerId = filterOf(request, 'customer_id');
    const who = filterOf(request, 'name_or_email')?.toLowerCase();
    const start = sinceFilter(filterOf(request, 'start_date'));
    const end = sinceFilter(filterOf(request, 'end_date'));
    if (start === 'bad') return send(reply, errorAnswer(400, 'Bad Request', 'filter[start_date] is not a date', undefined));
    if (end === 'bad') return send(reply, errorAnswer(400, 'Bad Request', 'filter[end_date] is not a date', undefined));
    const transactions = [...state.transactions.values()].filter((t) => {
      const contact = state.contactOfCustomer(t.customerId);
      return (
        (siteId === undefined || t.siteId === siteId) &&
        (customerId === undefined || t.customerId === customerId) &&
        (who === undefined || `${contact?.email ?? ''} ${contact?.name ?? ''}`.toLowerCase().includes(who)) &&
        (start === undefined || t.createdAt >= start) &&
        (end === undefined || t.createdAt <= end)
      );
    });
    return sendList(request, reply, transactions.map(transactionResource));
  });
  app.get<ById>('/v1/transactions/:id', (request, reply) => {
    const transaction = state.transactions.get(request.params.id);
    return sendOne(request, reply, transaction && transactionResource(transaction));
  });
}

function registerHookRoutes(app: FastifyInstance, state: KajabiState): void {
  const invalid = (detail: string, pointer: string) => errorAnswer(422, 'Unprocessable Entity', detail, pointer);
  app.get('/v1/hooks', (request, reply) => {
    const event = filterOf(request, 'event_eq');
    return sendList(request, reply, [...state.hooks.values()].filter((h) => event === undefined || h.event === event).map(hookResource));
  });
  registerSampleRoutes(app, state);
  app.get<ById>('/v1/hooks/:id', (request, reply) => {
    const hook = state.hooks.get(request.params.id);
    return sendOne(request, reply, hook && hookResource(hook));
  });
  app.delete<ById>('/v1/hooks/:id', (request, reply) => {
    if (!state.hooks.delete(request.params.id)) return sendNotFound(reply);
    return reply.code(204).send();
  });
  app.post('/v1/hooks', (request, reply) => {
    const data = dataOf(request.body);
    if (!data || data.type !== 'hooks') return send(reply, invalid('data must be a hooks resource', '/data'));
    const attributes = recordOf(data.attributes);
    const targetUrl = typeof attributes.target_url === 'string' ? attributes.target_url : '';
    if (!/^https?:\/\/\S+$/.test(targetUrl)) return send(reply, invalid('is invalid', '/data/attributes/target_url'));
    const event = attributes.event;
    if (typeof event !== 'string' || !(HOOK_EVENTS as readonly string[]).includes(event)) return send(reply, invalid(`must be one of ${HOOK_EVENTS.join(', ')}`, '/data/attributes/event'));
    const siteId = relationshipId(data, 'site') ?? state.site.id;
    if (!state.sites.has(siteId)) return send(reply, invalid('site must exist', '/data/relationships/site'));
    const raw = attributes.resource_id;
    const resourceId = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : null;
    return sendOne(request, reply, hookResource(state.addHook({ siteId, targetUrl, event: event as HookEvent, resourceId })), 201);
  });
}

/**
 * `GET /v1/hooks/{event}_sample` for the three events whose payloads §5.2 documents, ids `"0"` as
 * in Kajabi's samples. The sample's envelope is not documented [U]: it is the delivery body.
 */
function registerSampleRoutes(app: FastifyInstance, state: KajabiState): void {
  const at = Date.parse('2025-08-01T00:00:00Z');
  const offer = { id: '0', siteId: '0', title: 'Sample Offer', priceInCents: 1000, currency: 'USD' };
  const customer = customerResource(state, { id: '0', siteId: '0', contactId: '0', createdAt: at, updatedAt: at });
  const purchase = { id: '0', siteId: '0', customerId: '0', offerId: '0', transactionId: '0', amountInCents: 1000, currency: 'USD', createdAt: at, updatedAt: at, deactivatedAt: null, deactivationReason: null };
  const transaction = { id: '0', siteId: '0', customerId: '0', purchaseIds: ['0'], offerIds: ['0'], action: 'charge' as const, state: 'succeeded' as const, amountInCents: 1000, currency: 'USD', createdAt: at, updatedAt: at };
  const samples: Record<string, unknown[]> = {
    purchase: [purchaseResource(purchase), offerResource(offer), customer],
    payment_succeeded: [transactionResource(transaction), customer],
    order_created: [transactionResource(transaction), customer, ...orderResources(state, transaction)],
  };
  for (const [event, payload] of Object.entries(samples)) app.get(`/v1/hooks/${event}_sample`, () => ({ id: '0', event, payload }));
}
