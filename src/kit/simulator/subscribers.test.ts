import { describe, expect, it } from 'vitest';
import { call, items, simulatorPerTest, type Answer } from './harness.js';

const start = simulatorPerTest();

describe('kit simulator: subscribers', () => {
  it('lists only active subscribers by default, every state with status=all, one state on request', async () => {
    const { sim } = await start({ seed: { subscribers: 200 } });
    const states = (answer: Answer) => new Set(items<{ state: string }>(answer, 'subscribers').map((s) => s.state));
    const active = await call(sim, '/v4/subscribers?per_page=1000&include_total_count=true');
    expect(states(active)).toEqual(new Set(['active']));
    const all = await call(sim, '/v4/subscribers?status=all&per_page=1000&include_total_count=true');
    expect(all.json.pagination.total_count).toBe(200);
    expect(states(all).size).toBeGreaterThan(2);
    expect(active.json.pagination.total_count).toBeLessThan(200);
    expect(states(await call(sim, '/v4/subscribers?status=cancelled'))).toEqual(new Set(['cancelled']));
    expect(await call(sim, '/v4/subscribers?status=gone')).toMatchObject({ status: 422, json: { errors: [expect.any(String)] } });
  });

  it('upserts by email: 201 and created+activated events when new, 200 and only a first-name update when known', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 5 } });
    const created = await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'Ann@Example.org', first_name: 'Ann', fields: { last_name: 'Lee', shoe_size: '9' } } });
    expect(created.status).toBe(201);
    expect(created.json.subscriber).toMatchObject({ id: 6, first_name: 'Ann', email_address: 'Ann@Example.org', state: 'active', fields: { last_name: 'Lee' } });
    expect(created.json.warnings).toHaveLength(1);
    expect(changes.map((c) => c.type)).toEqual(['subscriber.created', 'subscriber.activated']);

    const again = await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'ann@example.org', first_name: 'Annie', state: 'cancelled', fields: { last_name: 'Other' } } });
    expect(again.status).toBe(200);
    expect(again.json.subscriber).toMatchObject({ id: 6, first_name: 'Annie', state: 'active', fields: { last_name: 'Lee' } });
    expect(changes).toHaveLength(2);

    const inactive = await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'pending@example.org', state: 'inactive' } });
    expect(inactive.json.subscriber.state).toBe('inactive');
    expect(changes.map((c) => c.type).slice(2)).toEqual(['subscriber.created']);
    expect(await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'not-an-email' } })).toMatchObject({ status: 422, json: { errors: ['Email address is invalid'] } });
  });

  it('finds a generated subscriber by email and upserts onto it', async () => {
    const { sim } = await start({ seed: { subscribers: 20 } });
    const three = sim.state.getSubscriber(3)!;
    const answer = await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: three.email_address.toUpperCase() } });
    expect(answer.status).toBe(200);
    expect(answer.json.subscriber.id).toBe(3);
    const filtered = await call(sim, `/v4/subscribers?status=all&email_address=${encodeURIComponent(three.email_address)}`);
    expect(items<{ id: number }>(filtered, 'subscribers').map((s) => s.id)).toEqual([3]);
  });

  it('gets one subscriber or 404 Not Found', async () => {
    const { sim } = await start({ seed: { subscribers: 2 } });
    expect((await call(sim, '/v4/subscribers/2')).json.subscriber.id).toBe(2);
    for (const path of ['/v4/subscribers/3', '/v4/subscribers/abc']) expect(await call(sim, path)).toMatchObject({ status: 404, json: { errors: ['Not Found'] } });
  });

  it('updates email, first name and fields; 422 when the email belongs to someone else; one change per field that changed', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 3 } });
    const other = (await call(sim, '/v4/subscribers/2')).json.subscriber.email_address;
    expect(await call(sim, '/v4/subscribers/1', { method: 'PUT', body: { email_address: other } })).toMatchObject({ status: 422, json: { errors: ['Email address has already been taken'] } });
    const updated = await call(sim, '/v4/subscribers/1', { method: 'PUT', body: { email_address: 'new@example.org', first_name: 'Neo', fields: { company: 'Zion', city: 'Matrix' } } });
    expect(updated.status).toBe(200);
    expect(updated.json.subscriber).toMatchObject({ email_address: 'new@example.org', first_name: 'Neo', fields: { company: 'Zion', city: 'Matrix' } });
    expect(changes.map((c) => [c.type, (c.customField as { key: string }).key])).toEqual([
      ['subscriber.custom_field_value_updated', 'company'],
      ['subscriber.custom_field_value_updated', 'city'],
    ]);
    await call(sim, '/v4/subscribers/1', { method: 'PUT', body: { fields: { company: 'Zion' } } });
    expect(changes).toHaveLength(2);
    // The old generated address no longer finds subscriber 1; the new one does.
    expect(sim.state.findSubscriberByEmail('new@example.org')?.id).toBe(1);
    expect((await call(sim, '/v4/subscribers/9', { method: 'PUT', body: {} })).status).toBe(404);
  });

  it('unsubscribes with 204: state cancelled, one unsubscribed event, tags kept', async () => {
    const { sim, changes } = await start();
    const id = (await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'u@example.org' } })).json.subscriber.id;
    const tag = (await call(sim, '/v4/tags', { method: 'POST', body: { name: 'Fan' } })).json.tag;
    await call(sim, `/v4/tags/${tag.id}/subscribers/${id}`, { method: 'POST', body: {} });
    changes.length = 0;
    const answer = await call(sim, `/v4/subscribers/${id}/unsubscribe`, { method: 'POST', body: {} });
    expect(answer.status).toBe(204);
    expect(answer.text).toBe('');
    await call(sim, `/v4/subscribers/${id}/unsubscribe`, { method: 'POST', body: {} });
    expect(changes.map((c) => c.type)).toEqual(['subscriber.unsubscribed']);
    expect((changes[0]?.subscriber as { state: string }).state).toBe('cancelled');
    expect(items<{ name: string }>((await call(sim, `/v4/subscribers/${id}/tags`)), 'tags').map((t) => t.name)).toEqual(['Fan']);
    expect((await call(sim, '/v4/subscribers/999/unsubscribe', { method: 'POST', body: {} })).status).toBe(404);
  });

  it('filters by created window, includes tags, omits fields when slim, and validates the cancelled_at sort', async () => {
    const { sim } = await start({ seed: { subscribers: 100, tags: 4 } });
    const all = (await call(sim, '/v4/subscribers?status=all&sort_order=asc&per_page=1000')).json.subscribers;
    const from = all[10].created_at;
    const to = all[20].created_at;
    const window = await call(sim, `/v4/subscribers?status=all&sort_order=asc&created_after=${from}&created_before=${to}`);
    expect(items<{ id: number }>(window, 'subscribers').map((s) => s.id)).toEqual(Array.from({ length: 10 }, (_, k) => 11 + k));
    expect((await call(sim, '/v4/subscribers?created_after=someday')).status).toBe(422);
    const rich = await call(sim, '/v4/subscribers?status=all&include=tags&slim=true&per_page=50');
    expect(rich.json.subscribers[0].fields).toBeUndefined();
    expect(items<{ tags: unknown[] }>(rich, 'subscribers').some((s) => s.tags.length > 0)).toBe(true);
    expect(await call(sim, '/v4/subscribers?sort_field=cancelled_at')).toMatchObject({ status: 422, json: { errors: ['The status param must be `cancelled` if sort_field is `cancelled_at`'] } });
    expect((await call(sim, '/v4/subscribers?sort_field=cancelled_at&status=cancelled')).status).toBe(200);
  });

  it('lets list endpoints lag writes by listLagMs while GET by id is immediate', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const { sim } = await start({ now: () => now, listLagMs: 30_000 });
    const id = (await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'late@example.org' } })).json.subscriber.id;
    expect((await call(sim, `/v4/subscribers/${id}`)).status).toBe(200);
    expect((await call(sim, '/v4/subscribers')).json.subscribers).toEqual([]);
    now += 30_000;
    expect(items<{ id: number }>((await call(sim, '/v4/subscribers')), 'subscribers').map((s) => s.id)).toEqual([id]);
    await call(sim, `/v4/subscribers/${id}/unsubscribe`, { method: 'POST', body: {} });
    expect((await call(sim, '/v4/subscribers')).json.subscribers).toHaveLength(1);
    now += 30_000;
    expect((await call(sim, '/v4/subscribers')).json.subscribers).toHaveLength(0);
  });
});
