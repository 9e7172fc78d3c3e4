/** The Kajabi client over real HTTP on loopback, against the Kajabi simulator. */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { KajabiApiError, kajabiErrorResult } from './client-errors.js';
import type { TokenCache } from './client-tokens.js';
import { KajabiClient, sendThrough, type KajabiClientOptions } from './client.js';
import { startKajabiSimulator, type KajabiSimulator, type KajabiSimulatorOptions } from './simulator.js';

let sim: KajabiSimulator | undefined;
let http: HttpClient | undefined;
afterEach(async () => {
  await http?.close();
  await sim?.close();
  sim = undefined;
  http = undefined;
});

async function start(options: KajabiSimulatorOptions = {}): Promise<KajabiSimulator> {
  sim = await startKajabiSimulator({ rateLimit: false, ...options });
  http = createHttpClient();
  return sim;
}

function clientOf(s: KajabiSimulator, options: Partial<KajabiClientOptions> & { timeoutMs?: number } = {}): KajabiClient {
  const { timeoutMs, ...rest } = options;
  return new KajabiClient({
    send: sendThrough(http!, { timeoutMs: timeoutMs ?? 5_000 }),
    baseUrl: s.url,
    clientId: s.credentials.clientId,
    clientSecret: s.credentials.clientSecret,
    userAgent: 'kitrelay/test',
    tokenCache: new Map(),
    ...rest,
  });
}

async function failure(promise: Promise<unknown>): Promise<KajabiApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KajabiApiError) return error;
    throw error;
  }
  throw new Error('expected a KajabiApiError');
}

const grants = (s: KajabiSimulator) => s.requests.filter((r) => r.path === '/v1/oauth/token').map((r) => (r.body as { grant_type: string }).grant_type);

describe('kajabi client: oauth', () => {
  it('fetches one token and reuses it across calls and across clients of the same key', async () => {
    const s = await start();
    const tokenCache: TokenCache = new Map();
    const first = clientOf(s, { tokenCache });
    expect((await first.listSites()).map((site) => site.id)).toEqual([s.credentials.siteId]);
    await first.listPurchases();
    await clientOf(s, { tokenCache }).listHooks();
    expect(s.tokensIssued()).toBe(1);
    const sent = s.requests.find((r) => r.path === '/v1/oauth/token')!;
    expect(sent.headers['content-type']).toContain('application/x-www-form-urlencoded');
    expect(sent.body).toMatchObject({ grant_type: 'client_credentials', client_id: s.credentials.clientId });
  });

  it('finishes a long list when the token expires between pages, with one refresh', async () => {
    const s = await start();
    for (let i = 0; i < 250; i++) s.purchase({ email: `buyer${i}@example.com`, offerIds: [s.credentials.offerIds[0]!] });
    const client = clientOf(s);
    const seen: string[] = [];
    for await (const page of client.list('/v1/purchases')) {
      seen.push(...page.data.map((r) => r.id));
      if (page.number === 1) s.expireTokens();
    }
    expect(new Set(seen).size).toBe(250);
    expect(s.tokensIssued()).toBe(2);
    expect(grants(s)).toEqual(['client_credentials', 'refresh_token']);
    expect(s.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('refreshes a token shortly before it expires, without a 401', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const s = await start({ accessTokenTtlSeconds: 600, now: () => now });
    const client = clientOf(s, { now: () => now });
    await client.listSites();
    now += 570_000;
    await client.listSites();
    expect(grants(s)).toEqual(['client_credentials', 'refresh_token']);
    expect(s.requests.some((r) => r.status === 401)).toBe(false);
  });

  it('falls back to client credentials when the refresh token is refused', async () => {
    const s = await start();
    const tokenCache: TokenCache = new Map();
    await clientOf(s, { tokenCache }).listSites();
    // Another process of the same key refreshed first: this one's refresh token is spent.
    const refreshToken = [...tokenCache.values()][0]!.token!.refreshToken!;
    await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }) });
    s.expireTokens();
    expect(await clientOf(s, { tokenCache }).listSites()).toHaveLength(1);
    expect(grants(s)).toEqual(['client_credentials', 'refresh_token', 'refresh_token', 'client_credentials']);
  });

  it('reports a bad secret as an auth failure, with no secret in the audit view', async () => {
    const s = await start();
    const error = await failure(clientOf(s, { clientSecret: 'wrong-secret-value' }).listSites());
    expect(error).toMatchObject({ isAuthFailure: true, status: 401, reason: 'invalid_client' });
    expect(JSON.stringify(error.call)).not.toContain('wrong-secret-value');
    expect(kajabiErrorResult(error)).toMatchObject({ outcome: 'retry', opensBreaker: true });
  });

  it('gets a fresh token once on a 401 and reports a second 401 as an auth failure', async () => {
    const s = await start();
    const client = clientOf(s);
    s.faults.add({ kind: 'status', status: 401, path: '/v1/sites' });
    expect(await client.listSites()).toHaveLength(1);
    s.faults.add({ kind: 'status', status: 401, times: 2, path: '/v1/sites' });
    const error = await failure(client.listSites());
    expect(error).toMatchObject({ isAuthFailure: true, status: 401 });
    expect(s.tokensIssued()).toBe(3);
    expect(kajabiErrorResult(error)).toMatchObject({ outcome: 'retry', opensBreaker: true, call: { responseStatus: 401 } });
  });

  it('revokes the token it holds', async () => {
    const s = await start();
    const client = clientOf(s);
    await client.listSites();
    const token = await client.accessToken();
    await client.revoke();
    const revoke = s.requests.find((r) => r.path === '/v1/oauth/revoke')!;
    expect(revoke.body).toEqual({ token });
    await client.listSites();
    expect(s.tokensIssued()).toBe(2);
  });
});

describe('kajabi client: JSON:API', () => {
  it('reads every purchase across pages of 100, with sparse fields', async () => {
    const s = await start();
    const [a, b] = s.credentials.offerIds;
    const bought = Array.from({ length: 130 }, (_, i) => s.purchase({ email: `p${i}@example.com`, offerIds: [a!, b!] }));
    s.deactivate(bought[0]!.purchases[0]!.id, 'chargeback');
    const client = clientOf(s);
    const purchases = await client.listPurchases({ siteId: s.credentials.siteId });
    expect(purchases).toHaveLength(260);
    const pages = s.requests.filter((r) => r.path === '/v1/purchases');
    expect(pages.map((r) => r.query['page[number]'])).toEqual(['1', '2', '3']);
    expect(pages.every((r) => r.query['page[size]'] === '100' && r.query['filter[site_id]'] === s.credentials.siteId)).toBe(true);
    const first = purchases.find((p) => p.id === bought[0]!.purchases[0]!.id)!;
    expect(first).toMatchObject({ offerId: a, customerId: bought[0]!.customer.id, transactionId: bought[0]!.transaction.id, amountInCents: 4900, deactivationReason: 'chargeback' });
    expect(first.deactivatedAt).toEqual(expect.any(Number));
    const sparse = await client.all('/v1/purchases', {}, { fields: { purchases: ['amount_in_cents'] }, pageSize: 10 });
    expect(sparse[0]!.attributes).toEqual({ amount_in_cents: 4900 });
  });

  it('reads transactions by date, purchases, customers and contacts as small records', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const s = await start({ now: () => now });
    const [a, b] = s.credentials.offerIds;
    const early = s.purchase({ email: 'ada@example.com', name: 'Ada', offerIds: [a!, b!], isPaid: true });
    now += 3_600_000;
    const late = s.purchase({ email: 'bob@example.com', offerIds: [a!] });
    const client = clientOf(s, { now: () => now });
    const since = await client.listTransactions({ siteId: s.credentials.siteId, startDate: now - 60_000 });
    expect(since.map((t) => t.id)).toEqual([late.transaction.id]);
    const bundle = await client.getTransaction(early.transaction.id);
    expect(bundle).toMatchObject({ action: 'charge', state: 'succeeded', amountInCents: 14800, offerId: null, purchaseIds: early.purchases.map((p) => p.id), createdAt: now - 3_600_000 });
    expect(await client.getCustomer(early.customer.id)).toEqual({ id: early.customer.id, email: 'ada@example.com', name: 'Ada', contactId: early.contact.id });
    expect((await client.getPurchase(late.purchases[0]!.id)).deactivatedAt).toBeNull();
    s.state.createContact({ siteId: s.credentials.siteId, email: 'ada.lovelace@example.com' });
    expect((await client.findContactByEmail(s.credentials.siteId, 'ADA@example.com'))?.id).toBe(early.contact.id);
    expect(await client.findContactByEmail(s.credentials.siteId, 'nobody@example.com')).toBeUndefined();
  });

  it('reads a 422 as title, detail and pointer, and fails the job with it', async () => {
    const s = await start();
    const error = await failure(clientOf(s).createContact(s.credentials.siteId, { email: 'not-an-email' }));
    expect(error).toMatchObject({ status: 422, pointer: '/data/attributes/email', reason: 'Unprocessable Entity: is invalid (at /data/attributes/email)' });
    const result = kajabiErrorResult(error);
    expect(result).toMatchObject({ outcome: 'failed', call: { responseStatus: 422 } });
    expect(result.outcome === 'failed' && result.error).toContain('is invalid (at /data/attributes/email)');
  });

  it('retries a 429 at its Retry-After, or on its own backoff without one', async () => {
    const s = await start();
    const client = clientOf(s);
    s.faults.add({ kind: 'rate_limited', retryAfter: 7, path: '/v1/hooks' });
    const limited = await failure(client.listHooks());
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 7_000 });
    expect(kajabiErrorResult(limited)).toMatchObject({ outcome: 'retry', retryAfterMs: 7_000 });
    s.faults.add({ kind: 'rate_limited', retryAfter: false, path: '/v1/hooks' });
    const bare = await failure(client.listHooks());
    expect(bare.retryAfterMs).toBeNull();
    expect(kajabiErrorResult(bare)).not.toHaveProperty('retryAfterMs');
  });

  it('tells a write that may have been applied from one never sent', async () => {
    const s = await start();
    const client = clientOf(s, { timeoutMs: 300 });
    await client.listSites();
    s.faults.add({ kind: 'status', status: 503, path: '/v1/contacts' });
    expect(kajabiErrorResult(await failure(client.createContact(s.credentials.siteId, { email: 'a@example.com' })))).toMatchObject({ outcome: 'retry', call: { responseStatus: 503 } });
    s.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/v1/contacts' });
    const timedOut = await failure(client.createContact(s.credentials.siteId, { email: 'b@example.com' }));
    expect(timedOut).toMatchObject({ kind: 'network', code: 'timeout', mayHaveBeenApplied: true });
    expect(kajabiErrorResult(timedOut).outcome).toBe('unknown');
    s.faults.add({ kind: 'hang', method: 'GET', path: '/v1/contacts' });
    expect(kajabiErrorResult(await failure(client.findContactByEmail(s.credentials.siteId, 'b@example.com'))).outcome).toBe('retry');
    const refused = new KajabiClient({ send: sendThrough(http!, { timeoutMs: 1_000 }), baseUrl: 'http://127.0.0.1:9', clientId: 'x', clientSecret: 'y', userAgent: 't', tokenCache: new Map() });
    const error = await failure(refused.listSites());
    expect(error).toMatchObject({ kind: 'network', code: 'ECONNREFUSED', mayHaveBeenApplied: false });
    expect(kajabiErrorResult(error).outcome).toBe('retry');
  });

  it('passes anything but a Kajabi error through', () => {
    expect(() => kajabiErrorResult(new TypeError('a bug'))).toThrow('a bug');
  });
});
