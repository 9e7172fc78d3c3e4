/**
 * The Kit API simulator's HTTP server: a real Fastify server on loopback answering `/v4/…` like
 * api.kit.com. Every request goes through faults, authentication and the rate limit first
 * (hooks.ts), then its route; every request, answered or not, lands in `requests`.
 *
 * It starts no timers or loops of its own except a fault's delay and the bulk jobs it was asked
 * for; `close()` waits for those jobs and drops every connection, hung ones included.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Auth, type Credential, type OAuthAnswer, type OAuthOptions, type TokenResponse } from './auth.js';
import type { ChangeListener } from './changes.js';
import { SimFaults } from './faults.js';
import { Background, installRequestHooks, registerBodyParsers } from './hooks.js';
import type { RouteContext } from './http.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { RequestLog, type RecordedRequest } from './record.js';
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

export interface KitSimulator {
  /** `http://127.0.0.1:PORT`, no trailing slash; API paths are `/v4/…`. */
  readonly url: string;
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
  const auth = new Auth(options.apiKeys ?? ['kit_sim_key'], options.oauth ?? { clientId: 'kit_sim_client' }, now);
  const limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {}, now);
  const faults = new SimFaults();
  const log = new RequestLog(options.maxRequests ?? 10_000);
  const background = new Background();
  const callbacks: BulkCallback[] = [];

  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 10 * 1024 * 1024 });
  registerBodyParsers(app);
  const credentialOf = installRequestHooks(app, { now, faults, auth, limiter, log, background });
  registerOAuthRoutes(app, auth);
  const ctx: RouteContext = { state, background: (task) => background.run(task) };
  registerSubscriberRoutes(app, ctx);
  registerTagRoutes(app, ctx);
  registerOtherRoutes(app, ctx);
  registerCommerceRoutes(app, { ...ctx, recordCallback: (c) => callbacks.push(c) });

  let url = '';
  let closing: Promise<void> | undefined;
  const sim: KitSimulator = {
    get url() {
      return url;
    },
    state,
    requests: log.requests,
    faults,
    callbacks,
    issueOAuthToken: (scopes) => auth.issueToken(scopes),
    onChange: (listener) => state.onChange(listener),
    now,
    credentialOf,
    resetRateLimits: () => limiter?.reset(),
    close() {
      closing ??= background.settle().finally(() => app.close());
      return closing;
    },
  };
  for (const plugin of options.plugins ?? []) plugin(app, sim);

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
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
