/**
 * Ingest: one delivery, its events, their jobs and ledger keys, and any quarantine. The caller
 * (core.ts) runs commitDelivery inside the batch transaction, and re-runs the batch with a savepoint
 * per operation when one fails, so a delivery is all-or-nothing.
 *
 * Every row is written once: the jobs' ids and the ledger's verdicts are decided before the event
 * row is inserted, so the event's decisions go into that INSERT. Job ids come from a counter read
 * once per transaction (see #takeJobId), not from a subquery per row.
 */
import { hash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { dedupeScope } from '../types.js';
import type { CommitDeliveryInput, CommitDeliveryResult, EventCommitOutcome, EventInput, PlannedJob, QuarantineInput, RouteDecision } from '../types.js';
import type { DigestOps } from './core-digests.js';
import type { KitOps } from './core-kit.js';
import { toJson } from '../rows.js';
import { DedupeWindow } from './dedupe-window.js';

interface DedupeRow {
  event_id: number;
  expires_at: number;
}

export class IngestOps {
  readonly #insertDelivery: Statement;
  readonly #selectDedupe: Statement<[string], DedupeRow>;
  readonly #insertEvent: Statement;
  readonly #upsertDedupe: Statement;
  readonly #hasLedgerKey: Statement<[string, number], number>;
  readonly #insertLedger: Statement;
  readonly #insertJob: Statement;
  readonly #selectLastJobId: Statement<[], number>;
  readonly #insertQuarantine: Statement;
  readonly #selectQuarantineByHash: Statement<[string], number>;
  readonly #countQuarantineRepeat: Statement;
  readonly #selectReingested: Statement<[number], string>;
  readonly #markReingested: Statement;
  readonly #discardQuarantine: Statement;
  /** The id the next job gets; undefined until the transaction's first job (see #takeJobId). */
  #nextJobId: number | undefined;
  /** Applies an accepted event's subscriber mirror changes, in this transaction. */
  readonly #kit: KitOps;
  /** Clearable (legacy fingerprint) dedupe keys; the others are in `dedupe_keys`. */
  readonly #window: DedupeWindow;
  /** Digest windows (a digesting rule's events join one) and the dead-job alert outbox. */
  readonly #digests: DigestOps;

  constructor(db: Database, kit: KitOps, digests: DigestOps) {
    this.#kit = kit;
    this.#digests = digests;
    this.#window = new DedupeWindow(db);
    // The statements run for every event bind their values by position, in the order of the column
    // list: binding by name costs a property lookup per parameter, a tenth of the writer's time.
    this.#insertDelivery = db.prepare(`
      INSERT INTO deliveries (system, route, kit_delivery_id, received_at, body_bytes, event_count, quarantined_count)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.#selectDedupe = db.prepare('SELECT event_id, expires_at FROM dedupe_keys WHERE key = ?');
    this.#insertEvent = db.prepare(`
      INSERT INTO events (delivery_id, source, kit_event_id, type, kit_type, scope_param, scope_value, subscriber_id,
        email, subscriber_key, occurred_at, received_at, status, duplicate_of, payload, decisions, origin)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#upsertDedupe = db.prepare(`
      INSERT INTO dedupe_keys (key, event_id, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at`);
    this.#hasLedgerKey = db.prepare<[string, number], number>('SELECT 1 FROM ledger WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)').pluck();
    // A key spent again after it expired (`repeatAfterDays`) takes the new job and expiry.
    this.#insertLedger = db.prepare(`
      INSERT INTO ledger (key, job_id, rule, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, rule = excluded.rule, created_at = excluded.created_at,
        expires_at = excluded.expires_at`);
    // Jobs are inserted with the id #takeJobId chose. AUTOINCREMENT still keeps sqlite_sequence at
    // the largest id ever inserted, so ids of purged jobs never come back.
    this.#insertJob = db.prepare(`
      INSERT INTO jobs (id, event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
        status, attempts, max_attempts, run_at, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`);
    this.#selectLastJobId = db
      .prepare<[], number>(
        `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0), coalesce((SELECT max(id) FROM jobs), 0))`,
      )
      .pluck();
    this.#insertQuarantine = db.prepare(`
      INSERT INTO quarantine (delivery_id, system, route, reason, detail, headers, body, received_at, body_hash, last_received_at)
      VALUES (@deliveryId, @system, @route, @reason, @detail, @headers, @body, @receivedAt, @bodyHash, @receivedAt)`);
    this.#selectQuarantineByHash = db.prepare<[string], number>('SELECT id FROM quarantine WHERE body_hash = ? ORDER BY id LIMIT 1').pluck();
    this.#countQuarantineRepeat = db.prepare(
      'UPDATE quarantine SET times_received = times_received + 1, last_received_at = max(coalesce(last_received_at, 0), @receivedAt) WHERE id = @id',
    );
    this.#selectReingested = db.prepare<[number], string>('SELECT reingested_event_ids FROM quarantine WHERE id = ?').pluck();
    this.#markReingested = db.prepare(
      `UPDATE quarantine SET status = 'reingested', resolved_at = @now, reingested_event_ids = @eventIds WHERE id = @id`,
    );
    this.#discardQuarantine = db.prepare(
      `UPDATE quarantine SET status = 'discarded', resolved_at = @now WHERE id = @id AND status = 'open'`,
    );
  }

  commitDelivery(input: CommitDeliveryInput): CommitDeliveryResult {
    const { delivery } = input;
    const deliveryId = Number(
      this.#insertDelivery.run(
        delivery.system,
        delivery.route,
        delivery.kitDeliveryId ?? null,
        delivery.receivedAt,
        delivery.bodyBytes,
        input.events.length,
        input.quarantine.length,
      ).lastInsertRowid,
    );
    const events = input.events.map((event) => this.#commitEvent(deliveryId, delivery.receivedAt, event));
    const quarantineIds = input.quarantine.map((entry) => this.#quarantine(deliveryId, entry));
    if (input.reingestOf !== undefined) {
      this.#markAsReingested(input.reingestOf, events.map((event) => event.eventId), delivery.receivedAt);
    }
    if (input.settlesDeadJobAlerts) this.#digests.settleAlerts(input.settlesDeadJobAlerts);
    return { deliveryId, events, quarantineIds };
  }

  discardQuarantine(id: number, now: number): boolean {
    return this.#discardQuarantine.run({ id, now }).changes > 0;
  }

  hasLedgerKey(key: string, now: number = Date.now()): boolean {
    return this.#hasLedgerKey.get(key, now) !== undefined;
  }

  /**
   * core.ts calls this at every BEGIN, with the write lock held: another process (a CLI) may have
   * added jobs or dedupe keys meanwhile.
   */
  beginTransaction(): void {
    this.#nextJobId = undefined;
    this.#window.begin();
  }

  /** core.ts calls this after a whole transaction was rolled back. */
  afterRollback(): void {
    this.#window.invalidate();
  }

  /** core.ts calls this after rolling back to a savepoint: the window replays what the transaction holds. */
  afterRollbackToSavepoint(): void {
    this.#window.invalidate();
    this.#window.begin();
  }

  /** Drops window keys expired at `now`; returns how many. Runs inside a write transaction. */
  trimWindow(now: number): number {
    return this.#window.trim(now);
  }

  #commitEvent(deliveryId: number, receivedAt: number, event: EventInput): EventCommitOutcome {
    this.#window.see(receivedAt);
    const { dedupe } = event;
    // A key that names its subscriber is a legacy fingerprint an opposite event can clear: it lives
    // in the window (dedupe-window.ts). The others (2.0 event ids) are in dedupe_keys.
    const inWindow = dedupe?.subscriberKey !== undefined;
    const seen = dedupe === undefined ? undefined : inWindow ? this.#window.get(dedupe.key) : this.#selectDedupeKey(dedupe.key);
    if (seen !== undefined && seen.expiresAt > receivedAt) {
      const eventId = this.#insertEventRow(deliveryId, receivedAt, event, seen.eventId, event.decisions);
      return { status: 'duplicate', eventId, duplicateOf: seen.eventId };
    }
    const planned = this.#planJobs(event, receivedAt);
    const eventId = this.#insertEventRow(deliveryId, receivedAt, event, null, planned.decisions);
    this.#writeWindow(event, eventId);
    if (event.mirror?.length) this.#kit.applyMirror(event.mirror, receivedAt);
    if (dedupe && !inWindow) this.#upsertDedupe.run(dedupe.key, eventId, dedupe.expiresAt);
    for (const { id, job } of planned.jobs) {
      this.#insertJobRow(id, eventId, receivedAt, event, job);
      if (job.ledgerKey !== undefined) this.#insertLedger.run(job.ledgerKey, id, job.rule, receivedAt, job.ledgerExpiresAt ?? null);
    }
    for (const windowId of planned.digestWindows) this.#digests.collect(windowId, eventId);
    return { status: 'accepted', eventId, jobIds: planned.jobs.map((p) => p.id) };
  }

  /**
   * Decides each planned job before anything is written: a job whose ledger key is spent (already
   * in the ledger, or by an earlier job of this event) makes none; a digesting rule's job past its
   * window's threshold makes none and the event joins the window; the others get their ids.
   */
  #planJobs(event: EventInput, receivedAt: number): { decisions: readonly RouteDecision[]; jobs: { id: number; job: PlannedJob }[]; digestWindows: number[] } {
    if (event.jobs.length === 0) return { decisions: event.decisions, jobs: [], digestWindows: [] };
    const decisions: RouteDecision[] = [...event.decisions];
    const jobs: { id: number; job: PlannedJob }[] = [];
    const digestWindows: number[] = [];
    const spent = new Set<string>();
    for (const job of event.jobs) {
      const decided = { rule: job.rule, destination: job.destination, action: job.action };
      if (job.ledgerKey !== undefined) {
        if (spent.has(job.ledgerKey) || this.hasLedgerKey(job.ledgerKey, receivedAt)) {
          decisions.push({ ...decided, outcome: 'once' });
          continue;
        }
      }
      if (job.digest !== undefined) {
        const verdict = this.#digests.plan({ ...job, digest: job.digest });
        if (verdict.kind === 'collect') {
          digestWindows.push(verdict.windowId);
          decisions.push({ ...decided, outcome: 'digested', windowId: verdict.windowId });
          continue;
        }
      }
      if (job.ledgerKey !== undefined) spent.add(job.ledgerKey);
      const id = this.#takeJobId();
      jobs.push({ id, job });
      decisions.push({ ...decided, outcome: 'job', jobId: id });
    }
    return { decisions, jobs, digestWindows };
  }

  /**
   * The next job id. Read from the database at the transaction's first job, then counted here: the
   * write lock is held until COMMIT, so no other process can insert jobs meanwhile. Ids handed out
   * by an operation that is rolled back are skipped, never reused.
   */
  #takeJobId(): number {
    const id = this.#nextJobId ?? (this.#selectLastJobId.get() ?? 0) + 1;
    this.#nextJobId = id + 1;
    return id;
  }

  #selectDedupeKey(key: string): { eventId: number; expiresAt: number } | undefined {
    const row = this.#selectDedupe.get(key);
    return row && { eventId: row.event_id, expiresAt: row.expires_at };
  }

  /**
   * An opposite event (tag_remove after tag_add) ends the dedupe window of legacy fingerprints for
   * the same subscriber and scope, so a real re-tag is not mistaken for Kit resending the first;
   * then the event's own fingerprint joins the window.
   */
  #writeWindow(event: EventInput, eventId: number): void {
    const { dedupe } = event;
    const subscriberKey = dedupe?.subscriberKey ?? event.subscriberKey;
    const clears = event.clearsDedupeTypes ?? [];
    if (subscriberKey === undefined || (clears.length === 0 && dedupe?.subscriberKey === undefined)) return;
    const scope = dedupe?.scope ?? (event.scope ? dedupeScope(event.scope) : null);
    const key = dedupe?.subscriberKey === undefined ? undefined : { key: dedupe.key, eventId, expiresAt: dedupe.expiresAt, type: dedupe.type ?? null };
    this.#window.write(subscriberKey, scope, clears, key);
  }

  #insertEventRow(
    deliveryId: number,
    receivedAt: number,
    event: EventInput,
    duplicateOf: number | null,
    decisions: readonly RouteDecision[],
  ): number {
    const result = this.#insertEvent.run(
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
    );
    return Number(result.lastInsertRowid);
  }

  #insertJobRow(id: number, eventId: number, receivedAt: number, event: EventInput, job: PlannedJob): void {
    this.#insertJob.run(
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
      receivedAt,
    );
  }

  /**
   * Keeps the entry, unless the same bytes already came in on the same route (Kit retrying a
   * delivery for up to 41 h): then the first entry counts the repeat and its id is returned.
   */
  #quarantine(deliveryId: number, entry: QuarantineInput): number {
    // Bodies cross the thread boundary as Uint8Array; SQLite binds Buffers as BLOBs.
    const bytes: Uint8Array = entry.body;
    const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bodyHash = quarantineHash(entry.system, entry.route, body);
    const existing = this.#selectQuarantineByHash.get(bodyHash);
    if (existing !== undefined) {
      this.#countQuarantineRepeat.run({ id: existing, receivedAt: entry.receivedAt });
      return existing;
    }
    const result = this.#insertQuarantine.run({
      bodyHash,
      deliveryId,
      system: entry.system,
      route: entry.route,
      reason: entry.reason,
      detail: entry.detail,
      headers: toJson(entry.headers),
      body,
      receivedAt: entry.receivedAt,
    });
    return Number(result.lastInsertRowid);
  }

  /** Re-ingesting an entry again appends the new event ids to the ones it already led to. */
  #markAsReingested(quarantineId: number, eventIds: readonly number[], now: number): void {
    const previous = this.#selectReingested.get(quarantineId);
    if (previous === undefined) return;
    const all = [...(JSON.parse(previous) as number[]), ...eventIds];
    this.#markReingested.run({ id: quarantineId, eventIds: JSON.stringify(all), now });
  }
}

/** What makes two quarantine entries the same input: the system, the route and the exact bytes. */
function quarantineHash(system: string, route: string, body: Buffer): string {
  return hash('sha256', Buffer.concat([Buffer.from(`${system}\n${route}\n`), body]));
}
