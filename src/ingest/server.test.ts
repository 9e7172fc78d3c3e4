import { afterEach, describe, expect, it } from 'vitest';
import { env } from '../config/schema.js';
import type { ConfigInput } from '../config/schema.js';
import { LEGACY_EVENTS } from '../kit/events.js';
import { jsonBody, legacyFixture, legacyFixtures, signedEnvelope, signedEvent, signedTagAddedEvent, signedUnknownEvent, DEFAULT_SCOPE_VALUES } from '../kit/fixtures.js';
import { signPayload } from '../kit/signature.js';
import { eventually, startTestRelay, type TestRelay } from '../../test/helpers.js';

const SECRET = 'whsec_test_secret';
const OLD_SECRET = 'whsec_previous_secret';

/** Every legacy event has a route (with the fixtures' scope values); one rule sends everything to the sink. */
const config: ConfigInput = {
  kit: {
    legacy: {
      routes: LEGACY_EVENTS.map((spec) => ({ event: spec.legacyName, ...(spec.scopeParam ? { [spec.scopeParam]: DEFAULT_SCOPE_VALUES[spec.scopeParam] } : {}) })),
      dedupeWindowSeconds: 60,
    },
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET'), env('KIT_OLD_SECRET', { optional: true })] }] },
  },
  server: { bodyLimitBytes: 64 * 1024 },
  destinations: { sink: { type: 'webhook', url: env('SINK_URL'), concurrency: 8, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } } },
  rules: [{ id: 'everything', on: '*', actions: [{ destination: 'sink' }] }],
  queue: { pollIntervalMs: 20 },
};

let t: TestRelay;
afterEach(async () => t?.close());

const start = (extraEnv: Record<string, string> = {}) => startTestRelay(config, { env: { KIT_SECRET: SECRET, ...extraEnv } });
const routeFor = (t: TestRelay, name: string) => [...t.relay.routes.legacy.values()].find((r) => r.spec.legacyName === name)!.path;
const signedHeaders = (body: Buffer, secrets = [SECRET], timestamp = Math.floor(Date.now() / 1000)) => ({ 'x-kit-signature': signPayload({ secrets, body, timestamp }), 'x-kit-delivery': '123456' });

async function storeCounts(t: TestRelay) {
  const [events, quarantine, jobs] = await Promise.all([
    t.relay.store.listEvents({ limit: 1000 }),
    t.relay.store.listQuarantine({ limit: 1000 }),
    t.relay.store.listJobs({ limit: 1000 }),
  ]);
  return { events: events.length, quarantine: quarantine.length, jobs: jobs.length };
}

describe('legacy webhooks end to end', () => {
  it('accepts all 15 legacy events on their own routes and delivers each to the destination', async () => {
    t = await start();
    const fixtures = legacyFixtures();
    for (const fixture of fixtures) {
      const body = jsonBody({ ...fixture.body });
      const response = await t.post(routeFor(t, fixture.spec.legacyName), body);
      expect(response.status, `${fixture.spec.legacyName}: ${JSON.stringify(response.body)}`).toBe(200);
      expect(response.body).toMatchObject({ status: 'accepted', accepted: 1, jobs: 1 });
    }
    const received = await t.receiver.waitFor(15, 15_000);
    const types = received.map((r) => (r.json as { event: { type: string } }).event.type).sort();
    expect(types).toEqual(LEGACY_EVENTS.map((s) => s.canonical).sort());
    const tagAdd = received.find((r) => (r.json as { event: { type: string } }).event.type === 'subscriber.tag_added')!;
    expect(tagAdd.json).toMatchObject({ event: { kitType: 'subscriber.tag_add', scope: { param: 'tag_id', value: '4242' }, subscriber: { id: 1, email: 'john@example.com' } } });
    expect(tagAdd.headers['idempotency-key']).toMatch(/^.+-\d+$/);
    await eventually(async () => (await t.relay.store.listJobs({ status: 'succeeded' })).length === 15 || undefined, 10_000, 'jobs to succeed');
    const audit = await t.relay.store.listAttempts({ limit: 100 });
    expect(audit).toHaveLength(15);
    expect(audit.every((a) => a.outcome === 'succeeded' && a.responseStatus === 200)).toBe(true);
  });

  it('accepts a purchase whether bare or wrapped, and custom fields keyed by label', async () => {
    t = await start();
    const bare = await t.post(routeFor(t, 'purchase.purchase_create'), jsonBody(legacyFixture('purchase.purchase_create', { purchaseId: 1 }).body));
    const wrapped = await t.post(routeFor(t, 'purchase.purchase_create'), jsonBody(legacyFixture('purchase.purchase_create', { purchaseId: 2, wrapped: true }).body));
    const byLabel = await t.post(routeFor(t, 'subscriber.subscriber_activate'), jsonBody({ subscriber: { id: 7, email_address: 'Ada@Example.com', fields: { 'Last name': 'Lovelace' } } }));
    expect([bare.status, wrapped.status, byLabel.status]).toEqual([200, 200, 200]);
    const events = await t.relay.store.listEvents({});
    expect(events.map((e) => e.type)).toEqual(['subscriber.activated', 'purchase.created', 'purchase.created']);
    expect(events[0]).toMatchObject({ subscriberId: '7', email: 'ada@example.com', subscriberKey: 'id:7' });
  });

  it('answers a re-sent identical body as a duplicate without routing it again', async () => {
    t = await start();
    const body = jsonBody(legacyFixture('subscriber.tag_add').body);
    const first = await t.post(routeFor(t, 'subscriber.tag_add'), body);
    const second = await t.post(routeFor(t, 'subscriber.tag_add'), body);
    expect(first.body).toMatchObject({ status: 'accepted', jobs: 1 });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ status: 'duplicate', duplicates: 1, jobs: 0 });
    const events = await t.relay.store.listEvents({});
    expect(events.map((e) => e.status)).toEqual(['duplicate', 'accepted']);
    expect(events[0]!.duplicateOf).toBe(events[1]!.id);
    expect(await t.relay.store.listJobs({})).toHaveLength(1);
  });

  it('treats tag_add, tag_remove, tag_add as a real re-tag, not a duplicate', async () => {
    t = await start();
    const add = jsonBody(legacyFixture('subscriber.tag_add').body);
    const remove = jsonBody(legacyFixture('subscriber.tag_remove').body);
    const r1 = await t.post(routeFor(t, 'subscriber.tag_add'), add);
    const r2 = await t.post(routeFor(t, 'subscriber.tag_remove'), remove);
    const r3 = await t.post(routeFor(t, 'subscriber.tag_add'), add);
    expect([r1.body.status, r2.body.status, r3.body.status]).toEqual(['accepted', 'accepted', 'accepted']);
    expect(await t.relay.store.listJobs({})).toHaveLength(3);
  });

  it('lets a signed tag_removed end a legacy fingerprint of the same subscriber and tag', async () => {
    t = await start();
    const add = jsonBody(legacyFixture('subscriber.tag_add', { id: 77, email: 'mixed@example.com' }).body);
    expect((await t.post(routeFor(t, 'subscriber.tag_add'), add)).body.status).toBe('accepted');
    expect((await t.post(routeFor(t, 'subscriber.tag_add'), add)).body.status).toBe('duplicate');
    const removed = jsonBody(signedEnvelope([signedEvent('subscriber.tag_removed', { subscriber: { id: 77, email_address: 'mixed@example.com', state: 'active' }, tag: { id: 4242, name: 'Customer' } })]));
    expect((await t.post('/hooks/kit/signed/main', removed, signedHeaders(removed))).body).toMatchObject({ status: 'accepted', accepted: 1 });
    expect((await t.post(routeFor(t, 'subscriber.tag_add'), add)).body.status).toBe('accepted');
  });
});

describe('signed webhooks end to end', () => {
  it('verifies the signature, commits every event of the batch and dedupes a retried delivery by event id', async () => {
    t = await start();
    const body = jsonBody(signedEnvelope([signedTagAddedEvent({ id: 1 }), signedTagAddedEvent({ id: 2, email: 'b@example.com' }), signedUnknownEvent({ id: 3 })]));
    const first = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'accepted', accepted: 3, duplicates: 0, jobs: 3 });
    // Kit retries with the same events and a fresh signature.
    const retry = await t.post('/hooks/kit/signed/main', body, signedHeaders(body, [SECRET], Math.floor(Date.now() / 1000) + 1));
    expect(retry.body).toMatchObject({ status: 'duplicate', accepted: 0, duplicates: 3, jobs: 0 });
    const received = await t.receiver.waitFor(3);
    expect(received.map((r) => (r.json as { event: { type: string } }).event.type).sort()).toEqual(['subscriber.referral_completed', 'subscriber.tag_added', 'subscriber.tag_added']);
    const events = await t.relay.store.listEvents({ status: 'accepted' });
    expect(events.find((e) => e.type === 'subscriber.tag_added')?.scope).toEqual({ param: 'tag_id', value: '4242' });
  });

  it('accepts a delivery signed with the previous secret during rotation', async () => {
    t = await start({ KIT_OLD_SECRET: OLD_SECRET });
    const body = jsonBody(signedEnvelope([signedTagAddedEvent({ id: 5 })]));
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body, [OLD_SECRET]));
    expect(response.status).toBe(200);
  });

  it('commits the good events of a batch and quarantines the bad one alone', async () => {
    t = await start();
    const bad = { id: 'evt-bad', type: 'subscriber.tag_added', created: '2026-07-29T14:32:10Z', data: { tag: { id: 4242 } } };
    const body = jsonBody(signedEnvelope([signedTagAddedEvent({ id: 1 }), bad, signedTagAddedEvent({ id: 2, email: 'two@example.com' })]));
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'partial', accepted: 2, quarantined: 1 });
    const [entry] = await t.relay.store.listQuarantine({});
    expect(entry).toMatchObject({ system: 'signed', route: 'main', reason: 'invalid_event', status: 'open' });
    expect(JSON.parse(entry!.body.toString())).toEqual(bad);
  });

  it('answers 2xx to a well-formed signed batch whose events are all bad, so Kit does not retry it for 41 hours', async () => {
    t = await start();
    const bad = { id: 'evt-x', type: 'subscriber.tag_added', data: 'not an object' };
    const body = jsonBody(signedEnvelope([bad, { ...bad, id: 'evt-y' }]));
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'partial', accepted: 0, quarantined: 2 });
    expect(await t.relay.store.listQuarantine({})).toHaveLength(2);
  });
});

describe('unauthenticated bad input', () => {
  const cases: Array<[string, (t: TestRelay) => Promise<{ status: number; body: any }>, number, string]> = [
    ['unknown legacy route', (t) => t.post('/hooks/kit/legacy/tag_add-999/abc', '{}'), 404, 'unknown_route'],
    ['bad route token', (t) => t.post(`${routeFor(t, 'subscriber.tag_add').replace(/[^/]+$/, 'x'.repeat(32))}`, jsonBody(legacyFixture('subscriber.tag_add').body)), 401, 'bad_token'],
    ['unknown path', (t) => t.post('/nowhere', '{}'), 404, 'unknown_route'],
    ['unknown signed endpoint', (t) => t.post('/hooks/kit/signed/other', '{}'), 404, 'unknown_route'],
    ['missing signature', (t) => t.post('/hooks/kit/signed/main', jsonBody(signedEnvelope([signedTagAddedEvent()]))), 401, 'missing_signature'],
    ['bad signature', (t) => {
      const body = jsonBody(signedEnvelope([signedTagAddedEvent()]));
      return t.post('/hooks/kit/signed/main', body, signedHeaders(body, ['whsec_wrong']));
    }, 401, 'bad_signature'],
    ['tampered body', (t) => {
      const body = jsonBody(signedEnvelope([signedTagAddedEvent()]));
      const headers = signedHeaders(body);
      return t.post('/hooks/kit/signed/main', Buffer.from(body.toString().replace('4242', '4243')), headers);
    }, 401, 'bad_signature'],
    ['stale timestamp', (t) => {
      const body = jsonBody(signedEnvelope([signedTagAddedEvent()]));
      return t.post('/hooks/kit/signed/main', body, signedHeaders(body, [SECRET], Math.floor(Date.now() / 1000) - 3600));
    }, 401, 'stale_timestamp'],
    ['wrong content type', (t) => t.post(routeFor(t, 'subscriber.tag_add'), 'subscriber=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type'],
    ['oversize body', (t) => t.post(routeFor(t, 'subscriber.tag_add'), JSON.stringify({ subscriber: { id: 1, pad: 'x'.repeat(70 * 1024) } })), 413, 'payload_too_large'],
  ];

  it.each(cases)('%s → a clear 4xx JSON error, nothing stored, counted', async (_name, send, status, code) => {
    t = await start();
    const before = await storeCounts(t);
    const response = await send(t);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ error: { code } });
    expect(await storeCounts(t)).toEqual(before);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain(`kitrelay_ingest_rejected_total{reason="${code}"} 1`);
  });
});

describe('authenticated but malformed input', () => {
  it('keeps broken JSON on a legacy route in quarantine and answers 400', async () => {
    t = await start();
    const response = await t.post(routeFor(t, 'subscriber.tag_add'), '{"subscriber": {"id": 1,');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'invalid_json' } });
    const [entry] = await t.relay.store.listQuarantine({});
    expect(entry).toMatchObject({ system: 'legacy', reason: 'invalid_json', status: 'open' });
    expect(entry!.body.toString()).toBe('{"subscriber": {"id": 1,');
    expect(await t.relay.store.listEvents({})).toHaveLength(0);
  });

  it('keeps valid JSON that fails validation in quarantine', async () => {
    t = await start();
    const response = await t.post(routeFor(t, 'subscriber.tag_add'), JSON.stringify({ subscriber: { first_name: 'no id or email' } }));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'invalid_payload' } });
    expect(await t.relay.store.listQuarantine({ status: 'open' })).toHaveLength(1);
  });

  it('quarantines a wholly broken signed body with a valid signature', async () => {
    t = await start();
    const body = Buffer.from('{"delivery_id": 1, "events": "nope"}');
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(response.status).toBe(400);
    expect(await t.relay.store.listQuarantine({})).toHaveLength(1);
  });
});

describe('availability', () => {
  it('answers 503 with Retry-After when the store cannot take the write, and healthz says so', async () => {
    t = await start();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    await t.relay.worker?.stop({ graceMs: 100 });
    await t.relay.store.close();
    const response = await t.post(routeFor(t, 'subscriber.tag_add'), jsonBody(legacyFixture('subscriber.tag_add').body));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(503);
  });
});
