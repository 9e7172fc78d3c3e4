/**
 * The Kit API simulator's HTTP server: a real Fastify server on loopback answering `/v4/…` like
 * api.kit.com, built on the shared simulator server (simulators/server.ts). Every request goes
 * through faults, then authentication and the rate limit (hooks.ts), then its route; every
 * request, answered or not, lands in `requests`. It also answers `/_sim/requests`, `/_sim/faults`
 * and `/_sim/state`.
 *
 * It starts no timers or loops of its own except a fault's delay and the bulk jobs it was asked
 * for; `close()` waits for those jobs and drops every connection, hung ones included.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createSimServer, type SimView, type WaitOptions } from '../../simulators/index.js';
import { Auth, type Credential, type OAuthAnswer, type OAuthOptions, type TokenResponse } from './auth.js';
import type { ChangeListener } from './changes.js';
import { SimFaults, kitFaultAnswer } from './faults.js';
import { Background, createKitGuard, registerKitHandlers } from './hooks.js';
import type { RouteContext } from './http.js';
import { RATE_LIMITED_BODY, RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { toRecordedRequest, type RecordedRequest } from './record.js';
import { registerCommerceRoutes, type BulkCallback } from './routes-commerce.js';
import { registerOtherRoutes } from './routes-other.js';
import { registerSubscriberRoutes } from './routes-subscribers.js';
import { registerTagRoutes } from './routes-tags.js';
import type { SeedSpec } from './seed.js';
import { SimState } from './state.js';

export interface KitSimulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Accepted `X-Kit-Api-Key` values. @default ['kit_sim_key'] */
  readonly apiKeys?: readonly string[];
  /** @default { clientId: 'kit_sim_client' } */
  readonly oauth?: OAuthOptions;
  /** Per-credential limits, or `false` for none. @default { apiKey: 120, oauth: 600, windowMs: 60_000 } */
  readonly rateLimit?: RateLimitOptions | false;
  /** Generate an account (deterministic, lazily: 1M subscribers cost no memory until written). */
  readonly seed?: SeedSpec;
  /** How far list endpoints lag behind writes (reference/kit.md §9.4). @default 0 */
  readonly listLagMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Receives every change, in order (the webhook emitter listens here or through `onChange`). */
  readonly onChange?: ChangeListener;
  /** Mount more routes (the webhook emitter's `/v4/webhooks…`); they get the same faults, auth and rate limit. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance, sim: KitSimulator) => void>;
  /** Requests kept in `requests`. @default 10_000 */
  readonly maxRequests?: number;
  /** See SimStateOptions.upsertWritesFields. @default false */
  readonly upsertWritesFields?: boolean;
}

/** What a Kit simulator accepts: print it, or point a client at it. */
export type KitCredentials = {
  readonly apiKeys: readonly string[];
  readonly oauthClientId: string;
};

export interface KitSimulator {
  readonly name: 'kit';
  /** `http://127.0.0.1:PORT`, no trailing slash; API paths are `/v4/…`. */
  readonly url: string;
  readonly credentials: KitCredentials;
  readonly state: SimState;
  /** The last `maxRequests` requests, oldest first, credentials redacted. */
  readonly requests: readonly RecordedRequest[];
  readonly faults: SimFaults;
  /** Bulk callbacks POSTed, with the receiver's answer. */
  readonly callbacks: readonly BulkCallback[];
  /** A token pair as the OAuth flow would issue, without the browser round trip. */
  issueOAuthToken(scopes?: readonly string[]): TokenResponse;
  onChange(listener: ChangeListener): () => void;
  /** The simulator's clock. */
  now(): number;
  /** The credential a request authenticated with (for plugin routes that treat keys and tokens differently). */
  credentialOf(request: FastifyRequest): Credential | undefined;
  resetRateLimits(): void;
  /** Resolves once `predicate` holds over the requests and the state (simulators/wait.ts). */
  waitFor(predicate: (view: SimView<RecordedRequest, SimState>) => boolean, options?: WaitOptions): Promise<SimView<RecordedRequest, SimState>>;
  /** Waits for bulk jobs, drops every connection and stops listening; rejects if a bulk job threw. Idempotent. */
  close(): Promise<void>;
}

function stringRecord(value: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  return out;
}

export async function startKitSimulator(options: KitSimulatorOptions = {}): Promise<KitSimulator> {
  const now = options.now ?? Date.now;
  const state = new SimState({ seed: options.seed, now, listLagMs: options.listLagMs, upsertWritesFields: options.upsertWritesFields });
  if (options.onChange) state.onChange(options.onChange);
  const credentials: KitCredentials = { apiKeys: options.apiKeys ?? ['kit_sim_key'], oauthClientId: (options.oauth ?? { clientId: 'kit_sim_client' }).clientId };
  const auth = new Auth(credentials.apiKeys, options.oauth ?? { clientId: credentials.oauthClientId }, now);
  const limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {}, now);
  const { guard, credentialOf } = createKitGuard(auth, limiter);
  const background = new Background();
  const callbacks: BulkCallback[] = [];

  const server = createSimServer<RecordedRequest, SimState>({
    name: 'kit',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    state,
    snapshot: () => ({
      subscribers: { count: state.subscribers.count, written: state.subscribers.recordCount },
      tags: state.tags,
      customFields: state.customFields,
    }),
    faults: new SimFaults(),
    answers: { status: kitFaultAnswer, rateLimited: (retryAfter) => ({ status: 429, headers: typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined, body: RATE_LIMITED_BODY }) },
    guard,
    toEntry: toRecordedRequest,
  });
  const app = server.app;
  registerKitHandlers(app);
  registerOAuthRoutes(app, auth);
  const ctx: RouteContext = { state, background: (task) => background.run(task) };
  registerSubscriberRoutes(app, ctx);
  registerTagRoutes(app, ctx);
  registerOtherRoutes(app, ctx);
  registerCommerceRoutes(app, { ...ctx, recordCallback: (c) => callbacks.push(c) });

  let closing: Promise<void> | undefined;
  const sim: KitSimulator = {
    name: 'kit',
    get url() {
      return server.url;
    },
    credentials,
    state,
    requests: server.requests,
    faults: server.faults as SimFaults,
    callbacks,
    issueOAuthToken: (scopes) => auth.issueToken(scopes),
    onChange: (listener) => state.onChange(listener),
    now,
    credentialOf,
    resetRateLimits: () => limiter?.reset(),
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    close() {
      closing ??= background.settle().finally(() => server.close());
      return closing;
    },
  };
  for (const plugin of options.plugins ?? []) plugin(app, sim);

  await server.listen();
  return sim;
}

/** `/v4/oauth/…` and, for the token URL Kit's own client uses, `/oauth/…` too (reference/kit.md §1 [UNC]). */
function registerOAuthRoutes(app: FastifyInstance, auth: Auth): void {
  const answer = (reply: FastifyReply, a: OAuthAnswer) => ('location' in a ? reply.code(302).header('location', a.location).send() : reply.code(a.status).send(a.body));
  for (const prefix of ['/v4', '']) {
    app.get(`${prefix}/oauth/authorize`, (request, reply) => answer(reply, auth.authorize(stringRecord(request.query))));
    app.post(`${prefix}/oauth/token`, (request, reply) => answer(reply, auth.token(stringRecord(request.body))));
  }
}
