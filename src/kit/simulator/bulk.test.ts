import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bearer, call, items, startWithChanges } from './harness.js';
import type { KitSimulator } from './server.js';

let sim: KitSimulator | undefined;
let receiver: Server | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  receiver = undefined;
});

async function start(options: Parameters<typeof startWithChanges>[0] = {}) {
  const started = await startWithChanges(options);
  sim = started.sim;
  return started;
}

/** A tiny callback receiver: resolves with the first JSON body POSTed to it. */
async function startReceiver(): Promise<{ url: string; received: Promise<{ path: string; body: any }> }> {
  let resolveReceived!: (value: { path: string; body: any }) => void;
  const received = new Promise<{ path: string; body: any }>((resolve) => (resolveReceived = resolve));
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200).end();
      resolveReceived({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) });
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/kit-callback`, received };
}

describe('kit simulator: bulk', () => {
  it('tags up to 100 at once: 200 with the tagged subscribers and a failure per bad tagging', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 5, tags: 0 } });
    const token = bearer(sim.issueOAuthToken().access_token);
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'Bulk' } });
    const answer = await call(sim, '/v4/bulk/tags/subscribers', {
      method: 'POST',
      auth: token,
      body: { taggings: [{ tag_id: 1, subscriber_id: 2 }, { tag_id: 1, subscriber_id: 404 }, { tag_id: 9, subscriber_id: 3 }] },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.subscribers).toEqual([{ id: 2, first_name: expect.anything(), email_address: expect.any(String), created_at: expect.any(String), tagged_at: expect.any(String) }]);
    expect(answer.json.failures).toEqual([
      { errors: ['Subscriber does not exist'], tagging: { tag_id: 1, subscriber_id: 404 } },
      { errors: ['Tag does not exist'], tagging: { tag_id: 9, subscriber_id: 3 } },
    ]);
    expect(changes.map((c) => c.type)).toEqual(['subscriber.tag_added']);
    const removed = await call(sim, '/v4/bulk/tags/subscribers', { method: 'DELETE', auth: token, body: { taggings: [{ tag_id: 1, subscriber_id: 2 }] } });
    expect(removed).toMatchObject({ status: 200, json: { failures: [] } });
    expect(changes.map((c) => c.type)).toEqual(['subscriber.tag_added', 'subscriber.tag_removed']);
  });

  it('answers more than 100 with 202 {} and POSTs the same-shape result to callback_url afterwards', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 150, tags: 0 } });
    const token = bearer(sim.issueOAuthToken().access_token);
    await call(sim, '/v4/tags', { method: 'POST', body: { name: 'Bulk' } });
    const { url, received } = await startReceiver();
    const taggings = Array.from({ length: 120 }, (_, k) => ({ tag_id: 1, subscriber_id: k + 1 }));
    taggings.push({ tag_id: 1, subscriber_id: 9999 });
    const answer = await call(sim, '/v4/bulk/tags/subscribers', { method: 'POST', auth: token, body: { taggings, callback_url: url } });
    expect(answer).toMatchObject({ status: 202, json: {} });
    const callback = await received;
    expect(callback.path).toBe('/kit-callback');
    expect(callback.body.subscribers).toHaveLength(120);
    expect(callback.body.failures).toEqual([{ errors: ['Subscriber does not exist'], tagging: { tag_id: 1, subscriber_id: 9999 } }]);
    expect(changes.filter((c) => c.type === 'subscriber.tag_added')).toHaveLength(120);
  });

  it('upserts subscribers in bulk with failures for bad items, and refuses an empty batch', async () => {
    const { sim, changes } = await start();
    const token = bearer(sim.issueOAuthToken().access_token);
    const answer = await call(sim, '/v4/bulk/subscribers', {
      method: 'POST',
      auth: token,
      body: { subscribers: [{ email_address: 'a@example.org', first_name: 'A' }, { email_address: 'broken' }, { email_address: 'b@example.org', state: 'inactive' }] },
    });
    expect(answer.status).toBe(200);
    expect(items<{ email_address: string; state: string }>(answer, 'subscribers').map((s) => [s.email_address, s.state])).toEqual([
      ['a@example.org', 'active'],
      ['b@example.org', 'inactive'],
    ]);
    expect(answer.json.failures).toEqual([{ subscriber: { email_address: 'broken' }, errors: ['Email address is invalid'] }]);
    expect(changes.map((c) => c.type)).toEqual(['subscriber.created', 'subscriber.activated', 'subscriber.created']);
    expect(await call(sim, '/v4/bulk/subscribers', { method: 'POST', auth: token, body: { subscribers: [] } })).toMatchObject({ status: 422, json: { errors: ['No subscribers included for processing'] } });
  });

  it('processes a large batch without a callback_url too, before close() returns', async () => {
    const { sim } = await start();
    const token = bearer(sim.issueOAuthToken().access_token);
    const subscribers = Array.from({ length: 101 }, (_, k) => ({ email_address: `n${k}@example.org` }));
    expect((await call(sim, '/v4/bulk/subscribers', { method: 'POST', auth: token, body: { subscribers } })).status).toBe(202);
    await sim.close();
    expect(sim.state.subscribers.count).toBe(101);
  });
});
