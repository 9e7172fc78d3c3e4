/**
 * Meta audiences in the running service (issue 10): an audience's durable schedule plans batches
 * from the subscriber mirror and the service's worker uploads them to the Meta simulator; a held
 * run (the removal guard) sends nothing and says why in the schedule's history.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { startMetaSimulator, type MetaSimulator } from '../src/integrations/meta/simulator.js';
import type { SubscriberSnapshot } from '../src/store/types.js';
import { startTestRelay, type TestRelay } from './helpers.js';

let sim: MetaSimulator | undefined;
let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
});

const person = (id: number, overrides: Partial<SubscriberSnapshot> = {}): SubscriberSnapshot => ({ kitId: id, email: `m${id}@example.com`, firstName: null, state: 'active', fields: {}, tags: [{ id: 7, name: 'Customer' }], createdAt: null, ...overrides });

describe('meta audiences in the service', () => {
  it('runs an audience\'s schedule: batches planned from the mirror, uploaded by the worker, recorded in the run history', async () => {
    sim = await startMetaSimulator({ usage: false });
    const audienceId = sim.createAudience({ name: 'Customers' }).id;
    const config: ConfigInput = {
      destinations: {
        meta: { type: 'meta', accessToken: env('META_ACCESS_TOKEN'), adAccountId: sim.adAccountId, graphUrl: sim.url, audiences: { customers: { audienceId, select: { tags: { any: [7] } }, keys: { EMAIL: true, EXTERN_ID: true } } } } as never,
        // Nothing listens here: the alert's job is what this test looks for.
        ops: { type: 'webhook', url: 'http://127.0.0.1:9/ops', retry: { maxAttempts: 1 } } as never,
      },
      rules: [{ id: 'audience-alerts', on: ['meta:sync_held', 'meta:sync_failed'], actions: [{ destination: 'ops' }] }],
    };
    relay = await startTestRelay(config, { env: { META_ACCESS_TOKEN: sim.accessToken } });
    const { store, scheduler } = relay.relay;
    await store.upsertSubscribers([1, 2, 3].map((id) => person(id)), 'backfill', Date.now());

    const first = await scheduler!.runNow('meta-sync:meta:customers');
    expect(first).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    expect(sim.members(audienceId).map((m) => m.keys.EXTERN_ID).sort()).toEqual(['1', '2', '3']);
    const [run] = await store.listAudienceRuns({ audience: 'meta/customers' });
    expect(run).toMatchObject({ kind: 'sync', status: 'succeeded', stats: { rowsSent: 3, batchesAcked: 1 } });
    const [upload] = await store.listJobs({ destination: 'meta' });
    expect(upload).toMatchObject({ rule: 'meta:sync', action: 'upload', status: 'succeeded' });

    // Two of three lose the tag: the guard holds the run; nothing is removed.
    await store.upsertSubscribers([person(1, { tags: [] }), person(2, { tags: [] })], 'reconcile', Date.now());
    const held = await scheduler!.runNow('meta-sync:meta:customers');
    expect(held).toMatchObject({ kind: 'finished', run: { status: 'failed', error: expect.stringContaining('--confirm-removals') as unknown } });
    expect(sim.members(audienceId)).toHaveLength(3);
    // The held run raised one alert, an event the rules route (here to the ops hook).
    const [alert] = await store.listEvents({ type: 'meta:sync_held' });
    expect(alert?.payload).toMatchObject({ audience: 'customers', destination: 'meta', status: 'held', detail: expect.stringContaining('would remove 66.7%') as unknown, stats: { toRemove: 2, confirmed: 3 } });
    expect(await store.listJobs({ rule: 'audience-alerts' })).toHaveLength(1);
    expect(await store.listEvents({ type: 'meta:sync_failed' })).toEqual([]);
  });

  it("sends an audience's batches in order (a replace session's last batch must be last): a failed first batch holds the later ones", async () => {
    sim = await startMetaSimulator({ usage: false });
    const audienceId = sim.createAudience({ name: 'Customers' }).id;
    const config: ConfigInput = {
      destinations: {
        meta: {
          type: 'meta', accessToken: env('META_ACCESS_TOKEN'), adAccountId: sim.adAccountId, graphUrl: sim.url,
          // Four uploads at once and no rate to speak of: only the ordering keeps them in line.
          concurrency: 4, rateLimit: { perSecond: 100, burst: 100 }, retry: { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 200 },
          audiences: { customers: { audienceId, batchSize: 2, select: { tags: { any: [7] } }, keys: { EMAIL: true, EXTERN_ID: true } } },
        } as never,
      },
    };
    relay = await startTestRelay(config, { env: { META_ACCESS_TOKEN: sim.accessToken } });
    const { store, scheduler } = relay.relay;
    await store.upsertSubscribers([1, 2, 3, 4, 5, 6].map((id) => person(id)), 'backfill', Date.now());
    sim.faults.add({ kind: 'status', status: 503, path: '/v25.0/*/users', times: 1 });
    const run = await scheduler!.runNow('meta-sync:meta:customers');
    expect(run).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    const sessionOf = (body: unknown) => {
      const session = (body as { session?: unknown }).session;
      return (typeof session === 'string' ? JSON.parse(session) : session) as { batch_seq: number };
    };
    // Three batches of two; the first answered 503 once and was sent again before the second went.
    expect(sim.requests.filter((r) => r.path.endsWith('/users')).map((r) => sessionOf(r.body).batch_seq)).toEqual([1, 1, 2, 3]);
    expect(sim.members(audienceId)).toHaveLength(6);
  });
});
