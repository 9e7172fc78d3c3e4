/**
 * Kajabi enrolments on PostgreSQL (migration 008; words in kajabi-types.ts; the reference is
 * sqlite/core-kajabi.ts): one row per person, offer and destination, rewritten in place, and the
 * append-only log of the corrections the reconciliation made.
 *
 * Emails are normalised here too (trimmed, lower case), on every write and lookup, as on SQLite.
 * Several processes: an enrolment is one upsert on its unique key (the row lock orders two writers;
 * the later one's fields hold). A save writes its enrolments in key order, so two saves touching
 * the same enrolments take their rows in the same order and cannot deadlock.
 *
 * Ids are not visible in commit order with several writers (an identity value is taken before
 * commit), and nothing here makes them so: the id order is a stable order for paging, not a
 * history. A settlement or reconciliation pass paging on with `afterId` may miss an enrolment
 * another process inserts (with a lower id) while it pages; the next scheduled pass sees it, as
 * both passes are periodic sweeps of the table. Corrections (`beforeId`) are read by operators.
 */
import type pg from 'pg';
import {
  ENROLMENT_STATUSES,
  type EnrolmentStatus,
  type KajabiCorrection,
  type KajabiCorrectionFilter,
  type KajabiCorrectionInput,
  type KajabiEnrolment,
  type KajabiEnrolmentFilter,
  type KajabiEnrolmentInput,
  type KajabiStore,
} from '../kajabi-types.js';
import { withTransaction, type Queryable } from './pool.js';

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

const normalise = (email: string): string => email.trim().toLowerCase();
const pageLimit = (limit: number): number => Math.max(1, Math.trunc(limit));

/** Every column the upsert writes from the input, in the order of its parameters after the key; the conflict rewrites them all. */
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

// The existing row keeps its id and created_at; everything Kajabi and Kit say is replaced.
const UPSERT = `
  INSERT INTO kajabi_enrolments (destination, email, offer_id, ${WRITTEN.join(', ')}, created_at, updated_at)
  VALUES ($1, $2, $3, ${WRITTEN.map((_, i) => `$${i + 4}`).join(', ')}, $${WRITTEN.length + 4}, $${WRITTEN.length + 4})
  ON CONFLICT (destination, email, offer_id) DO UPDATE SET
    ${WRITTEN.map((c) => `${c} = excluded.${c}`).join(', ')}, updated_at = excluded.updated_at`;

const upsertParams = (input: KajabiEnrolmentInput, now: number): unknown[] => [
  input.destination,
  normalise(input.email),
  input.offerId,
  input.offerTitle,
  input.status,
  input.purchaseId,
  input.transactionId,
  input.refundTransactionId,
  input.contactId,
  input.customerId,
  input.kitSubscriberId,
  input.amountInCents,
  input.purchasedAt,
  input.settledAt,
  input.endedAt,
  input.endReason,
  input.kitTagged === null ? null : input.kitTagged ? 1 : 0,
  input.kitSyncedAt,
  input.isStopApplied ? 1 : 0,
  input.changedBy,
  now,
];

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

/** Binary order, as SQLite compares text. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class PgKajabiOps implements KajabiStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async getKajabiEnrolments(destination: string, email: string): Promise<KajabiEnrolment[]> {
    const { rows } = await this.#pool.query<EnrolmentRow>('SELECT * FROM kajabi_enrolments WHERE destination = $1 AND email = $2 ORDER BY offer_id COLLATE "C"', [destination, normalise(email)]);
    return rows.map(enrolmentOf);
  }

  async saveKajabiEnrolments(enrolments: readonly KajabiEnrolmentInput[], corrections: readonly KajabiCorrectionInput[], now: number): Promise<void> {
    if (enrolments.length === 0 && corrections.length === 0) return;
    // A stable sort: one enrolment given twice is still written in the order given (the last holds).
    const ordered = [...enrolments].sort(
      (a, b) => compareText(a.destination, b.destination) || compareText(normalise(a.email), normalise(b.email)) || compareText(a.offerId, b.offerId),
    );
    await withTransaction(this.#pool, async (client) => {
      for (const enrolment of ordered) await client.query(UPSERT, upsertParams(enrolment, now));
      if (corrections.length > 0) await insertCorrections(client, corrections, now);
    });
  }

  async listKajabiEnrolments(filter: KajabiEnrolmentFilter): Promise<KajabiEnrolment[]> {
    const where = new Where();
    where.add('destination', '=', filter.destination);
    where.add('email', '=', filter.email === undefined ? undefined : normalise(filter.email));
    where.add('offer_id', '=', filter.offerId);
    where.add('status', '=', filter.status);
    // No purchase time: not older than anything.
    where.add('purchased_at', '<', filter.purchasedBefore);
    where.add('id', '>', filter.afterId);
    const { rows } = await this.#pool.query<EnrolmentRow>(`SELECT * FROM kajabi_enrolments ${where.sql()} ORDER BY id LIMIT ${where.next()}`, [...where.params, pageLimit(filter.limit)]);
    return rows.map(enrolmentOf);
  }

  async countKajabiEnrolments(destination: string): Promise<Readonly<Record<EnrolmentStatus, number>>> {
    const counts = Object.fromEntries(ENROLMENT_STATUSES.map((status) => [status, 0])) as Record<EnrolmentStatus, number>;
    const { rows } = await this.#pool.query<{ status: EnrolmentStatus; n: number }>('SELECT status, count(*) AS n FROM kajabi_enrolments WHERE destination = $1 GROUP BY status', [destination]);
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async listKajabiCorrections(filter: KajabiCorrectionFilter): Promise<KajabiCorrection[]> {
    const where = new Where();
    where.add('destination', '=', filter.destination);
    where.add('run_id', '=', filter.runId);
    where.add('email', '=', filter.email === undefined ? undefined : normalise(filter.email));
    where.add('id', '<', filter.beforeId);
    const { rows } = await this.#pool.query<CorrectionRow>(`SELECT * FROM kajabi_corrections ${where.sql()} ORDER BY id DESC LIMIT ${where.next()}`, [
      ...where.params,
      pageLimit(filter.limit),
    ]);
    return rows.map(correctionOf);
  }
}

/** Appends corrections in the order given (their ids follow it), stamped `now`. */
async function insertCorrections(client: Queryable, corrections: readonly KajabiCorrectionInput[], now: number): Promise<void> {
  const column = <T>(pick: (c: KajabiCorrectionInput) => T): T[] => corrections.map(pick);
  await client.query(
    `INSERT INTO kajabi_corrections (destination, run_id, email, offer_id, what, why, before, after, at)
     SELECT c.destination, c.run_id, c.email, c.offer_id, c.what, c.why, c.before, c.after, $9
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY
       AS c(destination, run_id, email, offer_id, what, why, before, after, n)
     ORDER BY c.n`,
    [
      column((c) => c.destination),
      column((c) => c.runId),
      column((c) => normalise(c.email)),
      column((c) => c.offerId),
      column((c) => c.what),
      column((c) => c.why),
      column((c) => c.before),
      column((c) => c.after),
      now,
    ],
  );
}

/**
 * Erasure's part in the Kajabi enrolments (sqlite/core-erase.ts), in the caller's transaction: the
 * enrolments under the (normalised) address or any of these Kit subscriber ids, and every
 * correction about the address or those enrolments (first: they are found through them). Returns
 * the rows deleted.
 */
export async function eraseKajabiRows(client: Queryable, email: string, kitIds: readonly number[]): Promise<number> {
  const params = [normalise(email), kitIds];
  const theirs = 'email = $1 OR kit_subscriber_id = ANY($2::bigint[])';
  const corrections = await client.query(
    `DELETE FROM kajabi_corrections WHERE email = $1 OR (destination, email, offer_id) IN (SELECT destination, email, offer_id FROM kajabi_enrolments WHERE ${theirs})`,
    params,
  );
  const enrolments = await client.query(`DELETE FROM kajabi_enrolments WHERE ${theirs}`, params);
  return (corrections.rowCount ?? 0) + (enrolments.rowCount ?? 0);
}

/** A listing's WHERE clause: each filter given adds its condition and its numbered parameter. */
class Where {
  readonly #clauses: string[] = [];
  readonly params: (string | number)[] = [];

  add(column: string, operator: '=' | '<' | '>', value: string | number | undefined): void {
    if (value === undefined) return;
    this.params.push(value);
    this.#clauses.push(`${column} ${operator} $${this.params.length}`);
  }

  /** The placeholder of the next parameter. */
  next(): string {
    return `$${this.params.length + 1}`;
  }

  sql(): string {
    return this.#clauses.length === 0 ? '' : `WHERE ${this.#clauses.join(' AND ')}`;
  }
}
