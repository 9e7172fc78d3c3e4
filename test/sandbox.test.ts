/**
 * The living sandbox: with no Kit credentials, the relay runs the Kit simulator, registers its
 * webhooks there, and a change made in the simulated Kit flows through as a real webhook.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { exampleConfig } from '../src/config/example.js';
import { silentLog } from '../src/lib/log.js';
import { startRelay, type Relay } from '../src/main.js';
import { eventually, tempDir } from './helpers.js';

let relay: Relay | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await relay?.close({ graceMs: 500 });
  remove?.();
});

describe('sandbox', () => {
  it('registers the legacy routes in the simulated Kit and turns a tag added there into an event and a delivered job', async () => {
    const temp = tempDir();
    remove = temp.remove;
    const loaded = resolveConfig({ ...exampleConfig, store: { dataDir: temp.dir } }, { cwd: temp.dir, env: {}, source: 'built-in example' });
    relay = await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true });
    const kit = relay.sandboxKit!;
    expect(kit.registration.changed).toBe(relay.routes.legacy.size);
    expect(kit.webhooks.legacy).toHaveLength(relay.routes.legacy.size);

    const { subscriber } = await kit.client.createSubscriber({ email: 'grace@example.com', firstName: 'Grace' });
    await kit.client.tagSubscriber(7, subscriber.id); // "VIP": the example's vip-tagged rule
    const event = await eventually(async () => (await relay!.store.listEvents({ type: 'subscriber.tag_added' }))[0], 10_000, 'the tag_added webhook');
    expect(event).toMatchObject({ source: 'legacy', subscriberId: String(subscriber.id), email: 'grace@example.com', scope: { param: 'tag_id', value: '7' } });
    const job = await eventually(async () => (await relay!.store.listJobs({ status: 'succeeded', eventId: event.id }))[0], 10_000, 'the job to be delivered');
    expect(job.rule).toBe('vip-tagged');
    // The webhook also updated the subscriber mirror in the same transaction.
    const mirrored = await relay.store.getSubscriber(subscriber.id);
    expect(mirrored?.tags.map((t) => t.id)).toContain(7);

    // Registering again changes nothing.
    const { syncWebhooks } = await import('../src/sync/webhooks.js');
    const { buildRouteTable } = await import('../src/ingest/routes.js');
    const routes = buildRouteTable(relay.config, (await relay.store.getSetting('route_secret'))!, relay.listenUrl);
    const again = await syncWebhooks({ client: kit.client, store: relay.store, config: relay.config, routes, publicBaseUrl: relay.listenUrl, now: () => Date.now() });
    expect(again.changed).toBe(0);
  });
});
