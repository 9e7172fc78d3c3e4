/**
 * What Kajabi tells kitrelay about one person's access to offers, whichever way it arrived (a
 * public-API hook, a dashboard webhook, the refund poller, the settlement check, the nightly
 * reconciliation): a **fact**. Every source turns what it read into facts and queues them as one
 * `enrol` job per person (ordered by the person's email), which applies them to the enrolment
 * table and brings Kit's tags in line (enrol.ts). Facts are idempotent: applying one twice, or an
 * older one after a newer one, changes nothing (enrolment.ts decides).
 */
import { z } from 'zod';
import { ENROLMENT_STATUSES } from '../../store/kajabi-types.js';

const id = z.string().min(1).max(64);

export const personSchema = z
  .object({
    email: z.string().min(3).max(320),
    name: z.string().max(500).optional(),
    contactId: id.optional(),
    customerId: id.optional(),
  })
  .strict();

export const factSchema = z.discriminatedUnion('kind', [
  /** A checkout of one offer (a bundle: one fact per offer, one transaction). */
  z
    .object({
      kind: z.literal('purchase'),
      offerId: id,
      offerTitle: z.string().max(500).optional(),
      purchaseId: id.optional(),
      transactionId: id.optional(),
      amountInCents: z.number().int().optional(),
      /** Free or fully discounted: settled at once. */
      isFree: z.boolean(),
      /** The payment is already known to have succeeded (a settlement check, a reconciliation). */
      isPaid: z.boolean().default(false),
      at: z.number().int(),
    })
    .strict(),
  /** A payment succeeded for a transaction (`payment_succeeded`, `payment.succeeded`): its purchases settle. */
  z
    .object({
      kind: z.literal('payment'),
      transactionId: id,
      /** The offers it paid for, where the sender listed them (a bundle lists several). */
      offerIds: z.array(id).default([]),
      purchaseIds: z.array(id).default([]),
      amountInCents: z.number().int().optional(),
      at: z.number().int(),
    })
    .strict(),
  /** A refund transaction (`action: refund`, a negative amount) of one offer's purchase. */
  z.object({ kind: z.literal('refund'), offerId: id, purchaseId: id.optional(), transactionId: id, amountInCents: z.number().int().optional(), at: z.number().int() }).strict(),
  /** A purchase's access ended (`deactivated_at`). */
  z.object({ kind: z.literal('deactivation'), offerId: id, purchaseId: id, reason: z.string().max(500).nullable().default(null), at: z.number().int() }).strict(),
  /** A deactivated purchase is active again (a reconciliation saw `deactivated_at` cleared). */
  z.object({ kind: z.literal('reactivation'), offerId: id, purchaseId: id, at: z.number().int() }).strict(),
  /** A subscription was cancelled (kept for any event that says so; Kajabi's hooks have none). */
  z.object({ kind: z.literal('cancellation'), offerId: id, purchaseId: id.optional(), at: z.number().int() }).strict(),
  /**
   * What Kajabi's API shows today for the offer, taken as it is (the reconciliation's correction):
   * the enrolment becomes exactly this, whatever it was.
   */
  z
    .object({
      kind: z.literal('state'),
      offerId: id,
      offerTitle: z.string().max(500).optional(),
      status: z.enum(ENROLMENT_STATUSES),
      purchaseId: id.nullable(),
      transactionId: id.nullable(),
      refundTransactionId: id.nullable().default(null),
      amountInCents: z.number().int().nullable().default(null),
      purchasedAt: z.number().int().nullable(),
      settledAt: z.number().int().nullable().default(null),
      endedAt: z.number().int().nullable().default(null),
      endReason: z.string().max(500).nullable().default(null),
    })
    .strict(),
  /** An unpaid purchase older than the settlement window: it will never be tagged. */
  z.object({ kind: z.literal('lapse'), offerId: id, purchaseId: id.optional(), at: z.number().int() }).strict(),
]);

export type KajabiPerson = z.output<typeof personSchema>;
export type KajabiFact = z.output<typeof factSchema>;
export type KajabiFactInput = z.input<typeof factSchema>;

/** What made a job's facts: shown in the enrolment's history and the correction log. */
export const FACT_ORIGINS = ['hook', 'dashboard', 'poll', 'settlement', 'reconcile', 'manual'] as const;
export type FactOrigin = (typeof FACT_ORIGINS)[number];

export const ENROL_ACTION = 'enrol';

/** The `enrol` job's params: one person's facts, in the order they happened. */
export const enrolParamsSchema = z
  .object({
    person: personSchema,
    facts: z.array(factSchema).max(100),
    origin: z.enum(FACT_ORIGINS),
    /** Why (the reconciliation's reason for each correction; shown in the log). */
    reason: z.string().max(500).optional(),
    /** The reconciliation run that found them, for the correction log. */
    runId: z.string().max(100).optional(),
    /**
     * Kit's tags as the reconciliation saw them drift: write the offer tags (and remove them) again
     * even where kitrelay's record says Kit already shows them.
     */
    recheckKit: z.boolean().default(false),
  })
  .strict();

export type EnrolParams = z.output<typeof enrolParamsSchema>;
export type EnrolParamsInput = z.input<typeof enrolParamsSchema>;

/** The ordering key of one person's jobs: every enrolment change for them runs one at a time. */
export function personOrderKey(destinationName: string, email: string): string {
  return `kajabi:${destinationName}:${normaliseEmail(email)}`;
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
