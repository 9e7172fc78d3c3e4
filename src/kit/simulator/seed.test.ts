import { afterEach, describe, expect, it } from 'vitest';
import { call, items } from './harness.js';
import { SeedModel } from './seed.js';
import { startKitSimulator, type KitSimulator } from './server.js';

const sims: KitSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(seed: number, subscribers = 500): Promise<KitSimulator> {
  const sim = await startKitSimulator({ rateLimit: false, seed: { subscribers, seed, purchases: 5 } });
  sims.push(sim);
  return sim;
}

async function everything(sim: KitSimulator): Promise<string> {
  const pages = await Promise.all(['/v4/subscribers?status=all&per_page=1000&include=tags', '/v4/tags', '/v4/custom_fields', '/v4/forms', '/v4/sequences', '/v4/tags/2/subscribers?status=all&per_page=1000', '/v4/forms/1/subscribers?per_page=1000'].map((p) => call(sim, p)));
  const token = sim.issueOAuthToken().access_token;
  const purchases = await call(sim, '/v4/purchases', { auth: { authorization: `Bearer ${token}` } });
  return JSON.stringify([...pages, purchases].map((a): unknown => a.json));
}

describe('kit simulator: seeded accounts', () => {
  it('generates the same account for the same seed, and a different one for another seed', async () => {
    const [a, b, c] = await Promise.all([start(7), start(7), start(8)]);
    const [ja, jb, jc] = await Promise.all([everything(a), everything(b), everything(c)]);
    expect(ja).toBe(jb);
    expect(ja).not.toBe(jc);
  });

  it('generates realistic subscribers: first.last{i}@example.com, mostly active, spread over three years', () => {
    const seed = new SeedModel({ subscribers: 10_000, seed: 3 });
    const subscribers = Array.from({ length: 10_000 }, (_, k) => seed.subscriber(k + 1));
    expect(subscribers[41]?.email).toMatch(/^[a-z]+\.[a-z]+42@example\.com$/);
    const states = new Map<string, number>();
    for (const s of subscribers) states.set(s.state, (states.get(s.state) ?? 0) + 1);
    expect((states.get('active') ?? 0) / 10_000).toBeGreaterThan(0.8);
    expect([...states.keys()].sort()).toEqual(['active', 'bounced', 'cancelled', 'complained', 'inactive']);
    const first = subscribers[0]!.createdAt;
    const last = subscribers.at(-1)!.createdAt;
    expect(last - first).toBeGreaterThan(2.9 * 365 * 86_400_000);
    for (let i = 1; i < subscribers.length; i++) expect(subscribers[i]!.createdAt).toBeGreaterThanOrEqual(subscribers[i - 1]!.createdAt);
  });

  it('finds generated subscribers by email without an index, and stores only what was written', async () => {
    const sim = await start(1, 100_000);
    const target = sim.state.getSubscriber(77_777)!;
    expect(sim.state.findSubscriberByEmail(target.email_address)?.id).toBe(77_777);
    expect(sim.state.findSubscriberByEmail(target.email_address.replace('77777@', '77778@'))).toBeUndefined();
    expect(sim.state.subscribers.recordCount).toBe(0);
    const tag = sim.state.catalog.tags[0]!;
    sim.state.tagSubscriber(tag.id, 77_777);
    sim.state.untagSubscriber(tag.id, 77_776);
    sim.state.unsubscribe(5);
    expect(sim.state.subscribers.recordCount).toBe(1);
    expect(sim.state.taggings.recordCount).toBeLessThanOrEqual(2);
  });

  it('pages a 1,000,000-subscriber account cheaply from either end and by time', async () => {
    const sim = await start(1, 1_000_000);
    const newest = await call(sim, '/v4/subscribers?per_page=1000&include_total_count=true');
    expect(newest.json.subscribers[0].id).toBe(1_000_000);
    expect(newest.json.pagination.total_count).toBeGreaterThan(800_000);
    const oldest = await call(sim, '/v4/subscribers?status=all&sort_order=asc&per_page=2');
    expect(items<{ id: number }>(oldest, 'subscribers').map((s) => s.id)).toEqual([1, 2]);
    const day = await call(sim, '/v4/subscribers?status=all&created_after=2023-06-01&created_before=2023-06-02&per_page=1000');
    expect(day.json.subscribers.length).toBeGreaterThan(500);
    expect(items<{ created_at: string }>(day, 'subscribers').every((s) => s.created_at.startsWith('2023-06-01'))).toBe(true);
  });

  it('lets a plugin mount routes behind the same auth and see the simulator', async () => {
    const sim = await startKitSimulator({
      plugins: [
        (app, s) => {
          app.get('/v4/webhooks', (request, reply) => reply.send({ webhooks: [], credential: s.credentialOf(request)?.kind }));
        },
      ],
    });
    sims.push(sim);
    expect((await call(sim, '/v4/webhooks', { auth: {} })).status).toBe(401);
    expect((await call(sim, '/v4/webhooks')).json).toEqual({ webhooks: [], credential: 'api_key' });
  });
});
