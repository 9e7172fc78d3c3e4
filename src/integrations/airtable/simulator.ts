/**
 * The Airtable simulator: a real HTTP server on loopback that behaves like api.airtable.com's Web
 * API (reference/destinations.md §3, §6, §8) — records, the meta API's schema and the Webhooks API
 * with MAC-signed pings — built on the shared simulator server, so it also takes faults on demand
 * and records what it receives (`/_sim/requests`, `/_sim/faults`, `/_sim/state`).
 *
 * - Auth: `Authorization: Bearer <personal access token>`; none or unknown → 401
 *   AUTHENTICATION_REQUIRED; a token without access to the base (or the scope) → 403
 *   INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND, as an unknown base or table is.
 * - Records (simulator-routes.ts, -list.ts, -writes.ts), typed fields (simulator-fields.ts),
 *   `filterByFormula` (simulator-formula*.ts).
 * - 5 requests a second per base, 50 per token, then 429 for 30 s (simulator-rate.ts).
 * - Webhooks (simulator-webhooks.ts, -webhook-routes.ts) and their pings (simulator-pings.ts).
 * - Edits "as a person in Airtable", schema, expiry on demand (simulator-control.ts).
 *
 *   const sim = await startAirtableSimulator();
 *   const base = new Airtable({ apiKey: sim.token, endpointUrl: sim.url }).base(sim.baseId);
 *   await base('Subscribers').create({ Email: 'ada@example.com', Tags: ['vip'] });
 *   expect(sim.records('Subscribers')).toMatchObject([{ fields: { Email: 'ada@example.com' } }]);
 *
 * A `rate_limited` fault answers Airtable's 429 body; a status fault given no body, Airtable's
 * body for that status (simulator-errors.ts).
 */
import type { FastifyRequest } from 'fastify';
import { createSimServer, send, type FaultRules, type RunningSimulator, type SimRequest, type SimulatorStartOptions, type SimView, type WaitOptions } from '../../simulators/index.js';
import { applyPersonEdit, registerControlRoutes, type PersonEdit } from './simulator-control.js';
import { errorAnswer, errors, rateLimitedAnswer, statusAnswer, type Result } from './simulator-errors.js';
import { Iterators, type IteratorOptions } from './simulator-list.js';
import { Pinger, type PingAttempt, type PingOptions } from './simulator-pings.js';
import { RateLimits, type AirtableRateLimit } from './simulator-rate.js';
import { READ_SCOPE, registerRecordRoutes, SCHEMA_SCOPE, WRITE_SCOPE } from './simulator-routes.js';
import { AirtableState, DEFAULT_BASE, type BaseSpec, type SimBase, type SimTable, type SimUser, type TableSpec } from './simulator-state.js';
import { basesSnapshot, recordJson, type RecordJson } from './simulator-views.js';
import { registerWebhookRoutes, WEBHOOK_SCOPE } from './simulator-webhook-routes.js';
import { Webhooks, type SimWebhook, type WebhookOptions } from './simulator-webhooks.js';

export type { PersonEdit } from './simulator-control.js';
export type { AirtableError } from './simulator-errors.js';
export { FIELD_TYPES, type AirtableField, type FieldSpec, type FieldType } from './simulator-fields.js';
export type { IteratorOptions } from './simulator-list.js';
export { signAirtablePing, type PingAttempt, type PingOptions } from './simulator-pings.js';
export type { AirtableRateLimit } from './simulator-rate.js';
export { DEFAULT_BASE, type AirtableState, type BaseSpec, type ChangeSource, type SimBase, type SimRecord, type SimTable, type SimUser, type TableSpec } from './simulator-state.js';
export type { RecordJson } from './simulator-views.js';
export type { SimWebhook, WebhookOptions } from './simulator-webhooks.js';

export const ALL_SCOPES: readonly string[] = [READ_SCOPE, WRITE_SCOPE, SCHEMA_SCOPE, WEBHOOK_SCOPE];

export interface AirtableTokenGrant {
  readonly token: string;
  /** Base ids or names the token may use. @default every base, those made later too */
  readonly bases?: readonly string[];
  /** @default ALL_SCOPES */
  readonly scopes?: readonly string[];
}

export interface AirtableWebhookOptions extends WebhookOptions, PingOptions {}

export interface AirtableSimulatorOptions extends SimulatorStartOptions {
  /** The token `credentials.token` names, allowed everything. @default `pat…`, from the seed */
  readonly token?: string;
  /** More tokens, each with its bases and scopes. @default none */
  readonly tokens?: readonly AirtableTokenGrant[];
  /** Bases made at start; the first one's first table is `tableId`. @default [DEFAULT_BASE] */
  readonly bases?: readonly BaseSpec[];
  /** `false` for no limits. @default { perBase: 5, perToken: 50, penaltyMs: 30_000 } */
  readonly rateLimit?: AirtableRateLimit | false;
  /** @default { ttlMs: 60_000, isEndedByWrites: false } */
  readonly iterators?: IteratorOptions;
  /** Webhook lifetime and ping retries. @default 7 days; retries after 1 s, 5 s, 30 s */
  readonly webhooks?: AirtableWebhookOptions;
  /** Larger bodies answer 413 [U: Airtable's limit is not documented]. @default 5 MiB */
  readonly bodyLimitBytes?: number;
  /** Requests kept in `requests`. @default 10_000 */
  readonly maxRequests?: number;
  /** Drives createdTime, modified times, iterators, webhook expiry and the rate limit. @default Date.now */
  readonly now?: () => number;
}

/** A type, not an interface: it must fit RunningSimulator's `Record<string, unknown>`. */
export type AirtableCredentials = {
  readonly token: string;
  /** The first base. */
  readonly baseId: string;
  /** Its first table. */
  readonly tableId: string;
  readonly tableName: string;
};

/** Where a person's edit happens, and who makes it. */
export type PersonOptions = Pick<PersonEdit, 'baseId' | 'user'>;

export interface AirtableSimulator extends RunningSimulator {
  readonly name: 'airtable';
  /** `http://127.0.0.1:PORT`: airtable.js's `endpointUrl` (it adds `/v0`). */
  readonly url: string;
  readonly token: string;
  readonly baseId: string;
  readonly tableId: string;
  readonly credentials: AirtableCredentials;
  readonly state: AirtableState;
  /** `sim.faults.add({ kind, method?, path?, times?, … })`; see simulators/faults.ts. */
  readonly faults: FaultRules;
  /** Every request received (not `/_sim/*`), oldest first. */
  readonly requests: readonly SimRequest[];
  createBase(spec: BaseSpec): SimBase;
  createTable(baseId: string, spec: TableSpec): SimTable;
  /** A table's records (id or name; default: the first table of `baseId`, default the first base), as the API shows them. */
  records(table?: string, baseId?: string): RecordJson[];
  /** Edits made "as a person in Airtable": source `client` in webhook payloads. They throw Airtable's error message. */
  readonly person: {
    create(table: string, fields: Readonly<Record<string, unknown>>, options?: PersonOptions): RecordJson;
    update(table: string, recordId: string, fields: Readonly<Record<string, unknown>>, options?: PersonOptions): RecordJson;
    replace(table: string, recordId: string, fields: Readonly<Record<string, unknown>>, options?: PersonOptions): RecordJson;
    delete(table: string, recordId: string, options?: PersonOptions): void;
  };
  /** Every webhook of every base, expired ones too. */
  webhooks(): readonly SimWebhook[];
  /** Every ping attempt, oldest first. */
  pings(): readonly PingAttempt[];
  /** Ends a webhook's life now. */
  expireWebhook(id: string): void;
  /** Every offset given so far answers LIST_RECORDS_ITERATOR_NOT_AVAILABLE. */
  expireIterators(): void;
  addToken(grant: AirtableTokenGrant): void;
  /** Forgets every count and penalty. */
  resetRateLimits(): void;
  waitFor(predicate: (view: SimView<SimRequest, AirtableState>) => boolean, options?: WaitOptions): Promise<SimView<SimRequest, AirtableState>>;
  close(): Promise<void>;
}

interface Grant {
  readonly bases: ReadonlySet<string> | undefined;
  readonly scopes: ReadonlySet<string>;
}

export async function startAirtableSimulator(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const now = options.now ?? Date.now;
  const state = new AirtableState({ seed: options.seed ?? 1, now });
  const token = options.token ?? `${state.newId('pat')}.${state.bytes(32).toString('hex')}`;
  const apiUser: SimUser = { id: state.newId('usr'), email: 'owner@example.com', name: 'Token Owner', permissionLevel: 'create' };
  const person: SimUser = { id: state.newId('usr'), email: 'editor@example.com', name: 'Ada Editor', permissionLevel: 'edit' };
  for (const spec of options.bases ?? [DEFAULT_BASE]) state.createBase(spec);
  const grants = new Map<string, Grant>();
  const addToken = (grant: AirtableTokenGrant) => grants.set(grant.token, { bases: grant.bases && new Set(grant.bases), scopes: new Set(grant.scopes ?? ALL_SCOPES) });
  for (const grant of [{ token }, ...(options.tokens ?? [])]) addToken(grant);
  const grantOf = (request: FastifyRequest) => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const grant = bearer === undefined ? undefined : grants.get(bearer);
    return grant && { token: bearer as string, grant };
  };
  const mayUse = (grant: Grant, base: SimBase) => !grant.bases || grant.bases.has(base.id) || grant.bases.has(base.name);

  const rate = new RateLimits(options.rateLimit, now);
  const iterators = new Iterators(state, options.iterators);
  const webhooks = new Webhooks(state, options.webhooks);
  let notify = () => undefined as void;
  const pinger = new Pinger({ now, isPingable: (hook) => webhooks.all().includes(hook) && webhooks.isActive(hook) && hook.areNotificationsEnabled, onAttempt: () => notify() }, options.webhooks);
  webhooks.onPayload = (hook) => pinger.request(hook);

  const server = createSimServer<SimRequest, AirtableState>({
    name: 'airtable',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    bodyLimit: options.bodyLimitBytes ?? 5 * 1024 * 1024,
    state,
    snapshot: () => ({
      bases: basesSnapshot(state.bases.values()),
      webhooks: webhooks.all().map((h) => ({ ...webhooks.json(h), baseId: h.baseId, payloads: h.payloads.length })),
      iterators: iterators.size,
      rateLimits: rate.snapshot(),
      pings: pinger.attempts.length,
    }),
    answers: { status: statusAnswer, rateLimited: (retryAfter) => rateLimitedAnswer(retryAfter ?? rate.retryAfterSeconds) },
    // Authentication, then access to the base and the route's scope, then the rate limit: refused requests are not counted.
    guard: (request, reply) => {
      const caller = grantOf(request);
      if (!caller) return send(reply, errorAnswer(errors.authenticationRequired()));
      const baseId = (request.params as { baseId?: string } | undefined)?.baseId;
      const base = baseId === undefined ? undefined : state.bases.get(baseId);
      if (baseId !== undefined && (!base || !mayUse(caller.grant, base))) return send(reply, errorAnswer(errors.invalidPermissions()));
      const scope = (request.routeOptions.config as { scope?: string } | undefined)?.scope;
      if (scope !== undefined && !caller.grant.scopes.has(scope)) return send(reply, errorAnswer(errors.invalidPermissions()));
      if (!rate.take(baseId, caller.token)) return send(reply, rateLimitedAnswer(rate.retryAfterSeconds));
      return undefined;
    },
  });
  notify = () => server.notify();
  registerControlRoutes(server.app, {
    state,
    person,
    expireIterators: () => iterators.expireAll(),
    expireWebhook: (id) => {
      const hook = webhooks.all().find((h) => h.id === id);
      if (hook) webhooks.expire(hook);
      return hook !== undefined;
    },
    resetRateLimits: () => rate.reset(),
    pings: () => pinger.attempts,
    notify,
  });
  registerWebhookRoutes(server.app, { state, webhooks });
  registerRecordRoutes(server.app, { state, iterators, apiUser, basesFor: (request) => [...state.bases.values()].filter((b) => mayUse(grantOf(request)?.grant ?? { bases: new Set(), scopes: new Set() }, b)) });
  await server.listen();

  const firstBase = [...state.bases.values()][0];
  const firstTable = firstBase?.tables[0];
  const baseOf = (baseId: string | undefined) => {
    const base = baseId === undefined ? firstBase : state.bases.get(baseId);
    if (!base) throw new RangeError(`airtable simulator: no base ${baseId ?? '(none made)'}`);
    return base;
  };
  const edit = <T>(action: PersonEdit): T => {
    const result = applyPersonEdit(state, person, action) as Result<T>;
    server.notify();
    if ('error' in result) throw new Error(`airtable simulator: ${result.error.type}: ${result.error.message}`);
    return result.ok;
  };
  const credentials: AirtableCredentials = { token, baseId: firstBase?.id ?? '', tableId: firstTable?.id ?? '', tableName: firstTable?.name ?? '' };
  return {
    name: 'airtable',
    url: server.url,
    token,
    baseId: credentials.baseId,
    tableId: credentials.tableId,
    credentials,
    state,
    faults: server.faults,
    requests: server.requests,
    createBase: (spec) => state.createBase(spec),
    createTable: (baseId, spec) => state.createTable(baseOf(baseId), spec),
    records(tableRef, baseId) {
      const base = baseOf(baseId);
      const table = tableRef === undefined ? base.tables[0] : state.table(base, tableRef);
      if (!table) throw new RangeError(`airtable simulator: no table ${tableRef ?? ''} in ${base.id}`);
      return [...table.records.values()].map((r) => recordJson(table, r));
    },
    person: {
      create: (table, fields, opts = {}) => edit<RecordJson>({ action: 'create', table, fields, ...opts }),
      update: (table, recordId, fields, opts = {}) => edit<RecordJson>({ action: 'update', table, recordId, fields, ...opts }),
      replace: (table, recordId, fields, opts = {}) => edit<RecordJson>({ action: 'replace', table, recordId, fields, ...opts }),
      delete: (table, recordId, opts = {}) => void edit<unknown>({ action: 'delete', table, recordId, ...opts }),
    },
    webhooks: () => webhooks.all(),
    pings: () => pinger.attempts,
    expireWebhook(id) {
      const hook = webhooks.all().find((h) => h.id === id);
      if (!hook) throw new RangeError(`airtable simulator: no webhook ${id}`);
      webhooks.expire(hook);
    },
    expireIterators: () => iterators.expireAll(),
    addToken: (grant) => void addToken(grant),
    resetRateLimits: () => rate.reset(),
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    async close() {
      pinger.close();
      await server.close();
    },
  };
}
