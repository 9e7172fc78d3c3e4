/**
 * The webhook management API on the simulator's server: legacy `/v4/webhooks` (reference/kit.md
 * §7A) and Webhooks 2.0 `/v4/webhook_endpoints` with its delivery history (§7B). Errors are Kit's
 * `{"errors": [string]}`; unknown ids are 404 `Not Found`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NOT_FOUND, sendErrors } from './http.js';
import { firstString, paginateById, parsePageRequest, type PageRequest } from './pagination.js';
import { deliveryDetailJson, deliverySummaryJson, parseDeliveryFilter, type DeliveryHistory } from './webhooks-deliveries.js';
import { endpointJson, type EndpointOutcome, type WebhookEndpoints } from './webhooks-endpoints.js';
import { asObject, legacyWebhookJson, type LegacyWebhooks } from './webhooks-legacy.js';

export interface WebhookRoutesDeps {
  readonly legacy: LegacyWebhooks;
  readonly endpoints: WebhookEndpoints;
  readonly history: DeliveryHistory;
  readonly now: () => number;
  /**
   * Runs before every route (auth, rate limit); it answers the request itself to stop it.
   * Undefined when the host app's own hooks already cover these routes.
   */
  readonly guard?: (request: FastifyRequest, reply: FastifyReply) => Promise<void> | void;
}

type Query = Readonly<Record<string, unknown>>;
type IdParams = { Params: { id: string } };

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRoutesDeps): void {
  const { legacy, endpoints, history, now } = deps;
  const opts = deps.guard ? { preHandler: deps.guard } : {};

  // ---------------------------------------------------------------- legacy
  app.post('/v4/webhooks', opts, async (request, reply) => {
    const created = legacy.create(request.body, now());
    if (!created.ok) return fail(reply, 422, created.errors);
    return reply.code(201).send({ webhook: legacyWebhookJson(created.webhook) });
  });

  app.get('/v4/webhooks', opts, async (request, reply) => {
    const page = pageRequest(request.query as Query);
    if ('error' in page) return fail(reply, 422, [page.error]);
    const { items, pagination } = paginateById(legacy.list().map(legacyWebhookJson), page, 'asc');
    return reply.send({ webhooks: items, pagination });
  });

  app.delete<IdParams>('/v4/webhooks/:id', opts, async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined || !legacy.delete(id)) return notFound(reply);
    return reply.code(204).send();
  });

  // ---------------------------------------------------------------- Webhooks 2.0 endpoints
  const answer = (reply: FastifyReply, outcome: EndpointOutcome, status: number, withSecret = false) =>
    outcome.ok ? reply.code(status).send({ webhook_endpoint: endpointJson(outcome.endpoint, now(), { withSecret }) }) : fail(reply, outcome.status, outcome.errors);

  app.post('/v4/webhook_endpoints', opts, async (request, reply) => answer(reply, endpoints.create(request.body, now()), 201, true));

  app.get('/v4/webhook_endpoints', opts, async (request, reply) => {
    const query = request.query as Query;
    const page = pageRequest(query);
    if ('error' in page) return fail(reply, 422, [page.error]);
    const status = firstString(query['status']);
    if (status !== undefined && status !== 'active' && status !== 'disabled') return fail(reply, 422, ['Status must be one of: active, disabled']);
    const matching = endpoints.list().filter((e) => status === undefined || e.status === status);
    const { items, pagination } = paginateById(matching, page, 'asc');
    return reply.send({ webhook_endpoints: items.map((e) => endpointJson(e, now())), pagination });
  });

  app.get<IdParams>('/v4/webhook_endpoints/:id', opts, async (request, reply) => {
    const endpoint = endpoints.get(parseId(request.params.id) ?? 0);
    return endpoint ? reply.send({ webhook_endpoint: endpointJson(endpoint, now()) }) : notFound(reply);
  });

  app.patch<IdParams>('/v4/webhook_endpoints/:id', opts, async (request, reply) =>
    answer(reply, endpoints.update(parseId(request.params.id) ?? 0, request.body), 200),
  );

  app.delete<IdParams>('/v4/webhook_endpoints/:id', opts, async (request, reply) =>
    endpoints.delete(parseId(request.params.id) ?? 0) ? reply.code(204).send() : notFound(reply),
  );

  app.post<IdParams>('/v4/webhook_endpoints/:id/rotate_secret', opts, async (request, reply) => {
    const force = asObject(request.body)?.['force'];
    const isForced = force === true || force === 'true';
    return answer(reply, endpoints.rotateSecret(parseId(request.params.id) ?? 0, isForced, now()), 200, true);
  });

  app.post<IdParams>('/v4/webhook_endpoints/:id/revoke_previous_secret', opts, async (request, reply) =>
    answer(reply, endpoints.revokePreviousSecret(parseId(request.params.id) ?? 0), 200),
  );

  // ---------------------------------------------------------------- delivery history
  app.get<IdParams>('/v4/webhook_endpoints/:id/deliveries', opts, async (request, reply) => {
    const endpoint = endpoints.get(parseId(request.params.id) ?? 0);
    if (!endpoint) return notFound(reply);
    const query = request.query as Query;
    const filter = parseDeliveryFilter({ status: firstString(query['status']), event_type: firstString(query['event_type']) });
    if ('error' in filter) return fail(reply, 422, [filter.error]);
    const page = pageRequest(query);
    if ('error' in page) return fail(reply, 422, [page.error]);
    const { items, pagination } = paginateById(history.list(endpoint.id, now(), filter), page, 'desc');
    return reply.send({ deliveries: items.map(deliverySummaryJson), pagination });
  });

  app.get<{ Params: { id: string; deliveryId: string } }>('/v4/webhook_endpoints/:id/deliveries/:deliveryId', opts, async (request, reply) => {
    const endpoint = endpoints.get(parseId(request.params.id) ?? 0);
    const delivery = endpoint && history.get(endpoint.id, parseId(request.params.deliveryId) ?? 0, now());
    return delivery ? reply.send({ delivery: deliveryDetailJson(delivery) }) : notFound(reply);
  });
}

function pageRequest(query: Query): PageRequest | { error: string } {
  return parsePageRequest(query, 'id');
}

function parseId(raw: string): number | undefined {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

function fail(reply: FastifyReply, status: number, errors: readonly string[]): FastifyReply {
  return sendErrors(reply, status, ...errors);
}

function notFound(reply: FastifyReply): FastifyReply {
  return sendErrors(reply, 404, NOT_FOUND);
}
