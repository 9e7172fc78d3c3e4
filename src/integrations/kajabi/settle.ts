/**
 * Settlement by check (schedule `kajabi-settle:<destination>`, every `settlement.checkSchedule`):
 * a purchase whose `payment_succeeded` never came is settled once `settlement.delayMs` has passed
 * and Kajabi's API shows its transaction succeeded and the purchase active: never before access
 * exists. One still unpaid after `settlement.giveUpAfterMs` lapses and is never tagged.
 *
 * The check only reads; what it finds is committed as events with `enrol` jobs (origin
 * `settlement`), so the table is written, in order, by the person's own jobs. Event ids
 * (`settled:<transaction>`, `lapsed:<purchase or transaction>:<offer>`) make a check that runs
 * again before the job did make no second job.
 */
import type { KajabiEnrolment } from '../../store/kajabi-types.js';
import type { ScheduleDeps, SourceEvent } from '../types.js';
import type { KajabiClient } from './client.js';
import { unlessGone } from './client-errors.js';
import { ENROL_ACTION, personOrderKey, type EnrolParamsInput, type KajabiFactInput } from './facts.js';
import type { KajabiDestinationConfig } from './schema.js';

export const SETTLE_POLLER = 'kajabi-settle';

export interface SettleResult {
  readonly checked: number;
  readonly settled: number;
  readonly lapsed: number;
  readonly ended: number;
  readonly unpaid: number;
}

export async function checkSettlements(deps: ScheduleDeps<KajabiDestinationConfig>, client: KajabiClient, run: { readonly now: () => number; readonly signal?: AbortSignal }): Promise<SettleResult> {
  const { delayMs, giveUpAfterMs } = deps.destination.settlement;
  const now = run.now();
  const events: SourceEvent[] = [];
  const stats = { checked: 0, settled: 0, lapsed: 0, ended: 0, unpaid: 0 };
  let afterId: number | undefined;
  for (;;) {
    const page = await deps.store.listKajabiEnrolments({ destination: deps.destinationName, status: 'pending', purchasedBefore: now - delayMs, ...(afterId !== undefined ? { afterId } : {}), limit: 200 });
    for (const enrolment of page) {
      run.signal?.throwIfAborted();
      stats.checked += 1;
      const found = await checkOne(client, enrolment, now, giveUpAfterMs);
      stats[found.kind] += 1;
      if (found.fact) events.push(eventOf(deps.destinationName, enrolment, found.id, found.fact, found.at));
    }
    if (page.length < 200) break;
    afterId = page.at(-1)?.id;
  }
  if (events.length > 0) await deps.ingest(SETTLE_POLLER, events);
  return stats;
}

type Found = { readonly kind: 'settled' | 'lapsed' | 'ended'; readonly id: string; readonly fact: KajabiFactInput; readonly at: number } | { readonly kind: 'unpaid'; readonly fact?: undefined; readonly id?: undefined; readonly at?: undefined };

async function checkOne(client: KajabiClient, enrolment: KajabiEnrolment, now: number, giveUpAfterMs: number): Promise<Found> {
  const purchase = enrolment.purchaseId !== null ? await unlessGone(client.getPurchase(enrolment.purchaseId)) : undefined;
  if (purchase?.deactivatedAt != null) {
    return { kind: 'ended', id: `deactivation:${purchase.id}:${purchase.deactivatedAt}`, fact: { kind: 'deactivation', offerId: enrolment.offerId, purchaseId: purchase.id, reason: purchase.deactivationReason, at: purchase.deactivatedAt }, at: purchase.deactivatedAt };
  }
  const transactionId = enrolment.transactionId ?? purchase?.transactionId ?? null;
  const transaction = transactionId !== null ? await unlessGone(client.getTransaction(transactionId)) : undefined;
  if (transaction && transaction.state === 'succeeded' && transaction.amountInCents >= 0 && (enrolment.purchaseId === null || purchase !== undefined)) {
    return { kind: 'settled', id: `settled:${transaction.id}`, fact: { kind: 'payment', transactionId: transaction.id, offerIds: [enrolment.offerId], purchaseIds: enrolment.purchaseId !== null ? [enrolment.purchaseId] : [], amountInCents: transaction.amountInCents, at: transaction.createdAt }, at: transaction.createdAt };
  }
  if (enrolment.purchasedAt !== null && now - enrolment.purchasedAt >= giveUpAfterMs) {
    const what = enrolment.purchaseId ?? enrolment.transactionId ?? 'unknown';
    return { kind: 'lapsed', id: `lapsed:${what}:${enrolment.offerId}`, fact: { kind: 'lapse', offerId: enrolment.offerId, ...(enrolment.purchaseId !== null ? { purchaseId: enrolment.purchaseId } : {}), at: now }, at: now };
  }
  return { kind: 'unpaid' };
}

function eventOf(destinationName: string, enrolment: KajabiEnrolment, id: string, fact: KajabiFactInput, at: number): SourceEvent {
  const person = { email: enrolment.email, ...(enrolment.customerId ? { customerId: enrolment.customerId } : {}), ...(enrolment.contactId ? { contactId: enrolment.contactId } : {}) };
  const params: EnrolParamsInput = { person, facts: [fact], origin: 'settlement' };
  return { type: fact.kind === 'payment' ? 'settled' : fact.kind, id, email: enrolment.email, orderKey: personOrderKey(destinationName, enrolment.email), occurredAt: at, payload: { enrolment: { offerId: enrolment.offerId, purchaseId: enrolment.purchaseId, transactionId: enrolment.transactionId }, fact }, jobs: [{ action: ENROL_ACTION, params }] };
}
