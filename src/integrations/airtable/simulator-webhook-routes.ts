/**
 * The Airtable simulator's Webhooks API routes (reference/destinations.md §3.6), under
 * `/v0/bases/{baseId}/webhooks`:
 *
 * - `POST` create → `{id, macSecretBase64, expirationTime}`; `GET` list → `{webhooks: [...]}`;
 * - `DELETE …/{webhookId}` → `{}` [U];
 * - `POST …/{webhookId}/refresh` → `{expirationTime}`;
 * - `GET …/{webhookId}/payloads?cursor=&limit=` → `{payloads, cursor, mightHaveMore}`;
 * - `POST …/{webhookId}/enableNotifications` with `{enable}` → `{}` [C].
 *
 * Authentication, base access, scopes and the rate limit (shared with the records API [V]) are
 * the guard's, before these run.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { send } from '../../simulators/index.js';
import { errorAnswer, errors, type Result } from './simulator-errors.js';
import type { AirtableState, SimBase } from './simulator-state.js';
import type { SimWebhook, Webhooks } from './simulator-webhooks.js';

export const WEBHOOK_SCOPE = 'webhook:manage';
const MAX_PAYLOADS = 50;

export interface WebhookRouteDeps {
  readonly state: AirtableState;
  readonly webhooks: Webhooks;
}

type Params = { baseId: string; webhookId?: string };

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  const { state, webhooks } = deps;
  const config = { scope: WEBHOOK_SCOPE };
  const answer = <T>(reply: FastifyReply, result: Result<T>) => ('error' in result ? send(reply, errorAnswer(result.error)) : send(reply, { status: 200, body: result.ok }));
  /** The base (the guard checked it exists and the token may use it) and the webhook named in the path. */
  const target = (request: FastifyRequest): { base: SimBase; hook: SimWebhook | undefined } => {
    const params = request.params as Params;
    const base = state.bases.get(params.baseId) as SimBase;
    return { base, hook: params.webhookId === undefined ? undefined : webhooks.get(base, params.webhookId) };
  };
  const withHook = (handler: (hook: SimWebhook, request: FastifyRequest) => Result<unknown>) => (request: FastifyRequest, reply: FastifyReply) => {
    const { hook } = target(request);
    return hook ? answer(reply, handler(hook, request)) : send(reply, errorAnswer(errors.webhookNotFound()));
  };

  app.post('/v0/bases/:baseId/webhooks', { config }, (request, reply) => answer(reply, webhooks.create(target(request).base, request.body)));
  app.get('/v0/bases/:baseId/webhooks', { config }, (request, reply) => {
    const { base } = target(request);
    return send(reply, { status: 200, body: { webhooks: webhooks.list(base).map((h) => webhooks.json(h)) } });
  });
  app.delete('/v0/bases/:baseId/webhooks/:webhookId', { config }, (request, reply) => {
    const { base, hook } = target(request);
    if (!hook) return send(reply, errorAnswer(errors.webhookNotFound()));
    webhooks.delete(base, hook.id);
    return send(reply, { status: 200, body: {} });
  });
  app.post('/v0/bases/:baseId/webhooks/:webhookId/refresh', { config }, withHook((hook) => webhooks.refresh(hook)));
  app.post(
    '/v0/bases/:baseId/webhooks/:webhookId/enableNotifications',
    { config },
    withHook((hook, request) => {
      const enable = (request.body as { enable?: unknown } | undefined)?.enable;
      if (typeof enable !== 'boolean') return { error: errors.invalidRequest('"enable" must be true or false') };
      hook.areNotificationsEnabled = enable;
      return { ok: {} };
    }),
  );
  app.get(
    '/v0/bases/:baseId/webhooks/:webhookId/payloads',
    { config },
    withHook((hook, request) => {
      const query = request.query as { cursor?: string; limit?: string };
      const cursor = query.cursor === undefined ? 1 : Number(query.cursor);
      const limit = query.limit === undefined ? MAX_PAYLOADS : Number(query.limit);
      if (!Number.isInteger(cursor) || cursor < 1) return { error: errors.invalidRequest('cursor must be a whole number from 1') };
      // [U] whether a limit above 50 is refused or capped: capped here.
      if (!Number.isInteger(limit) || limit < 1) return { error: errors.invalidRequest('limit must be a whole number from 1 to 50') };
      return { ok: webhooks.payloads(hook, cursor, Math.min(limit, MAX_PAYLOADS)) };
    }),
  );
}
