/** The Kajabi simulator over real HTTP on loopback, against reference/destinations.md §5 and §6. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SIMULATORS } from '../../cli/simulator.js';
import { startKajabiSimulator, type KajabiSimulator, type KajabiSimulatorOptions } from './simulator.js';

let sim: KajabiSimulator | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

async function start(options: KajabiSimulatorOptions = {}): Promise<KajabiSimulator> {
  sim = await startKajabiSimulator({ webhooks: { retryDelayMs: 10, timeoutMs: 1000 }, ...options });
  return sim;
}

interface Receiver {
  readonly url: string;
  readonly bodies: Array<{ path: string; body: any }>;
  /** Statuses to answer, in order, before answering 200. */
  readonly statuses: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const bodies: Array<{ path: string; body: any }> = [];
  const statuses: number[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push({ path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver = { url: `http://127.0.0.1:${port}`, bodies, statuses, close: () => new Promise((resolve) => server.close(() => resolve())) };
  return receiver;
}

async function token(s: KajabiSimulator): Promise<any> {
  const response = await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: s.credentials.clientId, client_secret: s.credentials.clientSecret }) });
  return response.json();
}

async function call(s: KajabiSimulator, method: string, path: string, options: { body?: unknown; bearer?: string | null } = {}) {
  const bearer = options.bearer === undefined ? (await token(s)).access_token : options.bearer;
  const headers: Record<string, string> = { accept: 'application/vnd.api+json', ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }) };
  if (options.body !== undefined) headers['content-type'] = 'application/vnd.api+json';
  const response = await fetch(`${s.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? undefined : JSON.parse(text) };
}

const control = (s: KajabiSimulator, path: string, body?: unknown) => fetch(`${s.url}/_sim${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

const ids = (data: Array<{ id: string }>) => data.map((r) => r.id);
const emails = (data: Array<{ attributes: { email: string } }>) => data.map((r) => r.attributes.email);
const types = (payload: Array<{ type: string }>) => payload.map((r) => r.type);
type Found = { id: string; attributes: Record<string, unknown>; relationships: Record<string, { data: unknown }> };
const byId = (data: Found[], id: string): Found => data.find((r) => r.id === id)!;

describe('kajabi simulator: oauth', () => {
  it('issues a Bearer token for client credentials (form or JSON), refuses a bad secret with {"error":"invalid_client"}', async () => {
    const s = await start();
    const issued = await token(s);
    expect(issued).toMatchObject({ token_type: 'Bearer', expires_in: 7200 });
    expect(typeof issued.access_token).toBe('string');
    expect(typeof issued.refresh_token).toBe('string');
    const json = await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: s.credentials.clientId, client_secret: s.credentials.clientSecret }) });
    expect(json.status).toBe(200);
    const bad = await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=x&client_secret=y' });
    expect([bad.status, await bad.json()]).toEqual([401, { error: 'invalid_client' }]);
    expect((await call(s, 'GET', '/v1/sites', { bearer: issued.access_token })).status).toBe(200);
  });

  it('answers 401 in the JSON:API envelope once the token expires, and a refresh token gives a working one', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const s = await start({ accessTokenTtlSeconds: 60, now: () => now });
    const issued = await token(s);
    expect((await call(s, 'GET', '/v1/sites', { bearer: issued.access_token })).status).toBe(200);
    now += 60_000;
    const expired = await call(s, 'GET', '/v1/sites', { bearer: issued.access_token });
    expect(expired.status).toBe(401);
    expect(expired.json).toEqual({ errors: [{ status: '401', title: 'Unauthorized', detail: 'The access token expired', source: null }] });
    const refreshed = await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token }) }).then((r) => r.json() as Promise<any>);
    expect((await call(s, 'GET', '/v1/sites', { bearer: refreshed.access_token })).status).toBe(200);
    const reused = await fetch(s.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token }) });
    expect([reused.status, await reused.json()]).toEqual([400, { error: 'invalid_grant' }]);
  });

  it('revokes a token (200, empty), answers 401 without one, expires every token on demand', async () => {
    const s = await start();
    const issued = await token(s);
    const revoke = await fetch(`${s.url}/v1/oauth/revoke`, { method: 'POST', headers: { authorization: `Bearer ${issued.access_token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${issued.access_token}` });
    expect([revoke.status, await revoke.text()]).toEqual([200, '']);
    expect((await call(s, 'GET', '/v1/sites', { bearer: issued.access_token })).json.errors[0].detail).toBe('The access token was revoked');
    expect((await call(s, 'GET', '/v1/sites', { bearer: null })).status).toBe(401);
    const other = (await token(s)).access_token;
    await control(s, '/conditions', { expireTokens: true });
    expect((await call(s, 'GET', '/v1/offers', { bearer: other })).status).toBe(401);
    expect((await fetch(`${s.url}/v1/version`)).status).toBe(200);
  });
});

describe('kajabi simulator: JSON:API reads', () => {
  it('pages with page[number]/page[size], links and meta; clamps the size to 100; refuses a bad page with an errors array', async () => {
    const s = await start();
    for (let i = 0; i < 45; i++) s.state.createContact({ siteId: s.credentials.siteId, email: `p${i}@example.com` });
    const bearer = (await token(s)).access_token;
    const page = await call(s, 'GET', '/v1/contacts?page[number]=2&page[size]=20', { bearer });
    expect(page.json.data).toHaveLength(20);
    expect(page.json.meta).toEqual({ total_pages: 3, total_count: 45, current_page: 2 });
    const links = page.json.links;
    expect(new URL(links.next).searchParams.get('page[number]')).toBe('3');
    expect(new URL(links.prev).searchParams.get('page[number]')).toBe('1');
    expect(new URL(links.last).searchParams.get('page[number]')).toBe('3');
    const last = await call(s, 'GET', '/v1/contacts?page[number]=3&page[size]=20', { bearer });
    expect([last.json.data.length, last.json.links.next]).toEqual([5, null]);
    expect((await call(s, 'GET', '/v1/contacts', { bearer })).json.data).toHaveLength(20);
    expect((await call(s, 'GET', '/v1/contacts?page[size]=500', { bearer })).json.data).toHaveLength(45);
    const bad = await call(s, 'GET', '/v1/contacts?page[number]=0', { bearer });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0]).toMatchObject({ status: '400', title: 'Bad Request' });
  });

  it('keeps only the asked fields with fields[type]=a,b', async () => {
    const s = await start();
    s.state.createContact({ siteId: s.credentials.siteId, email: 'ada@example.com', name: 'Ada' });
    const answer = await call(s, 'GET', '/v1/contacts?fields[contacts]=email,name');
    expect(answer.json.data[0]).toEqual({ type: 'contacts', id: expect.any(String), attributes: { email: 'ada@example.com', name: 'Ada' } });
    const offer = await call(s, 'GET', `/v1/offers/${s.credentials.offerIds[0]}?fields[offers]=title`);
    expect(offer.json.data.attributes).toEqual({ title: 'Course A' });
  });

  it('filters contacts by site and search, customers and contacts by offer, transactions by name_or_email and start_date', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const s = await start({ now: () => now });
    const [a, b] = s.credentials.offerIds;
    s.purchase({ email: 'ada@example.com', name: 'Ada L', offerIds: [a!] });
    now += 3_600_000;
    s.purchase({ email: 'bob@example.com', name: 'Bob', offerIds: [b!] });
    const bearer = (await token(s)).access_token;
    const found = await call(s, 'GET', `/v1/contacts?filter[site_id]=${s.credentials.siteId}&filter[search]=ADA@example.com`, { bearer });
    expect(emails(found.json.data)).toEqual(['ada@example.com']);
    expect((await call(s, 'GET', '/v1/contacts?filter[site_id]=1', { bearer })).json.data).toEqual([]);
    expect(emails((await call(s, 'GET', `/v1/contacts?filter[has_offer_id]=${b}`, { bearer })).json.data)).toEqual(['bob@example.com']);
    expect(emails((await call(s, 'GET', `/v1/customers?filter[has_offer_id]=${a}`, { bearer })).json.data)).toEqual(['ada@example.com']);
    expect((await call(s, 'GET', '/v1/transactions?filter[name_or_email]=bob', { bearer })).json.data).toHaveLength(1);
    expect((await call(s, 'GET', '/v1/transactions?filter[start_date]=2026-06-01T00:30:00Z', { bearer })).json.data).toHaveLength(1);
  });
});

describe('kajabi simulator: contacts and offer grants', () => {
  it('creates a contact (201), answers 422 with a source.pointer for a bad email, grants and revokes offers', async () => {
    const s = await start();
    const bearer = (await token(s)).access_token;
    const site = { site: { data: { type: 'sites', id: s.credentials.siteId } } };
    const created = await call(s, 'POST', '/v1/contacts', { bearer, body: { data: { type: 'contacts', attributes: { name: 'Ada', email: 'ada@example.com' }, relationships: site } } });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toContain('application/vnd.api+json');
    const id = created.json.data.id as string;
    const bad = await call(s, 'POST', '/v1/contacts', { bearer, body: { data: { type: 'contacts', attributes: { email: 'not-an-email' }, relationships: site } } });
    expect(bad.status).toBe(422);
    expect(bad.json).toEqual({ errors: [{ status: '422', title: 'Unprocessable Entity', detail: 'is invalid', source: { pointer: '/data/attributes/email' } }] });
    const [a, b] = s.credentials.offerIds;
    const granted = await call(s, 'POST', `/v1/contacts/${id}/relationships/offers`, { bearer, body: { data: [{ type: 'offers', id: a }, { type: 'offers', id: b }], meta: { send_customer_welcome_email: false } } });
    expect([granted.status, ids(granted.json.data)]).toEqual([200, [a, b]]);
    const contact = (await call(s, 'GET', `/v1/contacts/${id}`, { bearer })).json.data;
    expect(contact.relationships.customer.data).toMatchObject({ type: 'customers' });
    const revoked = await call(s, 'DELETE', `/v1/contacts/${id}/relationships/offers`, { bearer, body: { data: [{ type: 'offers', id: a }] } });
    expect(ids(revoked.json.data)).toEqual([b]);
    const viaCustomer = await call(s, 'POST', `/v1/customers/${contact.relationships.customer.data.id}/relationships/offers`, { bearer, body: { data: [{ type: 'offers', id: a }] } });
    expect(ids(viaCustomer.json.data).sort()).toEqual([a, b].sort());
    const unknown = await call(s, 'POST', `/v1/contacts/${id}/relationships/offers`, { bearer, body: { data: [{ type: 'offers', id: '999' }] } });
    expect([unknown.status, unknown.json.errors[0].source]).toEqual([404, { pointer: '/data/0/id' }]);
  });
});

describe('kajabi simulator: webhooks', () => {
  async function subscribe(s: KajabiSimulator, url: string, event: string) {
    const bearer = (await token(s)).access_token;
    const answer = await call(s, 'POST', '/v1/hooks', { bearer, body: { data: { type: 'hooks', attributes: { target_url: `${url}/hooks/${event}?secret=abc`, event }, relationships: { site: { data: { type: 'sites', id: s.credentials.siteId } } } } } });
    expect(answer.status).toBe(201);
    return answer.json.data.id as string;
  }

  it('emits public-API hooks and dashboard webhooks for a bundle purchase and its payment', async () => {
    const s = await start();
    const r = await startReceiver();
    for (const event of ['purchase', 'payment_succeeded', 'order_created']) await subscribe(s, r.url, event);
    expect((await control(s, '/dashboard-webhooks', { event: 'purchase.created', url: `${r.url}/dash` })).status).toBe(201);
    s.addDashboardWebhook({ event: 'payment.succeeded', url: `${r.url}/dash` });
    const [a, b] = s.credentials.offerIds;
    const made = await control(s, '/purchases', { email: 'ada@example.com', name: 'Ada Lovelace', offerIds: [a, b] });
    expect(made.status).toBe(201);
    await s.webhooksIdle();
    const purchases = r.bodies.filter((d) => d.body.event === 'purchase');
    expect(purchases).toHaveLength(2);
    expect(purchases[0]!.path).toBe('/hooks/purchase?secret=abc');
    expect(types(purchases[0]!.body.payload)).toEqual(['purchases', 'offers', 'customers']);
    expect(purchases.map((d) => d.body.id as string)).toEqual(made.json.purchaseIds);
    const order = r.bodies.find((d) => d.body.event === 'order_created')!;
    expect(types(order.body.payload)).toEqual(['transactions', 'customers', 'orders', 'order_items', 'order_items']);
    const dash = r.bodies.find((d) => d.body.event === 'purchase.created')!;
    expect(dash.body).toMatchObject({ id: made.json.transactionId, member: { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace' }, offers: [{ id: a, title: 'Course A' }, { id: b, title: 'Course B' }], payload: { member_email: 'ada@example.com', amount_paid: '148.00' } });
    expect(r.bodies.some((d) => d.body.event === 'payment_succeeded')).toBe(false);

    await control(s, `/transactions/${made.json.transactionId}/succeed`);
    await s.webhooksIdle();
    const paid = r.bodies.find((d) => d.body.event === 'payment_succeeded')!;
    expect(paid.body.payload[0]).toMatchObject({ type: 'transactions', attributes: { action: 'charge', state: 'succeeded', amount_in_cents: 14800 }, relationships: { offer: { data: null } } });
    const dashPaid = r.bodies.find((d) => d.body.event === 'payment.succeeded')!;
    expect(dashPaid.body).toMatchObject({ member: { email: 'ada@example.com' }, payment_transaction: { amount_paid: '148.00' } });
    expect(s.deliveries.every((d) => d.isDelivered)).toBe(true);
  });

  it('sends each webhook three times on demand, retries a failed delivery, and lists, filters and deletes hooks', async () => {
    const s = await start();
    const r = await startReceiver();
    const hookId = await subscribe(s, r.url, 'purchase');
    await subscribe(s, r.url, 'tag_added');
    s.setWebhookCopies(3);
    r.statuses.push(500);
    s.purchase({ email: 'ada@example.com', offerIds: [s.credentials.offerIds[0]!] });
    await s.webhooksIdle();
    expect(r.bodies.filter((d) => d.body.event === 'purchase')).toHaveLength(4);
    expect(s.deliveries.map((d) => [d.copy, d.isDelivered])).toEqual([[1, true], [2, true], [3, true]]);
    expect(s.deliveries[0]!.attempts).toEqual([500, 200]);
    const bearer = (await token(s)).access_token;
    expect(ids((await call(s, 'GET', '/v1/hooks?filter[event_eq]=purchase', { bearer })).json.data)).toEqual([hookId]);
    expect((await call(s, 'DELETE', `/v1/hooks/${hookId}`, { bearer })).status).toBe(204);
    expect((await call(s, 'GET', '/v1/hooks', { bearer })).json.data).toHaveLength(1);
    const sample = await call(s, 'GET', '/v1/hooks/purchase_sample', { bearer });
    expect([sample.json.id, types(sample.json.payload)]).toEqual(['0', ['purchases', 'offers', 'customers']]);
    const bad = await call(s, 'POST', '/v1/hooks', { bearer, body: { data: { type: 'hooks', attributes: { target_url: r.url, event: 'purchase.refunded' } } } });
    expect([bad.status, bad.json.errors[0].source.pointer]).toEqual([422, '/data/attributes/event']);
  });

  it('shows refunds and deactivations only by polling: no webhook is sent for them', async () => {
    const s = await start({ dashboardWebhooks: [] });
    const r = await startReceiver();
    for (const event of ['purchase', 'payment_succeeded', 'order_created']) await subscribe(s, r.url, event);
    s.addDashboardWebhook({ event: 'purchase.created', url: r.url });
    s.addDashboardWebhook({ event: 'payment.succeeded', url: r.url });
    const [a, b] = s.credentials.offerIds;
    const bought = s.purchase({ email: 'ada@example.com', offerIds: [a!, b!], isPaid: true });
    await s.webhooksIdle();
    const before = r.bodies.length;
    const [first, second] = bought.purchases;
    expect((await control(s, `/purchases/${first!.id}/refund`, {})).status).toBe(200);
    s.deactivate(second!.id, 'chargeback');
    await s.webhooksIdle();
    expect(r.bodies).toHaveLength(before);
    const bearer = (await token(s)).access_token;
    const transactions: Found[] = (await call(s, 'GET', '/v1/transactions', { bearer })).json.data;
    const refunds = transactions.filter((t) => t.attributes.action === 'refund');
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.attributes.amount_in_cents).toBe(-4900);
    expect(refunds[0]!.relationships.purchases!.data).toEqual([{ type: 'purchases', id: first!.id }]);
    const polled: Found[] = (await call(s, 'GET', '/v1/purchases', { bearer })).json.data;
    expect(byId(polled, second!.id).attributes).toMatchObject({ deactivated_at: expect.any(String), deactivation_reason: 'chargeback' });
    expect(byId(polled, first!.id).attributes.deactivated_at).toBeNull();
    expect([...bought.contact.offerIds]).toEqual([a]);
  });
});

describe('kajabi simulator: errors, faults, limits', () => {
  it('answers unknown routes, faults and the rate limit with JSON:API errors', async () => {
    const s = await start({ rateLimit: { limit: 2 } });
    const bearer = (await token(s)).access_token;
    expect((await call(s, 'GET', '/v1/nothing', { bearer })).json).toEqual({ errors: [{ status: '404', title: 'Not Found', detail: 'The requested resource could not be found', source: null }] });
    s.faults.add({ kind: 'status', status: 503, path: '/v1/offers' });
    const faulted = await call(s, 'GET', '/v1/offers', { bearer });
    expect([faulted.status, faulted.json.errors[0].status]).toEqual([503, '503']);
    // The faulted request never reached the limit (faults come first): this is the second counted.
    expect((await call(s, 'GET', '/v1/offers', { bearer })).status).toBe(200);
    const limited = await call(s, 'GET', '/v1/offers', { bearer });
    expect([limited.status, limited.json.errors[0].status, limited.headers.get('retry-after')]).toEqual([429, '429', '60']);
    const state = await fetch(`${s.url}/_sim/state`).then((x) => x.json() as Promise<any>);
    expect(state.offers).toHaveLength(3);
    await s.waitFor((view) => view.requests.some((q) => q.status === 429));
  });

  it('is registered as `kitrelay simulator kajabi`', async () => {
    const factory = SIMULATORS.kajabi;
    expect(factory).toBeDefined();
    const started = await factory!({ port: 0 });
    try {
      expect(started.name).toBe('kajabi');
      expect(started.credentials).toMatchObject({ clientId: 'kajabi-sim-client' });
    } finally {
      await started.close();
    }
  });
});
