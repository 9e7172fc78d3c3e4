/**
 * The pull a destination sync makes from Kit before it reads the mirror (sync/pull.ts), against
 * the Kit simulator over real HTTP and a real SQLite store: the backfill while none finished, then
 * only who changed, in cursor pages, every call spent from the rate budget the store shares.
 */
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { resolveConfig } from '../config/load.js';
import { env } from '../config/schema.js';
import type { KitClient } from '../kit/client/index.js';
import { startKitSimulator, type KitSimulator } from '../kit/simulator/index.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import { tempDir } from '../../test/helpers.js';
import { BACKFILL_CHECKPOINT } from './backfill.js';
import { openKitClient } from './kit-access.js';
import { kitSubscriberPull } from './pull.js';

let closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

async function world(options: { subscribers: number; budget: { apiKey: number; windowMs: number } }): Promise<{ sim: KitSimulator; store: SqliteStore; client: KitClient }> {
  const sim = await startKitSimulator({ seed: { subscribers: options.subscribers }, rateLimit: false });
  closers.push(() => sim.close());
  const temp = tempDir();
  closers.push(temp.remove);
  const store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
  closers.push(() => store.close());
  const envVars = { KIT_API_KEY: 'kit_sim_key' };
  const loaded = resolveConfig({ kit: { api: { baseUrl: sim.url, apiKey: env('KIT_API_KEY'), rateLimit: { apiKey: options.budget.apiKey, oauth: 600, windowMs: options.budget.windowMs } } }, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: envVars, source: 'test' });
  const client = await openKitClient(loaded.config, store, envVars);
  closers.push(() => client.close());
  return { sim, store, client };
}

const subscriberCalls = (sim: KitSimulator, from = 0) => sim.requests.slice(from).filter((r) => r.path === '/v4/subscribers' && r.method === 'GET');

describe('the Kit pull of a destination sync', () => {
  it('is the backfill while none has finished, then pulls only who Kit changed since, with their tags', async () => {
    const { sim, store, client } = await world({ subscribers: 120, budget: { apiKey: 120, windowMs: 60_000 } });
    const pull = kitSubscriberPull({ client, store, now: Date.now });
    const first = await pull.pull({});
    expect(first).toMatchObject({ kind: 'backfill', written: 120 });
    expect((await store.getCheckpoint(BACKFILL_CHECKPOINT))?.completedAt).not.toBeNull();
    expect(await store.countSubscribers()).toBe(120);

    // Kit changes two people after the pull; the simulator's list endpoints lag nothing.
    const since = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [a, b] = (await store.listSubscribers({ limit: 120 })).filter((s) => s.state === 'active');
    await client.updateSubscriber(a!.kitId, { firstName: 'Renamed' });
    await client.unsubscribe(b!.kitId);
    const before = sim.requests.length;
    const second = await pull.pull({ since });
    expect(second.kind).toBe('changed');
    // Looked back (list endpoints lag writes by minutes), so at least the two, far from everyone.
    expect(second.written).toBeGreaterThanOrEqual(2);
    const [call] = subscriberCalls(sim, before);
    expect(Date.parse(String(call?.query.updated_after))).toBeLessThanOrEqual(since - 5 * 60_000 + 1000);
    expect(call?.query.include).toContain('tags');
    expect((await store.getSubscriber(a!.kitId))?.firstName).toBe('Renamed');
    expect((await store.getSubscriber(b!.kitId))?.state).toBe('cancelled');
  });

  it('pages by cursor and spends the shared rate budget: never more calls in a window than it allows', async () => {
    // 3,500 subscribers are four pages of 1,000; the budget allows 2 calls a second.
    const { sim, store, client } = await world({ subscribers: 3500, budget: { apiKey: 2, windowMs: 1000 } });
    const pages: number[] = [];
    const result = await kitSubscriberPull({ client, store, now: Date.now }).pull({ onPage: (p) => pages.push(p.written) });
    expect(result).toMatchObject({ kind: 'backfill', written: 3500, pages: 4 });
    expect(pages).toEqual([1000, 2000, 3000, 3500]);
    const calls = subscriberCalls(sim);
    expect(calls).toHaveLength(4);
    // Every page after the first follows the cursor the one before it returned.
    expect(calls.slice(1).every((c) => typeof c.query.after === 'string' && c.query.after.length > 0)).toBe(true);
    const times = calls.map((c) => c.at);
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 2]!).toBeGreaterThanOrEqual(900);
  });
});
