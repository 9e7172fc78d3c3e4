/**
 * Emission over real HTTP on loopback: the Kit simulator with the webhooks plugin, changed
 * through its API (or its state, for volume), POSTing to the webhook receiver simulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../../integrations/webhook/simulator.js';
import { legacyFixture } from '../fixtures.js';
import { verifySignature } from '../signature.js';
import type { KitSubscriberJson } from './changes.js';
import { startKitSimulator, type KitSimulator } from './server.js';
import { createKitWebhooks, type KitWebhooks, type KitWebhooksOptions } from './webhooks.js';

interface Harness {
  readonly sim: KitSimulator;
  readonly receiver: WebhookReceiver;
  readonly webhooks: KitWebhooks;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** A new subscriber (through the API), as Kit's webhooks embed it. */
  subscribe(): Promise<KitSubscriberJson>;
  /** Tags a new subscriber through the API: exactly one `subscriber.tag_added` change. */
  tagNew(tagId: number): Promise<KitSubscriberJson>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

let emails = 0;

async function start(options: KitWebhooksOptions = {}): Promise<Harness> {
  const receiver = await startWebhookReceiver();
  const webhooks = createKitWebhooks({ retryScale: 0.001, batchWindowMs: 20, ...options });
  const sim = await startKitSimulator({ plugins: [webhooks.plugin], rateLimit: false, seed: { subscribers: 0, tags: 3 } });
  open.push(() => receiver.close(), () => sim.close());
  const api: Harness['api'] = async (method, path, body, headers = { 'x-kit-api-key': 'kit_sim_key' }) => {
    const res = await fetch(`${sim.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const subscribe = async (): Promise<KitSubscriberJson> => {
    const res = await api('POST', '/v4/subscribers', { email_address: `sub${++emails}@example.com`, first_name: 'Ada' });
    return res.body.subscriber as KitSubscriberJson;
  };
  return {
    sim,
    receiver,
    webhooks,
    api,
    subscribe,
    async tagNew(tagId) {
      const subscriber = await subscribe();
      expect((await api('POST', `/v4/tags/${tagId}/subscribers/${subscriber.id}`, {})).status).toBe(201);
      return subscriber;
    },
  };
}

async function endpoint(h: Harness, events: string[], path = '/signed'): Promise<{ id: number; secret: string }> {
  const res = await h.api('POST', '/v4/webhook_endpoints', { url: `${h.receiver.url}${path}`, events });
  expect(res.status).toBe(201);
  return res.body.webhook_endpoint as { id: number; secret: string };
}

function verifies(req: ReceivedRequest, secrets: string[]): boolean {
  return verifySignature({ header: req.headers['x-kit-signature'] as string, body: req.body, secrets, now: Date.now(), toleranceSeconds: 300 }).ok;
}

const v1Count = (req: ReceivedRequest) => (req.headers['x-kit-signature'] as string).split(',').filter((p) => p.startsWith('v1=')).length;

describe('legacy emission', () => {
  it('POSTs a tag_add webhook only for the tag it was registered for, unsigned, in the fixtures shape', async () => {
    const h = await start();
    await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/t1`, event: { name: 'subscriber.tag_add', tag_id: 1 } });
    await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/t2`, event: { name: 'subscriber.tag_add', tag_id: 2 } });
    const subscriber = await h.tagNew(1);
    await h.webhooks.flush();
    expect(h.receiver.requests.map((r) => r.path)).toEqual(['/t1']);
    const [req] = h.receiver.requests;
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['x-kit-signature']).toBeUndefined();
    expect(req!.json).toEqual({ subscriber });
    const fixture = legacyFixture('subscriber.tag_add').body as { subscriber: object };
    expect(Object.keys(req!.json as object)).toEqual(Object.keys(fixture));
    expect(Object.keys((req!.json as { subscriber: object }).subscriber).sort()).toEqual(Object.keys(fixture.subscriber).sort());
  });

  it('sends purchases bare by default and wrapped when configured, and field value updates as {custom_field, subscriber}', async () => {
    for (const isPurchaseWrapped of [false, true]) {
      const h = await start({ isPurchaseWrapped });
      await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/p`, event: { name: 'purchase.purchase_create' } });
      await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/f1`, event: { name: 'custom_field.field_value_updated', custom_field_id: 1 } });
      await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/f2`, event: { name: 'custom_field.field_value_updated', custom_field_id: 2 } });
      const { access_token: token } = h.sim.issueOAuthToken();
      const products = [{ name: 'Course', pid: 'c-1', lid: 1, quantity: 1, unit_price: 10 }];
      const bought = await h.api('POST', '/v4/purchases', { purchase: { email_address: 'buyer@example.com', transaction_id: 't-1', currency: 'USD', products } }, { authorization: `Bearer ${token}` });
      expect(bought.status).toBe(201);
      const subscriber = await h.subscribe();
      const updated = await h.api('PUT', `/v4/subscribers/${subscriber.id}`, { fields: { last_name: 'Lovelace' } });
      await h.webhooks.flush();
      expect(h.receiver.requests.map((r) => r.path).sort()).toEqual(['/f1', '/p']);
      const byPath = new Map(h.receiver.requests.map((r) => [r.path, r.json]));
      expect(byPath.get('/p')).toEqual(isPurchaseWrapped ? { purchase: bought.body.purchase } : bought.body.purchase);
      expect(byPath.get('/f1')).toEqual({ custom_field: { id: 1, name: 'ck_field_1_last_name', key: 'last_name', label: 'Last name' }, subscriber: updated.body.subscriber });
    }
  });

  it('never sends a dropped legacy webhook (own or simulator faults) and, by default, does not retry a failed one', async () => {
    const h = await start();
    await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/u`, event: { name: 'subscriber.subscriber_unsubscribe' } });
    h.webhooks.faults.drop({ times: 1 });
    h.sim.faults.dropWebhooks(1);
    h.receiver.fault({ kind: 'status', status: 500 });
    for (let i = 0; i < 4; i++) await h.api('POST', `/v4/subscribers/${(await h.subscribe()).id}/unsubscribe`, {});
    await h.webhooks.idle();
    // The two drops are decided in order; the two POSTs that went out may arrive in either order.
    expect(h.receiver.requests.map((r) => (r.answer.kind === 'response' ? r.answer.status : 0)).sort()).toEqual([200, 500]);
    expect(h.webhooks.sent.map((s) => s.outcome.kind)).toEqual(['dropped', 'dropped', 'response', 'response']);
    for (const r of h.receiver.requests) expect((r.json as { subscriber: { state: string } }).subscriber.state).toBe('cancelled');
  });

  it('retries a failed legacy webhook when legacyRetries is set', async () => {
    const h = await start({ legacyRetries: 2 });
    await h.api('POST', '/v4/webhooks', { target_url: `${h.receiver.url}/a`, event: { name: 'subscriber.subscriber_activate' } });
    h.receiver.fault({ kind: 'status', status: 503, times: 2 });
    await h.subscribe();
    await h.webhooks.idle();
    expect(h.receiver.requests.map((r) => r.answer)).toMatchObject([{ status: 503 }, { status: 503 }, { status: 200 }]);
  });
});

describe('Webhooks 2.0 emission', () => {
  it('signs deliveries verifiably with the endpoint secret and Kit headers', async () => {
    const h = await start();
    const { secret } = await endpoint(h, ['subscriber.tag_added']);
    const subscriber = await h.tagNew(1);
    await h.webhooks.flush();
    const [req] = await h.receiver.waitFor(1);
    expect(verifies(req!, [secret])).toBe(true);
    expect(verifies(req!, ['whsec_other'])).toBe(false);
    expect(req!.headers['user-agent']).toBe('Kit-Webhooks/2.0');
    expect(req!.headers['content-type']).toBe('application/json');
    const body = req!.json as { delivery_id: number; events: unknown[] };
    expect(req!.headers['x-kit-delivery']).toBe(String(body.delivery_id));
    expect(body.events).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        type: 'subscriber.tag_added',
        created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        data: { subscriber, tag: { id: 1, name: 'Customer' } },
      },
    ]);
  });

  it('batches 150 changes of one type into deliveries of 100 and 50, never mixing types', async () => {
    const h = await start({ batchWindowMs: 5_000 });
    await endpoint(h, ['subscriber.tag_added', 'subscriber.tag_removed']);
    for (let i = 1; i <= 150; i++) {
      const { subscriber } = h.sim.state.upsertSubscriber({ email: `bulk${i}@example.com` });
      h.sim.state.tagSubscriber(1, subscriber.id);
      if (i % 50 === 0) h.sim.state.untagSubscriber(1, subscriber.id);
    }
    await h.receiver.waitFor(1);
    expect((h.receiver.requests[0]!.json as { events: unknown[] }).events).toHaveLength(100);
    await h.webhooks.flush();
    type Envelope = { events: Array<{ id: string; type: string }> };
    const bodies = h.receiver.requests.map((r) => r.json as Envelope);
    const sizes = bodies.map((b) => `${b.events[0]!.type}:${b.events.length}`).sort();
    expect(sizes).toEqual(['subscriber.tag_added:100', 'subscriber.tag_added:50', 'subscriber.tag_removed:3']);
    for (const b of bodies) expect(new Set(b.events.map((e) => e.type)).size).toBe(1);
    expect(new Set(bodies.flatMap((b) => b.events.map((e) => e.id))).size).toBe(153);
  });

  it('signs with the new and the previous secret during a rotation, and only the new one after a revoke', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    const rotated = await h.api('POST', `/v4/webhook_endpoints/${ep.id}/rotate_secret`, {});
    expect(rotated.status).toBe(200);
    const next = rotated.body.webhook_endpoint.secret as string;
    expect(next).not.toBe(ep.secret);
    await h.tagNew(1);
    await h.webhooks.flush();
    const during = h.receiver.requests[0]!;
    expect(v1Count(during)).toBe(2);
    expect(verifies(during, [ep.secret])).toBe(true);
    expect(verifies(during, [next])).toBe(true);

    expect((await h.api('POST', `/v4/webhook_endpoints/${ep.id}/revoke_previous_secret`)).status).toBe(200);
    await h.tagNew(1);
    await h.webhooks.flush();
    const after = h.receiver.requests[1]!;
    expect(v1Count(after)).toBe(1);
    expect(verifies(after, [ep.secret])).toBe(false);
    expect(verifies(after, [next])).toBe(true);
  });

  it('retries a 500 on the scaled schedule with the same delivery_id and a fresh signature each time', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    h.receiver.fault({ kind: 'status', status: 500, times: 3, body: 'boom' });
    await h.tagNew(1);
    await h.webhooks.flush();
    // Rotating between attempts proves each retry is signed afresh: later attempts carry both secrets.
    const rotated = await h.api('POST', `/v4/webhook_endpoints/${ep.id}/rotate_secret`, {});
    await h.webhooks.idle();
    const reqs = h.receiver.requests;
    expect(reqs.map((r) => r.answer)).toMatchObject([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 200 }]);
    expect(new Set(reqs.map((r) => r.headers['x-kit-delivery'])).size).toBe(1);
    expect(new Set(reqs.map((r) => r.body.toString())).size).toBe(1);
    expect(v1Count(reqs[0]!)).toBe(1);
    expect(v1Count(reqs[3]!)).toBe(2);
    const next = rotated.body.webhook_endpoint.secret as string;
    for (const r of reqs) expect(verifies(r, [ep.secret, next])).toBe(true);
    expect(verifies(reqs[3]!, [next])).toBe(true);
    const gaps = reqs.slice(1).map((r, i) => r.receivedAt - reqs[i]!.receivedAt);
    [30, 120, 900].forEach((ms, i) => expect(gaps[i]).toBeGreaterThanOrEqual(ms - 2));
    const [delivery] = h.webhooks.deliveries(ep.id);
    expect(delivery!.status).toBe('delivered');
    expect(delivery!.attempts.map((a) => a.retryDelayMs)).toEqual([30_000, 120_000, 900_000, null]);
    expect(delivery!.attempts[0]).toMatchObject({ responseStatus: 500, responseBody: 'boom', error: 'HTTP 500' });
  });

  it('stops at once on 410 Gone', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    h.receiver.fault({ kind: 'status', status: 410, times: Infinity });
    await h.tagNew(1);
    await h.webhooks.idle();
    expect(h.receiver.requests).toHaveLength(1);
    expect(h.webhooks.deliveries(ep.id)[0]).toMatchObject({ status: 'failed', attempts: [{ responseStatus: 410 }] });
  });

  it('honours Retry-After on 429 and 503, clamped to at least 1 s, and scaled', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    h.receiver.fault({ kind: 'status', status: 429, retryAfter: 300 });
    h.receiver.fault({ kind: 'status', status: 503, retryAfter: 0 });
    h.receiver.fault({ kind: 'status', status: 500, retryAfter: 5 });
    await h.tagNew(1);
    await h.webhooks.idle();
    const reqs = h.receiver.requests;
    expect(reqs).toHaveLength(4);
    expect(reqs[1]!.receivedAt - reqs[0]!.receivedAt).toBeGreaterThanOrEqual(298);
    // 429 → 300 s; 503 with 0 → clamped to 1 s; a 500's Retry-After is not honoured (schedule: 15 m).
    expect(h.webhooks.deliveries(ep.id)[0]!.attempts.map((a) => a.retryDelayMs)).toEqual([300_000, 1_000, 900_000, null]);
  });

  it('gives up after 8 attempts and shows dropped attempts as failed while the receiver saw nothing', async () => {
    const h = await start({ retryScale: 0.00001 });
    const ep = await endpoint(h, ['subscriber.tag_added'], '/lost');
    await endpoint(h, ['subscriber.tag_added'], '/kept');
    h.sim.faults.dropWebhooks((url) => url.endsWith('/lost'));
    await h.tagNew(1);
    await h.webhooks.idle();
    expect(h.receiver.requests.map((r) => r.path)).toEqual(['/kept']);
    const [delivery] = h.webhooks.deliveries(ep.id);
    expect(delivery).toMatchObject({ status: 'failed', nextAttemptAt: null });
    expect(delivery!.attempts).toHaveLength(8);
    expect(delivery!.attempts.every((a) => a.isDropped && a.responseStatus === null)).toBe(true);
    const listed = await h.api('GET', `/v4/webhook_endpoints/${ep.id}/deliveries?status=failed`);
    expect(listed.body.deliveries).toMatchObject([{ id: delivery!.id, status: 'failed', attempt_count: 8, event_count: 1 }]);
  });

  it('retries a dropped attempt, then delivers it', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    h.webhooks.faults.drop({ times: 1 });
    await h.tagNew(1);
    await h.webhooks.flush();
    expect(h.webhooks.deliveries(ep.id)[0]!.status).toBe('retrying');
    expect(h.receiver.requests).toHaveLength(0);
    await h.webhooks.idle();
    expect(h.receiver.requests).toHaveLength(1);
    expect(h.webhooks.deliveries(ep.id)[0]!.status).toBe('delivered');
  });

  it('sends nothing to a disabled endpoint or for a type it did not subscribe to', async () => {
    const h = await start();
    const ep = await endpoint(h, ['subscriber.tag_added']);
    await endpoint(h, ['subscriber.tag_removed']);
    await h.api('PATCH', `/v4/webhook_endpoints/${ep.id}`, { status: 'disabled' });
    await h.tagNew(1);
    await h.webhooks.flush();
    expect(h.receiver.requests).toHaveLength(0);
  });

  it('close() cancels waiting retries and aborts POSTs in flight', async () => {
    const h = await start({ retryScale: 1 });
    const ep = await endpoint(h, ['subscriber.tag_added', 'subscriber.tag_removed']);
    h.receiver.fault({ kind: 'status', status: 500 });
    h.receiver.fault({ kind: 'hang' });
    const subscriber = await h.tagNew(1);
    await h.webhooks.flush();
    expect(h.webhooks.deliveries(ep.id)[0]).toMatchObject({ status: 'retrying' });
    await h.api('DELETE', `/v4/tags/1/subscribers/${subscriber.id}`);
    await h.receiver.waitFor(2);
    await h.webhooks.close();
    await expect(h.webhooks.idle(10)).resolves.toBeUndefined();
    expect(h.webhooks.sent.at(-1)!.outcome).toEqual({ kind: 'network_error', code: 'aborted' });
    expect(h.webhooks.deliveries(ep.id).map((d) => d.status)).toEqual(['pending', 'retrying']);
  });
});
