/**
 * Kajabi's two webhook systems read as facts (reference/destinations.md §5.2): the bodies the
 * simulator really sends, over real HTTP on loopback, for a bundle bought unpaid then paid, a free
 * offer and a paid one, each delivery sent three times; then the shapes it does not send (the older
 * flat dashboard fields, tags, unknown events, refunds) and what is refused or quarantined.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundRequest, SourceEvent, SourceParse } from '../types.js';
import { kajabiDestinationSchema } from './schema.js';
import { startKajabiSimulator, type KajabiSimulator } from './simulator.js';
import { dashboardSource, hooksSource, parseDashboardDelivery, parseHookDelivery } from './source.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const DEST = 'academy';
const TOKEN = 'tok_0123456789abcdef';

interface Made {
  contactId: string;
  customerId: string;
  transactionId: string;
  purchaseIds: string[];
}

let sim: KajabiSimulator;
let close: () => Promise<void>;
const received: Array<{ path: string; raw: Buffer }> = [];
let offerA: string, offerB: string, offerFree: string;
let ada: Made, bob: Made, cy: Made;

beforeAll(async () => {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', raw: Buffer.concat(chunks) });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((resolve) => server.close(() => resolve()));

  sim = await startKajabiSimulator({ now: () => NOW, webhooks: { retryDelayMs: 10, timeoutMs: 1000 } });
  [offerA, offerB, offerFree] = sim.credentials.offerIds as [string, string, string];
  const { access_token: bearer } = (await fetch(sim.credentials.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sim.credentials.clientId, client_secret: sim.credentials.clientSecret }) }).then((r) => r.json())) as { access_token: string };
  for (const event of ['purchase', 'payment_succeeded', 'order_created']) {
    const body = { data: { type: 'hooks', attributes: { target_url: `${receiver}/hooks/in/${DEST}/hooks/${TOKEN}`, event }, relationships: { site: { data: { type: 'sites', id: sim.credentials.siteId } } } } };
    const made = await fetch(`${sim.url}/v1/hooks`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });
    expect(made.status).toBe(201);
  }
  for (const event of ['purchase.created', 'payment.succeeded']) expect((await control('/dashboard-webhooks', { event, url: `${receiver}/hooks/in/${DEST}/dashboard/${TOKEN}` })).status).toBe(201);
  await control('/conditions', { copies: 3 });

  ada = (await control('/purchases', { email: 'ada@example.com', name: 'Ada Lovelace', offerIds: [offerA, offerB] })).json;
  bob = (await control('/purchases', { email: 'bob@example.com', name: 'Bob', offerIds: [offerFree] })).json;
  cy = (await control('/purchases', { email: 'cy@example.com', name: 'Cy Young', offerIds: [offerA], isPaid: true })).json;
  await control(`/transactions/${ada.transactionId}/succeed`);
  await sim.webhooksIdle();
});

afterAll(async () => {
  await sim.close();
  await close();
});

async function control(path: string, body?: unknown): Promise<{ status: number; json: Made }> {
  const response = await fetch(`${sim.url}/_sim${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  return { status: response.status, json: (await response.json()) as Made };
}

const parsedHooks = () => received.filter((r) => r.path.includes('/hooks/in/academy/hooks/')).map((r) => parseHookDelivery(r.raw, DEST, NOW));
const parsedDashboard = () => received.filter((r) => r.path.includes('/hooks/in/academy/dashboard/')).map((r) => parseDashboardDelivery(r.raw, DEST, NOW));

function eventsOf(parsed: SourceParse): readonly SourceEvent[] {
  if (parsed.kind !== 'events') throw new Error(`expected events, got ${JSON.stringify(parsed)}`);
  expect(parsed.quarantine).toEqual([]);
  return parsed.events;
}

/** The one event with this id (every copy parses alike), without its payload. */
function event(all: readonly SourceParse[], id: string): Omit<SourceEvent, 'payload'> {
  const found = all.flatMap(eventsOf).filter((e) => e.id === id);
  expect(found).toHaveLength(3);
  const { payload: _payload, ...rest } = found[0]!;
  return rest;
}

const person = (email: string, name: string, made: Made) => ({ email, name, customerId: made.customerId, contactId: made.contactId });
const enrol = (p: unknown, facts: unknown[], origin = 'hook') => [{ action: 'enrol', params: { person: p, facts, origin } }];

describe('kajabi hooks source: the bodies the simulator sends', () => {
  it('reads every copy of a delivery as the same event id, so Kajabi retries and copies are duplicates', () => {
    const ids = parsedHooks().flatMap(eventsOf).map((e) => e.id);
    const expected = [
      ...[...ada.purchaseIds, ...bob.purchaseIds, ...cy.purchaseIds].map((id) => `purchase:${id}`),
      ...[ada, bob, cy].map((m) => `order_created:${m.transactionId}`),
      ...[ada, bob, cy].map((m) => `payment_succeeded:${m.transactionId}`),
    ];
    expect([...new Set(ids)].sort()).toEqual(expected.sort());
    for (const id of expected) expect(ids.filter((x) => x === id)).toHaveLength(3);
  });

  it('reads a bundle as one purchase fact per offer, each with its purchase and the shared transaction', () => {
    const [p1, p2] = ada.purchaseIds as [string, string];
    const who = person('ada@example.com', 'Ada Lovelace', ada);
    const common = { email: 'ada@example.com', orderKey: `kajabi:${DEST}:ada@example.com`, occurredAt: NOW };
    expect(event(parsedHooks(), `purchase:${p1}`)).toEqual({ type: 'purchase', id: `purchase:${p1}`, ...common, jobs: enrol(who, [{ kind: 'purchase', offerId: offerA, offerTitle: 'Course A', purchaseId: p1, transactionId: ada.transactionId, amountInCents: 4900, isFree: false, at: NOW }]) });
    expect(event(parsedHooks(), `purchase:${p2}`).jobs).toEqual(enrol(who, [{ kind: 'purchase', offerId: offerB, offerTitle: 'Course B', purchaseId: p2, transactionId: ada.transactionId, amountInCents: 9900, isFree: false, at: NOW }]));
    // Unpaid at checkout: the order's purchases, and no payment yet.
    expect(event(parsedHooks(), `order_created:${ada.transactionId}`)).toEqual({
      type: 'order_created', id: `order_created:${ada.transactionId}`, ...common,
      jobs: enrol(who, [
        { kind: 'purchase', offerId: offerA, offerTitle: 'Course A', transactionId: ada.transactionId, amountInCents: 4900, isFree: false, at: NOW },
        { kind: 'purchase', offerId: offerB, offerTitle: 'Course B', transactionId: ada.transactionId, amountInCents: 9900, isFree: false, at: NOW },
      ]),
    });
    // Paid later: the bundle's transaction names no offer (null since API 1.1.0), only its purchases.
    expect(event(parsedHooks(), `payment_succeeded:${ada.transactionId}`)).toEqual({
      type: 'payment_succeeded', id: `payment_succeeded:${ada.transactionId}`, ...common,
      jobs: enrol(who, [{ kind: 'payment', transactionId: ada.transactionId, offerIds: [], purchaseIds: [p1, p2], amountInCents: 14800, at: NOW }]),
    });
  });

  it('reads a free offer as free at once, and a paid single offer with its offer on the payment', () => {
    const [free] = bob.purchaseIds as [string];
    const bobWho = person('bob@example.com', 'Bob', bob);
    expect(event(parsedHooks(), `purchase:${free}`).jobs).toEqual(enrol(bobWho, [{ kind: 'purchase', offerId: offerFree, offerTitle: 'Free Mini-Course', purchaseId: free, transactionId: bob.transactionId, amountInCents: 0, isFree: true, at: NOW }]));
    expect(event(parsedHooks(), `order_created:${bob.transactionId}`).jobs).toEqual(enrol(bobWho, [
      { kind: 'purchase', offerId: offerFree, offerTitle: 'Free Mini-Course', transactionId: bob.transactionId, amountInCents: 0, isFree: true, at: NOW },
      { kind: 'payment', transactionId: bob.transactionId, offerIds: [offerFree], purchaseIds: [free], amountInCents: 0, at: NOW },
    ]));
    const [paid] = cy.purchaseIds as [string];
    expect(event(parsedHooks(), `payment_succeeded:${cy.transactionId}`).jobs).toEqual(enrol(person('cy@example.com', 'Cy Young', cy), [{ kind: 'payment', transactionId: cy.transactionId, offerIds: [offerA], purchaseIds: [paid], amountInCents: 4900, at: NOW }]));
  });

  it('goes the same way through the source port, with the request bytes', () => {
    const raw = received.find((r) => r.path.includes('/hooks/') && r.raw.toString().includes('"event":"purchase"'))!.raw;
    const parsed = hooksSource.parse(request(raw), { destination, destinationName: DEST });
    expect(parsed).toEqual(parseHookDelivery(raw, DEST));
    expect(eventsOf(parsed)[0]!.payload).toEqual(JSON.parse(raw.toString()));
  });
});

describe('kajabi dashboard source: the bodies the simulator sends', () => {
  it('reads purchase.created as one purchase fact per offer of the transaction, and payment.succeeded with every offer', () => {
    const who = { email: 'ada@example.com', name: 'Ada Lovelace' };
    const common = { email: 'ada@example.com', orderKey: `kajabi:${DEST}:ada@example.com`, occurredAt: NOW };
    expect(event(parsedDashboard(), `purchase.created:${ada.transactionId}`)).toEqual({
      type: 'purchase.created', id: `purchase.created:${ada.transactionId}`, ...common,
      jobs: enrol(who, [
        { kind: 'purchase', offerId: offerA, offerTitle: 'Course A', transactionId: ada.transactionId, isFree: false, at: NOW },
        { kind: 'purchase', offerId: offerB, offerTitle: 'Course B', transactionId: ada.transactionId, isFree: false, at: NOW },
      ], 'dashboard'),
    });
    expect(event(parsedDashboard(), `payment.succeeded:${ada.transactionId}`)).toEqual({
      type: 'payment.succeeded', id: `payment.succeeded:${ada.transactionId}`, ...common,
      jobs: enrol(who, [{ kind: 'payment', transactionId: ada.transactionId, offerIds: [offerA, offerB], purchaseIds: [], amountInCents: 14800, at: NOW }], 'dashboard'),
    });
    expect(event(parsedDashboard(), `purchase.created:${bob.transactionId}`).jobs).toEqual(enrol({ email: 'bob@example.com', name: 'Bob' }, [{ kind: 'purchase', offerId: offerFree, offerTitle: 'Free Mini-Course', transactionId: bob.transactionId, amountInCents: 0, isFree: true, at: NOW }], 'dashboard'));
    expect(event(parsedDashboard(), `purchase.created:${cy.transactionId}`).jobs).toEqual(enrol({ email: 'cy@example.com', name: 'Cy Young' }, [{ kind: 'purchase', offerId: offerA, offerTitle: 'Course A', transactionId: cy.transactionId, amountInCents: 4900, isFree: false, at: NOW }], 'dashboard'));
    const ids = parsedDashboard().flatMap(eventsOf).map((e) => e.id);
    expect(ids).toHaveLength(18);
    expect(new Set(ids).size).toBe(6);
  });
});

const destination = kajabiDestinationSchema.parse({ type: 'kajabi', clientId: { $env: 'KAJABI_CLIENT_ID' }, clientSecret: { $env: 'KAJABI_CLIENT_SECRET' } });
const request = (body: Buffer | string, subpath = `/${TOKEN}`): InboundRequest => ({ method: 'POST', subpath, headers: { 'content-type': 'application/json' }, query: {}, body: Buffer.from(body) });
const auth = (source: typeof hooksSource, subpath: string) => source.authenticate(request('{}', subpath), { destination, destinationName: DEST, secrets: () => '', urlToken: TOKEN, now: NOW });
const one = (parsed: SourceParse) => {
  const events = eventsOf(parsed);
  expect(events).toHaveLength(1);
  return events[0]!;
};

describe('kajabi sources: other shapes, refusals and quarantine', () => {
  it('reads the older flat dashboard shapes: payload.member_email/offer_id/amount_paid, and top-level member_email', () => {
    const old = one(parseDashboardDelivery(JSON.stringify({ id: '9001', event: 'purchase.created', payload: { member_id: '5', member_email: 'Old@Example.com', member_first_name: 'Old', member_last_name: 'Timer', offer_id: '123', offer_title: 'Legacy', amount_paid: '49.00' } }), DEST, NOW));
    expect(old).toMatchObject({ type: 'purchase.created', id: 'purchase.created:9001', email: 'Old@Example.com', orderKey: `kajabi:${DEST}:old@example.com` });
    expect(old.jobs).toEqual(enrol({ email: 'Old@Example.com', name: 'Old Timer' }, [{ kind: 'purchase', offerId: '123', offerTitle: 'Legacy', transactionId: '9001', amountInCents: 4900, isFree: false, at: NOW }], 'dashboard'));
    const flat = one(parseDashboardDelivery({ id: 9002, event: 'purchase.created', member_email: 'flat@example.com', member_name: 'Flat', offer_id: 77, amount_paid: '0.00' }, DEST, NOW));
    expect(flat.jobs).toEqual(enrol({ email: 'flat@example.com', name: 'Flat' }, [{ kind: 'purchase', offerId: '77', transactionId: '9002', amountInCents: 0, isFree: true, at: NOW }], 'dashboard'));
    const paid = one(parseDashboardDelivery({ id: '9003', event: 'payment.succeeded', member: { email: 'p@example.com' }, offer: { id: '12', title: 'One' }, payment_transaction: { amount_paid: '$1,049.50', created_at: '2026-05-01T00:00:00Z' } }, DEST, NOW));
    expect(paid.jobs).toEqual(enrol({ email: 'p@example.com' }, [{ kind: 'payment', transactionId: '9003', offerIds: ['12'], purchaseIds: [], amountInCents: 104950, at: Date.parse('2026-05-01T00:00:00Z') }], 'dashboard'));
  });

  it('stores tag_added, form_submission, cart_purchase and unknown events with no jobs, never refusing them', () => {
    const tag = one(parseHookDelivery({ id: '77', event: 'tag_added', payload: [{ type: 'contacts', id: '5', attributes: { email: 't@example.com', name: 'T' } }, { type: 'contact_tags', id: '8', attributes: { name: 'VIP' } }] }, DEST, NOW));
    expect(tag).toEqual({ type: 'tag_added', id: 'tag_added:77', email: 't@example.com', orderKey: `kajabi:${DEST}:t@example.com`, payload: expect.objectContaining({ event: 'tag_added' }) });
    expect(one(parseHookDelivery({ id: '1', event: 'course_completed', payload: { anything: true } }, DEST, NOW))).toEqual({ type: 'course_completed', id: 'course_completed:1', payload: { id: '1', event: 'course_completed', payload: { anything: true } } });
    expect(one(parseHookDelivery({ event: 'form_submission' }, DEST, NOW))).toEqual({ type: 'form_submission', payload: { event: 'form_submission' } });
    for (const name of ['cart_purchase', 'form_submission', 'something.new']) {
      const stored = one(parseDashboardDelivery({ id: '3', event: name, member_email: 'x@example.com' }, DEST, NOW));
      expect(stored).toMatchObject({ type: name, id: `${name}:3`, email: 'x@example.com' });
      expect(stored.jobs).toBeUndefined();
    }
  });

  it('stores a payment that has not succeeded with no jobs, and reads a refund transaction as a refund of its offer', () => {
    const payment = (attributes: object) => ({ id: '500', event: 'payment_succeeded', payload: [
      { type: 'transactions', id: '500', attributes: { action: 'charge', state: 'succeeded', amount_in_cents: 4900, created_at: '2026-06-01T12:00:00Z', ...attributes }, relationships: { offer: { data: { type: 'offers', id: '10' } }, purchases: { data: [{ type: 'purchases', id: '20' }] } } },
      { type: 'customers', id: '30', attributes: { email: 'r@example.com', name: 'R' }, relationships: { contact: { data: { type: 'contacts', id: '40' } } } },
    ] });
    expect(one(parseHookDelivery(payment({ state: 'initialized' }), DEST, NOW)).jobs).toBeUndefined();
    expect(one(parseHookDelivery(payment({ action: 'refund', amount_in_cents: -4900 }), DEST, NOW)).jobs).toEqual(enrol({ email: 'r@example.com', name: 'R', customerId: '30', contactId: '40' }, [{ kind: 'refund', offerId: '10', purchaseId: '20', transactionId: '500', amountInCents: -4900, at: NOW }]));
    const refunded = one(parseDashboardDelivery({ id: '600', event: 'purchase.refunded', member: { email: 'r@example.com' }, offer: { id: '10' } }, DEST, NOW));
    expect(refunded.jobs).toEqual(enrol({ email: 'r@example.com' }, [{ kind: 'refund', offerId: '10', transactionId: '600', at: NOW }], 'dashboard'));
    expect(one(parseDashboardDelivery({ id: '601', event: 'purchase.refunded', member: { email: 'r@example.com' } }, DEST, NOW)).jobs).toBeUndefined();
  });

  it('answers malformed for a body that is not JSON, not an object or has no event name', () => {
    expect(parseHookDelivery(Buffer.from('{"id":'), DEST)).toMatchObject({ kind: 'malformed', reason: 'invalid_json' });
    expect(parseDashboardDelivery('not json', DEST)).toMatchObject({ kind: 'malformed', reason: 'invalid_json' });
    expect(parseHookDelivery(Buffer.from('[]'), DEST)).toMatchObject({ kind: 'malformed', reason: 'not_kajabi_webhook' });
    expect(parseDashboardDelivery(Buffer.from('{"id":"1"}'), DEST)).toMatchObject({ kind: 'malformed', reason: 'not_kajabi_webhook' });
  });

  it('quarantines a recognised event that lacks what its facts need, naming the field', () => {
    const raw = received.find((r) => r.path.includes('/hooks/') && r.raw.toString().includes('"event":"purchase"'))!.raw;
    const body = JSON.parse(raw.toString()) as { id: string; payload: Array<{ type: string; attributes: Record<string, unknown> }> };
    const customer = body.payload.find((r) => r.type === 'customers')!;
    customer.attributes.email = '';
    const bytes = Buffer.from(JSON.stringify(body));
    const noEmail = parseHookDelivery(bytes, DEST);
    expect(noEmail).toEqual({ kind: 'events', events: [], quarantine: [{ reason: 'missing_email', detail: `purchase:${body.id}: no email: the customers resource has no attributes.email`, body: bytes }] });
    expect(parseDashboardDelivery({ id: '1', event: 'purchase.created', member: { email: 'a@example.com' } }, DEST)).toMatchObject({ kind: 'events', events: [], quarantine: [{ reason: 'missing_offer_id' }] });
    expect(parseDashboardDelivery({ id: '1', event: 'purchase.created', offer: { id: '5' } }, DEST)).toMatchObject({ events: [], quarantine: [{ reason: 'missing_email' }] });
    expect(parseHookDelivery({ id: '1', event: 'purchase', payload: [{ type: 'customers', id: '2', attributes: { email: 'a@example.com' } }] }, DEST)).toMatchObject({ events: [], quarantine: [{ reason: 'missing_offer_id' }] });
    // Facts enrolParamsSchema refuses (an offer id longer than any Kajabi id) are quarantined, not thrown.
    expect(parseDashboardDelivery({ id: '1', event: 'purchase.created', member: { email: 'a@example.com' }, offer: { id: '9'.repeat(80) } }, DEST)).toMatchObject({ events: [], quarantine: [{ reason: 'invalid_facts' }] });
  });

  it('refuses a wrong or missing URL token with 401 bad_token, and accepts the right one, on both sources', async () => {
    for (const source of [hooksSource, dashboardSource]) {
      expect(await auth(source, `/${TOKEN}`)).toEqual({ ok: true });
      expect(await auth(source, `${TOKEN}`)).toEqual({ ok: true });
      expect(await auth(source, `/${TOKEN}x`)).toMatchObject({ ok: false, status: 401, code: 'bad_token', reason: expect.stringContaining('kitrelay routes') });
      expect(await auth(source, '')).toMatchObject({ ok: false, status: 401, code: 'bad_token' });
    }
    expect(await auth(hooksSource, '/nope')).toMatchObject({ reason: expect.stringContaining('kitrelay kajabi hooks sync') });
  });
});
