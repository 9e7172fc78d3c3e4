/**
 * Ingest: one delivery, its events, their jobs and ledger keys, and any quarantine. The caller
 * (core.ts) runs commitDelivery inside a savepoint of the batch transaction, so it is all-or-nothing.
 */
import type { Database, Statement } from 'better-sqlite3';
import { dedupeScope } from '../types.js';
import type { CommitDeliveryInput, CommitDeliveryResult, EventCommitOutcome, EventInput, PlannedJob, QuarantineInput, RouteDecision } from '../types.js';
import { toJson } from './core-rows.js';

interface DedupeRow {
  event_id: number;
  expires_at: number;
}

export class IngestOps {
  readonly #insertDelivery: Statement;
  readonly #selectDedupe: Statement<[string], DedupeRow>;
  readonly #insertEvent: Statement;
  readonly #setDecisions: Statement;
  readonly #clearLegacyKeys: Statement;
  readonly #upsertDedupe: Statement;
  readonly #hasLedgerKey: Statement<[string], number>;
  readonly #insertLedger: Statement;
  readonly #insertJob: Statement<Record<string, unknown>, number>;
  readonly #insertQuarantine: Statement;
  readonly #selectReingested: Statement<[number], string>;
  readonly #markReingested: Statement;
  readonly #discardQuarantine: Statement;
  /** The database's random id: job idempotency keys are `<storeId>-<job id>`. */
  readonly #storeId: string;

  constructor(db: Database, storeId: string) {
    this.#storeId = storeId;
    this.#insertDelivery = db.prepare(`
      INSERT INTO deliveries (system, route, kit_delivery_id, received_at, body_bytes, event_count, quarantined_count)
      VALUES (@system, @route, @kitDeliveryId, @receivedAt, @bodyBytes, @eventCount, @quarantinedCount)`);
    this.#selectDedupe = db.prepare('SELECT event_id, expires_at FROM dedupe_keys WHERE key = ?');
    this.#insertEvent = db.prepare(`
      INSERT INTO events (delivery_id, source, kit_event_id, type, kit_type, scope_param, scope_value, subscriber_id,
        email, subscriber_key, occurred_at, received_at, status, duplicate_of, payload, decisions)
      VALUES (@deliveryId, @source, @kitEventId, @type, @kitType, @scopeParam, @scopeValue, @subscriberId,
        @email, @subscriberKey, @occurredAt, @receivedAt, @status, @duplicateOf, @payload, @decisions)`);
    this.#setDecisions = db.prepare('UPDATE events SET decisions = ? WHERE id = ?');
    this.#clearLegacyKeys = db.prepare(`
      DELETE FROM dedupe_keys
      WHERE subscriber_key = @subscriberKey AND scope IS @scope AND type IN (SELECT value FROM json_each(@types))`);
    this.#upsertDedupe = db.prepare(`
      INSERT INTO dedupe_keys (key, event_id, expires_at, subscriber_key, type, scope)
      VALUES (@key, @eventId, @expiresAt, @subscriberKey, @type, @scope)
      ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at,
        subscriber_key = excluded.subscriber_key, type = excluded.type, scope = excluded.scope`);
    this.#hasLedgerKey = db.prepare<[string], number>('SELECT 1 FROM ledger WHERE key = ?').pluck();
    this.#insertLedger = db.prepare('INSERT INTO ledger (key, job_id, rule, created_at) VALUES (?, ?, ?, ?)');
    // The id is chosen inside the statement (the write lock is held) so the idempotency key, which
    // embeds it, is written with the row. AUTOINCREMENT's sqlite_sequence keeps ids of purged jobs
    // from coming back.
    this.#insertJob = db
      .prepare<Record<string, unknown>, number>(
        `INSERT INTO jobs (id, event_id, rule, destination, action, params, sub_key, subscriber_key, subscriber_id, email,
          status, attempts, max_attempts, run_at, idempotency_key, created_at, updated_at)
        SELECT next.id, @eventId, @rule, @destination, @action, @params, @subKey, @subscriberKey, @subscriberId, @email,
          'pending', 0, @maxAttempts, @now, @storeId || '-' || next.id, @now, @now
        FROM (SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0),
                         coalesce((SELECT max(id) FROM jobs), 0)) + 1 AS id) AS next
        RETURNING id`,
      )
      .pluck();
    this.#insertQuarantine = db.prepare(`
      INSERT INTO quarantine (delivery_id, system, route, reason, detail, headers, body, received_at)
      VALUES (@deliveryId, @system, @route, @reason, @detail, @headers, @body, @receivedAt)`);
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
      this.#insertDelivery.run({
        system: delivery.system,
        route: delivery.route,
        kitDeliveryId: delivery.kitDeliveryId ?? null,
        receivedAt: delivery.receivedAt,
        bodyBytes: delivery.bodyBytes,
        eventCount: input.events.length,
        quarantinedCount: input.quarantine.length,
      }).lastInsertRowid,
    );
    const events = input.events.map((event) => this.#commitEvent(deliveryId, delivery.receivedAt, event));
    const quarantineIds = input.quarantine.map((entry) => this.#quarantine(deliveryId, entry));
    if (input.reingestOf !== undefined) {
      this.#markAsReingested(input.reingestOf, events.map((event) => event.eventId), delivery.receivedAt);
    }
    return { deliveryId, events, quarantineIds };
  }

  discardQuarantine(id: number, now: number): boolean {
    return this.#discardQuarantine.run({ id, now }).changes > 0;
  }

  hasLedgerKey(key: string): boolean {
    return this.#hasLedgerKey.get(key) !== undefined;
  }

  #commitEvent(deliveryId: number, receivedAt: number, event: EventInput): EventCommitOutcome {
    const seen = event.dedupe ? this.#selectDedupe.get(event.dedupe.key) : undefined;
    if (seen !== undefined && seen.expires_at > receivedAt) {
      const eventId = this.#insertEventRow(deliveryId, receivedAt, event, seen.event_id);
      return { status: 'duplicate', eventId, duplicateOf: seen.event_id };
    }
    const eventId = this.#insertEventRow(deliveryId, receivedAt, event, null);
    this.#clearOppositeKeys(event);
    if (event.dedupe) {
      this.#upsertDedupe.run({
        key: event.dedupe.key,
        eventId,
        expiresAt: event.dedupe.expiresAt,
        subscriberKey: event.dedupe.subscriberKey ?? null,
        type: event.dedupe.type ?? null,
        scope: event.dedupe.scope ?? null,
      });
    }
    if (event.jobs.length === 0) return { status: 'accepted', eventId, jobIds: [] };

    const decisions: RouteDecision[] = [...event.decisions];
    const jobIds: number[] = [];
    for (const job of event.jobs) {
      const decided = { rule: job.rule, destination: job.destination, action: job.action };
      if (job.ledgerKey !== undefined && this.hasLedgerKey(job.ledgerKey)) {
        decisions.push({ ...decided, outcome: 'once' });
        continue;
      }
      const jobId = this.#insertJobRow(eventId, receivedAt, event, job);
      if (job.ledgerKey !== undefined) this.#insertLedger.run(job.ledgerKey, jobId, job.rule, receivedAt);
      jobIds.push(jobId);
      decisions.push({ ...decided, outcome: 'job', jobId });
    }
    this.#setDecisions.run(toJson(decisions), eventId);
    return { status: 'accepted', eventId, jobIds };
  }

  /**
   * An opposite event (tag_remove after tag_add) ends the dedupe window of legacy fingerprints for
   * the same subscriber and scope, so a real re-tag is not mistaken for Kit resending the first.
   */
  #clearOppositeKeys(event: EventInput): void {
    const subscriberKey = event.dedupe?.subscriberKey ?? event.subscriberKey;
    if (!event.clearsDedupeTypes?.length || subscriberKey === undefined) return;
    const scope = event.dedupe?.scope ?? (event.scope ? dedupeScope(event.scope) : null);
    this.#clearLegacyKeys.run({ subscriberKey, scope, types: JSON.stringify(event.clearsDedupeTypes) });
  }

  #insertEventRow(deliveryId: number, receivedAt: number, event: EventInput, duplicateOf: number | null): number {
    const result = this.#insertEvent.run({
      deliveryId,
      source: event.source,
      kitEventId: event.kitEventId ?? null,
      type: event.type,
      kitType: event.kitType,
      scopeParam: event.scope?.param ?? null,
      scopeValue: event.scope?.value ?? null,
      subscriberId: event.subscriberId ?? null,
      email: event.email?.toLowerCase() ?? null,
      subscriberKey: event.subscriberKey ?? null,
      occurredAt: event.occurredAt ?? null,
      receivedAt,
      status: duplicateOf === null ? 'accepted' : 'duplicate',
      duplicateOf,
      payload: toJson(event.payload),
      decisions: toJson(event.decisions),
    });
    return Number(result.lastInsertRowid);
  }

  #insertJobRow(eventId: number, receivedAt: number, event: EventInput, job: PlannedJob): number {
    const jobId = this.#insertJob.get({
      eventId,
      rule: job.rule,
      destination: job.destination,
      action: job.action,
      params: toJson(job.params) ?? 'null',
      subKey: job.subKey ?? null,
      subscriberKey: event.subscriberKey ?? null,
      subscriberId: event.subscriberId ?? null,
      email: event.email?.toLowerCase() ?? null,
      maxAttempts: job.maxAttempts,
      now: receivedAt,
      storeId: this.#storeId,
    });
    if (jobId === undefined) throw new Error('inserting a job returned no id');
    return jobId;
  }

  #quarantine(deliveryId: number, entry: QuarantineInput): number {
    // Bodies cross the thread boundary as Uint8Array; SQLite binds Buffers as BLOBs.
    const bytes: Uint8Array = entry.body;
    const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const result = this.#insertQuarantine.run({
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
