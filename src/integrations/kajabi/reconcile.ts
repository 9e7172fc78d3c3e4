/**
 * The nightly reconciliation (schedule `kajabi-reconcile:<destination>`, `reconcile.schedule`;
 * also `kitrelay kajabi reconcile`): Kajabi's purchases and transactions, read in full, against
 * the enrolment table and Kit's tags.
 *
 * 1. Kit's changed subscribers are pulled into the mirror first (when there is Kit access), so
 *    the tags compared are Kit's own.
 * 2. What Kajabi shows per person and offer: the newest purchase of the offer, `deactivated` when
 *    it has `deactivated_at`, `refunded` when a refund transaction names it, `granted` when its
 *    transaction succeeded (or it was free), else `pending` (`lapsed` past the settlement window).
 * 3. Each table row that differs (or is missing) gets a `state` fact: the row becomes what Kajabi
 *    shows. A row Kajabi has no purchase for, still granted or pending, is cancelled. Each mapped
 *    offer whose tag in the mirror disagrees with the status gets Kit rechecked.
 * 4. Corrections are queued as `enrol` jobs (origin `reconcile`, one per person, the reason with
 *    them); each job logs every correction it makes (what, why, before → after) as it makes it.
 *    The run's summary is one event, posted to Slack when `reconcile.slack` names a destination.
 *
 * Nothing is written here but events: a run killed half-way has queued some people's jobs or
 * none, and a rerun finds the same differences (those already applied are gone), so it comes to
 * the same table.
 */
import { randomUUID } from 'node:crypto';
import type { KajabiEnrolment, EnrolmentStatus } from '../../store/kajabi-types.js';
import type { ScheduleDeps, SourceEvent, SourceJob } from '../types.js';
import type { KajabiPurchaseRecord, KajabiTransactionRecord } from './client-records.js';
import type { KajabiClient } from './client.js';
import { ENROL_ACTION, normaliseEmail, personOrderKey, type EnrolParamsInput, type KajabiFactInput, type KajabiPerson } from './facts.js';
import { People } from './people.js';
import { isRefund } from './poll.js';
import type { KajabiDestinationConfig } from './schema.js';

export const RECONCILE_POLLER = 'kajabi-reconcile';

export interface ReconcileResult {
  readonly runId: string;
  readonly purchases: number;
  readonly transactions: number;
  readonly people: number;
  /** Enrolments whose row differed from Kajabi (queued to be corrected). */
  readonly statusCorrections: number;
  /** Mapped enrolments whose Kit tag disagreed (queued to be rechecked). */
  readonly kitCorrections: number;
  /** People with corrections queued. */
  readonly queued: number;
  readonly kitPull?: Readonly<Record<string, unknown>>;
  /** One line per correction queued (at most 200), for the CLI. */
  readonly corrections: readonly string[];
}

/** Customers compared per batch (one commit of their corrections). */
const CUSTOMER_BATCH = 100;

interface PersonWork {
  readonly person: KajabiPerson;
  readonly facts: KajabiFactInput[];
  readonly reasons: string[];
  recheckKit: boolean;
}

/** The person's entry in `work` (made on first use), with `reason` added. */
function note(work: Map<string, PersonWork>, person: KajabiPerson, reason: string): PersonWork {
  const email = normaliseEmail(person.email);
  let entry = work.get(email);
  if (!entry) {
    entry = { person, facts: [], reasons: [], recheckKit: false };
    work.set(email, entry);
  }
  entry.reasons.push(reason);
  return entry;
}

interface Truth {
  readonly status: EnrolmentStatus;
  readonly purchase: KajabiPurchaseRecord;
  readonly transaction?: KajabiTransactionRecord;
  readonly refund?: KajabiTransactionRecord;
}

export async function reconcile(deps: ScheduleDeps<KajabiDestinationConfig>, client: KajabiClient, run: { readonly now: () => number; readonly signal?: AbortSignal; readonly runId?: string; readonly progress?: (message: string) => void }): Promise<ReconcileResult> {
  const runId = run.runId ?? randomUUID();
  const now = run.now();
  const { destinationName, destination } = deps;
  const kitPull = await pullKit(deps, now, run.signal);
  run.progress?.('reading purchases and transactions from Kajabi');
  const siteId = await client.siteId();
  const purchases = await client.listPurchases({ siteId });
  const transactions = await client.listTransactions({ siteId });
  const titles = new Map((await client.all('/v1/offers', { 'filter[site_id]': siteId })).map((offer) => [offer.id, typeof offer.attributes?.['title'] === 'string' ? offer.attributes['title'] : undefined]));
  const byCustomer = kajabiTruth(purchases, transactions, now, destination.settlement.giveUpAfterMs);

  const rows = new Map<string, KajabiEnrolment>();
  for (let afterId: number | undefined; ; ) {
    const page = await deps.store.listKajabiEnrolments({ destination: destinationName, ...(afterId !== undefined ? { afterId } : {}), limit: 1000 });
    for (const row of page) rows.set(keyOf(row.email, row.offerId), row);
    if (page.length < 1000) break;
    afterId = page.at(-1)?.id;
  }

  const lines: string[] = [];
  const people = new People(client);
  const counts = { statusCorrections: 0, kitCorrections: 0, queued: 0, people: 0 };
  const commit = async (work: ReadonlyMap<string, PersonWork>, part: string): Promise<void> => {
    const events: SourceEvent[] = [...work.entries()].map(([email, entry]) => {
      const params: EnrolParamsInput = { person: entry.person, facts: entry.facts, origin: 'reconcile', reason: entry.reasons.join('; ').slice(0, 500), runId, recheckKit: entry.recheckKit };
      return { type: 'reconcile_correction', id: `reconcile:${runId}:${part}:${email}`, email, orderKey: personOrderKey(destinationName, email), occurredAt: now, payload: { runId, reasons: entry.reasons, facts: entry.facts }, jobs: [{ action: ENROL_ACTION, params }] };
    });
    if (events.length > 0) await deps.ingest(RECONCILE_POLLER, events);
    counts.queued += events.length;
  };

  // A batch of customers at a time: each batch's corrections are committed before the next is
  // read, so a long run killed half-way has queued what it found so far (a rerun finds the rest).
  const customers = [...byCustomer.entries()];
  for (let i = 0; i < customers.length; i += CUSTOMER_BATCH) {
    const work = new Map<string, PersonWork>();
    for (const [customerId, found] of customers.slice(i, i + CUSTOMER_BATCH)) {
      run.signal?.throwIfAborted();
      const person = await people.byCustomer(customerId);
      if (!person) continue;
      counts.people += 1;
      const email = normaliseEmail(person.email);
      for (const truth of found) {
        const key = keyOf(email, truth.purchase.offerId);
        const row = rows.get(key);
        rows.delete(key);
        if (!row || row.status !== truth.status || row.purchaseId !== truth.purchase.id) {
          counts.statusCorrections += 1;
          const why = `Kajabi shows ${truth.status} (purchase ${truth.purchase.id}); the table had ${row ? `${row.status}${row.purchaseId ? ` (purchase ${row.purchaseId})` : ''}` : 'no enrolment'}`;
          note(work, person, `${truth.purchase.offerId}: ${why}`).facts.push(stateFact(truth, titles.get(truth.purchase.offerId)));
          lines.push(`${email} offer ${truth.purchase.offerId}: ${why}`);
        }
        if (await kitDisagrees(deps, destination, email, truth.purchase.offerId, truth.status)) {
          counts.kitCorrections += 1;
          const why = `Kit's "${destination.offers[truth.purchase.offerId]?.tag ?? ''}" tag disagrees with ${truth.status}`;
          note(work, person, `${truth.purchase.offerId}: ${why}`).recheckKit = true;
          lines.push(`${email} offer ${truth.purchase.offerId}: ${why}`);
        }
      }
    }
    await commit(work, `c${i / CUSTOMER_BATCH}`);
    run.progress?.(`compared ${Math.min(i + CUSTOMER_BATCH, customers.length)} of ${customers.length} customers`);
  }

  // Rows Kajabi has no purchase for: access kitrelay recorded that Kajabi does not show.
  const orphans = new Map<string, PersonWork>();
  for (const row of rows.values()) {
    if (row.status !== 'granted' && row.status !== 'pending') continue;
    counts.statusCorrections += 1;
    const person: KajabiPerson = { email: row.email, ...(row.customerId ? { customerId: row.customerId } : {}), ...(row.contactId ? { contactId: row.contactId } : {}) };
    const why = `Kajabi has no purchase of it; the table had ${row.status}`;
    note(orphans, person, `${row.offerId}: ${why}`).facts.push({ kind: 'state', offerId: row.offerId, status: 'cancelled', purchaseId: row.purchaseId, transactionId: row.transactionId, amountInCents: row.amountInCents, purchasedAt: row.purchasedAt, settledAt: row.settledAt, endedAt: now, endReason: 'no purchase in Kajabi' });
    lines.push(`${row.email} offer ${row.offerId}: ${why}`);
  }
  await commit(orphans, 'gone');

  const result: ReconcileResult = { runId, purchases: purchases.length, transactions: transactions.length, ...counts, ...(kitPull ? { kitPull } : {}), corrections: lines.slice(0, 200) };
  await deps.ingest(RECONCILE_POLLER, [summaryEvent(destination, result, now)]);
  return result;
}

/** What Kajabi shows per customer and offer (the newest purchase of each), by customer id. */
function kajabiTruth(purchases: readonly KajabiPurchaseRecord[], transactions: readonly KajabiTransactionRecord[], now: number, giveUpAfterMs: number): Map<string, Truth[]> {
  const byId = new Map(transactions.map((t) => [t.id, t]));
  const refundOf = new Map<string, KajabiTransactionRecord>();
  for (const t of transactions) if (isRefund(t)) for (const id of t.purchaseIds) refundOf.set(id, t);
  const newest = new Map<string, KajabiPurchaseRecord>();
  for (const p of purchases) {
    const key = `${p.customerId}|${p.offerId}`;
    const seen = newest.get(key);
    if (!seen || p.createdAt > seen.createdAt || (p.createdAt === seen.createdAt && p.id > seen.id)) newest.set(key, p);
  }
  // Refunds that name no purchase: the customer's newest purchase of that offer made before it.
  for (const t of transactions) {
    if (!isRefund(t) || t.purchaseIds.length > 0 || t.offerId === null) continue;
    const p = newest.get(`${t.customerId}|${t.offerId}`);
    if (p && p.createdAt <= t.createdAt) refundOf.set(p.id, t);
  }
  const byCustomer = new Map<string, Truth[]>();
  for (const purchase of newest.values()) {
    const transaction = purchase.transactionId !== null ? byId.get(purchase.transactionId) : undefined;
    const refund = refundOf.get(purchase.id);
    const isPaid = purchase.amountInCents === 0 || transaction?.action === 'free_purchase' || transaction?.state === 'succeeded';
    const status: EnrolmentStatus = purchase.deactivatedAt !== null ? 'deactivated' : refund ? 'refunded' : isPaid ? 'granted' : now - purchase.createdAt >= giveUpAfterMs ? 'lapsed' : 'pending';
    const list = byCustomer.get(purchase.customerId) ?? [];
    list.push({ status, purchase, ...(transaction ? { transaction } : {}), ...(refund ? { refund } : {}) });
    byCustomer.set(purchase.customerId, list);
  }
  return byCustomer;
}

function stateFact(truth: Truth, offerTitle: string | undefined): KajabiFactInput {
  const { purchase, transaction, refund, status } = truth;
  const endedAt = status === 'deactivated' ? purchase.deactivatedAt : status === 'refunded' ? (refund?.createdAt ?? null) : null;
  const endReason = status === 'deactivated' ? (purchase.deactivationReason ?? 'deactivated') : status === 'refunded' ? 'refund' : status === 'lapsed' ? 'never settled' : null;
  return {
    kind: 'state',
    offerId: purchase.offerId,
    ...(offerTitle !== undefined ? { offerTitle } : {}),
    status,
    purchaseId: purchase.id,
    transactionId: purchase.transactionId,
    refundTransactionId: refund?.id ?? null,
    amountInCents: purchase.amountInCents,
    purchasedAt: purchase.createdAt,
    settledAt: status === 'pending' || status === 'lapsed' ? null : (transaction?.createdAt ?? purchase.createdAt),
    endedAt,
    endReason,
  };
}

/** Whether the mirror shows the offer's tag where the status says it should not, or lacks it where it should (the mirror's tags carry names). */
async function kitDisagrees(deps: ScheduleDeps<KajabiDestinationConfig>, destination: KajabiDestinationConfig, email: string, offerId: string, status: EnrolmentStatus): Promise<boolean> {
  const mapping = Object.hasOwn(destination.offers, offerId) ? destination.offers[offerId] : undefined;
  if (!mapping) return false;
  const subscriber = await deps.store.getSubscriberByEmail(email);
  // Not in the mirror: Kit's tags are unknown here (the enrol job tags by email whatever the mirror holds).
  if (!subscriber) return false;
  const hasTag = subscriber.tags.some((t) => t.name?.trim().toLowerCase() === mapping.tag.toLowerCase());
  return status === 'granted' ? !hasTag : hasTag;
}

/** Kit's changes since the last pull, into the mirror; a failure leaves the mirror as webhooks keep it (noted). */
async function pullKit(deps: ScheduleDeps<KajabiDestinationConfig>, startedAt: number, signal: AbortSignal | undefined): Promise<Record<string, unknown> | undefined> {
  if (!deps.kit) return undefined;
  const cursor = deps.cursor('kajabi-kit-pull');
  const saved = await cursor.load();
  const since = saved !== null && /^\d+$/.test(saved) ? Number(saved) : undefined;
  try {
    const result = await deps.kit.pull({ ...(since !== undefined ? { since } : {}), ...(signal ? { signal } : {}) });
    await cursor.save(String(startedAt));
    return { ...result };
  } catch (error) {
    signal?.throwIfAborted();
    return { error: error instanceof Error ? error.message : String(error), note: 'Kit tags were compared with the mirror as webhooks keep it' };
  }
}

function summaryEvent(destination: KajabiDestinationConfig, result: ReconcileResult, now: number): SourceEvent {
  const title = `Kajabi reconciliation: ${result.statusCorrections} enrolment corrections, ${result.kitCorrections} Kit tag corrections (${result.purchases} purchases, ${result.people} people)`;
  const slack = destination.reconcile.slack;
  const jobs: SourceJob[] = slack ? [{ destination: slack.destination, action: 'post', params: { channel: slack.channel, title } }] : [];
  return { type: 'reconcile_summary', id: `reconcile:${result.runId}`, occurredAt: now, payload: { ...result, corrections: result.corrections.slice(0, 20), summary: title }, jobs };
}

function keyOf(email: string, offerId: string): string {
  return `${normaliseEmail(email)}|${offerId}`;
}
