/**
 * The Kajabi simulator's control API, for tests, the sandbox and other processes (`/_sim/*`, never
 * faulted, authenticated or recorded):
 *
 * - `POST /_sim/purchases` `{email, name?, offerIds: [...], isPaid?}`: a checkout (a bundle when
 *   several offers), firing `purchase`/`order_created`/`purchase.created` (and the payment ones
 *   when paid);
 * - `POST /_sim/transactions/:id/succeed`: the payment settles (`payment_succeeded`, `payment.succeeded`);
 * - `POST /_sim/purchases/:id/refund` `{amountInCents?}` and `…/deactivate` `{reason?}`: visible only
 *   by polling, no webhook (§5.1);
 * - `GET /_sim/deliveries`; `GET|POST /_sim/dashboard-webhooks` `{event, url, offerId?}`;
 * - `POST /_sim/conditions` `{copies?, expireTokens?}`: every webhook sent `copies` times; every
 *   access token issued so far expired.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { OAuthTokens } from './simulator-oauth.js';
import type { KajabiState } from './simulator-state.js';
import type { WebhookEmitter } from './simulator-webhooks.js';

const purchaseJson = z.strictObject({ email: z.string().min(1), name: z.string().optional(), offerIds: z.array(z.string()).min(1), isPaid: z.boolean().optional() });
const refundJson = z.strictObject({ amountInCents: z.int().optional() }).optional();
const deactivateJson = z.strictObject({ reason: z.string().optional() }).optional();
const dashboardJson = z.strictObject({ event: z.enum(['purchase.created', 'payment.succeeded']), url: z.url(), offerId: z.string().optional() });
const conditionsJson = z.strictObject({ copies: z.int().min(1).max(10).optional(), expireTokens: z.literal(true).optional() });

export interface ControlDeps {
  readonly state: KajabiState;
  readonly emitter: WebhookEmitter;
  readonly tokens: OAuthTokens;
  readonly changed: () => void;
}

type Parsed<T> = { success: true; data: T } | { success: false; error: { issues: Array<{ message: string }> } };

function run<T>(reply: FastifyReply, parsed: Parsed<T>, act: (input: T) => unknown) {
  if (!parsed.success) return reply.code(400).send({ error: parsed.error.issues[0]?.message ?? 'invalid input' });
  try {
    return act(parsed.data);
  } catch (error) {
    // The state throws RangeError for an unknown id: the caller's mistake, a 404.
    if (error instanceof RangeError) return reply.code(404).send({ error: error.message });
    throw error;
  }
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { state, emitter, tokens, changed } = deps;
  const done = <T>(value: T): T => {
    changed();
    return value;
  };
  app.post('/_sim/purchases', (request, reply) =>
    run(reply, purchaseJson.safeParse(request.body), (input) => {
      const result = state.purchase(input);
      return reply.code(201).send(done({ contactId: result.contact.id, customerId: result.customer.id, transactionId: result.transaction.id, purchaseIds: result.purchases.map((p) => p.id) }));
    }),
  );
  app.post<{ Params: { id: string } }>('/_sim/transactions/:id/succeed', (request, reply) => run(reply, { success: true, data: request.params.id }, (id) => done({ id: state.succeedPayment(id).id, state: 'succeeded' })));
  app.post<{ Params: { id: string } }>('/_sim/purchases/:id/refund', (request, reply) =>
    run(reply, refundJson.safeParse(request.body), (input) => done({ transactionId: state.refund(request.params.id, input?.amountInCents).id })),
  );
  app.post<{ Params: { id: string } }>('/_sim/purchases/:id/deactivate', (request, reply) =>
    run(reply, deactivateJson.safeParse(request.body), (input) => done({ purchaseId: state.deactivate(request.params.id, input?.reason).id })),
  );
  app.get('/_sim/deliveries', () => emitter.deliveries);
  app.get('/_sim/dashboard-webhooks', () => emitter.dashboard);
  app.post('/_sim/dashboard-webhooks', (request, reply) =>
    run(reply, dashboardJson.safeParse(request.body), (input) => {
      emitter.dashboard.push(input);
      return reply.code(201).send(emitter.dashboard);
    }),
  );
  app.post('/_sim/conditions', (request, reply) =>
    run(reply, conditionsJson.safeParse(request.body), (input) => {
      if (input.copies !== undefined) emitter.copies = input.copies;
      if (input.expireTokens) tokens.expireAll();
      return { copies: emitter.copies };
    }),
  );
}
