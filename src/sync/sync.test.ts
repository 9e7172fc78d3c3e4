/**
 * The Kit side against the Kit simulator over real HTTP: webhook registration, inventory, backfill
 * and recovery of missed webhooks, with a relay on a real SQLite file receiving what Kit emits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.js';
import { env, type ConfigInput } from '../config/schema.js';
import { buildRouteTable } from '../ingest/routes.js';
import type { KitClient } from '../kit/client/index.js';
import { startKitSimulator, type KitSimulator } from '../kit/simulator/index.js';
import { createKitWebhooks, type KitWebhooks } from '../kit/simulator/webhooks.js';
import { silentLog } from '../lib/log.js';
import { startRelay, type Relay } from '../main.js';
import { compileRules } from '../rules/route.js';
import { eventually, tempDir } from '../../test/helpers.js';
import { runBackfill } from './backfill.js';
import { takeInventory } from './inventory.js';
import { openKitClient } from './kit-access.js';
import { reconcileWithKit, recoverSignedDeliveries } from './recover.js';
import { syncWebhooks } from './webhooks.js';

interface World {
  sim: KitSimulator;
  webhooks: KitWebhooks;
  relay: Relay;
  client: KitClient;
  close(): Promise<void>;
}

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function startWorld(register: 'legacy' | 'signed' = 'legacy', seedSubscribers = 50): Promise<World> {
  const webhooks = createKitWebhooks({ retryScale: 0.00001, batchWindowMs: 10 });
  const sim = await startKitSimulator({ seed: { subscribers: seedSubscribers }, plugins: [webhooks.plugin], rateLimit: false });
  const { dir, remove } = tempDir();
  const input: ConfigInput = {
    kit: {
      api: { baseUrl: sim.url, apiKey: env('KIT_API_KEY') },
      legacy: { routes: [{ event: 'subscriber.tag_remove', tag_id: 1 }] },
      signed: { endpoints: [{ name: 'main' }] },
      sync: { register },
    },
    destinations: { sink: { type: 'webhook', url: 'http://127.0.0.1:9/unused' } },
    rules: [{ id: 'customers', on: 'subscriber.tag_added', scope: { tag_id: 1 }, actions: [{ destination: 'sink' }] }],
    queue: { enabled: false },
    store: { dataDir: dir },
  };
  const envVars = { KIT_API_KEY: 'kit_sim_key' };
  const loaded = resolveConfig(input, { cwd: dir, env: envVars, source: 'test' });
  const relay = await startRelay({ loaded, env: envVars, log: silentLog(), port: 0 });
  const client = await openKitClient(relay.config, relay.store, envVars);
  return {
    sim,
    webhooks,
    relay,
    client,
    async close() {
      await client.close();
      await relay.close({ graceMs: 100 });
      await webhooks.close();
      await sim.close();
      remove();
    },
  };
}

const routesOf = async (w: World) => buildRouteTable(w.relay.config, (await w.relay.store.getSetting('route_secret'))!, w.relay.listenUrl);
const sync = async (w: World, isDryRun = false) =>
  syncWebhooks({ client: w.client, store: w.relay.store, config: w.relay.config, routes: await routesOf(w), publicBaseUrl: w.relay.listenUrl, now: () => Date.now(), isDryRun });

describe('webhook registration', () => {
  it('creates what the routes need, is idempotent, removes only its own unneeded webhooks and leaves others alone', async () => {
    world = await startWorld();
    const zap = await world.client.createWebhook({ targetUrl: 'https://hooks.zapier.com/hooks/catch/1/abc/', event: { name: 'subscriber.tag_add', tag_id: 1 } });

    const plan = await sync(world, true);
    expect(plan.actions.map((a) => a.kind).sort()).toEqual(['create_legacy', 'create_legacy', 'leave']);
    expect(world.webhooks.legacy).toHaveLength(1); // dry run changed nothing

    const first = await sync(world);
    expect(first.changed).toBe(2);
    expect(world.webhooks.legacy.map((w) => w.spec.slug).sort()).toEqual(['tag_add', 'tag_add', 'tag_remove']);
    expect((await sync(world)).changed).toBe(0);

    // A webhook of ours that no route needs any more is removed; the Zap stays.
    const stale = await world.client.createWebhook({ targetUrl: `${world.relay.listenUrl}/hooks/kit/legacy/form_subscribe-9/token`, event: { name: 'subscriber.form_subscribe', form_id: 9 } });
    const third = await sync(world);
    expect(third.actions.find((a) => a.kind === 'delete_legacy')).toMatchObject({ webhook: { id: stale.id } });
    const left = (await world.client.listWebhooks()).map((w) => w.id);
    expect(left).toContain(zap.id);
    expect(left).not.toContain(stale.id);

    const inventory = await takeInventory({ client: world.client, relayBaseUrl: world.relay.listenUrl });
    const zapItem = inventory.find((i) => i.id === zap.id)!;
    expect(zapItem).toMatchObject({ owner: 'zapier', scope: 'tag_id=1', alsoServedBy: ['kitrelay'] });
  });

  it('registers a signed endpoint, keeps Kit\'s secret, and verifies the deliveries Kit signs with it', async () => {
    world = await startWorld('signed');
    await sync(world);
    const [endpoint] = world.webhooks.endpoints;
    expect(endpoint?.events).toEqual(['subscriber.tag_added']);
    expect(await world.relay.store.getSetting('kit_endpoint_secret:main')).toMatch(/^whsec_/);
    const { subscriber } = await world.client.createSubscriber({ email: 'signed@example.com' });
    await world.client.tagSubscriber(1, subscriber.id);
    await world.webhooks.flush();
    const event = await eventually(async () => (await world!.relay.store.listEvents({ type: 'subscriber.tag_added' }))[0], 10_000, 'the signed event');
    expect(event).toMatchObject({ source: 'signed', subscriberId: String(subscriber.id) });
  });
});

describe('backfill', () => {
  it('fills the mirror with every subscriber of every state, with tags, and resumes from its checkpoint', async () => {
    world = await startWorld('legacy', 230);
    const partial = await runBackfill({ client: world.client, store: world.relay.store, now: () => Date.now(), pageSize: 50, maxPages: 2 });
    expect(partial).toMatchObject({ isComplete: false, written: 100, pages: 2 });
    const before = world.sim.requests.length;
    const rest = await runBackfill({ client: world.client, store: world.relay.store, now: () => Date.now(), pageSize: 50 });
    expect(rest).toMatchObject({ isComplete: true, isResumed: true, written: 230 });
    // The resumed run started after the saved cursor, not from the first page.
    const resumedFirst = world.sim.requests.slice(before).find((r) => r.path === '/v4/subscribers')!;
    expect(resumedFirst.query.after).toBeTruthy();
    expect(await world.relay.store.countSubscribers()).toBe(230);
    const inKit: number[] = [];
    for await (const page of world.client.listSubscribers({ status: 'all', perPage: 1000 })) inKit.push(...page.items.map((s) => s.id));
    const mirrored = (await world.relay.store.listSubscribers({ limit: 1000 })).map((s) => s.kitId);
    expect(mirrored.sort((a, b) => a - b)).toEqual(inKit.sort((a, b) => a - b));
    const tagged = await world.relay.store.listSubscribers({ tagId: 1, limit: 1000 });
    const taggedInKit: number[] = [];
    for await (const page of world.client.listTagSubscribers(1, { status: 'all', perPage: 1000 })) taggedInKit.push(...page.items.map((s) => s.id));
    expect(tagged.map((s) => s.kitId).sort((a, b) => a - b)).toEqual(taggedInKit.sort((a, b) => a - b));
  });
});

describe('recovery of missed webhooks', () => {
  it('reconciles legacy tags: a tag added while Kit\'s webhook was dropped becomes a reconciled event and a job', async () => {
    world = await startWorld();
    await sync(world);
    await runBackfill({ client: world.client, store: world.relay.store, now: () => Date.now(), pageSize: 100 });
    world.sim.faults.dropWebhooks(1);
    const { subscriber } = await world.client.createSubscriber({ email: 'missed@example.com' });
    await world.client.tagSubscriber(1, subscriber.id);
    await world.webhooks.flush();
    expect(await world.relay.store.listEvents({})).toHaveLength(0); // the webhook never arrived

    const deps = { client: world.client, store: world.relay.store, config: world.relay.config, rules: compileRules(world.relay.config), routes: await routesOf(world), now: () => Date.now() };
    const result = await reconcileWithKit(deps);
    expect(result).toMatchObject({ tagsChecked: 1, tagAddedEmitted: 1, tagRemovedEmitted: 0 });
    const [event] = await world.relay.store.listEvents({ type: 'subscriber.tag_added' });
    expect(event).toMatchObject({ source: 'reconciled', subscriberId: String(subscriber.id) });
    expect(await world.relay.store.listJobs({ eventId: event!.id })).toHaveLength(1);
    // The subscriber the mirror had never seen is reported too, as Kit's activation would have been.
    const [activated] = await world.relay.store.listEvents({ type: 'subscriber.activated' });
    expect(activated).toMatchObject({ source: 'reconciled', subscriberId: String(subscriber.id) });
    expect((await world.relay.store.getSubscriber(subscriber.id))?.tags.map((t) => t.id)).toEqual([1]);

    // A second run finds nothing new; an unsubscribe Kit never told us about is found.
    const again = await reconcileWithKit(deps);
    expect(again).toMatchObject({ tagAddedEmitted: 0, stateEventsEmitted: 0 });
    await world.client.unsubscribe(subscriber.id);
    const third = await reconcileWithKit(deps);
    expect(third).toMatchObject({ stateEventsEmitted: 1 });
    expect((await world.relay.store.listEvents({ type: 'subscriber.unsubscribed' }))[0]).toMatchObject({ source: 'reconciled', subscriberId: String(subscriber.id) });
    expect((await world.relay.store.getSubscriber(subscriber.id))?.state).toBe('cancelled');
  });

  it('recovers a signed delivery Kit failed to deliver from its delivery history, once', async () => {
    world = await startWorld('signed');
    await sync(world);
    world.sim.faults.dropWebhooks(100); // every attempt of the next delivery is lost
    const { subscriber } = await world.client.createSubscriber({ email: 'lost@example.com' });
    await world.client.tagSubscriber(1, subscriber.id);
    await world.webhooks.idle(10_000);
    expect(await world.relay.store.listEvents({})).toHaveLength(0);

    const deps = { client: world.client, store: world.relay.store, config: world.relay.config, rules: compileRules(world.relay.config), routes: await routesOf(world), now: () => Date.now() };
    const first = await recoverSignedDeliveries(deps);
    expect(first).toMatchObject({ eventsAccepted: 1, eventsAlreadyHere: 0 });
    const [event] = await world.relay.store.listEvents({});
    expect(event).toMatchObject({ source: 'reconciled', type: 'subscriber.tag_added', subscriberId: String(subscriber.id) });
    const second = await recoverSignedDeliveries(deps);
    expect(second).toMatchObject({ eventsAccepted: 0, eventsAlreadyHere: 1 });
  });
});
