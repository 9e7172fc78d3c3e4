/**
 * The port's pollers: an integration's scheduled sync reads a remote feed since a durable cursor
 * and commits what it finds through the same step as inbound sources (stored, deduplicated by id,
 * routed by rules), as a durable schedule with a run record. The feed is a small HTTP server on
 * loopback; the integration is defined here, as a later one (Kajabi's refund polling) will be.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveConfig } from '../src/config/load.js';
import { env } from '../src/config/schema.js';
import { destinationCommon, INTEGRATIONS, IntegrationRegistry, type AnyIntegration } from '../src/integrations/index.js';
import { TestClock } from '../src/lib/clock.js';
import { silentLog } from '../src/lib/log.js';
import { integrationSchedulesOf } from '../src/main.js';
import { createScheduler } from '../src/schedules/index.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';
import { tempDir } from './helpers.js';

const ORDERS = [
  { id: 'o1', type: 'order.paid', email: 'ada@example.com' },
  { id: 'o2', type: 'order.refunded', email: 'ada@example.com' },
  { id: 'o3', type: 'order.paid', email: 'bo@example.com' },
];

/** A feed of orders after `?since=<id>`, two at a time. */
function startFeed(): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    const since = new URL(request.url ?? '/', 'http://x').searchParams.get('since') ?? '';
    hits.push(since);
    const start = since === '' ? 0 : ORDERS.findIndex((o) => o.id === since) + 1;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(ORDERS.slice(start, start + 2)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits })));
}

const feedSchema = z.object({ type: z.literal('feed'), url: z.string(), ...destinationCommon }).strict();

/** An integration with no actions and one poller. */
const feedIntegration: AnyIntegration = {
  type: 'feed',
  description: 'orders polled from a feed',
  configSchema: feedSchema,
  actions: {},
  schedules: (ctx) => [
    {
      name: `feed-poll-${ctx.destinationName}`,
      cron: '*/5 * * * *',
      async run() {
        const cursor = ctx.cursor('orders');
        const since = (await cursor.load()) ?? '';
        const response = await fetch(`${(ctx.destination as z.output<typeof feedSchema>).url}/orders?since=${since}`);
        const orders = (await response.json()) as typeof ORDERS;
        const result = await ctx.ingest('orders', orders.map((o) => ({ type: o.type, id: o.id, email: o.email, payload: o })));
        const last = orders.at(-1);
        if (last) await cursor.save(last.id);
        return { counts: { ...result } };
      },
    },
  ],
};

let store: SqliteStore | undefined;
let feed: Awaited<ReturnType<typeof startFeed>> | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await store?.close();
  feed?.server.close();
  remove?.();
});

describe('pollers', () => {
  it('commit what they poll like a source (stored, deduplicated, routed) and keep their cursor across runs', async () => {
    const temp = tempDir();
    remove = temp.remove;
    feed = await startFeed();
    store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
    const loaded = resolveConfig(
      {
        destinations: { sink: { type: 'webhook', url: env('SINK_URL') } },
        rules: [{ id: 'paid', on: 'feed:order.paid', actions: [{ destination: 'sink', params: { who: '{{email}}' } }] }],
      },
      { cwd: temp.dir, env: { SINK_URL: 'http://127.0.0.1:9/sink' }, source: 'test' },
    );
    const destinations = { ...loaded.config.destinations, shop: feedSchema.parse({ type: 'feed', url: feed.url }) } as never;
    const registry = new IntegrationRegistry([...Object.values(INTEGRATIONS), feedIntegration]);
    const clock = new TestClock();
    const schedules = integrationSchedulesOf({ config: loaded.config, store, secrets: () => '', destinations, clock, registry });
    expect(schedules.map((s) => s.name)).toEqual(['feed-poll-shop']);
    const scheduler = createScheduler({ store, clock, log: silentLog(), schedules });

    const first = await scheduler.runNow('feed-poll-shop');
    expect(first).toMatchObject({ kind: 'finished', run: { status: 'succeeded', counts: { accepted: 2, duplicates: 0, jobs: 1 } } });
    const second = await scheduler.runNow('feed-poll-shop');
    expect(second).toMatchObject({ kind: 'finished', run: { status: 'succeeded', counts: { accepted: 1, jobs: 1 } } });
    expect(feed.hits).toEqual(['', 'o2']);

    const events = await store.listEvents({});
    expect(events.map((e) => [e.origin, e.source, e.type, e.email])).toEqual([
      ['feed', 'poll', 'feed:order.paid', 'bo@example.com'],
      ['feed', 'poll', 'feed:order.refunded', 'ada@example.com'],
      ['feed', 'poll', 'feed:order.paid', 'ada@example.com'],
    ]);
    expect((await store.listJobs({})).map((j) => j.rule)).toEqual(['paid', 'paid']);

    // The cursor moved back (a restore, a bug): what is polled again is recognised, not routed twice.
    await store.saveCheckpoint({ name: 'cursor:shop:orders', cursor: null, data: {}, startedAt: clock.now(), updatedAt: clock.now(), completedAt: null });
    const again = await scheduler.runNow('feed-poll-shop');
    expect(again).toMatchObject({ kind: 'finished', run: { counts: { accepted: 0, duplicates: 2, jobs: 0 } } });
    expect(await store.listJobs({})).toHaveLength(2);
    await scheduler.stop();
  });
});
