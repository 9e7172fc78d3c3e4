/**
 * How facts change one person's enrolments (facts.ts; words: store/kajabi-types.ts). Pure: the
 * `enrol` action reads the rows, applies the facts here and writes what changed.
 *
 * The rules, per offer:
 * - A purchase makes the enrolment `pending`, or `granted` at once when free or already paid. The
 *   same purchase seen again (another webhook system, a retry, a copy) only fills in ids; a new
 *   purchase of an offer whose enrolment ended starts it again.
 * - A payment settles the pending enrolments it paid for (by transaction or purchase id, else by
 *   offer); one that arrives before its purchase grants the offers it names.
 * - A refund, a deactivation, a cancellation ends a `pending` or `granted` enrolment of that
 *   purchase; a lapse ends a `pending` one. A reactivation grants a deactivated one again.
 * - Facts about another purchase of the offer than the enrolment's (an older one) change nothing:
 *   late and out-of-order deliveries cannot undo what a newer fact did.
 */
import type { EnrolmentStatus, KajabiEnrolmentInput } from '../../store/kajabi-types.js';
import { normaliseEmail, type FactOrigin, type KajabiFact, type KajabiPerson } from './facts.js';

/** One field an application of facts changed, for the correction log and the job's record. */
export interface EnrolmentChange {
  readonly offerId: string;
  readonly what: string;
  readonly before: string | null;
  readonly after: string | null;
}

export interface Applied {
  /** Every enrolment of the person after the facts, changed or not, by offer id. */
  readonly enrolments: Map<string, KajabiEnrolmentInput>;
  /** Offer ids whose enrolment changed. */
  readonly changed: Set<string>;
  readonly changes: EnrolmentChange[];
}

const ENDED: ReadonlySet<EnrolmentStatus> = new Set(['refunded', 'deactivated', 'cancelled', 'lapsed']);

export function isEnded(status: EnrolmentStatus): boolean {
  return ENDED.has(status);
}

export function applyFacts(
  destination: string,
  person: KajabiPerson,
  current: readonly KajabiEnrolmentInput[],
  facts: readonly KajabiFact[],
  origin: FactOrigin,
): Applied {
  const email = normaliseEmail(person.email);
  const enrolments = new Map(current.map((e) => [e.offerId, e]));
  const changed = new Set<string>();
  const changes: EnrolmentChange[] = [];

  const put = (next: KajabiEnrolmentInput, before: KajabiEnrolmentInput | undefined): void => {
    const fields = ['status', 'purchaseId', 'transactionId', 'refundTransactionId', 'contactId', 'customerId', 'offerTitle', 'amountInCents', 'endReason'] as const;
    let isChanged = before === undefined;
    for (const field of fields) {
      const was = before?.[field] ?? null;
      const now = next[field] ?? null;
      if (was === now) continue;
      isChanged = true;
      if (field === 'status' || field === 'purchaseId') changes.push({ offerId: next.offerId, what: field, before: was === null ? null : String(was), after: now === null ? null : String(now) });
    }
    if (!isChanged) return;
    enrolments.set(next.offerId, { ...next, changedBy: origin });
    changed.add(next.offerId);
  };

  const fresh = (offerId: string): KajabiEnrolmentInput => ({
    destination,
    email,
    offerId,
    offerTitle: null,
    status: 'pending',
    purchaseId: null,
    transactionId: null,
    refundTransactionId: null,
    contactId: person.contactId ?? null,
    customerId: person.customerId ?? null,
    kitSubscriberId: null,
    amountInCents: null,
    purchasedAt: null,
    settledAt: null,
    endedAt: null,
    endReason: null,
    kitTagged: null,
    kitSyncedAt: null,
    isStopApplied: false,
    changedBy: origin,
  });

  /** The person's ids fill in what the row lacks (a later webhook knows the contact). */
  const withPerson = (e: KajabiEnrolmentInput): KajabiEnrolmentInput => ({ ...e, contactId: e.contactId ?? person.contactId ?? null, customerId: e.customerId ?? person.customerId ?? null });

  for (const fact of facts) {
    switch (fact.kind) {
      case 'purchase': {
        const before = enrolments.get(fact.offerId);
        const settles = fact.isFree || fact.isPaid;
        const same = before !== undefined && isSamePurchase(before, fact.purchaseId, fact.transactionId);
        if (before !== undefined && (same || before.status === 'granted' || (before.status === 'pending' && (before.purchaseId === null || fact.purchaseId === undefined)))) {
          // The same purchase again, or another while access is on: fill in what was missing.
          const status: EnrolmentStatus = before.status === 'pending' && settles ? 'granted' : before.status;
          put(
            withPerson({
              ...before,
              status,
              purchaseId: before.purchaseId ?? fact.purchaseId ?? null,
              transactionId: before.transactionId ?? fact.transactionId ?? null,
              offerTitle: fact.offerTitle ?? before.offerTitle,
              amountInCents: before.amountInCents ?? fact.amountInCents ?? null,
              purchasedAt: before.purchasedAt ?? fact.at,
              settledAt: status === 'granted' ? (before.settledAt ?? fact.at) : before.settledAt,
            }),
            before,
          );
          break;
        }
        if (before !== undefined && isEnded(before.status) && before.purchasedAt !== null && fact.at < before.purchasedAt) break; // an older purchase than the one that ended
        put(
          {
            ...fresh(fact.offerId),
            ...(before ? { kitTagged: before.kitTagged, kitSyncedAt: before.kitSyncedAt, kitSubscriberId: before.kitSubscriberId } : {}),
            contactId: person.contactId ?? before?.contactId ?? null,
            customerId: person.customerId ?? before?.customerId ?? null,
            status: settles ? 'granted' : 'pending',
            offerTitle: fact.offerTitle ?? before?.offerTitle ?? null,
            purchaseId: fact.purchaseId ?? null,
            transactionId: fact.transactionId ?? null,
            amountInCents: fact.amountInCents ?? null,
            purchasedAt: fact.at,
            settledAt: settles ? fact.at : null,
          },
          before,
        );
        break;
      }
      case 'payment': {
        let matched = false;
        for (const before of enrolments.values()) {
          const isPaidHere = before.transactionId === fact.transactionId || (before.purchaseId !== null && fact.purchaseIds.includes(before.purchaseId));
          if (!isPaidHere) continue;
          matched = true;
          if (before.status !== 'pending') continue;
          put(withPerson({ ...before, status: 'granted', settledAt: fact.at, transactionId: before.transactionId ?? fact.transactionId }), before);
        }
        if (matched) break;
        for (const offerId of fact.offerIds) {
          const before = enrolments.get(offerId);
          if (before?.status === 'granted') continue;
          if (before?.status === 'pending' && before.transactionId === null) {
            put(withPerson({ ...before, status: 'granted', settledAt: fact.at, transactionId: fact.transactionId }), before);
            continue;
          }
          if (before !== undefined && before.purchasedAt !== null && fact.at < before.purchasedAt) continue;
          // Paid before its purchase was seen (out of order), or a new purchase of an ended offer.
          put({ ...fresh(offerId), ...(before ? { kitTagged: before.kitTagged, kitSyncedAt: before.kitSyncedAt, kitSubscriberId: before.kitSubscriberId } : {}), status: 'granted', transactionId: fact.transactionId, purchasedAt: fact.at, settledAt: fact.at }, before);
        }
        break;
      }
      case 'refund':
      case 'deactivation':
      case 'cancellation':
      case 'lapse': {
        const before = enrolments.get(fact.offerId);
        if (!before) break;
        const canEnd = fact.kind === 'lapse' ? before.status === 'pending' : before.status === 'pending' || before.status === 'granted';
        if (!canEnd || !isSamePurchase(before, fact.purchaseId, undefined)) break;
        if (before.purchasedAt !== null && fact.at < before.purchasedAt && fact.purchaseId === undefined) break;
        const status: EnrolmentStatus = { refund: 'refunded', deactivation: 'deactivated', cancellation: 'cancelled', lapse: 'lapsed' }[fact.kind] as EnrolmentStatus;
        const endReason = fact.kind === 'deactivation' ? (fact.reason ?? 'deactivated') : fact.kind === 'lapse' ? 'never settled' : fact.kind === 'refund' ? 'refund' : 'cancelled';
        put(withPerson({ ...before, status, endedAt: fact.at, endReason, purchaseId: before.purchaseId ?? fact.purchaseId ?? null, refundTransactionId: fact.kind === 'refund' ? fact.transactionId : before.refundTransactionId }), before);
        break;
      }
      case 'state': {
        const before = enrolments.get(fact.offerId);
        const base = before ?? fresh(fact.offerId);
        const isRegranted = fact.status === 'granted' && base.status !== 'granted';
        put(
          withPerson({
            ...base,
            status: fact.status,
            offerTitle: fact.offerTitle ?? base.offerTitle,
            purchaseId: fact.purchaseId,
            transactionId: fact.transactionId,
            refundTransactionId: fact.refundTransactionId,
            amountInCents: fact.amountInCents,
            purchasedAt: fact.purchasedAt,
            settledAt: fact.settledAt,
            endedAt: fact.endedAt,
            endReason: fact.endReason,
            isStopApplied: isRegranted ? false : base.isStopApplied,
          }),
          before,
        );
        break;
      }
      case 'reactivation': {
        const before = enrolments.get(fact.offerId);
        if (!before || before.status !== 'deactivated' || before.purchaseId !== fact.purchaseId) break;
        put(withPerson({ ...before, status: 'granted', endedAt: null, endReason: null, isStopApplied: false, settledAt: before.settledAt ?? fact.at }), before);
        break;
      }
    }
  }
  return { enrolments, changed, changes };
}

/** Whether a fact naming `purchaseId` / `transactionId` is about the enrolment's purchase (unknown ids match). */
function isSamePurchase(enrolment: KajabiEnrolmentInput, purchaseId: string | undefined, transactionId: string | undefined): boolean {
  if (purchaseId !== undefined && enrolment.purchaseId !== null) return purchaseId === enrolment.purchaseId;
  if (transactionId !== undefined && enrolment.transactionId !== null) return transactionId === enrolment.transactionId;
  return true;
}
