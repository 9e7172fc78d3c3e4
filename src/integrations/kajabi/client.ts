/**
 * Kajabi's Public API (reference/destinations.md §5.3): OAuth client credentials, JSON:API
 * resources under `/v1`, paged lists, and the calls kitrelay makes (sites, purchases, transactions,
 * customers, contacts, offer grants, public-API hooks).
 *
 * One client serves two callers through one `KajabiSend`: an action passes its attempt's
 * `ActionHttp.send` (timeouts, abort, shadow mode and the audit record apply to every call), a
 * schedule or the CLI a plain `HttpClient` with a timeout (`sendThrough`). Methods answer parsed
 * records and throw a `KajabiApiError` for any answer that is not the one asked for;
 * `kajabiErrorResult` turns one into the port's `ActionResult`. Anything else thrown (the shadow
 * mode's `ShadowStop`, a bug) passes through untouched.
 *
 * Token calls carry the client secret and answer tokens: their audit view keeps neither the
 * request body nor the answer.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { createHttpClient, parseRetryAfter, type HttpClient, type HttpMethod, type HttpResult } from '../../lib/http.js';
import { isRecord, parseJsonBody } from '../../lib/json.js';
import { callRecordOf, mayHaveBeenApplied, ShadowStop } from '../outbound.js';
import type { ActionResult, CallRecord, OutboundRequest, ScheduleDeps, SecretResolver } from '../types.js';
import type { KajabiDestinationConfig } from './schema.js';

export const JSON_API = 'application/vnd.api+json';
/** The most a list page holds (§5.3: assumed global from contact_notes). */
export const PAGE_SIZE = 100;
/** A token is refreshed this long before it expires (capped at half its lifetime). */
export const REFRESH_MARGIN_MS = 60_000;
/** A list stops here whatever the links say: 100 000 resources, far beyond any site kitrelay serves. */
const MAX_PAGES = 1_000;

export type KajabiSend = (request: OutboundRequest) => Promise<HttpResult>;

/** A `KajabiSend` over a plain client, outside a job attempt (schedules, the CLI). */
export function sendThrough(http: HttpClient, options: { readonly timeoutMs: number; readonly signal?: AbortSignal }): KajabiSend {
  return (request) => http.send({ ...request, timeoutMs: Math.min(request.timeoutMs ?? options.timeoutMs, options.timeoutMs), ...(options.signal ? { signal: options.signal } : {}) });
}

export interface KajabiClientOptions {
  readonly send: KajabiSend;
  /** `https://api.kajabi.com`; paths are `/v1/...`. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly userAgent: string;
  /** Epoch ms, from the injected clock. @default Date.now */
  readonly now?: () => number;
  /**
   * The destination runs in shadow mode: no token is fetched (the token request would be the
   * shadow record instead of the call it is for); calls carry a placeholder bearer.
   * @default false
   */
  readonly isShadow?: boolean;
  /** Where tokens are kept. @default the process-wide cache (see `sharedTokenCache`) */
  readonly tokenCache?: TokenCache;
  /** The destination's `siteId`; absent: the key's first site (`siteId()`). */
  readonly siteId?: string;
}

/** A client for one destination: its secrets resolved, `send` the attempt's or a plain client's. */
export function kajabiClientFor(
  destination: Pick<KajabiDestinationConfig, 'baseUrl' | 'clientId' | 'clientSecret' | 'siteId' | 'mode'>,
  deps: { readonly send: KajabiSend; readonly secrets: SecretResolver; readonly userAgent: string; readonly now?: () => number },
): KajabiClient {
  return new KajabiClient({
    send: deps.send,
    baseUrl: destination.baseUrl,
    clientId: deps.secrets(destination.clientId),
    clientSecret: deps.secrets(destination.clientSecret),
    userAgent: deps.userAgent,
    isShadow: destination.mode === 'shadow',
    ...(destination.siteId === undefined ? {} : { siteId: destination.siteId }),
    ...(deps.now ? { now: deps.now } : {}),
  });
}

/** A client outside a job (a schedule, the CLI): the deps' HTTP client, or one made here and closed by `close`. */
export function openKajabiClient(deps: ScheduleDeps<KajabiDestinationConfig>, run: { readonly now?: () => number; readonly signal?: AbortSignal } = {}): { readonly client: KajabiClient; close(): Promise<void> } {
  const http = deps.http ?? createHttpClient();
  const send = sendThrough(http, { timeoutMs: deps.destination.timeoutMs, ...(run.signal ? { signal: run.signal } : {}) });
  const client = kajabiClientFor({ ...deps.destination, mode: 'live' }, { send, secrets: deps.secrets, userAgent: deps.userAgent, ...(run.now ? { now: run.now } : {}) });
  return { client, close: async () => (deps.http ? undefined : http.close()) };
}

// ---------------------------------------------------------------------------------------------
// Errors

export type KajabiErrorKind = 'http' | 'network' | 'oauth' | 'invalid_response';

/** A Kajabi answer that is not the one asked for, or no answer. */
export class KajabiApiError extends Error {
  readonly kind: KajabiErrorKind;
  readonly status: number | undefined;
  /** Kajabi's own words: `title: detail (at /pointer)` of each JSON:API error, or OAuth's `error`. */
  readonly reason: string;
  /** The first error's `source.pointer` (`/data/attributes/email`), when Kajabi gave one. */
  readonly pointer: string | undefined;
  /** The key is refused (bad secret, or 401 again with a fresh token): every call fails alike. */
  readonly isAuthFailure: boolean;
  /** 429's Retry-After in ms; null when absent or not a 429. */
  readonly retryAfterMs: number | null;
  /** The request may have been applied (a timeout or reset after sending a write). */
  readonly mayHaveBeenApplied: boolean;
  /** The network code (`ECONNREFUSED`, `timeout`, …) for `network` errors. */
  readonly code: string | undefined;
  readonly call: CallRecord;

  constructor(fields: { kind: KajabiErrorKind; status?: number; reason: string; pointer?: string; isAuthFailure?: boolean; retryAfterMs?: number | null; mayHaveBeenApplied?: boolean; code?: string; call: CallRecord; method: string; path: string }) {
    super(`Kajabi ${fields.method} ${fields.path}: ${fields.status === undefined ? '' : `HTTP ${fields.status}: `}${fields.reason}`);
    this.name = 'KajabiApiError';
    this.kind = fields.kind;
    this.status = fields.status;
    this.reason = fields.reason;
    this.pointer = fields.pointer;
    this.isAuthFailure = fields.isAuthFailure ?? false;
    this.retryAfterMs = fields.retryAfterMs ?? null;
    this.mayHaveBeenApplied = fields.mayHaveBeenApplied ?? false;
    this.code = fields.code;
    this.call = fields.call;
  }
}

/**
 * What a Kajabi failure means for the job: `retry` with the breaker opening for a refused key;
 * `retry` for 429 (at Retry-After), 408, 409, 5xx and connections that never carried the request;
 * `unknown` for a write that may have been applied; `failed` for every other 4xx and a request
 * that cannot be built. Anything but a `KajabiApiError` is thrown again (ShadowStop, bugs).
 */
export function kajabiErrorResult(error: unknown, extra: { readonly facts?: Readonly<Record<string, unknown>> } = {}): ActionResult {
  if (!(error instanceof KajabiApiError)) throw error;
  const record = { call: error.call, ...(extra.facts ? { facts: extra.facts } : {}) };
  const text = error.message;
  if (error.isAuthFailure) return { outcome: 'retry', error: `${text} (check the Public API key's client id and secret)`, opensBreaker: true, ...record };
  if (error.kind === 'network') {
    if (error.code === 'invalid_request') return { outcome: 'failed', error: `${text} (check the destination's baseUrl)`, ...record };
    return error.mayHaveBeenApplied ? { outcome: 'unknown', error: `${text} (the call may have been applied)`, ...record } : { outcome: 'retry', error: text, ...record };
  }
  if (error.kind === 'invalid_response') return error.mayHaveBeenApplied ? { outcome: 'unknown', error: text, ...record } : { outcome: 'retry', error: text, ...record };
  const status = error.status ?? 0;
  if (status === 429) return { outcome: 'retry', error: text, ...(error.retryAfterMs === null ? {} : { retryAfterMs: error.retryAfterMs }), ...record };
  if (status >= 500 || status === 408 || status === 409 || status === 401) return { outcome: 'retry', error: text, ...record };
  return { outcome: 'failed', error: text, ...record };
}

/** `title: detail (at pointer)` for each JSON:API error; OAuth's `{"error":"…"}`; else the body's start. */
export function readErrorBody(body: Buffer): { reason: string; pointer?: string } {
  const parsed = parseJsonBody(body);
  if (isRecord(parsed) && Array.isArray(parsed.errors) && parsed.errors.length > 0) {
    const errors = parsed.errors.filter(isRecord);
    const pointerOf = (e: Record<string, unknown>) => (isRecord(e.source) && typeof e.source.pointer === 'string' ? e.source.pointer : undefined);
    const reason = errors
      .map((e) => {
        const words = [text(e.title), text(e.detail)].filter((w): w is string => w !== undefined);
        const pointer = pointerOf(e);
        return `${words.join(': ') || 'error'}${pointer === undefined ? '' : ` (at ${pointer})`}`;
      })
      .join('; ');
    const pointer = errors.map(pointerOf).find((p) => p !== undefined);
    return pointer === undefined ? { reason } : { reason, pointer };
  }
  if (isRecord(parsed) && typeof parsed.error === 'string') {
    const description = text(parsed.error_description);
    return { reason: description ? `${parsed.error}: ${description}` : parsed.error };
  }
  return { reason: body.subarray(0, 200).toString('utf8').trim() || 'no body' };
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Tokens

interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly expiresAt: number;
  readonly lifetimeMs: number;
}

export interface TokenCacheEntry {
  token?: TokenSet;
  /** The key's site when the config names none (`GET /v1/sites`' first): one call per process, not per job. */
  firstSiteId?: string;
}

export type TokenCache = Map<string, TokenCacheEntry>;

/**
 * Every job makes its own client, and a client credentials grant per job would double Kajabi
 * calls and mint a token per job (Kajabi's limits on tokens are not published, §5.3 [U]). So
 * tokens live here for the process, keyed by API, client id and a digest of the secret (a changed
 * secret is never served an old key's token). The one piece of module state in the integration:
 * a cache, safe to lose.
 */
export const sharedTokenCache: TokenCache = new Map();

const cacheKey = (baseUrl: string, clientId: string, secret: string) => `${baseUrl}\n${clientId}\n${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;

const tokenAnswer = z.looseObject({ access_token: z.string().min(1), refresh_token: z.string().nullish(), expires_in: z.coerce.number().positive().nullish() });

// ---------------------------------------------------------------------------------------------
// JSON:API

const idSchema = z.union([z.string().min(1), z.number()]).transform(String);
const identifier = z.looseObject({ type: z.string(), id: idSchema });
const relationship = z.looseObject({ data: z.union([identifier, z.array(identifier), z.null()]).optional() });
export const resourceSchema = z.looseObject({
  type: z.string(),
  id: idSchema,
  attributes: z.record(z.string(), z.unknown()).nullish().transform((a) => a ?? {}),
  relationships: z.record(z.string(), relationship).nullish().transform((r) => r ?? {}),
});
export type JsonApiResource = z.output<typeof resourceSchema>;

const listDocument = z.looseObject({
  data: z.array(resourceSchema),
  links: z.looseObject({ next: z.string().nullish() }).nullish(),
  meta: z.looseObject({ total_pages: z.number().nullish(), current_page: z.number().nullish(), total_count: z.number().nullish() }).nullish(),
});
const oneDocument = z.looseObject({ data: resourceSchema });
const identifiersDocument = z.looseObject({ data: z.array(identifier) });

export interface ListPage {
  readonly data: readonly JsonApiResource[];
  readonly number: number;
  readonly totalPages: number | null;
  readonly totalCount: number | null;
}

export type Query = Readonly<Record<string, string | number | undefined>>;

export interface ListOptions {
  /** Sparse fieldsets: `{ purchases: ['amount_in_cents'] }` → `fields[purchases]=amount_in_cents`. */
  readonly fields?: Readonly<Record<string, readonly string[]>>;
  /** @default 100 */
  readonly pageSize?: number;
}

/** The id in `relationships.<name>.data`, or null. */
export function relationshipId(resource: JsonApiResource, name: string): string | null {
  const data = resource.relationships[name]?.data;
  return data && !Array.isArray(data) ? data.id : null;
}

export function relationshipIds(resource: JsonApiResource, name: string): string[] {
  const data = resource.relationships[name]?.data;
  return Array.isArray(data) ? data.map((d) => d.id) : data ? [data.id] : [];
}

// ---------------------------------------------------------------------------------------------
// The client

export class KajabiClient {
  readonly #options: KajabiClientOptions & { readonly baseUrl: string };
  readonly #now: () => number;
  readonly #entry: TokenCacheEntry;
  #lastCall: CallRecord | undefined;

  constructor(options: KajabiClientOptions) {
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#options = { ...options, baseUrl };
    this.#now = options.now ?? Date.now;
    const cache = options.tokenCache ?? sharedTokenCache;
    const key = cacheKey(baseUrl, options.clientId, options.clientSecret);
    let entry = cache.get(key);
    if (!entry) {
      entry = {};
      cache.set(key, entry);
    }
    this.#entry = entry;
  }

  /** The last resource call this client made (for the audit record); token calls are not kept. */
  get lastCall(): CallRecord | undefined {
    return this.#lastCall;
  }

  // --- OAuth ---------------------------------------------------------------------------------

  /** A valid access token: the cached one, refreshed shortly before it expires, else a new grant. */
  async accessToken(): Promise<string> {
    if (this.#options.isShadow) return 'shadow-mode-placeholder';
    const token = this.#entry.token;
    if (token) {
      const margin = Math.min(REFRESH_MARGIN_MS, token.lifetimeMs / 2);
      if (this.#now() < token.expiresAt - margin) return token.accessToken;
      return (await this.#renew(token)).accessToken;
    }
    return (await this.#grant({ grant_type: 'client_credentials', client_id: this.#options.clientId, client_secret: this.#options.clientSecret })).accessToken;
  }

  /** `POST /v1/oauth/revoke` for the cached access token (and forgets it). */
  async revoke(): Promise<void> {
    const token = this.#entry.token;
    if (!token || this.#options.isShadow) return;
    delete this.#entry.token;
    const body = new URLSearchParams({ token: token.accessToken }).toString();
    const result = await this.#tokenSend('/v1/oauth/revoke', body, token.accessToken);
    if (result.kind === 'response' && result.status === 200) return;
    throw this.#failure(result, 'POST', '/v1/oauth/revoke', tokenCallRecord(result), true);
  }

  /** A token after `stale` was refused or is about to expire: refresh it, else a new grant. */
  async #renew(stale: TokenSet): Promise<TokenSet> {
    // Another client of the same key may have renewed it meanwhile: use theirs.
    const current = this.#entry.token;
    if (current && current.accessToken !== stale.accessToken && this.#now() < current.expiresAt) return current;
    if (stale.refreshToken !== null) {
      try {
        return await this.#grant({ grant_type: 'refresh_token', refresh_token: stale.refreshToken });
      } catch (error) {
        // A used or revoked refresh token: the client credentials still make a new one.
        if (!(error instanceof KajabiApiError) || error.kind !== 'oauth') throw error;
      }
    }
    return this.#grant({ grant_type: 'client_credentials', client_id: this.#options.clientId, client_secret: this.#options.clientSecret });
  }

  async #grant(params: Record<string, string>): Promise<TokenSet> {
    delete this.#entry.token;
    const path = '/v1/oauth/token';
    const result = await this.#tokenSend(path, new URLSearchParams(params).toString());
    const call = tokenCallRecord(result);
    if (result.kind !== 'response' || result.status !== 200) throw this.#failure(result, 'POST', path, call, true);
    const parsed = tokenAnswer.safeParse(parseJsonBody(result.body));
    if (!parsed.success) throw new KajabiApiError({ kind: 'invalid_response', status: result.status, reason: 'the token answer has no access_token', call, method: 'POST', path });
    // The lifetime is not documented (§5.3 [U]): without expires_in, assume an hour.
    const lifetimeMs = (parsed.data.expires_in ?? 3600) * 1000;
    const token: TokenSet = { accessToken: parsed.data.access_token, refreshToken: parsed.data.refresh_token ?? null, expiresAt: this.#now() + lifetimeMs, lifetimeMs };
    this.#entry.token = token;
    return token;
  }

  /** Token and revoke requests, whose bodies hold secrets: a shadow record keeps none of it. */
  async #tokenSend(path: string, body: string, bearer?: string): Promise<HttpResult> {
    try {
      return await this.#options.send({
        method: 'POST',
        url: `${this.#options.baseUrl}${path}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': this.#options.userAgent, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body,
        secretHeaderNames: ['authorization'],
      });
    } catch (error) {
      if (error instanceof ShadowStop) throw new ShadowStop(withoutBody(error.request));
      throw error;
    }
  }

  // --- JSON:API ------------------------------------------------------------------------------

  /** One call with the bearer; a 401 gets one fresh token and one more try. */
  async request(method: HttpMethod, path: string, options: { readonly query?: Query; readonly body?: unknown } = {}): Promise<HttpResult & { kind: 'response' }> {
    const url = `${this.#options.baseUrl}${path}${queryString(options.query)}`;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    let refreshed = false;
    for (;;) {
      const token = await this.accessToken();
      const result = await this.#options.send({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, accept: JSON_API, 'user-agent': this.#options.userAgent, ...(body === undefined ? {} : { 'content-type': JSON_API }) },
        ...(body === undefined ? {} : { body }),
        secretHeaderNames: ['authorization'],
      });
      const call = callRecordOf(result);
      this.#lastCall = call;
      if (result.kind === 'response' && result.status >= 200 && result.status < 300) return result;
      if (result.kind === 'response' && result.status === 401 && !refreshed && !this.#options.isShadow) {
        refreshed = true;
        const stale = this.#entry.token;
        if (stale && stale.accessToken === token) await this.#renew(stale);
        else if (!stale) await this.accessToken();
        continue;
      }
      throw this.#failure(result, method, path, call, false);
    }
  }

  async get(path: string, query?: Query): Promise<JsonApiResource> {
    return this.#one('GET', path, { ...(query ? { query } : {}) });
  }

  async post(path: string, body: unknown): Promise<JsonApiResource> {
    return this.#one('POST', path, { body });
  }

  async patch(path: string, body: unknown): Promise<JsonApiResource> {
    return this.#one('PATCH', path, { body });
  }

  /** A DELETE; `body` for relationship removals. */
  async delete(path: string, body?: unknown): Promise<HttpResult & { kind: 'response' }> {
    return this.request('DELETE', path, body === undefined ? {} : { body });
  }

  /** Every page of a list, `page[size]=100`, following `links.next` (or `meta.total_pages`). */
  async *list(path: string, query: Query = {}, options: ListOptions = {}): AsyncGenerator<ListPage> {
    const size = Math.min(options.pageSize ?? PAGE_SIZE, PAGE_SIZE);
    let number = 1;
    for (let pages = 0; pages < MAX_PAGES; pages += 1) {
      const result = await this.request('GET', path, { query: { ...query, ...fieldsQuery(options.fields), 'page[number]': number, 'page[size]': size } });
      const parsed = listDocument.safeParse(parseJsonBody(result.body));
      if (!parsed.success) throw this.#invalid(result, 'GET', path, 'a list answer without a data array');
      const { data, links, meta } = parsed.data;
      const totalPages = meta?.total_pages ?? null;
      yield { data, number, totalPages, totalCount: meta?.total_count ?? null };
      const next = nextPage(links?.next, number, totalPages);
      if (next === undefined || data.length === 0) return;
      number = next;
    }
  }

  /** Every resource of a list. */
  async all(path: string, query: Query = {}, options: ListOptions = {}): Promise<JsonApiResource[]> {
    const out: JsonApiResource[] = [];
    for await (const page of this.list(path, query, options)) out.push(...page.data);
    return out;
  }

  async #one(method: HttpMethod, path: string, options: { readonly query?: Query; readonly body?: unknown }): Promise<JsonApiResource> {
    const result = await this.request(method, path, options);
    const parsed = oneDocument.safeParse(parseJsonBody(result.body));
    if (!parsed.success) throw this.#invalid(result, method, path, 'an answer without a resource in data');
    return parsed.data.data;
  }

  #invalid(result: HttpResult & { kind: 'response' }, method: string, path: string, what: string): KajabiApiError {
    return new KajabiApiError({ kind: 'invalid_response', status: result.status, reason: `${what}${result.isTruncated ? ' (truncated)' : ''}`, mayHaveBeenApplied: method !== 'GET', call: callRecordOf(result), method, path });
  }

  #failure(result: HttpResult, method: string, path: string, call: CallRecord, isTokenCall: boolean): KajabiApiError {
    if (result.kind === 'network_error') {
      return new KajabiApiError({ kind: 'network', reason: `${result.code}: ${result.message}`, code: result.code, mayHaveBeenApplied: method !== 'GET' && !isTokenCall && mayHaveBeenApplied(result), call, method, path });
    }
    const { status } = result;
    const { reason, pointer } = readErrorBody(result.body);
    const retryAfterMs = status === 429 ? (parseRetryAfter(result.headers['retry-after'], this.#now()) ?? null) : null;
    // The token endpoint refusing the key (400/401 invalid_client) or a second 401 after a fresh token.
    const isAuthFailure = isTokenCall ? status === 401 || (status === 400 && /invalid_client|unauthorized_client/.test(reason)) : status === 401;
    return new KajabiApiError({ kind: isTokenCall && status < 500 && status !== 429 ? 'oauth' : 'http', status, reason, ...(pointer === undefined ? {} : { pointer }), isAuthFailure, retryAfterMs, call, method, path });
  }

  // --- Typed calls ---------------------------------------------------------------------------

  async listSites(): Promise<KajabiSiteRecord[]> {
    return (await this.all('/v1/sites')).map(siteOf);
  }

  /** The destination's site, else the key's first site (looked up once per process). */
  siteId(): Promise<string> {
    return this.resolveSiteId(this.#options.siteId);
  }

  /** `configured`, else the key's first site (looked up once per process). */
  async resolveSiteId(configured?: string): Promise<string> {
    if (configured !== undefined) return configured;
    if (this.#entry.firstSiteId !== undefined) return this.#entry.firstSiteId;
    const [first] = await this.listSites();
    if (!first) throw new KajabiApiError({ kind: 'invalid_response', status: 200, reason: 'the key sees no site: set the destination siteId, or give the key access to a site', call: this.#lastCall ?? emptyCall('GET', `${this.#options.baseUrl}/v1/sites`), method: 'GET', path: '/v1/sites' });
    this.#entry.firstSiteId = first.id;
    return first.id;
  }

  async getPurchase(id: string): Promise<KajabiPurchaseRecord> {
    return purchaseOf(await this.get(`/v1/purchases/${encodeURIComponent(id)}`));
  }

  async listPurchases(options: { readonly siteId?: string; readonly customerId?: string } = {}): Promise<KajabiPurchaseRecord[]> {
    return (await this.all('/v1/purchases', { 'filter[site_id]': options.siteId, 'filter[customer_id]': options.customerId })).map(purchaseOf);
  }

  async getTransaction(id: string): Promise<KajabiTransactionRecord> {
    return transactionOf(await this.get(`/v1/transactions/${encodeURIComponent(id)}`));
  }

  /** `startDate`/`endDate`: epoch ms, sent as ISO 8601 (inclusive, as the simulator reads them). */
  async listTransactions(options: { readonly siteId?: string; readonly customerId?: string; readonly startDate?: number; readonly endDate?: number } = {}): Promise<KajabiTransactionRecord[]> {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const query = { 'filter[site_id]': options.siteId, 'filter[customer_id]': options.customerId, 'filter[start_date]': iso(options.startDate), 'filter[end_date]': iso(options.endDate) };
    return (await this.all('/v1/transactions', query)).map(transactionOf);
  }

  async getCustomer(id: string): Promise<KajabiCustomerRecord> {
    return customerOf(await this.get(`/v1/customers/${encodeURIComponent(id)}`));
  }

  /** `filter[search]` matches names and parts of emails: only an exact (case-insensitive) email counts. */
  async findContactByEmail(siteId: string, email: string): Promise<KajabiContactRecord | undefined> {
    const wanted = email.trim().toLowerCase();
    for await (const page of this.list('/v1/contacts', { 'filter[site_id]': siteId, 'filter[search]': email.trim() })) {
      const found = page.data.map(contactOf).find((c) => c.email.trim().toLowerCase() === wanted);
      if (found) return found;
    }
    return undefined;
  }

  async createContact(siteId: string, contact: { readonly email: string; readonly name?: string }): Promise<KajabiContactRecord> {
    const attributes = { email: contact.email, ...(contact.name ? { name: contact.name } : {}) };
    return contactOf(await this.post('/v1/contacts', { data: { type: 'contacts', attributes, relationships: { site: { data: { type: 'sites', id: siteId } } } } }));
  }

  /** Grants access; granting one the contact has is fine (200). Answers the contact's offers. */
  async grantOffers(contactId: string, offerIds: readonly string[], options: { readonly sendWelcomeEmail?: boolean } = {}): Promise<string[]> {
    const body = { data: offerIds.map((id) => ({ type: 'offers', id })), meta: { send_customer_welcome_email: options.sendWelcomeEmail ?? false } };
    const path = `/v1/contacts/${encodeURIComponent(contactId)}/relationships/offers`;
    return this.#offers(await this.request('POST', path, { body }), 'POST', path);
  }

  /** Revokes access. Answers the contact's remaining offers. */
  async revokeOffers(contactId: string, offerIds: readonly string[]): Promise<string[]> {
    const path = `/v1/contacts/${encodeURIComponent(contactId)}/relationships/offers`;
    return this.#offers(await this.delete(path, { data: offerIds.map((id) => ({ type: 'offers', id })) }), 'DELETE', path);
  }

  #offers(result: HttpResult & { kind: 'response' }, method: string, path: string): string[] {
    const parsed = identifiersDocument.safeParse(parseJsonBody(result.body));
    if (!parsed.success) throw this.#invalid(result, method, path, "an answer without the contact's offers");
    return parsed.data.data.map((d) => d.id);
  }

  async listHooks(event?: string): Promise<KajabiHookRecord[]> {
    return (await this.all('/v1/hooks', { 'filter[event_eq]': event })).map(hookOf);
  }

  async createHook(hook: { readonly siteId: string; readonly targetUrl: string; readonly event: string; readonly resourceId?: string }): Promise<KajabiHookRecord> {
    const attributes = { target_url: hook.targetUrl, event: hook.event, ...(hook.resourceId === undefined ? {} : { resource_id: hook.resourceId }) };
    return hookOf(await this.post('/v1/hooks', { data: { type: 'hooks', attributes, relationships: { site: { data: { type: 'sites', id: hook.siteId } } } } }));
  }

  async deleteHook(id: string): Promise<void> {
    await this.delete(`/v1/hooks/${encodeURIComponent(id)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Records

export interface KajabiSiteRecord {
  readonly id: string;
  readonly title: string;
}

export interface KajabiPurchaseRecord {
  readonly id: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly transactionId: string | null;
  readonly amountInCents: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly deactivatedAt: number | null;
  readonly deactivationReason: string | null;
}

export interface KajabiTransactionRecord {
  readonly id: string;
  /** charge | refund | subscribe | subscription_charge | free_purchase | test | dispute | subscription_update (§5.3). */
  readonly action: string;
  /** initialized | succeeded | failed. */
  readonly state: string;
  /** Negative for a refund. */
  readonly amountInCents: number;
  readonly customerId: string;
  /** Null for a bundle (since 1.1.0 `purchases` replaces it, §5.3). */
  readonly offerId: string | null;
  readonly purchaseIds: readonly string[];
  readonly createdAt: number;
}

export interface KajabiCustomerRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly contactId: string | null;
}

export interface KajabiContactRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly customerId: string | null;
  readonly offerIds: readonly string[];
}

export interface KajabiHookRecord {
  readonly id: string;
  readonly event: string;
  readonly targetUrl: string;
  readonly resourceId: string | null;
  readonly siteId: string | null;
}

const when = z.string().nullish().transform((s) => {
  const ms = s == null ? Number.NaN : Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
});
const cents = z.number().nullish().transform((n) => n ?? 0);
const words = z.string().nullish().transform((s) => s ?? '');
const optionalId = z.union([z.string(), z.number()]).nullish().transform((v) => (v == null ? null : String(v)));

const purchaseAttributes = z.looseObject({ amount_in_cents: cents, created_at: when, deactivated_at: when, deactivation_reason: z.string().nullish().transform((s) => s ?? null) });
const transactionAttributes = z.looseObject({ action: words, state: words, amount_in_cents: cents, created_at: when });
const personAttributes = z.looseObject({ email: words, name: words });
const hookAttributes = z.looseObject({ event: words, target_url: words, resource_id: optionalId });
const siteAttributes = z.looseObject({ title: words });

function siteOf(resource: JsonApiResource): KajabiSiteRecord {
  return { id: resource.id, title: siteAttributes.parse(resource.attributes).title };
}

export function purchaseOf(resource: JsonApiResource): KajabiPurchaseRecord {
  const a = purchaseAttributes.parse(resource.attributes);
  return { id: resource.id, offerId: relationshipId(resource, 'offer') ?? '', customerId: relationshipId(resource, 'customer') ?? '', transactionId: relationshipId(resource, 'transaction'), amountInCents: a.amount_in_cents, createdAt: a.created_at ?? 0, deactivatedAt: a.deactivated_at, deactivationReason: a.deactivation_reason };
}

export function transactionOf(resource: JsonApiResource): KajabiTransactionRecord {
  const a = transactionAttributes.parse(resource.attributes);
  return { id: resource.id, action: a.action, state: a.state, amountInCents: a.amount_in_cents, customerId: relationshipId(resource, 'customer') ?? '', offerId: relationshipId(resource, 'offer'), purchaseIds: relationshipIds(resource, 'purchases'), createdAt: a.created_at ?? 0 };
}

export function customerOf(resource: JsonApiResource): KajabiCustomerRecord {
  const a = personAttributes.parse(resource.attributes);
  return { id: resource.id, email: a.email, name: a.name, contactId: relationshipId(resource, 'contact') };
}

export function contactOf(resource: JsonApiResource): KajabiContactRecord {
  const a = personAttributes.parse(resource.attributes);
  return { id: resource.id, email: a.email, name: a.name, customerId: relationshipId(resource, 'customer'), offerIds: relationshipIds(resource, 'offers') };
}

export function hookOf(resource: JsonApiResource): KajabiHookRecord {
  const a = hookAttributes.parse(resource.attributes);
  return { id: resource.id, event: a.event, targetUrl: a.target_url, resourceId: a.resource_id, siteId: relationshipId(resource, 'site') };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(name, String(value));
  const search = params.toString();
  return search === '' ? '' : `?${search}`;
}

function fieldsQuery(fields: ListOptions['fields']): Record<string, string> {
  return Object.fromEntries(Object.entries(fields ?? {}).map(([type, names]) => [`fields[${type}]`, names.join(',')]));
}

/** The page after `current`: `links.next`'s page number, else the next while `meta.total_pages` says there is one. */
function nextPage(next: string | null | undefined, current: number, totalPages: number | null): number | undefined {
  if (typeof next === 'string' && next !== '') {
    const search = next.includes('?') ? next.slice(next.indexOf('?') + 1) : '';
    const named = Number(new URLSearchParams(search).get('page[number]'));
    return Number.isInteger(named) && named > current ? named : current + 1;
  }
  if (next === undefined && totalPages !== null && current < totalPages) return current + 1;
  return undefined;
}

/** A token call's audit view: no body (it holds the secret), no answer (it holds the tokens). */
function tokenCallRecord(result: HttpResult): CallRecord {
  const request = withoutBody(result.request);
  return result.kind === 'response' ? { request, responseStatus: result.status, correlation: {} } : { request, correlation: {} };
}

function withoutBody<R extends { readonly bodyPreview?: string }>(request: R): Omit<R, 'bodyPreview'> {
  const { bodyPreview: _dropped, ...rest } = request;
  return rest;
}

function emptyCall(method: string, url: string): CallRecord {
  return { request: { method, url, headers: {}, bodyBytes: 0, bodySha256: createHash('sha256').update('').digest('hex') }, correlation: {} };
}
