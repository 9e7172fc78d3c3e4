/**
 * The Bonjoro API v2 simulator: a real HTTP server on loopback that behaves like
 * www.bonjoro.com/api/v2 (reference/destinations.md §4, §6) — Bearer tokens and the flat 401,
 * greets and profiles, Laravel's paginator, 422 validation errors (or the documented 400),
 * Laravel's throttle (X-RateLimit-* on every answer, 429 `Too Many Attempts.` with Retry-After) —
 * built on the shared simulator server, so it also takes faults on demand and records what it
 * receives (`/_sim/requests`, `/_sim/faults`, `/_sim/state`).
 *
 * Bonjoro has no idempotency key (§4.3): a retried POST /greets makes a second greet here too. The
 * `apply_then_hang` and `apply_then_reset` faults create the greet and lose the answer, which is
 * how a test shows the relay finds its marker in `custom_attributes` instead of creating again:
 *
 *   const sim = await startBonjoroSimulator();
 *   sim.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/api/v2/greets' });
 *   … the relay times out, looks the greet up, creates nothing …
 *   expect(sim.greets()).toHaveLength(1);
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createSimServer, pathOf, rateLimitHeaders, send, WindowLimiter, type FaultRules, type RunningSimulator, type SimAnswer, type SimRequest, type SimulatorStartOptions, type SimView, type WaitOptions } from '../../simulators/index.js';
import type { BonjoroGreet, BonjoroProfile } from './simulator-model.js';
import { TOO_MANY_ATTEMPTS, UNAUTHENTICATED, WEIRDLY_WRONG, errorBody, registerBonjoroRoutes, type ValidationStyle } from './simulator-routes.js';
import { BonjoroState } from './simulator-state.js';

export type { BonjoroCampaign, BonjoroGreet, BonjoroProfile, BonjoroTemplate, BonjoroUser, GreetStatus } from './simulator-model.js';
export type { BonjoroState } from './simulator-state.js';
export type { ValidationStyle } from './simulator-routes.js';

export const DEFAULT_TOKEN = 'bonjoro-sim-token';

export interface BonjoroRateLimit {
  /** Requests per window per token (per IP for requests without a valid token). @default 600 (observed `x-ratelimit-limit: 600`) */
  readonly limit?: number;
  /** A fixed window opened by the first request, as Laravel's throttle [U]. @default 60_000 */
  readonly windowMs?: number;
  /** Send Retry-After on a 429 (X-RateLimit-Reset is always sent). @default true */
  readonly isRetryAfterSent?: boolean;
}

export interface BonjoroSimulatorOptions extends SimulatorStartOptions {
  /** Accepted Bearer tokens; the first is `credentials.token`. @default ['bonjoro-sim-token'] */
  readonly tokens?: readonly string[];
  /** `false` for no limit. @default { limit: 600, windowMs: 60_000, isRetryAfterSent: true } */
  readonly rateLimit?: BonjoroRateLimit | false;
  /** How input errors are answered: Laravel's 422 or the documented 400 [U]. @default 'laravel' */
  readonly validationStyle?: ValidationStyle;
  /** Requests kept in `requests`. @default 10_000 */
  readonly maxRequests?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** What the simulator accepts and the ids it seeded: point a client (or the relay's config) at these. */
// A type, not an interface: it must fit RunningSimulator's `Record<string, unknown>`.
export type BonjoroCredentials = {
  readonly token: string;
  readonly tokens: readonly string[];
  readonly users: ReadonlyArray<{ readonly id: string; readonly name: string; readonly email: string }>;
  /** `uuid` is what `campaign_id` takes; `id` is the integer Bonjoro also shows. */
  readonly campaigns: ReadonlyArray<{ readonly id: number; readonly uuid: string; readonly name: string }>;
  readonly templates: ReadonlyArray<{ readonly id: string; readonly name: string }>;
};

export interface BonjoroSimulator extends RunningSimulator {
  readonly name: 'bonjoro';
  /** `http://127.0.0.1:PORT`; the API is under `/api/v2`. */
  readonly url: string;
  /** `${url}/api/v2`, the base URL a client is configured with. */
  readonly apiUrl: string;
  readonly credentials: BonjoroCredentials;
  readonly state: BonjoroState;
  /** `sim.faults.add({ kind, method?, path?, times?, … })`; see simulators/faults.ts. */
  readonly faults: FaultRules;
  /** Every request received, oldest first (the last `maxRequests`). */
  readonly requests: readonly SimRequest[];
  /** Every greet, oldest first, as stored (note and campaign uuid included). */
  greets(): readonly BonjoroGreet[];
  profiles(): readonly BonjoroProfile[];
  waitFor(predicate: (view: SimView<SimRequest, BonjoroState>) => boolean, options?: WaitOptions): Promise<SimView<SimRequest, BonjoroState>>;
  resetRateLimits(): void;
  close(): Promise<void>;
}

/** Reachable without a token (§4.2). */
const PUBLIC_PATHS = new Set(['/api/v2/industries', '/api/v2/pricing']);

export async function startBonjoroSimulator(options: BonjoroSimulatorOptions = {}): Promise<BonjoroSimulator> {
  const now = options.now ?? Date.now;
  const tokens = options.tokens && options.tokens.length > 0 ? options.tokens : [DEFAULT_TOKEN];
  const state = new BonjoroState({ seed: options.seed ?? 1, now });
  const rate = options.rateLimit === false ? undefined : { limit: 600, windowMs: 60_000, isRetryAfterSent: true, ...options.rateLimit };
  const limiter = rate && new WindowLimiter({ limit: rate.limit, windowMs: rate.windowMs, mode: 'fixed' }, now);
  const headerOptions = { isRetryAfterSent: rate?.isRetryAfterSent ?? true };

  const tooManyAttempts = (retryAfter: number | false | undefined): SimAnswer => {
    const limit = rate?.limit ?? 600;
    const seconds = retryAfter ?? Math.ceil((rate?.windowMs ?? 60_000) / 1000);
    const headers: Record<string, string> = { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(now() / 1000) + (seconds || 0)) };
    if (seconds !== false) headers['retry-after'] = String(seconds);
    return { status: 429, headers, body: TOO_MANY_ATTEMPTS };
  };

  /** Laravel's `throttle` runs before `auth` in the api group, so even a 401 carries the headers. */
  const guard = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const path = pathOf(request.url);
    if (request.is404 || !path.startsWith('/api/v2/')) return undefined;
    const token = bearerToken(request.headers.authorization);
    const isKnown = token !== undefined && tokens.includes(token);
    if (limiter) {
      const decision = limiter.take(isKnown ? `token:${token}` : `ip:${request.ip}`);
      const headers = rateLimitHeaders(decision, headerOptions);
      if (!decision.isAllowed) return send(reply, { status: 429, headers, body: TOO_MANY_ATTEMPTS });
      void reply.headers(headers);
    }
    if (!isKnown && !PUBLIC_PATHS.has(path)) return send(reply, { status: 401, body: UNAUTHENTICATED });
    return undefined;
  };

  const server = createSimServer<SimRequest, BonjoroState>({
    name: 'bonjoro',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    // Laravel reads a body that is not JSON as no input: the validation errors say what is missing.
    isInvalidJsonRejected: false,
    state,
    snapshot: () => state.snapshot(),
    answers: { status: faultAnswer, rateLimited: tooManyAttempts },
    guard,
  });
  registerBonjoroRoutes(server.app, state, options.validationStyle ?? 'laravel');
  await server.listen();

  const users = [...state.users.values()];
  const credentials: BonjoroCredentials = {
    token: tokens[0] as string,
    tokens,
    users: users.map((u) => ({ id: u.id, name: `${u.firstName} ${u.lastName}`, email: u.email })),
    campaigns: state.campaigns.map((c) => ({ id: c.id, uuid: c.uuid, name: c.name })),
    templates: [...state.templates.values()].map((t) => ({ id: t.id, name: t.name })),
  };
  return {
    name: 'bonjoro',
    url: server.url,
    apiUrl: `${server.url}/api/v2`,
    credentials,
    state,
    faults: server.faults,
    requests: server.requests,
    greets: () => state.greets(),
    profiles: () => [...state.profiles.values()],
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    resetRateLimits: () => limiter?.reset(),
    close: () => server.close(),
  };
}

/** A status fault given no body answers in Bonjoro's shape for that status (§4.3). */
function faultAnswer(status: number): SimAnswer {
  switch (status) {
    case 401:
      return { status, body: UNAUTHENTICATED };
    case 403:
      return { status, body: errorBody(403, 'No access') };
    case 404:
      return { status, body: errorBody(404, 'Not Found') };
    case 422:
      return { status, body: { message: 'The given data was invalid.', errors: {} } };
    case 429:
      return { status, body: TOO_MANY_ATTEMPTS };
    default:
      return { status, body: errorBody(status, status >= 500 ? WEIRDLY_WRONG : 'Error message') };
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
