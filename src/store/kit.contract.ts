/**
 * Store contract, the Kit side (kit-types.ts): the subscriber mirror, sync checkpoints, the shared
 * rate budget and webhook registrations.
 */
import { expect, it } from 'vitest';
import { SECOND, T0, asAccepted, commit, eventInput, type ContractContext } from './fixtures.contract.js';
import type { MirrorChange, RateBudgetDecision, SubscriberSnapshot } from './types.js';

const MINUTE = 60 * SECOND;

export type KitContractContext = ContractContext;

function snapshot(kitId: number, overrides: Partial<SubscriberSnapshot> = {}): SubscriberSnapshot {
  return {
    kitId,
    email: `sub${kitId}@example.com`,
    firstName: `Sub ${kitId}`,
    state: 'active',
    fields: { company: `Co ${kitId}`, phone: null },
    createdAt: T0 - 30 * MINUTE,
    ...overrides,
  };
}

const budget = (now: number, limit = 3) => ({ credential: 'key-a', limit, windowMs: MINUTE, now });

export function kitContract(ctx: KitContractContext): void {
  it('upserts subscriber snapshots and reads them back by id and by email, case-insensitively', async () => {
    await ctx.store.upsertSubscribers([snapshot(7, { email: 'ann@example.com', tags: [{ id: 5, name: 'VIP', taggedAt: T0 - MINUTE }, { id: 3 }] })], 'backfill', T0);
    const expected = {
      kitId: 7,
      email: 'ann@example.com',
      firstName: 'Sub 7',
      state: 'active',
      fields: { company: 'Co 7', phone: null },
      tags: [{ id: 3 }, { id: 5, name: 'VIP', taggedAt: T0 - MINUTE }],
      createdAt: T0 - 30 * MINUTE,
      updatedAt: T0,
      source: 'backfill',
    };
    expect(await ctx.store.getSubscriber(7)).toEqual(expected);
    expect(await ctx.store.getSubscriberByEmail('Ann@EXAMPLE.com')).toEqual(expected);
    expect(await ctx.store.getSubscriber(8)).toBeUndefined();
    expect(await ctx.store.getSubscriberByEmail('nobody@example.com')).toBeUndefined();

    await ctx.store.upsertSubscribers([snapshot(7, { email: 'Ann.New@Example.com', state: 'cancelled', createdAt: null })], 'reconcile', T0 + SECOND);
    expect(await ctx.store.getSubscriberByEmail('ann.new@example.com')).toMatchObject({
      kitId: 7,
      email: 'ann.new@example.com',
      state: 'cancelled',
      createdAt: T0 - 30 * MINUTE, // Kit's created_at does not change: a snapshot without it keeps it
      updatedAt: T0 + SECOND,
      source: 'reconcile',
    });
    expect(await ctx.store.getSubscriberByEmail('ann@example.com')).toBeUndefined();
  });

  it('lists subscribers in kit id order, paged after an id, filtered by state and tag, with their tags; and counts them', async () => {
    expect(await ctx.store.countSubscribers()).toBe(0);
    await ctx.store.upsertSubscribers(
      [
        snapshot(40, { tags: [{ id: 1 }, { id: 2 }] }),
        snapshot(10, { tags: [{ id: 2 }] }),
        snapshot(30, { state: 'inactive', tags: [{ id: 2 }] }),
        snapshot(20, { tags: [] }),
      ],
      'backfill',
      T0,
    );
    const ids = (subscribers: readonly { kitId: number }[]) => subscribers.map((s) => s.kitId);
    expect(await ctx.store.countSubscribers()).toBe(4);
    expect(ids(await ctx.store.listSubscribers({}))).toEqual([10, 20, 30, 40]);
    expect(ids(await ctx.store.listSubscribers({ limit: 2 }))).toEqual([10, 20]);
    expect(ids(await ctx.store.listSubscribers({ afterKitId: 20, limit: 2 }))).toEqual([30, 40]);
    expect(ids(await ctx.store.listSubscribers({ afterKitId: 40 }))).toEqual([]);
    expect(ids(await ctx.store.listSubscribers({ state: 'active' }))).toEqual([10, 20, 40]);
    expect(ids(await ctx.store.listSubscribers({ tagId: 2 }))).toEqual([10, 30, 40]);
    expect(ids(await ctx.store.listSubscribers({ tagId: 2, state: 'active', afterKitId: 10 }))).toEqual([40]);
    expect(ids(await ctx.store.listSubscribers({ kitIds: [40, 99, 10] }))).toEqual([10, 40]);
    expect(ids(await ctx.store.listSubscribers({ kitIds: [] }))).toEqual([]);
    const page = await ctx.store.listSubscribers({ tagId: 2 });
    expect(page.map((s) => s.tags)).toEqual([[{ id: 2 }], [{ id: 2 }], [{ id: 1 }, { id: 2 }]]);
  });

  it('keeps a subscriber’s tags when a snapshot has none, and replaces them when it has', async () => {
    await ctx.store.upsertSubscribers([snapshot(7, { tags: [{ id: 1, name: 'a', taggedAt: T0 - MINUTE }, { id: 2, name: 'b' }] })], 'backfill', T0);
    await ctx.store.upsertSubscribers([snapshot(7, { firstName: 'Ann' })], 'reconcile', T0 + SECOND);
    expect(await ctx.store.getSubscriber(7)).toMatchObject({ firstName: 'Ann', tags: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }] });

    await ctx.store.upsertSubscribers([snapshot(7, { tags: [{ id: 1 }, { id: 9, name: 'new' }] })], 'backfill', T0 + 2 * SECOND);
    // Tag 1 keeps what was known of it; tag 2 is gone.
    expect((await ctx.store.getSubscriber(7))?.tags).toEqual([{ id: 1, name: 'a', taggedAt: T0 - MINUTE }, { id: 9, name: 'new' }]);
    await ctx.store.upsertSubscribers([snapshot(7, { tags: [] })], 'backfill', T0 + 3 * SECOND);
    expect((await ctx.store.getSubscriber(7))?.tags).toEqual([]);
  });

  it('applies an accepted event’s mirror changes with it, and ignores a duplicate’s', async () => {
    await ctx.store.upsertSubscribers([snapshot(7, { tags: [{ id: 1 }] })], 'backfill', T0 - MINUTE);
    const subscriber = snapshot(7, { state: 'inactive', firstName: 'Ann' });
    const mirror: MirrorChange[] = [
      { kind: 'subscriber', subscriber: { ...subscriber, email: 'Ann@Example.com' } },
      { kind: 'tag_added', kitId: 7, tag: { id: 5, name: 'VIP', taggedAt: T0 - SECOND } },
    ];
    const dedupe = { key: 'kit:evt-1', expiresAt: T0 + 72 * 60 * MINUTE };
    asAccepted((await commit(ctx.store, [eventInput({ dedupe, mirror })], T0)).events[0]);
    const after = {
      kitId: 7,
      email: 'ann@example.com',
      firstName: 'Ann',
      state: 'inactive',
      // A subscriber change leaves the tags alone.
      tags: [{ id: 1 }, { id: 5, name: 'VIP', taggedAt: T0 - SECOND }],
      updatedAt: T0,
      source: 'webhook',
    };
    expect(await ctx.store.getSubscriber(7)).toMatchObject(after);

    const resent: MirrorChange[] = [
      { kind: 'tag_removed', kitId: 7, tagId: 5 },
      { kind: 'subscriber', subscriber: { ...subscriber, state: 'active' } },
    ];
    const outcome = (await commit(ctx.store, [eventInput({ dedupe, mirror: resent })], T0 + SECOND)).events[0];
    expect(outcome?.status).toBe('duplicate');
    expect(await ctx.store.getSubscriber(7)).toMatchObject(after);

    asAccepted((await commit(ctx.store, [eventInput({ mirror: [{ kind: 'tag_removed', kitId: 7, tagId: 5 }] })], T0 + 2 * SECOND)).events[0]);
    expect(await ctx.store.getSubscriber(7)).toMatchObject({ tags: [{ id: 1 }], state: 'inactive', updatedAt: T0 + 2 * SECOND });
  });

  it('names a tag a webhook added without its name after another subscriber\'s row of that tag', async () => {
    await ctx.store.upsertSubscribers([snapshot(7, { tags: [{ id: 5, name: 'Customer' }] }), snapshot(8, { tags: [] })], 'backfill', T0);
    asAccepted((await commit(ctx.store, [eventInput({ mirror: [{ kind: 'tag_added', kitId: 8, tag: { id: 5 } }, { kind: 'tag_added', kitId: 8, tag: { id: 6 } }] })], T0 + SECOND)).events[0]);
    // Tag 6 has no name anywhere: it stays without one.
    expect((await ctx.store.getSubscriber(8))?.tags).toEqual([{ id: 5, name: 'Customer' }, { id: 6 }]);
  });

  it('commits mirror changes in the delivery’s transaction: a delivery that fails changes nothing', async () => {
    const good: MirrorChange[] = [{ kind: 'tag_added', kitId: 7, email: 'ann@example.com', tag: { id: 5 } }];
    const broken: MirrorChange[] = [{ kind: 'subscriber', subscriber: snapshot(8, { state: null as unknown as string }) }]; // state is required
    await expect(commit(ctx.store, [eventInput({ mirror: good }), eventInput({ mirror: broken })])).rejects.toThrow();
    expect(await ctx.store.getSubscriber(7)).toBeUndefined();
    expect(await ctx.store.countSubscribers()).toBe(0);
    expect(await ctx.store.listEvents({})).toEqual([]);
  });

  it('creates a minimal subscriber row for a tag added to an unknown subscriber, filled in when its subscriber arrives', async () => {
    const added = (kitId: number, tagId: number, email?: string): MirrorChange => ({ kind: 'tag_added', kitId, tag: { id: tagId }, ...(email && { email }) });
    await commit(ctx.store, [eventInput({ mirror: [added(7, 5, 'Ann@Example.com'), added(8, 5)] })], T0);
    expect(await ctx.store.getSubscriberByEmail('ann@example.com')).toMatchObject({ kitId: 7, tags: [{ id: 5 }], source: 'webhook', updatedAt: T0 });
    expect(await ctx.store.getSubscriber(8)).toMatchObject({ kitId: 8, email: '', firstName: null, state: 'unknown', fields: {}, tags: [{ id: 5 }] });

    await commit(ctx.store, [eventInput({ mirror: [added(8, 6, 'bo@example.com')] })], T0 + SECOND);
    expect(await ctx.store.getSubscriber(8)).toMatchObject({ email: 'bo@example.com', tags: [{ id: 5 }, { id: 6 }] });
    await commit(ctx.store, [eventInput({ mirror: [{ kind: 'subscriber', subscriber: snapshot(8) }] })], T0 + 2 * SECOND);
    expect(await ctx.store.getSubscriber(8)).toMatchObject({ email: 'sub8@example.com', state: 'active', tags: [{ id: 5 }, { id: 6 }] });
  });

  it('saves, replaces and gets sync checkpoints', async () => {
    expect(await ctx.store.getCheckpoint('kit-backfill')).toBeUndefined();
    const first = { name: 'kit-backfill', cursor: null, data: { pages: 0 }, startedAt: T0, updatedAt: T0, completedAt: null };
    await ctx.store.saveCheckpoint(first);
    expect(await ctx.store.getCheckpoint('kit-backfill')).toEqual(first);
    const later = { ...first, cursor: 'WzE2XQ==', data: { pages: 3, perPage: 1000 }, updatedAt: T0 + MINUTE, completedAt: T0 + MINUTE };
    await ctx.store.saveCheckpoint(later);
    expect(await ctx.store.getCheckpoint('kit-backfill')).toEqual(later);
    expect(await ctx.store.getCheckpoint('kit-reconcile-legacy')).toBeUndefined();
  });

  it('spends a rate budget up to its limit, then says how long to wait, as the window slides', async () => {
    expect(await ctx.store.takeRateBudget(budget(T0))).toEqual({ ok: true, remaining: 2 });
    expect(await ctx.store.takeRateBudget(budget(T0 + 10 * SECOND))).toEqual({ ok: true, remaining: 1 });
    expect(await ctx.store.takeRateBudget(budget(T0 + 20 * SECOND))).toEqual({ ok: true, remaining: 0 });
    expect(await ctx.store.takeRateBudget(budget(T0 + 30 * SECOND))).toEqual({ ok: false, retryAfterMs: 30 * SECOND });
    expect(await ctx.store.takeRateBudget({ ...budget(T0 + 30 * SECOND), credential: 'key-b' })).toEqual({ ok: true, remaining: 2 });
    // Waiting exactly retryAfterMs frees the oldest slot.
    expect(await ctx.store.takeRateBudget(budget(T0 + MINUTE))).toEqual({ ok: true, remaining: 0 });
    expect(await ctx.store.takeRateBudget(budget(T0 + MINUTE + SECOND))).toEqual({ ok: false, retryAfterMs: 9 * SECOND });
    // A refusal spends nothing.
    expect(await ctx.store.takeRateBudget(budget(T0 + MINUTE + 10 * SECOND))).toEqual({ ok: true, remaining: 0 });
    expect(await ctx.store.takeRateBudget(budget(T0 + 3 * MINUTE))).toEqual({ ok: true, remaining: 2 });
  });

  it('stops every spender of a credential while it is blocked after a 429', async () => {
    await ctx.store.blockRateBudget('key-a', T0 + 30 * SECOND);
    await ctx.store.blockRateBudget('key-a', T0 + 10 * SECOND); // a shorter Retry-After does not cut it short
    expect(await ctx.store.takeRateBudget(budget(T0 + SECOND))).toEqual({ ok: false, retryAfterMs: 29 * SECOND });
    expect(await ctx.store.takeRateBudget({ ...budget(T0 + SECOND), credential: 'key-b' })).toMatchObject({ ok: true });
    expect(await ctx.store.takeRateBudget(budget(T0 + 30 * SECOND))).toEqual({ ok: true, remaining: 2 });
    await ctx.store.blockRateBudget('key-a', T0 + 2 * MINUTE);
    expect(await ctx.store.takeRateBudget(budget(T0 + MINUTE))).toEqual({ ok: false, retryAfterMs: MINUTE });
  });

  it('shares one rate budget between two stores on the same database: together they never exceed it', async () => {
    const peer = await ctx.openPeer();
    try {
      /** Both stores ask 12 times each, a turn apart, so their transactions interleave. */
      const granted = async (credential: string, now: number, limit: number): Promise<number> => {
        const takes: Promise<RateBudgetDecision>[] = [];
        for (let i = 0; i < 12; i++) {
          for (const store of [ctx.store, peer]) takes.push(store.takeRateBudget({ credential, limit, windowMs: MINUTE, now }));
          await new Promise((resolve) => setImmediate(resolve));
        }
        return (await Promise.all(takes)).filter((decision) => decision.ok).length;
      };
      // A check-then-spend that is not atomic oversells only when both stores race for the last
      // slot at the same instant, so the test holds many small contests, each on its own credential.
      const limits = Array.from({ length: 60 }, (_, contest) => 1 + (contest % 8));
      const counts: number[] = [];
      for (const [contest, limit] of limits.entries()) counts.push(await granted(`contest-${contest}`, T0, limit));
      expect(counts).toEqual(limits);

      expect(await granted('key-a', T0, 5)).toBe(5);
      expect(await granted('key-a', T0 + 30 * SECOND, 5)).toBe(0);
      expect(await granted('key-a', T0 + MINUTE, 5)).toBe(5); // the window slid for both

      await peer.blockRateBudget('key-a', T0 + 3 * MINUTE);
      expect(await ctx.store.takeRateBudget(budget(T0 + 2 * MINUTE, 25))).toEqual({ ok: false, retryAfterMs: MINUTE });
    } finally {
      await peer.close();
    }
  });

  it('saves, lists and deletes webhook registrations', async () => {
    expect(await ctx.store.listWebhookRegistrations()).toEqual([]);
    const legacy = { system: 'legacy', kitId: 12, route: 'r-tags', url: 'https://relay.example/kit/legacy/r-tags', createdAt: T0 } as const;
    const signed = { system: 'signed', kitId: 3, route: 'main', url: 'https://relay.example/kit/signed/main', createdAt: T0 + SECOND } as const;
    const sameIdOtherSystem = { ...legacy, kitId: 3, route: 'r-forms' };
    await ctx.store.saveWebhookRegistration(signed);
    await ctx.store.saveWebhookRegistration(legacy);
    await ctx.store.saveWebhookRegistration(sameIdOtherSystem);
    expect(await ctx.store.listWebhookRegistrations()).toEqual([sameIdOtherSystem, legacy, signed]);

    await ctx.store.saveWebhookRegistration({ ...legacy, url: 'https://relay.example/moved' });
    await ctx.store.deleteWebhookRegistration('legacy', 3);
    await ctx.store.deleteWebhookRegistration('signed', 99);
    expect(await ctx.store.listWebhookRegistrations()).toEqual([{ ...legacy, url: 'https://relay.example/moved' }, signed]);
  });

  it('keeps the Kit side through retention: purge touches none of it', async () => {
    await ctx.store.upsertSubscribers([snapshot(7, { tags: [{ id: 1 }] })], 'backfill', T0);
    await ctx.store.saveCheckpoint({ name: 'kit-backfill', cursor: 'c', data: {}, startedAt: T0, updatedAt: T0, completedAt: T0 });
    await ctx.store.saveWebhookRegistration({ system: 'signed', kitId: 3, route: 'main', url: 'https://relay.example/k', createdAt: T0 });
    await ctx.store.takeRateBudget(budget(T0 + 10 * MINUTE));
    const later = T0 + 400 * 24 * 60 * MINUTE;
    await ctx.store.purge({ now: later, eventsBefore: later, quarantineBefore: later, auditScrubBefore: later });
    expect(await ctx.store.getSubscriber(7)).toMatchObject({ tags: [{ id: 1 }] });
    expect(await ctx.store.getCheckpoint('kit-backfill')).toBeDefined();
    expect(await ctx.store.listWebhookRegistrations()).toHaveLength(1);
    expect(await ctx.store.takeRateBudget(budget(T0 + 10 * MINUTE + SECOND, 1))).toMatchObject({ ok: false });
  });
}
