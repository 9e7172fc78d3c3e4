/**
 * Store contract, Meta audiences (migration 008): expected and confirmed membership, the pending
 * difference read in pages, batches planned before they are sent and acknowledged once, replace
 * sessions, and the proof of what was sent about a hash.
 */
import { expect, it } from 'vitest';
import type { AudienceBatchItem } from './audience-types.js';
import { SECOND, T0, type ContractContext } from './fixtures.contract.js';

const AUDIENCE = 'meta/customers';
const hash = (n: number) => n.toString(16).padStart(64, '0');
const row = (n: number, extern = String(n)) => [hash(n), extern];
const member = (n: number, keys = row(n)) => ({ subscriberId: n, row: keys, matchKey: keys[0]! });
const item = (n: number, keys = row(n)): AudienceBatchItem => ({ subscriberId: n, matchKey: keys[0]!, row: keys });

export function audiencesContract(ctx: ContractContext): void {
  it('keeps expected members and reads the pending difference in subscriber order, page by page', async () => {
    const { store } = ctx;
    expect(await store.setAudienceMembers(AUDIENCE, [3, 1, 2].map((n) => member(n)), T0)).toBe(3);
    expect(await store.setAudienceMembers(AUDIENCE, [member(1)], T0)).toBe(0); // unchanged
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 3, confirmed: 0, toAdd: 3, toRemove: 0 });
    const first = await store.listAudienceChanges(AUDIENCE, { limit: 2 });
    expect(first.map((c) => c.subscriberId)).toEqual([1, 2]);
    expect(first[0]).toEqual({ subscriberId: 1, matchKey: hash(1), row: row(1), sentRow: null });
    expect((await store.listAudienceChanges(AUDIENCE, { afterSubscriberId: 2, limit: 2 })).map((c) => c.subscriberId)).toEqual([3]);
    expect((await store.listAudienceChanges(AUDIENCE, { afterSubscriberId: 1, throughSubscriberId: 2, limit: 10 })).map((c) => c.subscriberId)).toEqual([2]);
    expect(await store.countAudience('meta/other')).toEqual({ expected: 0, confirmed: 0, toAdd: 0, toRemove: 0 });
  });

  it('confirms an acknowledged add once, removes a leaver only after its removal is acknowledged, and drops settled members', async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [member(1), member(2)], T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const add = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '77', seq: 1, isLast: true, items: [item(1), item(2)], now: T0 });
    expect(add).toMatchObject({ status: 'planned', size: 2, sessionId: '77', isLast: true });
    expect(await store.countAudience(AUDIENCE)).toMatchObject({ toAdd: 2 }); // planned is not confirmed
    expect(await store.ackAudienceBatch({ batchId: add.id, response: { num_received: 2, num_invalid_entries: 0 }, now: T0 + SECOND })).toBe(true);
    expect(await store.ackAudienceBatch({ batchId: add.id, response: { num_received: 2 }, now: T0 + 2 * SECOND })).toBe(false);
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 2, confirmed: 2, toAdd: 0, toRemove: 0 });
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([]);

    // Subscriber 2 leaves: pending removal until the removal is acknowledged, then gone.
    await store.setAudienceMembers(AUDIENCE, [{ subscriberId: 2, row: null, matchKey: null }], T0 + 3 * SECOND);
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([{ subscriberId: 2, matchKey: hash(2), row: null, sentRow: row(2) }]);
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 1, confirmed: 2, toAdd: 0, toRemove: 1 });
    const removal = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'remove', sessionId: '78', seq: 1, isLast: true, items: [item(2)], now: T0 + 3 * SECOND });
    await store.ackAudienceBatch({ batchId: removal.id, response: { num_received: 1 }, now: T0 + 4 * SECOND });
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 1, confirmed: 1, toAdd: 0, toRemove: 0 });

    // Someone who never reached Meta and leaves is simply forgotten.
    await store.setAudienceMembers(AUDIENCE, [member(5)], T0);
    await store.setAudienceMembers(AUDIENCE, [{ subscriberId: 5, row: null, matchKey: null }], T0);
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([]);
  });

  it('forgets what Meta confirmed when the audience changed: every expected member is pending again, leavers are dropped, planned batches fail', async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [member(1), member(2), member(3)], T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const add = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [item(1), item(2), item(3)], now: T0 });
    await store.ackAudienceBatch({ batchId: add.id, response: { num_received: 3 }, now: T0 });
    await store.setAudienceMembers(AUDIENCE, [{ subscriberId: 3, row: null, matchKey: null }, member(4)], T0);
    const pending = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '2', seq: 1, isLast: true, items: [item(4)], now: T0 });
    await store.setAudienceMembers('meta/other', [member(1)], T0);

    expect(await store.forgetAudienceConfirmations(AUDIENCE, 'a new audience id', T0 + SECOND)).toBe(3);
    // Nobody is confirmed; 3 (a leaver Meta no longer holds) is gone; 1, 2 and 4 are to add.
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 3, confirmed: 0, toAdd: 3, toRemove: 0 });
    expect((await store.listAudienceChanges(AUDIENCE, { limit: 10 })).map((c) => c.subscriberId)).toEqual([1, 2, 4]);
    expect(await store.getAudienceBatch(pending.id)).toMatchObject({ status: 'failed', error: 'a new audience id' });
    expect(await store.getAudienceBatch(add.id)).toMatchObject({ status: 'acked' });
    expect(await store.countAudience('meta/other')).toMatchObject({ expected: 1 });
  });

  it('turns members deleted from the mirror (deleted in Kit, erased) into pending removals', async () => {
    const { store } = ctx;
    await store.upsertSubscribers([{ kitId: 7, email: 'kept@example.com', firstName: null, state: 'active', fields: {}, createdAt: null }], 'backfill', T0);
    await store.setAudienceMembers(AUDIENCE, [member(1), member(7)], T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const add = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [item(1), item(7)], now: T0 });
    await store.ackAudienceBatch({ batchId: add.id, response: {}, now: T0 });
    expect(await store.expireAudienceMembersNotInMirror(AUDIENCE, T0 + SECOND)).toBe(1);
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([{ subscriberId: 1, matchKey: hash(1), row: null, sentRow: row(1) }]);
    expect(await store.expireAudienceMembersNotInMirror(AUDIENCE, T0 + 2 * SECOND)).toBe(0);
  });

  it('keeps a member pending when their row changed after the batch that confirmed the old one was planned', async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [member(1)], T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const add = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [item(1)], now: T0 });
    await store.setAudienceMembers(AUDIENCE, [member(1, row(1, 'new-extern'))], T0 + SECOND);
    await store.ackAudienceBatch({ batchId: add.id, response: {}, now: T0 + 2 * SECOND });
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([{ subscriberId: 1, matchKey: hash(1), row: row(1, 'new-extern'), sentRow: row(1) }]);
  });

  it('makes Meta hold exactly what a replace session carried once its last batch is acknowledged', async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [1, 2, 3].map((n) => member(n)), T0);
    const first = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const add = await store.planAudienceBatch({ runId: first.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [1, 2, 3].map((n) => item(n)), now: T0 });
    await store.ackAudienceBatch({ batchId: add.id, response: {}, now: T0 });
    await store.setAudienceMembers(AUDIENCE, [{ subscriberId: 3, row: null, matchKey: null }, member(4)], T0 + SECOND);
    const replace = await store.startAudienceRun({ audience: AUDIENCE, kind: 'replace', now: T0 + SECOND });
    const b1 = await store.planAudienceBatch({ runId: replace.id, audience: AUDIENCE, op: 'replace', sessionId: '9', seq: 1, isLast: false, items: [item(1), item(2)], now: T0 + SECOND });
    const b2 = await store.planAudienceBatch({ runId: replace.id, audience: AUDIENCE, op: 'replace', sessionId: '9', seq: 2, isLast: true, items: [item(4)], now: T0 + SECOND });
    await store.ackAudienceBatch({ batchId: b1.id, response: {}, now: T0 + 2 * SECOND });
    expect(await store.countAudience(AUDIENCE)).toMatchObject({ confirmed: 3, toRemove: 1 }); // not yet: the session is open
    await store.ackAudienceBatch({ batchId: b2.id, response: {}, now: T0 + 3 * SECOND });
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 3, confirmed: 3, toAdd: 0, toRemove: 0 });
    await store.finishAudienceRun({ runId: replace.id, status: 'succeeded', stats: { expected: 3, drift: 0.4 }, now: T0 + 4 * SECOND });
    const [latest] = await store.listAudienceRuns({ audience: AUDIENCE });
    expect(latest).toMatchObject({ id: replace.id, kind: 'replace', status: 'succeeded', stats: { expected: 3, drift: 0.4 }, finishedAt: T0 + 4 * SECOND });
    expect((await store.listAudienceBatches({ runId: replace.id })).map((b) => [b.seq, b.status])).toEqual([[1, 'acked'], [2, 'acked']]);
  });

  it('records a refused batch without confirming anything, and finds every row sent about a hash', async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [member(1), member(2)], T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const refused = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '1', seq: 1, isLast: true, items: [item(1)], now: T0 });
    await store.failAudienceBatch({ batchId: refused.id, error: '(#100) Audience Upload Blocked', response: { code: 100, error_subcode: 1713230 }, now: T0 });
    expect(await store.countAudience(AUDIENCE)).toMatchObject({ toAdd: 2, confirmed: 0 });
    const sent = await store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op: 'add', sessionId: '2', seq: 1, isLast: true, items: [item(1), item(2)], now: T0 + SECOND });
    await store.ackAudienceBatch({ batchId: sent.id, response: { num_received: 2 }, now: T0 + SECOND });
    const found = await store.findAudienceItems(hash(1));
    expect(found.map((f) => [f.batch.id, f.batch.status, f.subscriberId])).toEqual([[refused.id, 'failed', 1], [sent.id, 'acked', 1]]);
    expect(found[0]?.batch.error).toContain('Upload Blocked');
    expect(await store.getAudienceBatchItems(sent.id, { limit: 1 })).toEqual([item(1)]);
    expect(await store.getAudienceBatchItems(sent.id, { afterSubscriberId: 1, limit: 10 })).toEqual([item(2)]);
  });

  it("tallies batches by status, a run's or an audience's, summing Meta's counts over the acknowledged ones", async () => {
    const { store } = ctx;
    await store.setAudienceMembers(AUDIENCE, [1, 2, 3, 4].map((n) => member(n)), T0);
    const run = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 });
    const plan = (runId: number, seq: number, items: AudienceBatchItem[]) => store.planAudienceBatch({ runId, audience: AUDIENCE, op: 'add', sessionId: String(runId), seq, isLast: false, items, now: T0 });
    const acked = await plan(run.id, 1, [item(1), item(2)]);
    const refused = await plan(run.id, 2, [item(3)]);
    await plan(run.id, 3, [item(4)]);
    await store.ackAudienceBatch({ batchId: acked.id, response: { num_received: 2, num_invalid_entries: 1 }, now: T0 + SECOND });
    await store.failAudienceBatch({ batchId: refused.id, error: 'refused', response: { code: 100, num_received: 1 }, now: T0 + SECOND });
    const later = await store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: T0 + SECOND });
    await plan(later.id, 1, [item(4)]);
    expect(await store.tallyAudienceBatches({ runId: run.id })).toEqual({ planned: 1, acked: 1, failed: 1, numReceived: 2, numInvalid: 1 });
    expect(await store.tallyAudienceBatches({ audience: AUDIENCE })).toEqual({ planned: 2, acked: 1, failed: 1, numReceived: 2, numInvalid: 1 });
    expect(await store.tallyAudienceBatches({ runId: run.id, audience: 'meta/other' })).toEqual({ planned: 0, acked: 0, failed: 0, numReceived: 0, numInvalid: 0 });
  });

  it('makes no row for someone the audience never held and should not hold (a refresh passes every subscriber)', async () => {
    const { store } = ctx;
    expect(await store.setAudienceMembers(AUDIENCE, [{ subscriberId: 9, row: null, matchKey: null }, member(1)], T0)).toBe(1);
    expect(await store.countAudience(AUDIENCE)).toEqual({ expected: 1, confirmed: 0, toAdd: 1, toRemove: 0 });
    expect(await store.findAudienceMembers(hash(1))).toHaveLength(1);
    expect(await store.listAudienceChanges(AUDIENCE, { limit: 10 })).toEqual([{ subscriberId: 1, matchKey: hash(1), row: row(1), sentRow: null }]);
  });
}
