/**
 * Kajabi enrolments (migration 011; words in kajabi-types.ts): one row per person, offer and
 * destination, rewritten in place as Kajabi's view changes, and the append-only log of the
 * corrections the reconciliation made.
 *
 * Emails are normalised here too (trimmed, lower case), on every write and lookup: the port asks
 * callers for normalised addresses, and erasure finds a person by the normalised one, so an
 * address that slipped through unnormalised must neither split a person in two nor escape erasure.
 */
import type { Database, Statement } from 'better-sqlite3';
import {
  ENROLMENT_STATUSES,
  type EnrolmentStatus,
  type KajabiCorrection,
  type KajabiCorrectionFilter,
  type KajabiCorrectionInput,
  type KajabiEnrolment,
  type KajabiEnrolmentFilter,
  type KajabiEnrolmentInput,
} from '../kajabi-types.js';
import { StatementCache } from './statements.js';

interface EnrolmentRow {
  id: number;
  destination: string;
  email: string;
  offer_id: string;
  offer_title: string | null;
  status: EnrolmentStatus;
  purchase_id: string | null;
  transaction_id: string | null;
  refund_transaction_id: string | null;
  contact_id: string | null;
  customer_id: string | null;
  kit_subscriber_id: number | null;
  amount_in_cents: number | null;
  purchased_at: number | null;
  settled_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
  kit_tagged: number | null;
  kit_synced_at: number | null;
  is_stop_applied: number;
  changed_by: string;
  created_at: number;
  updated_at: number;
}

interface CorrectionRow {
  id: number;
  destination: string;
  run_id: string | null;
  email: string;
  offer_id: string;
  what: string;
  why: string;
  before: string | null;
  after: string | null;
  at: number;
}

/** The upsert's parameters: the row's columns without the ones the store keeps (id, created_at). */
type EnrolmentParams = Omit<EnrolmentRow, 'id' | 'created_at' | 'updated_at'> & { now: number };

const normalise = (email: string): string => email.trim().toLowerCase();
const pageLimit = (limit: number): number => Math.max(1, Math.trunc(limit));

const enrolmentOf = (row: EnrolmentRow): KajabiEnrolment => ({
  id: row.id,
  destination: row.destination,
  email: row.email,
  offerId: row.offer_id,
  offerTitle: row.offer_title,
  status: row.status,
  purchaseId: row.purchase_id,
  transactionId: row.transaction_id,
  refundTransactionId: row.refund_transaction_id,
  contactId: row.contact_id,
  customerId: row.customer_id,
  kitSubscriberId: row.kit_subscriber_id,
  amountInCents: row.amount_in_cents,
  purchasedAt: row.purchased_at,
  settledAt: row.settled_at,
  endedAt: row.ended_at,
  endReason: row.end_reason,
  kitTagged: row.kit_tagged === null ? null : row.kit_tagged === 1,
  kitSyncedAt: row.kit_synced_at,
  isStopApplied: row.is_stop_applied === 1,
  changedBy: row.changed_by,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const paramsOf = (input: KajabiEnrolmentInput, now: number): EnrolmentParams => ({
  destination: input.destination,
  email: normalise(input.email),
  offer_id: input.offerId,
  offer_title: input.offerTitle,
  status: input.status,
  purchase_id: input.purchaseId,
  transaction_id: input.transactionId,
  refund_transaction_id: input.refundTransactionId,
  contact_id: input.contactId,
  customer_id: input.customerId,
  kit_subscriber_id: input.kitSubscriberId,
  amount_in_cents: input.amountInCents,
  purchased_at: input.purchasedAt,
  settled_at: input.settledAt,
  ended_at: input.endedAt,
  end_reason: input.endReason,
  kit_tagged: input.kitTagged === null ? null : input.kitTagged ? 1 : 0,
  kit_synced_at: input.kitSyncedAt,
  is_stop_applied: input.isStopApplied ? 1 : 0,
  changed_by: input.changedBy,
  now,
});

const correctionOf = (row: CorrectionRow): KajabiCorrection => ({
  id: row.id,
  destination: row.destination,
  runId: row.run_id,
  email: row.email,
  offerId: row.offer_id,
  what: row.what,
  why: row.why,
  before: row.before,
  after: row.after,
  at: row.at,
});

/** Every column the upsert writes from the input; the conflict rewrites them all. */
const WRITTEN = [
  'offer_title',
  'status',
  'purchase_id',
  'transaction_id',
  'refund_transaction_id',
  'contact_id',
  'customer_id',
  'kit_subscriber_id',
  'amount_in_cents',
  'purchased_at',
  'settled_at',
  'ended_at',
  'end_reason',
  'kit_tagged',
  'kit_synced_at',
  'is_stop_applied',
  'changed_by',
] as const;

export class KajabiOps {
  readonly #statements: StatementCache;
  readonly #upsert: Statement<EnrolmentParams>;
  readonly #insertCorrection: Statement<Omit<CorrectionRow, 'id'>>;
  readonly #byPerson: Statement<{ destination: string; email: string }, EnrolmentRow>;
  readonly #countByStatus: Statement<[string], { status: EnrolmentStatus; n: number }>;

  constructor(db: Database) {
    this.#statements = new StatementCache(db);
    // The existing row keeps its id and created_at; everything Kajabi and Kit say is replaced.
    this.#upsert = db.prepare(`
      INSERT INTO kajabi_enrolments (destination, email, offer_id, ${WRITTEN.join(', ')}, created_at, updated_at)
      VALUES (@destination, @email, @offer_id, ${WRITTEN.map((c) => `@${c}`).join(', ')}, @now, @now)
      ON CONFLICT (destination, email, offer_id) DO UPDATE SET
        ${WRITTEN.map((c) => `${c} = excluded.${c}`).join(', ')}, updated_at = excluded.updated_at`);
    this.#insertCorrection = db.prepare(`
      INSERT INTO kajabi_corrections (destination, run_id, email, offer_id, what, why, before, after, at)
      VALUES (@destination, @run_id, @email, @offer_id, @what, @why, @before, @after, @at)`);
    this.#byPerson = db.prepare('SELECT * FROM kajabi_enrolments WHERE destination = @destination AND email = @email ORDER BY offer_id');
    this.#countByStatus = db.prepare('SELECT status, count(*) AS n FROM kajabi_enrolments WHERE destination = ? GROUP BY status');
  }

  getEnrolments(destination: string, email: string): KajabiEnrolment[] {
    return this.#byPerson.all({ destination, email: normalise(email) }).map(enrolmentOf);
  }

  /** Runs inside the batch transaction (core.ts), so the enrolments and corrections land together. */
  saveEnrolments(enrolments: readonly KajabiEnrolmentInput[], corrections: readonly KajabiCorrectionInput[], now: number): void {
    for (const enrolment of enrolments) this.#upsert.run(paramsOf(enrolment, now));
    for (const correction of corrections) {
      this.#insertCorrection.run({
        destination: correction.destination,
        run_id: correction.runId,
        email: normalise(correction.email),
        offer_id: correction.offerId,
        what: correction.what,
        why: correction.why,
        before: correction.before,
        after: correction.after,
        at: now,
      });
    }
  }

  listEnrolments(filter: KajabiEnrolmentFilter): KajabiEnrolment[] {
    const where = new Where();
    where.add('destination = @destination', 'destination', filter.destination);
    where.add('email = @email', 'email', filter.email === undefined ? undefined : normalise(filter.email));
    where.add('offer_id = @offerId', 'offerId', filter.offerId);
    where.add('status = @status', 'status', filter.status);
    // No purchase time: not older than anything.
    where.add('purchased_at < @purchasedBefore', 'purchasedBefore', filter.purchasedBefore);
    where.add('id > @afterId', 'afterId', filter.afterId);
    const sql = `SELECT * FROM kajabi_enrolments ${where.sql()} ORDER BY id LIMIT @limit`;
    return (this.#statements.get(sql).all({ ...where.params, limit: pageLimit(filter.limit) }) as EnrolmentRow[]).map(enrolmentOf);
  }

  countEnrolments(destination: string): Record<EnrolmentStatus, number> {
    const counts = Object.fromEntries(ENROLMENT_STATUSES.map((status) => [status, 0])) as Record<EnrolmentStatus, number>;
    for (const row of this.#countByStatus.all(destination)) counts[row.status] = row.n;
    return counts;
  }

  listCorrections(filter: KajabiCorrectionFilter): KajabiCorrection[] {
    const where = new Where();
    where.add('destination = @destination', 'destination', filter.destination);
    where.add('run_id = @runId', 'runId', filter.runId);
    where.add('email = @email', 'email', filter.email === undefined ? undefined : normalise(filter.email));
    where.add('id < @beforeId', 'beforeId', filter.beforeId);
    const sql = `SELECT * FROM kajabi_corrections ${where.sql()} ORDER BY id DESC LIMIT @limit`;
    return (this.#statements.get(sql).all({ ...where.params, limit: pageLimit(filter.limit) }) as CorrectionRow[]).map(correctionOf);
  }
}

/** A listing's WHERE clause: each filter given adds its condition and its parameter. */
class Where {
  readonly #clauses: string[] = [];
  readonly params: Record<string, string | number> = {};

  add(clause: string, param: string, value: string | number | undefined): void {
    if (value === undefined) return;
    this.#clauses.push(clause);
    this.params[param] = value;
  }

  sql(): string {
    return this.#clauses.length === 0 ? '' : `WHERE ${this.#clauses.join(' AND ')}`;
  }
}
