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
 * The rest of the client lives beside it: errors in `client-errors.ts`, tokens in
 * `client-tokens.ts`, JSON:API schemas and the records parsed from them in `client-records.ts`.
 */
import { createHash } from 'node:crypto';
import { createHttpClient, type HttpClient, type HttpMethod, type HttpResult } from '../../lib/http.js';
import { parseJsonBody } from '../../lib/json.js';
import { callRecordOf } from '../outbound.js';
import type { CallRecord, OutboundRequest, ScheduleDeps, SecretResolver } from '../types.js';
import { KajabiApiError, kajabiFailure } from './client-errors.js';
import { contactOf, customerOf, hookOf, identifiersDocument, listDocument, oneDocument, purchaseOf, siteOf, transactionOf, type JsonApiResource, type KajabiContactRecord, type KajabiCustomerRecord, type KajabiHookRecord, type KajabiPurchaseRecord, type KajabiSiteRecord, type KajabiTransactionRecord } from './client-records.js';
import { KajabiTokens, type TokenCache } from './client-tokens.js';
import type { KajabiDestinationConfig } from './schema.js';

export const JSON_API = 'application/vnd.api+json';
/** The most a list page holds (§5.3: assumed global from contact_notes). */
export const PAGE_SIZE = 100;
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

// ---------------------------------------------------------------------------------------------
// The client

export class KajabiClient {
  readonly #options: KajabiClientOptions & { readonly baseUrl: string };
  readonly #now: () => number;
  readonly #tokens: KajabiTokens;
  #lastCall: CallRecord | undefined;

  constructor(options: KajabiClientOptions) {
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#options = { ...options, baseUrl };
    this.#now = options.now ?? Date.now;
    this.#tokens = new KajabiTokens({
      send: options.send,
      baseUrl,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      userAgent: options.userAgent,
      now: this.#now,
      ...(options.isShadow === undefined ? {} : { isShadow: options.isShadow }),
      ...(options.tokenCache === undefined ? {} : { tokenCache: options.tokenCache }),
    });
  }

  /** The last resource call this client made (for the audit record); token calls are not kept. */
  get lastCall(): CallRecord | undefined {
    return this.#lastCall;
  }

  // --- OAuth (client-tokens.ts) --------------------------------------------------------------

  /** A valid access token: the cached one, refreshed shortly before it expires, else a new grant. */
  accessToken(): Promise<string> {
    return this.#tokens.accessToken();
  }

  /** `POST /v1/oauth/revoke` for the cached access token (and forgets it). */
  revoke(): Promise<void> {
    return this.#tokens.revoke();
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
        const stale = this.#tokens.entry.token;
        if (stale && stale.accessToken === token) await this.#tokens.renew(stale);
        else if (!stale) await this.accessToken();
        continue;
      }
      throw kajabiFailure(result, method, path, call, false, this.#now);
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
    if (this.#tokens.entry.firstSiteId !== undefined) return this.#tokens.entry.firstSiteId;
    const [first] = await this.listSites();
    if (!first) throw new KajabiApiError({ kind: 'invalid_response', status: 200, reason: 'the key sees no site: set the destination siteId, or give the key access to a site', call: this.#lastCall ?? emptyCall('GET', `${this.#options.baseUrl}/v1/sites`), method: 'GET', path: '/v1/sites' });
    this.#tokens.entry.firstSiteId = first.id;
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

function emptyCall(method: string, url: string): CallRecord {
  return { request: { method, url, headers: {}, bodyBytes: 0, bodySha256: createHash('sha256').update('').digest('hex') }, correlation: {} };
}
