/**
 * Kajabi enrolments in the store (issue 12): what Kajabi says today about each person's access to
 * each offer, the one source of truth Kit's tags are derived from, and the log of every correction
 * the reconciliation made.
 *
 * More words (the glossary in types.ts has the rest):
 *
 * - **enrolment**: one person (by normalised email) in one offer on one Kajabi destination. Its
 *   **status**: `pending` (bought, payment not settled: no access in Kit yet), `granted` (settled),
 *   `refunded`, `deactivated`, `cancelled`, `lapsed` (never settled within the window). A new
 *   purchase of the same offer after an ending makes it pending or granted again.
 * - **Kit state**: what kitrelay last made Kit show for the enrolment: its offer tag present
 *   (`kitTagged` true), removed (false) or never written (null), and whether the stop action was
 *   applied for its current ending.
 * - **correction**: a change the reconciliation made because the table, or Kit, disagreed with
 *   Kajabi: what (the field), why, before → after.
 */

export const ENROLMENT_STATUSES = ['pending', 'granted', 'refunded', 'deactivated', 'cancelled', 'lapsed'] as const;
export type EnrolmentStatus = (typeof ENROLMENT_STATUSES)[number];

export interface KajabiEnrolmentInput {
  readonly destination: string;
  /** Normalised (trimmed, lower case). */
  readonly email: string;
  readonly offerId: string;
  readonly offerTitle: string | null;
  readonly status: EnrolmentStatus;
  readonly purchaseId: string | null;
  /** The transaction that paid for it. */
  readonly transactionId: string | null;
  /** The refund's transaction, when refunded. */
  readonly refundTransactionId: string | null;
  readonly contactId: string | null;
  readonly customerId: string | null;
  readonly kitSubscriberId: number | null;
  readonly amountInCents: number | null;
  /** Epoch ms, Kajabi's times where it gave them. */
  readonly purchasedAt: number | null;
  readonly settledAt: number | null;
  readonly endedAt: number | null;
  /** Why it ended (`refund`, a deactivation reason, `cancelled`, `never settled`). */
  readonly endReason: string | null;
  /** Kit shows the offer's tag (true), not (false), never written (null). */
  readonly kitTagged: boolean | null;
  readonly kitSyncedAt: number | null;
  /** The stop action was applied for the current ending. */
  readonly isStopApplied: boolean;
  /** What made the last change: hook, dashboard, poll, settlement, reconcile, manual. */
  readonly changedBy: string;
}

export interface KajabiEnrolment extends KajabiEnrolmentInput {
  readonly id: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface KajabiCorrectionInput {
  readonly destination: string;
  /** The reconciliation run (null for a correction made outside one). */
  readonly runId: string | null;
  readonly email: string;
  readonly offerId: string;
  /** The field corrected: `status`, `kit_tag`, … */
  readonly what: string;
  readonly why: string;
  readonly before: string | null;
  readonly after: string | null;
}

export interface KajabiCorrection extends KajabiCorrectionInput {
  readonly id: number;
  readonly at: number;
}

export interface KajabiEnrolmentFilter {
  readonly destination?: string;
  /** Normalised email. */
  readonly email?: string;
  readonly offerId?: string;
  readonly status?: EnrolmentStatus;
  /** Only enrolments whose purchase is older than this (epoch ms): the settlement check's pending ones. */
  readonly purchasedBefore?: number;
  /** Paging: ids greater than this, ascending. */
  readonly afterId?: number;
  readonly limit: number;
}

export interface KajabiCorrectionFilter {
  readonly destination?: string;
  readonly runId?: string;
  readonly email?: string;
  /** Paging: ids less than this, newest first. */
  readonly beforeId?: number;
  readonly limit: number;
}

export interface KajabiStore {
  /** One person's enrolments on one destination, in offer id order (the address is normalised first). */
  getKajabiEnrolments(destination: string, email: string): Promise<KajabiEnrolment[]>;
  /**
   * Writes enrolments (insert or replace, keyed by destination, email and offer) and appends
   * corrections, all in one transaction: if any part fails, nothing is written. A replaced
   * enrolment keeps its id and `createdAt`; `updatedAt` (and a new one's `createdAt`) and each
   * correction's `at` are `now`. Addresses are normalised before they are stored.
   */
  saveKajabiEnrolments(enrolments: readonly KajabiEnrolmentInput[], corrections: readonly KajabiCorrectionInput[], now: number): Promise<void>;
  /** Enrolments matching every filter given, ascending by id (page on with `afterId`). */
  listKajabiEnrolments(filter: KajabiEnrolmentFilter): Promise<KajabiEnrolment[]>;
  /** Per status, the destination's enrolments: every status is a key (0 when none). */
  countKajabiEnrolments(destination: string): Promise<Readonly<Record<EnrolmentStatus, number>>>;
  /** Corrections matching every filter given, newest first (page on with `beforeId`). */
  listKajabiCorrections(filter: KajabiCorrectionFilter): Promise<KajabiCorrection[]>;
}
