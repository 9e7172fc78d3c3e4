/**
 * The webhook management API over real HTTP on loopback, on the Kit simulator's server (same
 * auth as the rest): legacy `/v4/webhooks`, Webhooks 2.0 `/v4/webhook_endpoints` and its
 * delivery history.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../../integrations/webhook/simulator.js';
import { startKitSimulator, type KitSimulator, type KitSimulatorOptions } from './server.js';
import { createKitWebhooks, type KitWebhooks, type KitWebhooksOptions } from './webhooks.js';

interface Harness {
  readonly sim: KitSimulator;
  readonly receiver: WebhookReceiver;
  readonly webhooks: KitWebhooks;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

async function start(options: KitWebhooksOptions = {}, simOptions: KitSimulatorOptions = {}): Promise<Harness> {
  const receiver = await startWebhookReceiver();
  const webhooks = createKitWebhooks({ retryScale: 0.001, batchWindowMs: 10, ...options });
  const sim = await startKitSimulator({ plugins: [webhooks.plugin], rateLimit: false, seed: { subscribers: 0, tags: 3 }, ...simOptions });
  open.push(() => receiver.close(), () => sim.close());
  return {
    sim,
    receiver,
    webhooks,
    async api(method, path, body, headers = { 'x-kit-api-key': 'kit_sim_key' }) {
      const res = await fetch(`${sim.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
    },
  };
}

/** The ids of a listed page, in order. */
const ids = (items: ReadonlyArray<{ readonly id: number }>): number[] => items.map((item) => item.id);
const tagIds = (items: ReadonlyArray<{ readonly event: { readonly tag_id?: number } }>) => items.map((w) => w.event.tag_id);


describe('legacy /v4/webhooks', () => {
  it('is served behind the simulator\'s auth like every /v4 route', async () => {
    const h = await start();
    expect(await h.api('GET', '/v4/webhooks', undefined, {})).toEqual({ status: 401, body: { errors: ['Authentication Failed'] } });
    expect((await h.api('GET', '/v4/webhook_endpoints', undefined, { 'x-kit-api-key': 'wrong' })).status).toBe(401);
    const { access_token: token } = h.sim.issueOAuthToken();
    expect((await h.api('GET', '/v4/webhook_endpoints', undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('answers 201 with the prefix-less event name and its scope parameter', async () => {
    const h = await start({ accountId: 1065 });
    const res = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com/hook', event: { name: 'subscriber.tag_add', tag_id: 7, form_id: null } });
    expect(res).toEqual({ status: 201, body: { webhook: { id: 1, account_id: 1065, event: { name: 'tag_add', tag_id: 7 }, target_url: 'https://example.com/hook' } } });
    const purchase = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com/p', event: { name: 'purchase.purchase_create' } });
    expect(purchase.body.webhook.event).toEqual({ name: 'purchase_create', initiator_value: null });
    const field = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com/f', event: { name: 'custom_field.field_value_updated', custom_field_id: '12' } });
    expect(field.body.webhook.event).toEqual({ name: 'field_value_updated', custom_field_id: 12 });
  });

  it('accepts course_id for the sequence events and echoes it', async () => {
    const h = await start();
    const res = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com/s', event: { name: 'subscriber.course_subscribe', course_id: 5 } });
    expect(res.body.webhook.event).toEqual({ name: 'course_subscribe', course_id: 5 });
    const seq = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com/s', event: { name: 'subscriber.course_complete', sequence_id: 5 } });
    expect(seq.body.webhook.event).toEqual({ name: 'course_complete', sequence_id: 5 });
  });

  it('answers 422 when event or target is missing, or the scope parameter is', async () => {
    const h = await start();
    expect(await h.api('POST', '/v4/webhooks', { event: { name: 'subscriber.tag_add', tag_id: 1 } })).toEqual({
      status: 422,
      body: { errors: ['`event` and `target` parameters must be provided'] },
    });
    expect((await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com' })).status).toBe(422);
    const unscoped = await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com', event: { name: 'subscriber.tag_add', tag_id: null } });
    expect(unscoped.status).toBe(422);
    expect(unscoped.body.errors[0]).toContain('tag_id');
    expect((await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com', event: { name: 'subscriber.nope' } })).status).toBe(422);
  });

  it('lists with cursor pagination and deletes (204, then 404)', async () => {
    const h = await start();
    for (const tagId of [1, 2, 3]) await h.api('POST', '/v4/webhooks', { target_url: 'https://example.com', event: { name: 'subscriber.tag_add', tag_id: tagId } });
    const first = await h.api('GET', '/v4/webhooks?per_page=2&include_total_count=true');
    expect(tagIds(first.body.webhooks)).toEqual([1, 2]);
    expect(first.body.pagination).toMatchObject({ has_previous_page: false, has_next_page: true, per_page: 2, total_count: 3 });
    const second = await h.api('GET', `/v4/webhooks?per_page=2&after=${encodeURIComponent(first.body.pagination.end_cursor)}`);
    expect(tagIds(second.body.webhooks)).toEqual([3]);
    expect(second.body.pagination).toMatchObject({ has_previous_page: true, has_next_page: false });
    expect((await h.api('GET', '/v4/webhooks?after=notacursor')).status).toBe(422);
    expect((await h.api('DELETE', '/v4/webhooks/2')).status).toBe(204);
    expect(await h.api('DELETE', '/v4/webhooks/2')).toEqual({ status: 404, body: { errors: ['Not Found'] } });
    expect(h.webhooks.legacy.map((w) => w.id)).toEqual([1, 3]);
  });
});

describe('Webhooks 2.0 /v4/webhook_endpoints', () => {
  it('creates an active endpoint and shows its secret only on create', async () => {
    const h = await start();
    const created = await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com/k', events: ['subscriber.tag_added'], name: 'main' });
    expect(created.status).toBe(201);
    expect(created.body.webhook_endpoint).toEqual({
      id: 1, name: 'main', url: 'https://example.com/k', events: ['subscriber.tag_added'], status: 'active', source: 'creator',
      description: null, created_by_app: null, created_at: expect.stringMatching(/Z$/), previous_secret_expires_at: null,
      secret: expect.stringMatching(/^whsec_/),
    });
    const got = await h.api('GET', '/v4/webhook_endpoints/1');
    expect(got.body.webhook_endpoint.secret).toBeUndefined();
    expect((await h.api('GET', '/v4/webhook_endpoints/9')).status).toBe(404);
  });

  it('answers 422 for unknown or planned event types, and for private URLs only when asked to', async () => {
    const h = await start();
    const planned = await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com', events: ['broadcast.sent'] });
    expect(planned.status).toBe(422);
    expect(planned.body.errors[0]).toContain('not available');
    expect((await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com', events: ['subscriber.nope'] })).status).toBe(422);
    expect((await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com', events: [] })).status).toBe(422);
    expect((await h.api('POST', '/v4/webhook_endpoints', { events: ['subscriber.created'] })).status).toBe(422);
    expect((await h.api('POST', '/v4/webhook_endpoints', { url: 'http://127.0.0.1:9/x', events: ['subscriber.created'] })).status).toBe(201);
    const strict = await start({ isPrivateUrlRejected: true });
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://10.1.2.3/', 'http://[::1]/', 'http://192.168.0.1/']) {
      expect((await strict.api('POST', '/v4/webhook_endpoints', { url, events: ['subscriber.created'] })).status).toBe(422);
    }
    expect((await strict.api('POST', '/v4/webhook_endpoints', { url: 'https://8.8.8.8/x', events: ['subscriber.created'] })).status).toBe(201);
  });

  it('PATCH replaces the events list and other given fields; lists filter by status; DELETE answers 204', async () => {
    const h = await start();
    await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com/a', events: ['subscriber.created', 'subscriber.tag_added'] });
    await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com/b', events: ['subscriber.created'] });
    const patched = await h.api('PATCH', '/v4/webhook_endpoints/1', { events: ['subscriber.bounced'], status: 'disabled', description: 'off' });
    expect(patched.body.webhook_endpoint).toMatchObject({ events: ['subscriber.bounced'], status: 'disabled', description: 'off', url: 'https://example.com/a' });
    expect((await h.api('PATCH', '/v4/webhook_endpoints/1', { status: 'paused' })).status).toBe(422);
    const disabled = await h.api('GET', '/v4/webhook_endpoints?status=disabled');
    expect(ids(disabled.body.webhook_endpoints)).toEqual([1]);
    expect((await h.api('GET', '/v4/webhook_endpoints')).body.webhook_endpoints).toHaveLength(2);
    expect((await h.api('GET', '/v4/webhook_endpoints?status=gone')).status).toBe(422);
    expect((await h.api('DELETE', '/v4/webhook_endpoints/1')).status).toBe(204);
    expect((await h.api('DELETE', '/v4/webhook_endpoints/1')).status).toBe(404);
  });

  it('rotates the secret with a 24 h overlap, 409 inside the window unless forced', async () => {
    const h = await start();
    const created = (await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com', events: ['subscriber.created'] })).body.webhook_endpoint;
    const before = Date.now();
    const rotated = await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret');
    expect(rotated.status).toBe(200);
    expect(rotated.body.webhook_endpoint.secret).not.toBe(created.secret);
    const expiresAt = Date.parse(rotated.body.webhook_endpoint.previous_secret_expires_at);
    expect(expiresAt - before).toBeGreaterThan(24 * 3600_000 - 2000);
    expect(expiresAt - before).toBeLessThanOrEqual(24 * 3600_000 + 1000);
    expect(await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret', {})).toEqual({
      status: 409,
      body: { errors: ['The previous signing secret is still within its rotation window.'] },
    });
    expect((await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret', { force: true })).status).toBe(200);
    const revoked = await h.api('POST', '/v4/webhook_endpoints/1/revoke_previous_secret');
    expect(revoked.body.webhook_endpoint).toMatchObject({ previous_secret_expires_at: null });
    expect(revoked.body.webhook_endpoint.secret).toBeUndefined();
    expect((await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret')).status).toBe(200);
  });

  it('allows a new rotation once the window has passed', async () => {
    let now = Date.parse('2026-09-01T00:00:00Z');
    const h = await start({}, { now: () => now });
    await h.api('POST', '/v4/webhook_endpoints', { url: 'https://example.com', events: ['subscriber.created'] });
    await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret');
    now += 24 * 3600_000 + 1;
    const again = await h.api('POST', '/v4/webhook_endpoints/1/rotate_secret');
    expect(again.status).toBe(200);
    expect(again.body.webhook_endpoint.previous_secret_expires_at).toBe('2026-09-03T00:00:00Z');
  });
});

describe('delivery history', () => {
  it('lists deliveries newest first with statuses and attempts, filters them, and answers 422 on a bad filter', async () => {
    const h = await start();
    await h.api('POST', '/v4/webhook_endpoints', { url: `${h.receiver.url}/k`, events: ['subscriber.tag_added', 'subscriber.created'] });
    h.receiver.fault({ kind: 'status', status: 410, body: { error: 'gone' }, match: (r) => (r.json as { events: Array<{ type: string }> }).events[0]?.type === 'subscriber.created' });
    const created = await h.api('POST', '/v4/subscribers', { email_address: 'ada@example.com' });
    await h.webhooks.flush();
    await h.api('POST', `/v4/tags/1/subscribers/${created.body.subscriber.id}`, {});
    await h.webhooks.idle();
    const all = await h.api('GET', '/v4/webhook_endpoints/1/deliveries');
    expect(all.status).toBe(200);
    expect(all.body.deliveries).toEqual([
      { id: 2, status: 'delivered', event_type: 'subscriber.tag_added', event_count: 1, attempt_count: 1, created_at: expect.any(String), completed_at: expect.any(String), next_attempt_at: null },
      { id: 1, status: 'failed', event_type: 'subscriber.created', event_count: 1, attempt_count: 1, created_at: expect.any(String), completed_at: expect.any(String), next_attempt_at: null },
    ]);
    expect(all.body.pagination).toMatchObject({ has_next_page: false, has_previous_page: false });
    expect(ids((await h.api('GET', '/v4/webhook_endpoints/1/deliveries?status=delivered')).body.deliveries)).toEqual([2]);
    expect(ids((await h.api('GET', '/v4/webhook_endpoints/1/deliveries?event_type=subscriber.created')).body.deliveries)).toEqual([1]);
    expect((await h.api('GET', '/v4/webhook_endpoints/1/deliveries?status=lost')).status).toBe(422);
    expect((await h.api('GET', '/v4/webhook_endpoints/1/deliveries?event_type=nope')).status).toBe(422);
    expect((await h.api('GET', '/v4/webhook_endpoints/9/deliveries')).status).toBe(404);

    const one = await h.api('GET', '/v4/webhook_endpoints/1/deliveries/1');
    expect(one.body.delivery).toMatchObject({ id: 1, status: 'failed', events: [{ type: 'subscriber.created', data: { subscriber: created.body.subscriber } }] });
    expect(one.body.delivery.attempts).toEqual([
      { attempted_at: expect.any(String), response_status: 410, response_body: '{"error":"gone"}', duration_ms: expect.any(Number), error: expect.stringContaining('410') },
    ]);
    expect((await h.api('GET', '/v4/webhook_endpoints/1/deliveries/99')).status).toBe(404);
  });

  it('pages deliveries newest first and forgets them after 30 days', async () => {
    let now = Date.parse('2026-09-01T00:00:00Z');
    const h = await start({}, { now: () => now });
    await h.api('POST', '/v4/webhook_endpoints', { url: `${h.receiver.url}/k`, events: ['subscriber.created'] });
    for (let i = 0; i < 3; i++) {
      await h.api('POST', '/v4/subscribers', { email_address: `p${i}@example.com` });
      await h.webhooks.flush();
    }
    const page = await h.api('GET', '/v4/webhook_endpoints/1/deliveries?per_page=2');
    expect(ids(page.body.deliveries)).toEqual([3, 2]);
    const next = await h.api('GET', `/v4/webhook_endpoints/1/deliveries?per_page=2&after=${encodeURIComponent(page.body.pagination.end_cursor)}`);
    expect(ids(next.body.deliveries)).toEqual([1]);
    now += 31 * 24 * 3600_000;
    expect((await h.api('GET', '/v4/webhook_endpoints/1/deliveries')).body.deliveries).toEqual([]);
  });
});
