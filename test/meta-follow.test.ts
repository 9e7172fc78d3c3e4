/**
 * Meta audience membership follows Kit's webhooks as they arrive (issue 10): a tag added or
 * removed, an unsubscribe, a bounce, a complaint changes the audience's expected membership within
 * the follower's pass, with no audience run; the next run sends just that difference. The
 * follower's place is durable: a restart resumes from it, and a destination followed for the
 * first time starts at the newest event (history is the scheduled run's).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { FOLLOW_CURSOR_SETTING, startEventFollower } from '../src/ingest/follow.js';
import { IntegrationRegistry } from '../src/integrations/registry.js';
import { createMetaHarness, type MetaHarness } from '../src/integrations/meta/harness.js';
import { metaIntegration } from '../src/integrations/meta/index.js';
import { startMetaSimulator, type MetaSimulator } from '../src/integrations/meta/simulator.js';
import { jsonBody, legacyFixture, signedEnvelope, signedTagAddedEvent } from '../src/kit/fixtures.js';
import { signPayload } from '../src/kit/signature.js';
import { silentLog } from '../src/lib/log.js';
import type { EventInput, MirrorChange, SubscriberSnapshot } from '../src/store/types.js';
import { eventually, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const AUDIENCE = 'meta/customers';
const CURSOR = `${FOLLOW_CURSOR_SETTING}:meta`;
const KIT_SECRET = 'kit-follow-secret';
const TAG = 7;

let sim: MetaSimulator | undefined;
let relay: TestRelay | undefined;
let harness: MetaHarness | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  await harness?.close();
  harness = undefined;
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const email = (id: number) => `m${id}@example.com`;
const person = (id: number): SubscriberSnapshot => ({ kitId: id, email: email(id), firstName: null, state: 'active', fields: {}, tags: [{ id: TAG, name: 'Customer' }], createdAt: null });

/** The relay's config; without `meta`, the same webhook routes and no destination that follows. */
function config(meta: { readonly sim: MetaSimulator; readonly audienceId: string } | undefined): ConfigInput {
  return {
    kit: {
      legacy: {
        routes: [
          { event: 'subscriber.tag_add', tag_id: TAG },
          { event: 'subscriber.tag_remove', tag_id: TAG },
          { event: 'subscriber.subscriber_unsubscribe' },
          { event: 'subscriber.subscriber_bounce' },
          { event: 'subscriber.subscriber_complain' },
        ],
      },
      signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET')] }] },
    },
    destinations: meta
      ? {
          meta: {
            type: 'meta', accessToken: env('META_ACCESS_TOKEN'), adAccountId: meta.sim.adAccountId, graphUrl: meta.sim.url,
            rateLimit: { perSecond: 100, burst: 100 }, retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
            // A yearly schedule: no run happens in the test unless it asks for one.
            audiences: { customers: { audienceId: meta.audienceId, select: { tags: { any: [TAG] } }, keys: { EMAIL: true, EXTERN_ID: true }, maxRemovalShare: 0.5, schedule: '0 0 1 1 *' } },
          } as never,
        }
      : {},
    queue: { pollIntervalMs: 20 },
  };
}

async function start(meta: Parameters<typeof config>[0], dir?: string): Promise<TestRelay> {
  return startTestRelay(config(meta), { env: { KIT_SECRET, ...(meta ? { META_ACCESS_TOKEN: meta.sim.accessToken } : {}) }, ...(dir !== undefined ? { dir } : {}) });
}

/** Posts Kit's legacy webhook for subscriber `id` to the route registered for it. */
async function legacy(target: TestRelay, name: string, id: number): Promise<void> {
  const fixture = legacyFixture(name, { id, email: email(id), scopeValue: String(TAG) });
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === name && (r.scopeValue === undefined || r.scopeValue === fixture.scopeValue));
  if (!route) throw new Error(`no route for ${name}`);
  const response = await target.post(new URL(route.url).pathname, jsonBody(fixture.body));
  expect(response.status, `${name} for ${id}`).toBe(200);
}

/** Posts a signed Webhooks 2.0 delivery: the tag added to subscriber `id`. */
async function signedTagAdded(target: TestRelay, id: number): Promise<void> {
  const body = jsonBody(signedEnvelope([signedTagAddedEvent({ id, email: email(id), tagId: TAG, tagName: 'Customer' })], { deliveryId: id }));
  const headers = { 'x-kit-signature': signPayload({ secrets: [KIT_SECRET], body, timestamp: Math.floor(Date.now() / 1000) }), 'x-kit-delivery': String(id) };
  const response = await target.post('/hooks/kit/signed/main', body, headers);
  expect(response.status).toBe(200);
}

const memberIds = (s: MetaSimulator, audienceId: string) => s.members(audienceId).map((m) => Number(m.keys.EXTERN_ID)).sort((a, b) => a - b);

describe('meta audience membership follows webhooks', () => {
  it('changes the expected membership as webhooks arrive, with no run; the next run sends just that difference', async () => {
    sim = await startMetaSimulator({ usage: false });
    const audienceId = sim.createAudience({ name: 'Customers' }).id;
    relay = await start({ sim, audienceId });
    const { store, scheduler } = relay.relay;
    expect(relay.relay.follower!.destinations).toEqual(['meta']);
    await store.upsertSubscribers([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(person), 'backfill', Date.now());
    expect(await scheduler!.runNow('meta-sync:meta:customers')).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    expect(memberIds(sim, audienceId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    await legacy(relay, 'subscriber.tag_add', 11); // a subscriber the mirror has never seen
    await signedTagAdded(relay, 12);
    await legacy(relay, 'subscriber.subscriber_unsubscribe', 1);
    await legacy(relay, 'subscriber.tag_remove', 2);
    await legacy(relay, 'subscriber.subscriber_bounce', 3);
    await legacy(relay, 'subscriber.subscriber_complain', 4);

    // The follower's own pass (every second), not a run.
    const counts = await eventually(async () => {
      const c = await store.countAudience(AUDIENCE);
      return c.toAdd === 2 && c.toRemove === 4 ? c : undefined;
    }, 10_000, 'the webhooks to reach the expected membership');
    expect(counts).toEqual({ expected: 8, confirmed: 10, toAdd: 2, toRemove: 4 });
    const changes = await store.listAudienceChanges(AUDIENCE, { limit: 100 });
    expect(changes.map((c) => [c.subscriberId, c.row === null ? 'remove' : 'add'])).toEqual([[1, 'remove'], [2, 'remove'], [3, 'remove'], [4, 'remove'], [11, 'add'], [12, 'add']]);
    expect(await store.listAudienceRuns({ audience: AUDIENCE })).toHaveLength(1);

    const next = await scheduler!.runNow('meta-sync:meta:customers');
    expect(next).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    const [run] = await store.listAudienceRuns({ audience: AUDIENCE, limit: 1 });
    expect(run?.stats).toMatchObject({ toAdd: 2, toRemove: 4, rowsSent: 6 });
    expect(memberIds(sim, audienceId)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 8, confirmed: 8, toAdd: 0, toRemove: 0 });
  });

  it('resumes from its saved place after a restart, and starts at the newest event the first time', async () => {
    sim = await startMetaSimulator({ usage: false });
    const meta = { sim, audienceId: sim.createAudience({ name: 'Customers' }).id };
    const { dir, remove } = tempDir();
    cleanups.push(remove);

    // No destination follows: nothing is read or saved.
    relay = await start(undefined, dir);
    expect(relay.relay.follower!.destinations).toEqual([]);
    await legacy(relay, 'subscriber.tag_add', 1);
    expect(await relay.relay.store.getSetting(CURSOR)).toBeUndefined();
    await relay.close();

    // Followed for the first time: from the newest event on; subscriber 1 is history, the run's to read.
    relay = await start(meta, dir);
    const [newest] = await relay.relay.store.listEvents({ limit: 1 });
    expect(await relay.relay.store.getSetting(CURSOR)).toBe(String(newest?.id));
    await legacy(relay, 'subscriber.tag_add', 2);
    await relay.relay.follower!.runOnce();
    expect((await relay.relay.store.listAudienceMembers(AUDIENCE, { limit: 10 })).map((m) => m.subscriberId)).toEqual([2]);
    await relay.close();

    // Webhooks taken while nothing follows them (the relay ran without the destination)…
    relay = await start(undefined, dir);
    await legacy(relay, 'subscriber.tag_add', 3);
    await legacy(relay, 'subscriber.subscriber_unsubscribe', 2);
    await relay.close();

    // …are followed once it is back: it resumes from its place, nothing is missed.
    relay = await start(meta, dir);
    const { store } = relay.relay;
    await eventually(async () => ((await store.listAudienceMembers(AUDIENCE, { limit: 10 })).map((m) => m.subscriberId).join() === '3' ? true : undefined), 10_000, 'the events of the downtime to be followed');
    const [last] = await store.listEvents({ limit: 1 });
    expect(await store.getSetting(CURSOR)).toBe(String(last?.id));

    // The run reads the whole mirror: it adds subscriber 1, whom no followed event named.
    expect(await relay.relay.scheduler!.runNow('meta-sync:meta:customers')).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    expect(memberIds(sim, meta.audienceId)).toEqual([1, 3]);
  });
});

describe('the event follower', () => {
  const tagAdded = (id: number, origin?: string): EventInput => {
    const mirror: MirrorChange[] = [
      { kind: 'subscriber', subscriber: { kitId: id, email: email(id), firstName: null, state: 'active', fields: {}, createdAt: null } },
      { kind: 'tag_added', kitId: id, tag: { id: TAG } },
    ];
    return {
      source: origin ? 'source' : 'legacy', ...(origin ? { origin } : {}), type: 'subscriber.tag_added', kitType: 'subscriber.tag_add', scope: { param: 'tag_id', value: String(TAG) },
      subscriberId: String(id), email: email(id), subscriberKey: `id:${id}`, payload: { subscriber: { id } }, jobs: [], decisions: [], ...(origin ? {} : { mirror }),
    };
  };
  const commit = (h: MetaHarness, events: readonly EventInput[]) => h.store.commitDelivery({ delivery: { system: 'legacy', route: `tag_add-${TAG}`, receivedAt: Date.now(), bodyBytes: 0 }, events, quarantine: [] });
  const expected = async (h: MetaHarness) => (await h.store.listAudienceMembers('meta/customers', { limit: 100 })).map((m) => m.subscriberId);

  it('reads a bounded batch per pass, follows only accepted Kit events, and repeats a pass harmlessly', async () => {
    harness = await createMetaHarness({ audience: { select: { tags: { any: [TAG] } } } });
    const h = harness;
    await commit(h, [tagAdded(1)]); // before the follower's first start: history
    const follower = await startEventFollower({
      deps: { store: h.store, registry: new IntegrationRegistry([metaIntegration]), destinations: { meta: h.destination } },
      clock: { now: () => Date.now() },
      log: silentLog(),
      everyMs: 3_600_000, // only the passes the test runs
      batch: 2,
    });
    try {
      const start = Number(await h.store.getSetting(CURSOR));
      // Subscriber 5 is in the mirror, but only through another integration's event (not Kit's): not followed.
      await h.store.upsertSubscribers([{ ...person(5) }], 'backfill', Date.now());
      const committed = await commit(h, [tagAdded(2), tagAdded(3), tagAdded(2), tagAdded(4), tagAdded(5, 'slack')]);
      const ids = committed.events.map((e) => e.eventId);

      await follower.runOnce();
      expect(await expected(h)).toEqual([2, 3]);
      expect(await h.store.getSetting(CURSOR)).toBe(String(ids[1]));
      await follower.runOnce();
      expect(await expected(h)).toEqual([2, 3, 4]);
      await follower.runOnce();
      expect(await expected(h)).toEqual([2, 3, 4]);
      expect(await h.store.getSetting(CURSOR)).toBe(String(ids[4]));

      // A crash before the place was saved: the same events are followed again, to the same state.
      await h.store.setSetting(CURSOR, String(start));
      for (let pass = 0; pass < 3; pass++) await follower.runOnce();
      expect(await expected(h)).toEqual([2, 3, 4]);
      expect(await h.store.countAudience('meta/customers')).toEqual({ expected: 3, confirmed: 0, toAdd: 3, toRemove: 0 });
    } finally {
      await follower.stop();
    }
  });
});
