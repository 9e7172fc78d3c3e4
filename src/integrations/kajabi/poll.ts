/**
 * Refunds and deactivations, which Kajabi sends no webhook for (reference/destinations.md §5.1):
 * found by polling, on the schedule `kajabi-poll:<destination>`.
 *
 * - Refunds: `GET /v1/transactions` with `filter[start_date]` from the durable cursor less
 *   `poll.overlapMs` (a transaction may become visible late), keeping `action: refund` or a
 *   negative amount; one refund fact per purchase (offer) it refunds.
 * - Deactivations: `GET /v1/purchases` has no "changed since" filter (§5.3 documents none), so
 *   every page is read and purchases deactivated since the same point are kept.
 *
 * What is found is committed as events with `enrol` jobs (one per person), deduplicated by id
 * (`refund:<transaction>:<offer>`, `deactivation:<purchase>:<time>`): a poll that reads the same
 * window again after a crash or by the overlap makes no second job. The cursor moves to the run's
 * start only once everything found is committed.
 */
import type { ScheduleDeps, SourceEvent } from '../types.js';
import { unlessGone } from './client-errors.js';
import type { KajabiPurchaseRecord, KajabiTransactionRecord } from './client-records.js';
import type { KajabiClient } from './client.js';
import { ENROL_ACTION, personOrderKey, type EnrolParamsInput, type KajabiFactInput } from './facts.js';
import { People } from './people.js';
import type { KajabiDestinationConfig } from './schema.js';

export const POLL_CURSOR = 'kajabi-poll';
/** A first poll looks back this far (later ones start where the last ended). */
export const FIRST_POLL_LOOKBACK_MS = 86_400_000;

export interface PollResult {
  readonly refunds: number;
  readonly deactivations: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly since: number;
}

export async function pollEndings(deps: ScheduleDeps<KajabiDestinationConfig>, client: KajabiClient, run: { readonly now: () => number; readonly signal?: AbortSignal }): Promise<PollResult> {
  const cursor = deps.cursor(POLL_CURSOR);
  const startedAt = run.now();
  const saved = await cursor.load();
  const last = saved !== null && /^\d+$/.test(saved) ? Number(saved) : startedAt - FIRST_POLL_LOOKBACK_MS;
  const since = last - deps.destination.poll.overlapMs;
  const siteId = await client.siteId();
  const people = new People(client);
  const events: SourceEvent[] = [];

  const transactions = await client.listTransactions({ siteId, startDate: since });
  const refunds = transactions.filter(isRefund);
  for (const refund of refunds) {
    run.signal?.throwIfAborted();
    const person = await people.byCustomer(refund.customerId);
    if (!person) continue;
    const offers = await offersOf(client, refund);
    const facts: KajabiFactInput[] = offers.map((o) => ({ kind: 'refund', offerId: o.offerId, ...(o.purchaseId ? { purchaseId: o.purchaseId } : {}), transactionId: refund.id, amountInCents: refund.amountInCents, at: refund.createdAt }));
    if (facts.length === 0) continue;
    events.push(endingEvent('refund', `refund:${refund.id}`, deps.destinationName, person, facts, refund.createdAt));
  }

  let deactivations = 0;
  for (const purchase of await client.listPurchases({ siteId })) {
    if (purchase.deactivatedAt === null || purchase.deactivatedAt < since) continue;
    run.signal?.throwIfAborted();
    const person = await people.byCustomer(purchase.customerId);
    if (!person) continue;
    deactivations += 1;
    const fact: KajabiFactInput = { kind: 'deactivation', offerId: purchase.offerId, purchaseId: purchase.id, reason: purchase.deactivationReason, at: purchase.deactivatedAt };
    events.push(endingEvent('deactivation', `deactivation:${purchase.id}:${purchase.deactivatedAt}`, deps.destinationName, person, [fact], purchase.deactivatedAt));
  }

  const ingested = events.length > 0 ? await deps.ingest(POLL_CURSOR, events) : { accepted: 0, duplicates: 0, jobs: 0 };
  await cursor.save(String(startedAt));
  return { refunds: refunds.length, deactivations, accepted: ingested.accepted, duplicates: ingested.duplicates, since };
}

export function isRefund(transaction: KajabiTransactionRecord): boolean {
  return transaction.action === 'refund' || transaction.amountInCents < 0;
}

/** The offers (and purchases) a transaction is about: its purchases, else its offer. */
export async function offersOf(client: KajabiClient, transaction: KajabiTransactionRecord): Promise<Array<{ readonly offerId: string; readonly purchaseId?: string }>> {
  if (transaction.purchaseIds.length > 0) {
    const found: Array<{ offerId: string; purchaseId?: string }> = [];
    for (const id of transaction.purchaseIds) {
      const purchase: KajabiPurchaseRecord | undefined = await unlessGone(client.getPurchase(id));
      if (purchase) found.push({ offerId: purchase.offerId, purchaseId: purchase.id });
    }
    return found;
  }
  return transaction.offerId !== null ? [{ offerId: transaction.offerId }] : [];
}

function endingEvent(type: string, id: string, destinationName: string, person: { readonly email: string; readonly name?: string; readonly customerId?: string; readonly contactId?: string }, facts: KajabiFactInput[], at: number): SourceEvent {
  const params: EnrolParamsInput = { person, facts, origin: 'poll' };
  return { type, id, email: person.email, orderKey: personOrderKey(destinationName, person.email), occurredAt: at, payload: { facts }, jobs: [{ action: ENROL_ACTION, params }] };
}
