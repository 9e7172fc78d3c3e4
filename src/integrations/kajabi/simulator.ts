/**
 * The Kajabi simulator: a real HTTP server on loopback that behaves like api.kajabi.com for what
 * kitrelay reads and writes (reference/destinations.md §5, §6), built on the shared simulator
 * server, so it also takes faults on demand and records what it receives (`/_sim/requests`,
 * `/_sim/faults`, `/_sim/state`).
 *
 * - OAuth client credentials with refresh and revoke (simulator-oauth.ts); a missing, unknown,
 *   expired or revoked token answers 401 in the JSON:API error envelope.
 * - JSON:API resources, paging, sparse fields and filters (simulator-routes.ts, simulator-contacts.ts).
 * - Both webhook styles, unsigned, retried, duplicated on demand (simulator-webhooks.ts); no
 *   webhook for refunds or deactivations, which only polling shows (§5.1).
 * - A per-token request limit [U: Kajabi publishes no numbers]: 429, JSON:API error, Retry-After.
 *
 *   const sim = await startKajabiSimulator({ dashboardWebhooks: [{ event: 'purchase.created', url }] });
 *   const { purchases } = sim.purchase({ email: 'ada@example.com', offerIds: [sim.credentials.offerIds[0]] });
 *   sim.refund(purchases[0].id);   // seen in GET /v1/transactions, never posted
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createSimServer, pathOf, send, WindowLimiter, type FaultRules, type RunningSimulator, type SimAnswer, type SimRequest, type SimulatorStartOptions, type SimView, type WaitOptions } from '../../simulators/index.js';
import { registerContactRoutes } from './simulator-contacts.js';
import { registerControlRoutes } from './simulator-control.js';
import { errorAnswer } from './simulator-jsonapi.js';
import { OAuthTokens, registerOAuthRoutes, type TokenCheck } from './simulator-oauth.js';
import { registerResourceRoutes } from './simulator-routes.js';
import { KajabiState, type KajabiPurchase, type KajabiTransaction, type PurchaseInput, type PurchaseResult } from './simulator-state.js';
import { WebhookEmitter, type DashboardWebhook, type KajabiDelivery, type WebhookOptions } from './simulator-webhooks.js';

export type { HookEvent, KajabiContact, KajabiCustomer, KajabiHook, KajabiOffer, KajabiPurchase, KajabiSite, KajabiState, KajabiTransaction, PurchaseInput, PurchaseResult } from './simulator-state.js';
export type { DashboardEvent, DashboardWebhook, KajabiDelivery, WebhookOptions } from './simulator-webhooks.js';

export const DEFAULT_CLIENT_ID = 'kajabi-sim-client';
export const DEFAULT_CLIENT_SECRET = 'kajabi-sim-secret';

export interface KajabiSimulatorOptions extends SimulatorStartOptions {
  /** @default 'kajabi-sim-client' */
  readonly clientId?: string;
  /** @default 'kajabi-sim-secret' */
  readonly clientSecret?: string;
  /** Access-token lifetime [U: not documented]. @default 7200 */
  readonly accessTokenTtlSeconds?: number;
  /** Dashboard webhooks configured at start (in Kajabi: per offer and in Settings). @default none */
  readonly dashboardWebhooks?: readonly DashboardWebhook[];
  /** @default { maxAttempts: 3, retryDelayMs: 1000, timeoutMs: 5000 } */
  readonly webhooks?: WebhookOptions;
  /** Requests per window per token; `false` for none [U]. @default { limit: 600, windowMs: 60_000 } */
  readonly rateLimit?: { readonly limit: number; readonly windowMs?: number } | false;
  /** @default 10_000 */
  readonly maxRequests?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A type, not an interface: it must fit RunningSimulator's `Record<string, unknown>`. */
export type KajabiCredentials = {
  readonly clientId: string;
  readonly clientSecret: string;
  /** `${url}/v1/oauth/token`. */
  readonly tokenUrl: string;
  readonly siteId: string;
  /** The seeded offers: two paid, the last free. */
  readonly offerIds: readonly string[];
};

export interface KajabiSimulator extends RunningSimulator {
  readonly name: 'kajabi';
  /** `http://127.0.0.1:PORT`, the base URL (paths are `/v1/...`). */
  readonly url: string;
  readonly credentials: KajabiCredentials;
  readonly state: KajabiState;
  readonly faults: FaultRules;
  /** Every request received (not `/_sim/*`), oldest first. */
  readonly requests: readonly SimRequest[];
  /** Every webhook sent (one entry per copy), oldest first. */
  readonly deliveries: readonly KajabiDelivery[];
  purchase(input: PurchaseInput): PurchaseResult;
  succeedPayment(transactionId: string): KajabiTransaction;
  refund(purchaseId: string, amountInCents?: number): KajabiTransaction;
  deactivate(purchaseId: string, reason?: string): KajabiPurchase;
  addDashboardWebhook(webhook: DashboardWebhook): void;
  /** Every webhook is sent `copies` times from now on (Kajabi retrying a delivery it thinks failed). */
  setWebhookCopies(copies: number): void;
  /** Every access token issued so far answers 401 from now on; refresh tokens stay good. */
  expireTokens(): void;
  /** Access tokens issued so far. */
  tokensIssued(): number;
  /** Resolves once every webhook under way has been delivered or given up. */
  webhooksIdle(): Promise<void>;
  waitFor(predicate: (view: SimView<SimRequest, KajabiState>) => boolean, options?: WaitOptions): Promise<SimView<SimRequest, KajabiState>>;
  resetRateLimits(): void;
  close(): Promise<void>;
}

const PUBLIC_PATHS = new Set(['/v1/oauth/token', '/v1/oauth/revoke', '/v1/version']);

const UNAUTHORIZED: Record<Exclude<TokenCheck, 'valid'>, string> = {
  missing: 'Authorization header with a Bearer token is required',
  invalid: 'The access token is invalid',
  expired: 'The access token expired',
  revoked: 'The access token was revoked',
};

export async function startKajabiSimulator(options: KajabiSimulatorOptions = {}): Promise<KajabiSimulator> {
  const now = options.now ?? Date.now;
  const state = new KajabiState({ seed: options.seed ?? 1, now });
  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEFAULT_CLIENT_SECRET;
  const tokens = new OAuthTokens([{ clientId, clientSecret }], options.accessTokenTtlSeconds ?? 7200, now);
  const rate = options.rateLimit === false ? undefined : { limit: 600, windowMs: 60_000, ...options.rateLimit };
  const limiter = rate && new WindowLimiter({ limit: rate.limit, windowMs: rate.windowMs, mode: 'sliding' }, now);

  const tooMany = (retryAfter: number | false | undefined): SimAnswer => errorAnswer(429, 'Too Many Requests', 'Rate limit exceeded', undefined, retryAfter === false ? {} : { 'retry-after': String(retryAfter ?? 60) });

  const guard = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const path = pathOf(request.url);
    if (!path.startsWith('/v1/') || PUBLIC_PATHS.has(path)) return undefined;
    const check = tokens.check(request.headers.authorization);
    if (check !== 'valid') return send(reply, errorAnswer(401, 'Unauthorized', UNAUTHORIZED[check], undefined, { 'www-authenticate': `Bearer error="invalid_token"` }));
    if (limiter) {
      const decision = limiter.take(request.headers.authorization ?? '');
      if (!decision.isAllowed) return send(reply, tooMany(Math.ceil(decision.retryAfterMs / 1000)));
    }
    return undefined;
  };

  let notify = () => undefined as void;
  const emitter = new WebhookEmitter(state, options.webhooks ?? {}, () => notify());
  emitter.dashboard.push(...(options.dashboardWebhooks ?? []));
  state.onPurchase = (result) => emitter.purchased(result);
  state.onPayment = (transaction) => emitter.paid(transaction);

  const server = createSimServer<SimRequest, KajabiState>({
    name: 'kajabi',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    state,
    snapshot: () => snapshot(state, emitter),
    answers: { status: (status) => errorAnswer(status, statusTitle(status), statusTitle(status)), rateLimited: tooMany },
    guard,
  });
  notify = () => server.notify();
  server.app.setNotFoundHandler((_request, reply) => send(reply, errorAnswer(404, 'Not Found', 'The requested resource could not be found')));
  server.app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    return send(reply, errorAnswer(status, statusTitle(status), error.message));
  });
  registerOAuthRoutes(server.app, tokens);
  registerResourceRoutes(server.app, state);
  registerContactRoutes(server.app, state);
  registerControlRoutes(server.app, { state, emitter, tokens, changed: () => server.notify() });
  await server.listen();

  const act = <T>(value: T): T => {
    server.notify();
    return value;
  };
  return {
    name: 'kajabi',
    url: server.url,
    credentials: { clientId, clientSecret, tokenUrl: `${server.url}/v1/oauth/token`, siteId: state.site.id, offerIds: [...state.offers.keys()] },
    state,
    faults: server.faults,
    requests: server.requests,
    deliveries: emitter.deliveries,
    purchase: (input) => act(state.purchase(input)),
    succeedPayment: (id) => act(state.succeedPayment(id)),
    refund: (id, amount) => act(state.refund(id, amount)),
    deactivate: (id, reason) => act(state.deactivate(id, reason)),
    addDashboardWebhook: (webhook) => void emitter.dashboard.push(webhook),
    setWebhookCopies: (copies) => void (emitter.copies = copies),
    expireTokens: () => tokens.expireAll(),
    tokensIssued: () => tokens.issued,
    webhooksIdle: () => emitter.idle(),
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    resetRateLimits: () => limiter?.reset(),
    close: async () => {
      await emitter.close();
      await server.close();
    },
  };
}

function statusTitle(status: number): string {
  const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 503: 'Service Unavailable' };
  return titles[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error');
}

function snapshot(state: KajabiState, emitter: WebhookEmitter) {
  return {
    sites: [...state.sites.values()],
    offers: [...state.offers.values()],
    contacts: [...state.contacts.values()].map((c) => ({ ...c, offerIds: [...c.offerIds] })),
    customers: [...state.customers.values()],
    purchases: [...state.purchases.values()],
    transactions: [...state.transactions.values()],
    hooks: [...state.hooks.values()],
    dashboardWebhooks: emitter.dashboard,
    webhookCopies: emitter.copies,
    deliveries: emitter.deliveries.length,
  };
}
