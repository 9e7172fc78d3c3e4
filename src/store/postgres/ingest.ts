/**
 * Ingest on PostgreSQL (sqlite/core-ingest.ts is the reference): one delivery, its events, their
 * jobs and ledger keys, digest windows, mirror changes and any quarantine, in one transaction,
 * committed before the caller answers 2xx.
 *
 * The ingest lock. SQLite has one writer; here several instances commit at once. Every transaction
 * that inserts events or jobs (commitDelivery, closeDigests, the queue's cloneJob) or deletes them
 * (retention.ts) first takes one transaction-level advisory lock (`lockIngest`) and holds it to
 * its COMMIT; any new writer of events or jobs must do the same. That gives, across every instance:
 * - event ids in commit order: ids are drawn after the previous holder's commit became visible
 *   (PostgreSQL releases a transaction's locks only once it is visible), so a follower reading
 *   `listEventHeads` past the last id it saved misses none;
 * - job ids of ingested jobs in commit order too, so "earlier" in per-subscriber FIFO (a lower job
 *   id) is also "committed earlier" for them;
 * - dedupe, the ledger, quarantine's repeat count and digest windows decided against every earlier
 *   commit: each statement under READ COMMITTED sees what the previous holder committed.
 * The price is that commits of deliveries are serialised, as SQLite's are.
 */
import type pg from 'pg';
import { toJson } from '../rows.js';
import { dedupeScope } from '../types.js';
import { StoreUnavailableError } from '../types.js';
import type {
  CloseDigestsInput,
  CommitDeliveryInput,
  CommitDeliveryResult,
  DeadJobAlert,
  DigestWindowRecord,
  EventCommitOutcome,
  EventInput,
  PlannedJob,
  RouteDecision,
} from '../types.js';
import { closeDueDigests, collectDigest, listDigestWindows, planDigest, settleDeadJobAlerts, takeDeadJobAlerts } from './digests.js';
import { applyMirror } from './kit.js';
import { withTransaction, type Queryable } from './pool.js';
import { markAsReingested, quarantine } from './quarantine.js';
import { orUnavailable } from './unavailable.js';

/** The ingest lock's first key; the second is the schema's hash, so stores in other schemas of one database do not wait on each other. */
const INGEST_LOCK = 7_242_013;

/** Takes the ingest lock (see the file comment) for the rest of `client`'s transaction. */
export async function lockIngest(client: Queryable): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [INGEST_LOCK]);
}

interface Planned {
  readonly decisions: readonly RouteDecision[];
  readonly jobs: readonly { readonly id: number; readonly job: PlannedJob }[];
  readonly digestWindows: readonly number[];
}

/** Deliveries waiting to commit before commitDelivery refuses more (the config's `store.maxWriteBacklog`). */
const DEFAULT_MAX_WRITE_BACKLOG = 10_000;
/** Deliveries committed together in one transaction at most. */
const MAX_GROUP = 64;
/** What a refusal for a full backlog asks the sender to wait (ingest's Retry-After). */
const BACKLOG_RETRY_AFTER_SECONDS = 1;

interface WaitingCommit {
  readonly input: CommitDeliveryInput;
  readonly resolve: (result: CommitDeliveryResult) => void;
  readonly reject: (error: unknown) => void;
}

export class PgIngestOps {
  readonly #pool: pg.Pool;
  readonly #maxWriteBacklog: number;
  readonly #waiting: WaitingCommit[] = [];
  #isCommitting = false;

  constructor(pool: pg.Pool, maxWriteBacklog = DEFAULT_MAX_WRITE_BACKLOG) {
    this.#pool = pool;
    this.#maxWriteBacklog = maxWriteBacklog;
  }

  /**
   * Group commit, as SQLite's writer thread batches: deliveries that arrive while a commit is in
   * flight are committed together in the next transaction, under one hold of the ingest lock and
   * one WAL flush (the lock makes commits one at a time across every instance, so this is where
   * ingest's throughput is decided). Each caller's promise settles only once its transaction has
   * committed. A group that fails for anything but an unreachable database is committed again
   * one delivery at a time, so one delivery's fault fails only that delivery. Past
   * `maxWriteBacklog` waiting deliveries, the call fails at once with StoreUnavailableError
   * (ingest answers 503 with Retry-After) instead of queueing without bound.
   */
  commitDelivery(input: CommitDeliveryInput): Promise<CommitDeliveryResult> {
    if (this.#waiting.length >= this.#maxWriteBacklog) {
      const message = `the write backlog is full: ${this.#waiting.length} deliveries are waiting to commit`;
      return Promise.reject(new StoreUnavailableError(message, BACKLOG_RETRY_AFTER_SECONDS));
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#isCommitting) void this.#commitWaiting();
    });
  }

  async #commitWaiting(): Promise<void> {
    this.#isCommitting = true;
    try {
      while (this.#waiting.length > 0) await this.#commitGroup(this.#waiting.splice(0, MAX_GROUP));
    } finally {
      this.#isCommitting = false;
    }
  }

  /** Commits `group` in one transaction; settles every promise of it. Never throws. */
  async #commitGroup(group: readonly WaitingCommit[]): Promise<void> {
    try {
      const results = await orUnavailable(() =>
        withTransaction(this.#pool, async (client) => {
          await lockIngest(client);
          const committed: CommitDeliveryResult[] = [];
          for (const { input } of group) committed.push(await commitDeliveryIn(client, input));
          return committed;
        }),
      );
      group.forEach((waiting, index) => waiting.resolve(results[index]!));
    } catch (error) {
      if (group.length === 1 || error instanceof StoreUnavailableError) {
        for (const waiting of group) waiting.reject(error);
        return;
      }
      for (const waiting of group) await this.#commitGroup([waiting]);
    }
  }

  async discardQuarantine(id: number, now: number): Promise<boolean> {
    const result = await orUnavailable(() => this.#pool.query(`UPDATE quarantine SET status = 'discarded', resolved_at = $2 WHERE id = $1 AND status = 'open'`, [id, now]));
    return (result.rowCount ?? 0) > 0;
  }

  hasLedgerKey(key: string, now: number = Date.now()): Promise<boolean> {
    return orUnavailable(() => isLedgerKeySpent(this.#pool, key, now));
  }

  /** Under the ingest lock: closers on several instances take turns, so each window closes once. */
  closeDigests(input: CloseDigestsInput): Promise<DigestWindowRecord[]> {
    return orUnavailable(() =>
      withTransaction(this.#pool, async (client) => {
        await lockIngest(client);
        return closeDueDigests(client, input, (commit) => commitDeliveryIn(client, commit));
      }),
    );
  }

  listDigestWindows(filter: { readonly status?: 'open' | 'closed'; readonly limit?: number }): Promise<DigestWindowRecord[]> {
    return orUnavailable(() => listDigestWindows(this.#pool, filter));
  }

  takeDeadJobAlerts(limit: number): Promise<DeadJobAlert[]> {
    return orUnavailable(() => takeDeadJobAlerts(this.#pool, limit));
  }

  settleDeadJobAlerts(ids: readonly number[]): Promise<void> {
    return orUnavailable(() => settleDeadJobAlerts(this.#pool, ids));
  }
}

/** The whole commit, on `client`, whose transaction holds the ingest lock. */
export async function commitDeliveryIn(client: Queryable, input: CommitDeliveryInput): Promise<CommitDeliveryResult> {
  const { delivery } = input;
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO deliveries (system, route, kit_delivery_id, received_at, body_bytes, event_count, quarantined_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [delivery.system, delivery.route, delivery.kitDeliveryId ?? null, delivery.receivedAt, delivery.bodyBytes, input.events.length, input.quarantine.length],
  );
  const deliveryId = rows[0]!.id;
  const events: EventCommitOutcome[] = [];
  for (const event of input.events) events.push(await commitEvent(client, deliveryId, delivery.receivedAt, event));
  const quarantineIds: number[] = [];
  for (const entry of input.quarantine) quarantineIds.push(await quarantine(client, deliveryId, entry));
  if (input.reingestOf !== undefined) {
    await markAsReingested(client, input.reingestOf, events.map((event) => event.eventId), delivery.receivedAt);
  }
  if (input.settlesDeadJobAlerts) await settleDeadJobAlerts(client, input.settlesDeadJobAlerts);
  return { deliveryId, events, quarantineIds };
}

async function commitEvent(client: Queryable, deliveryId: number, receivedAt: number, event: EventInput): Promise<EventCommitOutcome> {
  const { dedupe } = event;
  if (dedupe !== undefined) {
    const { rows } = await client.query<{ event_id: number; expires_at: number }>('SELECT event_id, expires_at FROM dedupe_keys WHERE key = $1', [dedupe.key]);
    const seen = rows[0];
    if (seen !== undefined && seen.expires_at > receivedAt) {
      const eventId = await insertEventRow(client, deliveryId, receivedAt, event, seen.event_id, event.decisions);
      return { status: 'duplicate', eventId, duplicateOf: seen.event_id };
    }
  }
  const planned = await planJobs(client, event, receivedAt);
  const eventId = await insertEventRow(client, deliveryId, receivedAt, event, null, planned.decisions);
  await writeDedupe(client, event, eventId);
  if (event.mirror?.length) await applyMirror(client, event.mirror, receivedAt);
  for (const { id, job } of planned.jobs) {
    await insertJobRow(client, id, eventId, receivedAt, event, job);
    if (job.ledgerKey !== undefined) {
      // A key spent again after it expired (`repeatAfterDays`) takes the new job and expiry.
      await client.query(
        `INSERT INTO ledger (key, job_id, rule, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, rule = excluded.rule, created_at = excluded.created_at, expires_at = excluded.expires_at`,
        [job.ledgerKey, id, job.rule, receivedAt, job.ledgerExpiresAt ?? null],
      );
    }
  }
  for (const windowId of planned.digestWindows) await collectDigest(client, windowId, eventId);
  return { status: 'accepted', eventId, jobIds: planned.jobs.map((p) => p.id) };
}

/**
 * Decides each planned job before anything is written: a job whose ledger key is spent (in the
 * ledger, or by an earlier job of this event) makes none; a digesting rule's job past its window's
 * threshold makes none and the event joins the window; the others get ids from the jobs' identity
 * sequence, so the event's decisions can name them in its one INSERT.
 */
async function planJobs(client: Queryable, event: EventInput, receivedAt: number): Promise<Planned> {
  if (event.jobs.length === 0) return { decisions: event.decisions, jobs: [], digestWindows: [] };
  const decisions: RouteDecision[] = [...event.decisions];
  const making: { job: PlannedJob; decision: number }[] = [];
  const digestWindows: number[] = [];
  const spent = new Set<string>();
  for (const job of event.jobs) {
    const decided = { rule: job.rule, destination: job.destination, action: job.action };
    if (job.ledgerKey !== undefined && (spent.has(job.ledgerKey) || (await isLedgerKeySpent(client, job.ledgerKey, receivedAt)))) {
      decisions.push({ ...decided, outcome: 'once' });
      continue;
    }
    if (job.digest !== undefined) {
      const verdict = await planDigest(client, { ...job, digest: job.digest });
      if (verdict.kind === 'collect') {
        digestWindows.push(verdict.windowId);
        decisions.push({ ...decided, outcome: 'digested', windowId: verdict.windowId });
        continue;
      }
    }
    if (job.ledgerKey !== undefined) spent.add(job.ledgerKey);
    making.push({ job, decision: decisions.push({ ...decided, outcome: 'job' }) - 1 });
  }
  // The ids, once all are known to be needed: one round trip for the event's jobs.
  const ids = await takeJobIds(client, making.length);
  const jobs = making.map(({ job, decision }, index) => {
    const id = ids[index]!;
    decisions[decision] = { ...decisions[decision]!, jobId: id };
    return { id, job };
  });
  return { decisions, jobs, digestWindows };
}

/** `count` new job ids, ascending, from the identity sequence of `jobs` (never handed out twice). */
async function takeJobIds(client: Queryable, count: number): Promise<number[]> {
  if (count === 0) return [];
  const { rows } = await client.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id FROM generate_series(1, $1)`, [count]);
  return rows.map((row) => row.id).sort((a, b) => a - b);
}

async function isLedgerKeySpent(client: Queryable, key: string, now: number): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM ledger WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)', [key, now]);
  return (rowCount ?? 0) > 0;
}

/**
 * The event's dedupe key, and the clears of an opposite event (tag_remove after tag_add ends the
 * window of legacy fingerprints for the same subscriber and scope, so a real re-tag is not taken
 * for Kit resending the first). A key that names its subscriber (a legacy fingerprint) keeps its
 * subscriber, type and scope so a later clear finds it; SQLite's dedupe-window.ts does the same.
 */
async function writeDedupe(client: Queryable, event: EventInput, eventId: number): Promise<void> {
  const { dedupe } = event;
  const subscriberKey = dedupe?.subscriberKey ?? event.subscriberKey;
  const scope = dedupe?.scope ?? (event.scope ? dedupeScope(event.scope) : null);
  const clears = event.clearsDedupeTypes ?? [];
  if (subscriberKey !== undefined && clears.length > 0) {
    await client.query('DELETE FROM dedupe_keys WHERE subscriber_key = $1 AND scope IS NOT DISTINCT FROM $2 AND type = ANY($3::text[])', [subscriberKey, scope, [...clears]]);
  }
  if (dedupe === undefined) return;
  const isFingerprint = dedupe.subscriberKey !== undefined;
  await client.query(
    `INSERT INTO dedupe_keys (key, event_id, expires_at, subscriber_key, type, scope) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at,
       subscriber_key = excluded.subscriber_key, type = excluded.type, scope = excluded.scope`,
    [dedupe.key, eventId, dedupe.expiresAt, isFingerprint ? dedupe.subscriberKey : null, isFingerprint ? (dedupe.type ?? null) : null, isFingerprint ? scope : null],
  );
}

async function insertEventRow(
  client: Queryable,
  deliveryId: number,
  receivedAt: number,
  event: EventInput,
  duplicateOf: number | null,
  decisions: readonly RouteDecision[],
): Promise<number> {
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO events (delivery_id, source, kit_event_id, type, kit_type, scope_param, scope_value, subscriber_id,
       email, subscriber_key, occurred_at, received_at, status, duplicate_of, payload, decisions, origin)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
    [
      deliveryId,
      event.source,
      event.kitEventId ?? null,
      event.type,
      event.kitType,
      event.scope?.param ?? null,
      event.scope?.value ?? null,
      event.subscriberId ?? null,
      event.email?.toLowerCase() ?? null,
      event.subscriberKey ?? null,
      event.occurredAt ?? null,
      receivedAt,
      duplicateOf === null ? 'accepted' : 'duplicate',
      duplicateOf,
      event.payloadJson ?? toJson(event.payload),
      decisions.length === 0 ? '[]' : toJson(decisions),
      event.origin ?? 'kit',
    ],
  );
  return rows[0]!.id;
}

/** Into `jobs` (003_queue.sql, SQLite's columns) with the id planJobs took. */
async function insertJobRow(client: Queryable, id: number, eventId: number, receivedAt: number, event: EventInput, job: PlannedJob): Promise<void> {
  await client.query(
    `INSERT INTO jobs (id, event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
       status, attempts, max_attempts, run_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $12, $13, $13)`,
    [
      id,
      eventId,
      job.rule,
      job.destination,
      job.action,
      toJson(job.params) ?? 'null',
      job.subKey ?? null,
      event.subscriberKey ?? null,
      event.subscriberId ?? null,
      event.email?.toLowerCase() ?? null,
      job.maxAttempts,
      job.runAt ?? receivedAt,
      receivedAt,
    ],
  );
}
