import { describe, expect, it } from 'vitest';
import { call, items, simulatorPerTest } from './harness.js';
import type { KitSimulator } from './server.js';

const start = simulatorPerTest();

async function subscriber(s: KitSimulator, email: string): Promise<number> {
  return (await call(s, '/v4/subscribers', { method: 'POST', body: { email_address: email } })).json.subscriber.id as number;
}

describe('kit simulator: tags', () => {
  it('creates a tag with 201, answers 200 with the existing tag for the same name in any case, 422 for a blank name', async () => {
    const { sim } = await start();
    const created = await call(sim, '/v4/tags', { method: 'POST', body: { name: 'VIP' } });
    expect(created.status).toBe(201);
    expect(created.json.tag).toEqual({ id: 1, name: 'VIP', created_at: expect.stringMatching(/Z$/) });
    const same = await call(sim, '/v4/tags', { method: 'POST', body: { name: 'vip' } });
    expect(same).toMatchObject({ status: 200, json: { tag: { id: 1, name: 'VIP' } } });
    expect(await call(sim, '/v4/tags', { method: 'POST', body: { name: '  ' } })).toMatchObject({ status: 422, json: { errors: ["Name can't be blank"] } });
  });

  it('renames a tag; 404 for an unknown one, 422 for a name another tag has', async () => {
    const { sim } = await start();
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'A' } });
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'B' } });
    expect(await call(sim, '/v4/tags/1', { method: 'PUT', body: { name: 'A2' } })).toMatchObject({ status: 200, json: { tag: { id: 1, name: 'A2' } } });
    expect((await call(sim, '/v4/tags/1', { method: 'PUT', body: { name: 'b' } })).status).toBe(422);
    expect((await call(sim, '/v4/tags/9', { method: 'PUT', body: { name: 'C' } })).status).toBe(404);
  });

  it('tags by id with 201 and one tag_added; tagging again answers 200 and reports nothing', async () => {
    const { sim, changes } = await start();
    const id = await subscriber(sim, 't@example.org');
    const tag = (await call(sim, '/v4/tags', { method: 'POST', body: { name: 'Buyer' } })).json.tag;
    changes.length = 0;
    const first = await call(sim, `/v4/tags/${tag.id}/subscribers/${id}`, { method: 'POST', body: {} });
    expect(first.status).toBe(201);
    expect(first.json.subscriber).toMatchObject({ id, email_address: 't@example.org', tagged_at: expect.stringMatching(/Z$/) });
    const second = await call(sim, `/v4/tags/${tag.id}/subscribers/${id}`, { method: 'POST', body: {} });
    expect(second.status).toBe(200);
    expect(second.json.subscriber.tagged_at).toBe(first.json.subscriber.tagged_at);
    expect(changes).toEqual([{ type: 'subscriber.tag_added', subscriber: expect.objectContaining({ id }), tag: { id: tag.id, name: 'Buyer' } }]);
    expect((await call(sim, `/v4/tags/${tag.id}/subscribers/999`, { method: 'POST', body: {} })).status).toBe(404);
    expect((await call(sim, `/v4/tags/999/subscribers/${id}`, { method: 'POST', body: {} })).status).toBe(404);
  });

  it('tags by email: 404 when nobody has the email (no subscriber is created), 422 without an email', async () => {
    const { sim } = await start();
    const id = await subscriber(sim, 'e@example.org');
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'T' } });
    expect((await call(sim, '/v4/tags/1/subscribers', { method: 'POST', body: { email_address: 'E@example.org' } })).json.subscriber.id).toBe(id);
    expect(await call(sim, '/v4/tags/1/subscribers', { method: 'POST', body: { email_address: 'nobody@example.org' } })).toMatchObject({ status: 404, json: { errors: ['Not Found'] } });
    expect(sim.state.subscribers.count).toBe(1);
    expect(await call(sim, '/v4/tags/1/subscribers', { method: 'POST', body: {} })).toMatchObject({
      status: 422,
      json: { errors: ['Either subscriber id or email address is required to tag subscriber'] },
    });
  });

  it('untags by id and by email in the query, a JSON body or a form body, each with 204 and one tag_removed', async () => {
    const { sim, changes } = await start();
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'T' } });
    const emails = ['byid@example.org', 'query@example.org', 'json@example.org', 'form@example.org'];
    const ids = [];
    for (const email of emails) {
      const id = await subscriber(sim, email);
      ids.push(id);
      await call(sim, `/v4/tags/1/subscribers/${id}`, { method: 'POST', body: {} });
    }
    changes.length = 0;
    const answers = [
      await call(sim, `/v4/tags/1/subscribers/${ids[0]}`, { method: 'DELETE' }),
      await call(sim, `/v4/tags/1/subscribers?email_address=${encodeURIComponent('query@example.org')}`, { method: 'DELETE' }),
      await call(sim, '/v4/tags/1/subscribers', { method: 'DELETE', body: { email_address: 'json@example.org' } }),
      await call(sim, '/v4/tags/1/subscribers', { method: 'DELETE', form: { email_address: 'form@example.org' } }),
    ];
    expect(answers.map((a) => [a.status, a.text])).toEqual(Array.from({ length: 4 }, () => [204, '']));
    expect(changes.map((c) => [c.type, (c.subscriber as { email_address: string }).email_address])).toEqual(emails.map((e) => ['subscriber.tag_removed', e]));
    // Untagging someone without the tag changes nothing.
    expect((await call(sim, `/v4/tags/1/subscribers/${ids[0]}`, { method: 'DELETE' })).status).toBe(204);
    expect(changes).toHaveLength(4);
    expect((await call(sim, '/v4/tags/1/subscribers', { method: 'DELETE', body: {} })).status).toBe(422);
    expect((await call(sim, '/v4/tags/1/subscribers', { method: 'DELETE', body: { email_address: 'x@example.org' } })).status).toBe(404);
    expect((await call(sim, '/v4/tags/1/subscribers/999', { method: 'DELETE' })).status).toBe(404);
  });

  it('lists a tag’s active subscribers by default with tagged_at, all of them with status=all', async () => {
    const { sim } = await start({ seed: { subscribers: 300, tags: 2 } });
    const active = await call(sim, '/v4/tags/1/subscribers?per_page=1000&include_total_count=true');
    const all = await call(sim, '/v4/tags/1/subscribers?per_page=1000&include_total_count=true&status=all');
    expect(items<{ state: string; tagged_at: string }>(active, 'subscribers').every((s) => s.state === 'active' && s.tagged_at.endsWith('Z'))).toBe(true);
    expect(all.json.pagination.total_count).toBeGreaterThan(active.json.pagination.total_count);
    for (const s of all.json.subscribers as Array<{ id: number }>) expect(sim.state.taggings.get(1, s.id)).toBeDefined();
    // Untagging a generated subscriber takes it out of the list.
    const first = all.json.subscribers[0].id;
    await call(sim, `/v4/tags/1/subscribers/${first}`, { method: 'DELETE' });
    expect((await call(sim, '/v4/tags/1/subscribers?per_page=1000&include_total_count=true&status=all')).json.pagination.total_count).toBe(all.json.pagination.total_count - 1);
    expect((await call(sim, '/v4/tags/99/subscribers')).status).toBe(404);
  });
});
