/**
 * The Meta Marketing API simulator: a real HTTP server on loopback that behaves like
 * graph.facebook.com for customer-file Custom Audiences (reference/destinations.md §2, §6, §8),
 * built on the shared simulator server, so it also takes faults on demand and records what it
 * receives (`/_sim/requests`, `/_sim/faults`, `/_sim/state`).
 *
 * - Paths under any `/vNN.N/` (the docs use v25.0, the official SDK pins v24.0) or none.
 * - The token in `access_token` (query or body) or `Authorization: Bearer`/`OAuth`. None: code
 *   104; unknown: code 190; expired on demand (`expireToken()`): 190 subcode 463. All HTTP 400
 *   with `WWW-Authenticate`, as Graph answers them [C].
 * - Usage headers on every answer, throttling at 100% of the quota (simulator-usage.ts).
 * - Audiences, users, replace sessions, sessions list (simulator-routes.ts, simulator-state.ts).
 * - Node's 16 KiB header limit raised (`maxHeaderBytes`): the SDK's deleteUsers puts every hash in
 *   the query string (§8).
 *
 *   const sim = await startMetaSimulator();
 *   await fetch(`${sim.graphUrl}/${sim.audienceId}/users?access_token=${sim.accessToken}`, {
 *     method: 'POST', headers: { 'content-type': 'application/json' },
 *     body: JSON.stringify({ payload: { schema: 'EMAIL_SHA256', data: [sha256('ada@example.com')] } }),
 *   });
 *   expect(sim.members(sim.audienceId).map((m) => m.keys.EMAIL)).toEqual([sha256('ada@example.com')]);
 *
 * On demand: `flagAudience(id)` (operation_status 471, writes answer 1713230), `setMinimumSize(n)`
 * (a removal leaving fewer members fails), `expireToken()`; over HTTP, `POST /_sim/conditions`.
 * A `rate_limited` fault answers the throttling error; a status fault given no body, Graph's own
 * error for that status.
 */
import type { FastifyReply } from 'fastify';
import type { Server } from 'node:http';
import { createSimServer, send, type FaultRules, type RunningSimulator, type SimAnswer, type SimRequest, type SimulatorStartOptions, type SimView, type WaitOptions } from '../../simulators/index.js';
import { prng } from '../../simulators/random.js';
import { conditionsOf, flagAudience, registerConditionRoutes, Tokens, type MetaConditions } from './simulator-control.js';
import { errorAnswer, errors, type GraphError } from './simulator-graph.js';
import type { MetaMember } from './simulator-payload.js';
import { MetaState, type AudienceInput, type MetaAudience, type MetaSession } from './simulator-state.js';
import { registerGraphRoutes } from './simulator-routes.js';
import { throttleError, standardQuota, usageHeaders, UsageMeter, type MetaUsageLimit, type ThrottleCode } from './simulator-usage.js';
import { snapshot } from './simulator-views.js';

export type { MetaConditions } from './simulator-control.js';
export type { MetaKey, MetaMember } from './simulator-payload.js';
export { isMatched, KEYS, MAX_ROWS } from './simulator-payload.js';
export type { AudienceInput, BatchAnswer, CustomerFileSource, MetaAudience, MetaSession, MetaState, SessionStage } from './simulator-state.js';
export type { MetaUsageLimit, ThrottleCode } from './simulator-usage.js';
export { countBounds } from './simulator-views.js';

export const GRAPH_VERSION = 'v25.0';
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;

export interface MetaSimulatorOptions extends SimulatorStartOptions {
  /** The accepted token (`accessToken`). @default `EAA…`, from the seed */
  readonly accessToken?: string;
  /** More accepted tokens. @default none */
  readonly tokens?: readonly string[];
  /** `act_<digits>` or the digits. @default 15 digits from the seed */
  readonly adAccountId?: string;
  /** Audiences made at start, oldest first; the first is `audienceId`. @default one, "Kit subscribers" */
  readonly audiences?: readonly AudienceInput[];
  /** Share of identities Meta "matches" (num_matched, the count bounds) [U: real rates vary, 40–70% is common]. @default 0.6 */
  readonly matchRate?: number;
  /** Matched counts below this report bounds of 0 and this (simulator-views.ts) [U]. @default 1000 */
  readonly countFloor?: number;
  /** `false`: headers at 0%, never throttled. @default { callsPerWindow: 5000 + 40 × audiences, windowMs: 1 h, throttleCode: 80003 } */
  readonly usage?: MetaUsageLimit | false;
  /** An open replace session expires this long after it started (§2.3 [U]). @default 90 minutes */
  readonly replaceTimeoutMs?: number;
  /** Node's limit on the request line and headers [U: Graph's own limit is unknown]. @default 16 MiB */
  readonly maxHeaderBytes?: number;
  /** @default 10_000 */
  readonly maxRequests?: number;
  /** Drives sessions (and their expiry), usage windows and `time_updated`. @default Date.now */
  readonly now?: () => number;
}

/** A type, not an interface: it must fit RunningSimulator's `Record<string, unknown>`. */
export type MetaCredentials = {
  readonly accessToken: string;
  /** `act_<digits>`. */
  readonly adAccountId: string;
  /** The first audience made at start, if any. */
  readonly audienceId: string | undefined;
  /** `${url}/v25.0`. */
  readonly graphUrl: string;
  readonly apiVersion: string;
};

export interface MetaSimulator extends RunningSimulator {
  readonly name: 'meta';
  /** `http://127.0.0.1:PORT`: what the SDK's `GRAPH` is pointed at. */
  readonly url: string;
  /** `${url}/v25.0`. */
  readonly graphUrl: string;
  readonly accessToken: string;
  /** `act_<digits>`. */
  readonly adAccountId: string;
  /** The first audience made at start; `''` when started with none. */
  readonly audienceId: string;
  readonly credentials: MetaCredentials;
  readonly state: MetaState;
  /** `sim.faults.add({ kind, method?, path?, times?, … })`; see simulators/faults.ts. */
  readonly faults: FaultRules;
  /** Every request received (not `/_sim/*`), oldest first. */
  readonly requests: readonly SimRequest[];
  /** Live audiences, newest first. */
  audiences(): readonly MetaAudience[];
  audience(id: string): MetaAudience | undefined;
  /** An audience's members, oldest first (`[]` for an unknown id). */
  members(audienceId: string): readonly MetaMember[];
  /** An audience's sessions, oldest first. */
  sessions(audienceId: string): readonly MetaSession[];
  /** Makes an audience without a request (nothing counted against the quota). */
  createAudience(input: AudienceInput): MetaAudience;
  /** operation_status 471 and writes refused with subcode 1713230; `false` lifts it. */
  flagAudience(id: string, isFlagged?: boolean): void;
  /** A removal that would leave fewer members than this fails; `undefined` lifts it [U]. */
  setMinimumSize(size: number | undefined): void;
  /** Answers 190/463 for this token (default: `accessToken`); `false` makes it valid again. */
  expireToken(isExpired?: boolean, token?: string): void;
  conditions(): MetaConditions;
  waitFor(predicate: (view: SimView<SimRequest, MetaState>) => boolean, options?: WaitOptions): Promise<SimView<SimRequest, MetaState>>;
  /** Forgets every call counted against the quota. */
  resetUsage(): void;
  close(): Promise<void>;
}

export async function startMetaSimulator(options: MetaSimulatorOptions = {}): Promise<MetaSimulator> {
  const now = options.now ?? Date.now;
  const seed = options.seed ?? 1;
  const state = new MetaState({ seed, now, adAccountId: options.adAccountId, matchRate: options.matchRate ?? 0.6, replaceTimeoutMs: options.replaceTimeoutMs ?? 90 * 60_000 });
  const accessToken = options.accessToken ?? `EAA${tokenFrom(seed)}`;
  const tokens = new Tokens([accessToken, ...(options.tokens ?? [])], now);
  const countFloor = options.countFloor ?? 1000;
  for (const input of options.audiences ?? [{ name: 'Kit subscribers', description: 'Made by the kitrelay Meta simulator' }]) state.createAudience(input);
  const audienceId = [...state.audiences.keys()][0];
  const throttle = createThrottle(state, options.usage, now);

  const server = createSimServer<SimRequest, MetaState>({
    name: 'meta',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    // 10,000 rows of up to 15 hashed keys, form-encoded, pass 10 MiB.
    bodyLimit: 64 * 1024 * 1024,
    state,
    snapshot: () => ({ ...snapshot(state, countFloor), usage: throttle.meter.read(), conditions: conditionsOf(state, tokens) }),
    answers: { status: (status) => throttle.answer(faultError(status, throttle.code)), rateLimited: throttle.rateLimited },
    // Authentication first: a call without a valid token is not counted against the quota.
    guard: (request, reply) => {
      const authError = tokens.check(request);
      if (authError) return send(reply, throttle.answer(authError, usageHeaders(throttle.meter.read(), state.accountId, false)));
      return throttle.guard(reply);
    },
  });
  // Node reads the limit per connection from the server; createSimServer does not take Node's
  // server options, so it is set on the server before it listens.
  (server.app.server as Server & { maxHeaderSize?: number }).maxHeaderSize = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  registerConditionRoutes(server.app, { state, tokens, accessToken });
  registerGraphRoutes(server.app, { state, countFloor });
  await server.listen();

  const graphUrl = `${server.url}/${GRAPH_VERSION}`;
  return {
    name: 'meta',
    url: server.url,
    graphUrl,
    accessToken,
    adAccountId: state.adAccountId,
    audienceId: audienceId ?? '',
    credentials: { accessToken, adAccountId: state.adAccountId, audienceId, graphUrl, apiVersion: GRAPH_VERSION },
    state,
    faults: server.faults,
    requests: server.requests,
    audiences: () => state.liveAudiences(),
    audience: (id) => state.audience(id),
    members: (id) => [...(state.audiences.get(id)?.members.values() ?? [])].map(({ identity, keys }) => ({ identity, keys })),
    sessions: (id) => state.audiences.get(id)?.sessions ?? [],
    createAudience: (input) => state.createAudience(input),
    flagAudience: (id, isFlagged = true) => flagAudience(state, id, isFlagged),
    setMinimumSize: (size) => void (state.minimumSize = size),
    expireToken: (isExpired = true, token = accessToken) => tokens.expire(token, isExpired),
    conditions: () => conditionsOf(state, tokens),
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    resetUsage: () => throttle.meter.reset(),
    close: () => server.close(),
  };
}

/** The quota (simulator-usage.ts) as the server applies it: headers on every answer, the throttling error past 100%. */
function createThrottle(state: MetaState, rateLimit: MetaUsageLimit | false | undefined, now: () => number) {
  const limit = rateLimit === false ? undefined : rateLimit;
  const code: ThrottleCode = limit?.throttleCode ?? 80003;
  const meter = new UsageMeter({
    windowMs: limit?.windowMs ?? 3_600_000,
    quota: () => (rateLimit === false ? Infinity : (limit?.callsPerWindow ?? standardQuota(state.liveAudiences().length))),
    now,
  });
  const answer = (error: GraphError, headers: Record<string, string> = {}): SimAnswer => {
    const base = errorAnswer(error, state.traceId());
    return { ...base, headers: { ...headers, ...base.headers } };
  };
  return {
    meter,
    code,
    answer,
    /** Counts the call, or answers the throttling error when the quota is spent. */
    guard: (reply: FastifyReply): FastifyReply | undefined => {
      const decision = meter.take();
      const headers = usageHeaders(decision.reading, state.accountId, !decision.isAllowed);
      if (!decision.isAllowed) return send(reply, answer(throttleError(code), headers));
      void reply.headers({ ...headers, 'x-fb-trace-id': state.traceId() });
      return undefined;
    },
    /** A `rate_limited` fault. Graph sends no Retry-After: the wait is in the BUC header, in minutes [U]; a fault's own seconds are sent as asked. */
    rateLimited: (retryAfter: number | false | undefined): SimAnswer => {
      const reading = { ...meter.read(), percent: 100, ...(typeof retryAfter === 'number' ? { resetMs: retryAfter * 1000 } : {}) };
      const headers = usageHeaders(reading, state.accountId, true);
      if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
      return answer(throttleError(code), headers);
    },
  };
}

/** What a status fault given no body answers: Graph's error for that kind of failure [C]. */
function faultError(status: number, throttleCode: ThrottleCode): GraphError {
  if (status === 400) return errors.invalidParameter('Invalid parameter');
  if (status === 401) return { ...errors.invalidToken(), status };
  if (status === 403) return { status, message: '(#200) Permissions error', code: 200 };
  if (status === 404) return { ...errors.unsupported('GET', 'unknown'), status };
  if (status === 429) return { ...throttleError(throttleCode), status };
  if (status === 502 || status === 503 || status === 504) return errors.unexpected(status);
  return errors.unknown(status);
}

/** 40 letters and digits: what comes after `EAA` in a Meta token. */
function tokenFrom(seed: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const random = prng(seed ^ 0x9e3779b9);
  return Array.from({ length: 40 }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
}
