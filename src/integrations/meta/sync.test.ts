/**
 * Audience runs end to end: subscribers in the mirror, a real worker uploading to the Meta
 * simulator. First run, incremental run with each kind of leaver, dry run, the removal guard,
 * drift and an explicit replace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MirrorTag, SubscriberSnapshot } from '../../store/types.js';
import { createMetaHarness, type MetaHarness } from './harness.js';
import { sha256Hex } from './normalize.js';
import { syncAudience, type SyncOptions } from './sync.js';

let harness: MetaHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const CUSTOMER: MirrorTag = { id: 7, name: 'Customer' };

function person(id: number, overrides: Partial<SubscriberSnapshot> = {}): SubscriberSnapshot {
  return { kitId: id, email: `p${id}@example.com`, firstName: `P${id}`, state: 'active', fields: {}, tags: [CUSTOMER], createdAt: null, ...overrides };
}

async function setup(audience: Record<string, unknown> = {}): Promise<MetaHarness> {
  harness = await createMetaHarness({ audience: { select: { tags: { any: ['customer'] } }, ...audience } });
  harness.worker();
  return harness;
}

function sync(h: MetaHarness, options: SyncOptions = {}) {
  return syncAudience({ store: h.store, destinationName: 'meta', destination: h.destination, audienceName: 'customers', graph: h.graph, queueUploads: (batches, id) => h.queueUploads(batches, id), now: Date.now, pollMs: 20, settleTimeoutMs: 20_000 }, options);
}

const members = (h: MetaHarness) => h.sim.members(h.audienceId).map((m) => m.keys.EXTERN_ID).sort((a, b) => Number(a) - Number(b));
const userCalls = (h: MetaHarness) => h.sim.requests.filter((r) => r.path.includes('/users')).length;

describe('meta audience sync', () => {
  it('fills a new audience from the mirror, then sends only the difference, removing each kind of leaver', async () => {
    const h = await setup();
    await h.store.upsertSubscribers([1, 2, 3, 4, 5, 6].map((id) => person(id, id === 6 ? { tags: [] } : {})), 'backfill', Date.now());
    const first = await sync(h);
    expect(first.status).toBe('succeeded');
    expect(members(h)).toEqual(['1', '2', '3', '4', '5']);
    expect(first.stats).toMatchObject({ expected: 5, toAdd: 5, batches: 1, rowsSent: 5, batchesAcked: 1, numReceived: 5, after: { expected: 5, confirmed: 5, toAdd: 0, toRemove: 0 } });
    expect(first.stats.matchRate).toEqual(expect.any(Number));
    // Hashes, never addresses, went to Meta.
    expect(JSON.stringify(h.sim.requests.map((r) => r.body))).not.toContain('@example.com');
    expect(h.sim.members(h.audienceId).find((m) => m.keys.EXTERN_ID === '1')?.keys.EMAIL).toBe(sha256Hex('p1@example.com'));

    // Unsubscribed, bounced, lost the tag, deleted (erased); one new customer.
    await h.store.upsertSubscribers([person(1, { state: 'cancelled' }), person(2, { state: 'bounced' }), person(3, { tags: [] }), person(7)], 'reconcile', Date.now());
    await h.store.eraseSubscriber({ email: 'p4@example.com', now: Date.now() });
    const before = userCalls(h);
    const second = await sync(h, { confirmRemovals: true });
    expect(second.status).toBe('succeeded');
    expect(members(h)).toEqual(['5', '7']);
    // The erasure itself turned subscriber 4's row into a pending removal (Meta still held it).
    expect(second.stats).toMatchObject({ gone: 0, toAdd: 1, toRemove: 4, batches: 2 });
    expect(userCalls(h) - before).toBe(2); // one removal, one add: nothing re-sent

    const third = await sync(h);
    expect(third.stats).toMatchObject({ batches: 0, toAdd: 0, toRemove: 0 });
  });

  it('sends every member to a new audience when the audience id changes, forgetting what the old one confirmed', async () => {
    const h = await setup();
    await h.store.upsertSubscribers([1, 2, 3].map((id) => person(id)), 'backfill', Date.now());
    expect((await sync(h)).stats).toMatchObject({ audienceId: h.audienceId, rowsSent: 3 });
    const next = h.sim.createAudience({ name: 'Customers (new)' }).id;
    const moved = { ...h.destination, audiences: { customers: { ...h.destination.audiences.customers!, audienceId: next } } };
    const run = (destination: typeof moved) => syncAudience({ store: h.store, destinationName: 'meta', destination, audienceName: 'customers', graph: h.graph, queueUploads: (batches, id) => h.queueUploads(batches, id), now: Date.now, pollMs: 20, settleTimeoutMs: 20_000 });
    const result = await run(moved);
    expect(result.status).toBe('succeeded');
    expect(result.stats).toMatchObject({ audienceId: next, audienceChanged: { from: h.audienceId, forgotten: 3 }, rowsSent: 3 });
    expect(h.sim.members(next)).toHaveLength(3);
    // The next run on the same id sends nothing.
    expect((await run(moved)).stats).toMatchObject({ rowsSent: 0, batches: 0 });
    expect((await run(moved)).stats).not.toHaveProperty('audienceChanged');
  });

  it('ends a run whose upload job dies (a revoked token) instead of waiting for it; the next run sends the members again', async () => {
    harness = await createMetaHarness({ audience: { select: { tags: { any: ['customer'] } } }, destination: { breaker: { failureThreshold: 1, cooldownMs: 50, maxCooldownMs: 50 } } });
    const h = harness;
    h.worker();
    await h.store.upsertSubscribers([1, 2].map((id) => person(id)), 'backfill', Date.now());
    h.sim.expireToken();
    const failed = await sync(h);
    expect(failed.status).toBe('failed');
    expect(failed.detail).toContain('1 of 1 batches failed');
    const [batch] = await h.store.listAudienceBatches({ runId: failed.run.id });
    expect(batch).toMatchObject({ status: 'failed', error: expect.stringMatching(/upload job \d+ is dead: .*token/) as unknown });
    expect(await h.store.countAudience('meta/customers')).toMatchObject({ confirmed: 0, toAdd: 2 });

    h.sim.expireToken(false);
    const again = await sync(h);
    expect(again).toMatchObject({ status: 'succeeded', stats: { rowsSent: 2 } });
    expect(members(h)).toEqual(['1', '2']);
  });

  it('dry run counts and samples what it would do, by internal id and hash, and sends nothing', async () => {
    const h = await setup();
    await h.store.upsertSubscribers([person(1), person(2)], 'backfill', Date.now());
    const result = await sync(h, { dryRun: true });
    expect(result.status).toBe('succeeded');
    expect(result.stats).toMatchObject({ toAdd: 2, addSamples: [{ subscriberId: 1, matchKey: sha256Hex('p1@example.com') }, { subscriberId: 2, matchKey: sha256Hex('p2@example.com') }], removeSamples: [] });
    expect(userCalls(h)).toBe(0);
    expect(await h.store.listAudienceRuns({ audience: 'meta/customers' })).toMatchObject([{ kind: 'dry_run', status: 'succeeded', detail: 'dry run: nothing was sent' }]);
  });

  it('holds a run that would remove half the audience until removals are confirmed, and one that would empty it', async () => {
    const h = await setup();
    await h.store.upsertSubscribers([1, 2, 3, 4].map((id) => person(id)), 'backfill', Date.now());
    await sync(h);
    await h.store.upsertSubscribers([person(1, { tags: [] }), person(2, { tags: [] })], 'reconcile', Date.now());
    const before = userCalls(h);
    const held = await sync(h);
    expect(held.status).toBe('held');
    expect(held.detail).toContain('50.0% of the audience');
    expect(userCalls(h)).toBe(before);
    expect(members(h)).toEqual(['1', '2', '3', '4']);
    expect((await sync(h, { confirmRemovals: true })).status).toBe('succeeded');
    expect(members(h)).toEqual(['3', '4']);

    await h.store.upsertSubscribers([person(3, { tags: [] }), person(4, { tags: [] })], 'reconcile', Date.now());
    const emptying = await sync(h);
    expect(emptying).toMatchObject({ status: 'held', detail: expect.stringContaining('empty the audience') as unknown });
  });

  it('replaces the audience in one session on demand: afterwards Meta holds exactly the expected members', async () => {
    const h = await setup({ batchSize: 2 });
    await h.store.upsertSubscribers([1, 2, 3, 4, 5].map((id) => person(id)), 'backfill', Date.now());
    await sync(h);
    // Someone added at Meta by hand (or left over from a lost removal): drift.
    await h.graph.upload({ audienceId: h.audienceId, op: 'add', schema: ['EXTERN_ID', 'EMAIL'], rows: [['99', sha256Hex('stray@example.com')]], session: { sessionId: '5', batchSeq: 1, isLast: true } });
    expect(members(h)).toContain('99');
    const replaced = await sync(h, { replace: true });
    expect(replaced.status).toBe('succeeded');
    expect(replaced.stats).toMatchObject({ replaced: true, batches: 3, rowsSent: 5 });
    expect(members(h)).toEqual(['1', '2', '3', '4', '5']);
    const batches = await h.store.listAudienceBatches({ runId: replaced.run.id });
    expect(batches.map((b) => [b.op, b.seq, b.isLast])).toEqual([['replace', 1, false], ['replace', 2, false], ['replace', 3, true]]);
    expect(new Set(batches.map((b) => b.sessionId)).size).toBe(1);
  });

  it('fails a run with the fix named when the audience has no id yet', async () => {
    const h = await setup({ audienceId: undefined });
    const result = await sync(h);
    expect(result).toMatchObject({ status: 'failed', detail: expect.stringContaining('kitrelay meta audiences create customers') as unknown });
  });
});
