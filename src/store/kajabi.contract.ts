/**
 * Store contract, Kajabi enrolments (migration 011): one enrolment per destination, person and
 * offer, rewritten in place; the corrections logged with them in the same write; listings and
 * counts; erasure of one person's rows.
 */
import { expect, it } from 'vitest';
import type { KajabiCorrectionInput, KajabiEnrolmentInput } from './kajabi-types.js';
import { SECOND, T0, type ContractContext } from './fixtures.contract.js';

const KAJABI = 'kajabi';
const OTHER = 'kajabi-eu';
const ANN = 'ann@example.com';
const BOB = 'bob@example.com';

const enrolment = (overrides: Partial<KajabiEnrolmentInput> = {}): KajabiEnrolmentInput => ({
  destination: KAJABI,
  email: ANN,
  offerId: 'offer-1',
  offerTitle: null,
  status: 'pending',
  purchaseId: null,
  transactionId: null,
  refundTransactionId: null,
  contactId: null,
  customerId: null,
  kitSubscriberId: null,
  amountInCents: null,
  purchasedAt: null,
  settledAt: null,
  endedAt: null,
  endReason: null,
  kitTagged: null,
  kitSyncedAt: null,
  isStopApplied: false,
  changedBy: 'hook',
  ...overrides,
});

const correction = (overrides: Partial<KajabiCorrectionInput> = {}): KajabiCorrectionInput => ({
  destination: KAJABI,
  runId: 'run-1',
  email: ANN,
  offerId: 'offer-1',
  what: 'status',
  why: 'Kajabi says granted',
  before: 'pending',
  after: 'granted',
  ...overrides,
});

export function kajabiContract(ctx: ContractContext): void {
  it('gives back every field of a saved enrolment, booleans and nulls included, by offer id', async () => {
    const { store } = ctx;
    const full = enrolment({
      offerId: 'offer-2',
      offerTitle: 'Course',
      status: 'refunded',
      purchaseId: 'p-1',
      transactionId: 't-1',
      refundTransactionId: 't-2',
      contactId: 'c-1',
      customerId: 'cu-1',
      kitSubscriberId: 501,
      amountInCents: 4900,
      purchasedAt: T0 - 10 * SECOND,
      settledAt: T0 - 5 * SECOND,
      endedAt: T0 - SECOND,
      endReason: 'refund',
      kitTagged: false,
      kitSyncedAt: T0 - 2 * SECOND,
      isStopApplied: true,
      changedBy: 'reconcile',
    });
    const bare = enrolment({ kitTagged: true });
    await store.saveKajabiEnrolments([full, bare, enrolment({ offerId: 'offer-3' })], [], T0);
    await store.saveKajabiEnrolments([enrolment({ destination: OTHER }), enrolment({ email: BOB })], [], T0);
    const got = await store.getKajabiEnrolments(KAJABI, ANN);
    expect(got).toEqual([
      { ...bare, id: expect.any(Number) as number, createdAt: T0, updatedAt: T0 },
      { ...full, id: expect.any(Number) as number, createdAt: T0, updatedAt: T0 },
      expect.objectContaining({ offerId: 'offer-3', kitTagged: null, isStopApplied: false }),
    ]);
    expect(new Set(got.map((e) => e.id)).size).toBe(3);
    expect(await store.getKajabiEnrolments(KAJABI, 'nobody@example.com')).toEqual([]);
  });

  it('rewrites an enrolment in place: same id and creation time, new fields and update time', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments([enrolment({ kitSubscriberId: 501, purchasedAt: T0 })], [], T0);
    const [first] = await store.getKajabiEnrolments(KAJABI, ANN);
    await store.saveKajabiEnrolments(
      [enrolment({ status: 'granted', kitSubscriberId: null, purchasedAt: T0, settledAt: T0 + SECOND, kitTagged: true, changedBy: 'settlement' })],
      [],
      T0 + 2 * SECOND,
    );
    expect(await store.getKajabiEnrolments(KAJABI, ANN)).toEqual([
      {
        ...enrolment({ status: 'granted', purchasedAt: T0, settledAt: T0 + SECOND, kitTagged: true, changedBy: 'settlement' }),
        id: first!.id,
        createdAt: T0,
        updatedAt: T0 + 2 * SECOND,
      },
    ]);
    expect(await store.listKajabiEnrolments({ limit: 10 })).toHaveLength(1);
  });

  it('keys enrolments and lookups by the normalised address', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments([enrolment({ email: ' Ann@Example.COM ' })], [correction({ email: 'ANN@example.com' })], T0);
    await store.saveKajabiEnrolments([enrolment({ status: 'granted' })], [], T0 + SECOND);
    expect(await store.getKajabiEnrolments(KAJABI, 'ANN@EXAMPLE.COM')).toEqual([expect.objectContaining({ email: ANN, status: 'granted', createdAt: T0 })]);
    expect((await store.listKajabiCorrections({ email: ' Ann@example.com', limit: 10 })).map((c) => c.email)).toEqual([ANN]);
  });

  it('appends the corrections given with the enrolments, stamped with the write time', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments(
      [enrolment({ status: 'granted' })],
      [correction(), correction({ runId: null, what: 'kit_tag', why: 'tag missing in Kit', before: null, after: 'present' })],
      T0,
    );
    const logged = await store.listKajabiCorrections({ limit: 10 });
    expect(logged).toEqual([
      { ...correction({ runId: null, what: 'kit_tag', why: 'tag missing in Kit', before: null, after: 'present' }), id: expect.any(Number) as number, at: T0 },
      { ...correction(), id: expect.any(Number) as number, at: T0 },
    ]);
    expect(logged[0]!.id).toBeGreaterThan(logged[1]!.id);
    // Corrections alone (nothing to rewrite) are logged too; nothing at all writes nothing.
    await store.saveKajabiEnrolments([], [correction({ runId: 'run-2' })], T0 + SECOND);
    await store.saveKajabiEnrolments([], [], T0 + 2 * SECOND);
    expect(await store.listKajabiCorrections({ limit: 10 })).toHaveLength(3);
    expect(await store.getKajabiEnrolments(KAJABI, ANN)).toEqual([expect.objectContaining({ status: 'granted', updatedAt: T0 })]);
  });

  it('writes nothing when any part of the write fails: enrolments and corrections land together or not at all', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments([enrolment()], [], T0);
    const broken = correction({ why: null as unknown as string });
    await expect(store.saveKajabiEnrolments([enrolment({ status: 'granted' }), enrolment({ offerId: 'offer-2' })], [correction(), broken], T0 + SECOND)).rejects.toThrow();
    expect(await store.getKajabiEnrolments(KAJABI, ANN)).toEqual([expect.objectContaining({ offerId: 'offer-1', status: 'pending', updatedAt: T0 })]);
    expect(await store.listKajabiCorrections({ limit: 10 })).toEqual([]);
  });

  it('lists enrolments in id order by destination, email, offer, status and purchase time, a page at a time', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments(
      [
        enrolment({ offerId: 'a', purchasedAt: T0 }),
        enrolment({ offerId: 'b', status: 'granted', purchasedAt: T0 - SECOND }),
        enrolment({ email: BOB, offerId: 'a', purchasedAt: T0 - 2 * SECOND }),
        enrolment({ email: BOB, offerId: 'c' }),
        enrolment({ destination: OTHER, offerId: 'a', purchasedAt: T0 - 3 * SECOND }),
      ],
      [],
      T0,
    );
    const all = await store.listKajabiEnrolments({ limit: 10 });
    const [annA, annB, bobA, bobC, otherA] = all.map((e) => e.id);
    expect(all.map((e) => `${e.destination}/${e.email}/${e.offerId}`)).toEqual([`${KAJABI}/${ANN}/a`, `${KAJABI}/${ANN}/b`, `${KAJABI}/${BOB}/a`, `${KAJABI}/${BOB}/c`, `${OTHER}/${ANN}/a`]);
    expect([...all.map((e) => e.id)].sort((x, y) => x - y)).toEqual(all.map((e) => e.id));
    const ids = async (filter: Parameters<typeof store.listKajabiEnrolments>[0]) => (await store.listKajabiEnrolments(filter)).map((e) => e.id);
    expect(await ids({ destination: KAJABI, limit: 10 })).toEqual([annA, annB, bobA, bobC]);
    expect(await ids({ email: BOB, limit: 10 })).toEqual([bobA, bobC]);
    expect(await ids({ offerId: 'a', limit: 10 })).toEqual([annA, bobA, otherA]);
    expect(await ids({ status: 'granted', limit: 10 })).toEqual([annB]);
    expect(await ids({ destination: KAJABI, status: 'pending', limit: 10 })).toEqual([annA, bobA, bobC]);
    // Strictly older; no purchase time is never older.
    expect(await ids({ purchasedBefore: T0, limit: 10 })).toEqual([annB, bobA, otherA]);
    expect(await ids({ destination: KAJABI, status: 'pending', purchasedBefore: T0, limit: 10 })).toEqual([bobA]);
    expect(await ids({ limit: 2 })).toEqual([annA, annB]);
    expect(await ids({ afterId: annB, limit: 2 })).toEqual([bobA, bobC]);
    expect(await ids({ afterId: bobC, limit: 2 })).toEqual([otherA]);
    expect(await ids({ afterId: otherA, limit: 2 })).toEqual([]);
    expect(await ids({ destination: OTHER, email: BOB, limit: 10 })).toEqual([]);
  });

  it('counts a destination\'s enrolments per status, every status given (0 when none)', async () => {
    const { store } = ctx;
    const empty = { pending: 0, granted: 0, refunded: 0, deactivated: 0, cancelled: 0, lapsed: 0 };
    expect(await store.countKajabiEnrolments(KAJABI)).toEqual(empty);
    await store.saveKajabiEnrolments(
      [
        enrolment({ offerId: 'a', status: 'granted' }),
        enrolment({ offerId: 'b', status: 'granted' }),
        enrolment({ offerId: 'c', status: 'lapsed' }),
        enrolment({ email: BOB, offerId: 'a' }),
        enrolment({ destination: OTHER, status: 'refunded' }),
      ],
      [],
      T0,
    );
    expect(await store.countKajabiEnrolments(KAJABI)).toEqual({ ...empty, pending: 1, granted: 2, lapsed: 1 });
    expect(await store.countKajabiEnrolments(OTHER)).toEqual({ ...empty, refunded: 1 });
  });

  it('lists corrections newest first by destination, run and email, a page at a time', async () => {
    const { store } = ctx;
    await store.saveKajabiEnrolments([], [correction({ what: 'c1' }), correction({ what: 'c2', email: BOB })], T0);
    await store.saveKajabiEnrolments([], [correction({ what: 'c3', runId: 'run-2' }), correction({ what: 'c4', destination: OTHER, runId: null })], T0 + SECOND);
    const all = await store.listKajabiCorrections({ limit: 10 });
    expect(all.map((c) => c.what)).toEqual(['c4', 'c3', 'c2', 'c1']);
    const [c4, c3, c2, c1] = all.map((c) => c.id);
    const ids = async (filter: Parameters<typeof store.listKajabiCorrections>[0]) => (await store.listKajabiCorrections(filter)).map((c) => c.id);
    expect(await ids({ destination: KAJABI, limit: 10 })).toEqual([c3, c2, c1]);
    expect(await ids({ runId: 'run-1', limit: 10 })).toEqual([c2, c1]);
    expect(await ids({ email: BOB, limit: 10 })).toEqual([c2]);
    expect(await ids({ limit: 2 })).toEqual([c4, c3]);
    expect(await ids({ beforeId: c3, limit: 2 })).toEqual([c2, c1]);
    expect(await ids({ beforeId: c1, limit: 2 })).toEqual([]);
    expect(await ids({ destination: OTHER, runId: 'run-1', limit: 10 })).toEqual([]);
    expect(all.find((c) => c.what === 'c4')).toMatchObject({ runId: null, destination: OTHER, at: T0 + SECOND });
  });

  it('erases one person\'s enrolments and corrections, also those under an address their Kit id had, and nobody else\'s', async () => {
    const { store } = ctx;
    // Ann's Kit subscriber (501) once bought under an address she no longer has.
    await store.upsertSubscribers([{ kitId: 501, email: ANN, firstName: 'Ann', state: 'active', fields: {}, createdAt: null }], 'backfill', T0);
    await store.saveKajabiEnrolments(
      [
        enrolment({ kitSubscriberId: 501 }),
        enrolment({ destination: OTHER, offerId: 'b' }),
        enrolment({ email: 'ann.old@example.com', kitSubscriberId: 501 }),
        enrolment({ email: BOB, kitSubscriberId: 502 }),
      ],
      [correction(), correction({ destination: OTHER, offerId: 'b' }), correction({ email: 'ann.old@example.com' }), correction({ email: BOB })],
      T0,
    );
    const result = await store.eraseSubscriber({ email: ' ANN@example.com ', now: T0 + SECOND });
    expect(result).toMatchObject({ email: ANN, subscriberIds: ['501'], kajabiRows: 6 });
    expect((await store.listKajabiEnrolments({ limit: 10 })).map((e) => e.email)).toEqual([BOB]);
    expect((await store.listKajabiCorrections({ limit: 10 })).map((c) => c.email)).toEqual([BOB]);
    expect(await store.eraseSubscriber({ email: ANN, now: T0 + 2 * SECOND })).toMatchObject({ kajabiRows: 0 });
  });
}
