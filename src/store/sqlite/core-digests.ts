/**
 * kitrelay's own events: digest windows and dead-job alerts (migration 007).
 *
 * A digesting rule's event joins its window in the ingest transaction (IngestOps asks `plan`, then
 * `collect` once the event has its id), so a window's counts move with the events exactly: an event
 * rolled back never counted, a duplicate never joins. `close` turns a window that has ended into
 * one event and one job, through the ingest commit, in the transaction that marks it closed.
 *
 * A job going dead fills `dead_job_alerts` by a trigger (in the transaction that made it dead);
 * `takeAlerts` reads the rows with their jobs, and the commit of the alert's event removes them.
 */
import type { Database, Statement } from 'better-sqlite3';
import type {
  CloseDigestsInput,
  CommitDeliveryInput,
  CommitDeliveryResult,
  DeadJobAlert,
  DigestExample,
  DigestPlan,
  DigestSummary,
  DigestWindowRecord,
  EventSource,
  PlannedJob,
} from '../types.js';
import { fromJson, jobFromRow, toJson, type JobRow } from '../rows.js';

interface WindowRow {
  id: number;
  key: string;
  rule: string;
  destination: string;
  action: string;
  params: string;
  sub_key: string | null;
  max_attempts: number;
  window_start: number;
  window_end: number;
  sent: number;
  digested: number;
  status: 'open' | 'closed';
  closed_at: number | null;
  event_id: number | null;
  job_id: number | null;
}

interface ExampleRow {
  id: number;
  type: string;
  kit_type: string;
  source: EventSource;
  origin: string;
  kit_event_id: string | null;
  email: string | null;
  subscriber_id: string | null;
  scope_param: string | null;
  scope_value: string | null;
  received_at: number;
  payload: string | null;
}

interface AlertRow {
  id: number;
  job_id: number;
  created_at: number;
}

/** What ingest does with a digesting rule's job: make it (under the threshold) or collect the event. */
export type DigestVerdict = { readonly kind: 'send' } | { readonly kind: 'collect'; readonly windowId: number };

const DEFAULT_EXAMPLES = 5;

export class DigestOps {
  readonly #selectWindow: Statement<[string, number], WindowRow>;
  readonly #insertWindow: Statement;
  readonly #countSent: Statement<[number]>;
  readonly #countDigested: Statement<[number]>;
  readonly #insertItem: Statement<[number, number]>;
  readonly #selectDue: Statement<[number, number], WindowRow>;
  readonly #countByType: Statement<[number], { type: string; n: number }>;
  readonly #selectExamples: Statement<[number, number], ExampleRow>;
  readonly #markClosed: Statement;
  readonly #listWindows: Statement<{ status: string | null; limit: number }, WindowRow>;
  readonly #deleteClosedWindows: Statement<[number]>;
  readonly #deleteOrphanItems: Statement<[]>;
  readonly #selectAlerts: Statement<[number], AlertRow>;
  readonly #selectJob: Statement<[number], JobRow>;
  readonly #selectEventOf: Statement<[number], { type: string; origin: string }>;
  readonly #deleteAlert: Statement<[number]>;
  readonly #storeId: string;

  constructor(db: Database, storeId: string) {
    this.#storeId = storeId;
    this.#selectWindow = db.prepare<[string, number], WindowRow>('SELECT * FROM digest_windows WHERE key = ? AND window_start = ?');
    this.#insertWindow = db.prepare(`
      INSERT INTO digest_windows (key, rule, destination, action, params, sub_key, max_attempts, window_start, window_end)
      VALUES (@key, @rule, @destination, @action, @params, @subKey, @maxAttempts, @windowStart, @windowEnd)`);
    this.#countSent = db.prepare<[number]>('UPDATE digest_windows SET sent = sent + 1 WHERE id = ?');
    this.#countDigested = db.prepare<[number]>('UPDATE digest_windows SET digested = digested + 1 WHERE id = ?');
    this.#insertItem = db.prepare<[number, number]>('INSERT INTO digest_items (window_id, event_id) VALUES (?, ?)');
    this.#selectDue = db.prepare<[number, number], WindowRow>(
      `SELECT * FROM digest_windows WHERE status = 'open' AND window_end <= ? ORDER BY window_end, id LIMIT ?`,
    );
    this.#countByType = db.prepare<[number], { type: string; n: number }>(`
      SELECT e.type AS type, count(*) AS n FROM digest_items AS d JOIN events AS e ON e.id = d.event_id
      WHERE d.window_id = ? GROUP BY e.type ORDER BY n DESC, e.type`);
    this.#selectExamples = db.prepare<[number, number], ExampleRow>(`
      SELECT e.id, e.type, e.kit_type, e.source, e.origin, e.kit_event_id, e.email, e.subscriber_id, e.scope_param, e.scope_value, e.received_at, e.payload
      FROM digest_items AS d JOIN events AS e ON e.id = d.event_id
      WHERE d.window_id = ? ORDER BY d.event_id LIMIT ?`);
    this.#markClosed = db.prepare(
      `UPDATE digest_windows SET status = 'closed', closed_at = @now, event_id = @eventId, job_id = @jobId WHERE id = @id AND status = 'open'`,
    );
    this.#listWindows = db.prepare<{ status: string | null; limit: number }, WindowRow>(
      'SELECT * FROM digest_windows WHERE (@status IS NULL OR status = @status) ORDER BY id DESC LIMIT @limit',
    );
    this.#deleteClosedWindows = db.prepare<[number]>(`DELETE FROM digest_windows WHERE status = 'closed' AND window_end < ?`);
    this.#deleteOrphanItems = db.prepare<[]>('DELETE FROM digest_items WHERE window_id NOT IN (SELECT id FROM digest_windows)');
    this.#selectAlerts = db.prepare<[number], AlertRow>('SELECT * FROM dead_job_alerts ORDER BY id LIMIT ?');
    this.#selectJob = db.prepare<[number], JobRow>('SELECT * FROM jobs WHERE id = ?');
    this.#selectEventOf = db.prepare<[number], { type: string; origin: string }>('SELECT type, origin FROM events WHERE id = ?');
    this.#deleteAlert = db.prepare<[number]>('DELETE FROM dead_job_alerts WHERE id = ?');
  }

  /**
   * Whether this event's job of a digesting rule goes out (the window has not reached its
   * threshold yet) or joins the window. Counts it either way; `collect` then links the event.
   */
  plan(job: PlannedJob & { readonly digest: DigestPlan }): DigestVerdict {
    const { digest } = job;
    let window = this.#selectWindow.get(digest.key, digest.windowStart);
    if (window === undefined) {
      this.#insertWindow.run({
        key: digest.key,
        rule: job.rule,
        destination: job.destination,
        action: job.action,
        params: toJson(job.params) ?? 'null',
        subKey: job.subKey ?? null,
        maxAttempts: job.maxAttempts,
        windowStart: digest.windowStart,
        windowEnd: digest.windowEnd,
      });
      window = this.#selectWindow.get(digest.key, digest.windowStart)!;
    }
    // A window already closed (an event that arrived late, after the closer ran) would never be
    // closed again: its events go out one by one.
    if (window.status === 'closed' || window.sent + window.digested < (digest.threshold ?? 0)) {
      this.#countSent.run(window.id);
      return { kind: 'send' };
    }
    this.#countDigested.run(window.id);
    return { kind: 'collect', windowId: window.id };
  }

  collect(windowId: number, eventId: number): void {
    this.#insertItem.run(windowId, eventId);
  }

  /** See Store.closeDigests; `commit` is the ingest commit, run in this same transaction. */
  close(input: CloseDigestsInput, commit: (input: CommitDeliveryInput) => CommitDeliveryResult): DigestWindowRecord[] {
    const closed: DigestWindowRecord[] = [];
    for (const window of this.#selectDue.all(input.now, input.limit)) {
      let eventId: number | null = null;
      let jobId: number | null = null;
      if (window.digested > 0) {
        const summary = this.#summary(window, input.examples ?? DEFAULT_EXAMPLES);
        const job: PlannedJob = {
          rule: window.rule,
          destination: window.destination,
          action: window.action,
          params: JSON.parse(window.params) as unknown,
          maxAttempts: window.max_attempts,
          ...(window.sub_key !== null ? { subKey: window.sub_key } : {}),
        };
        const result = commit({
          delivery: { system: 'internal', route: `digest/${window.key}`, receivedAt: input.now, bodyBytes: 0 },
          events: [{ source: 'internal', origin: 'kitrelay', type: 'kitrelay:digest', kitType: 'digest', payload: { digest: summary }, jobs: [job], decisions: [] }],
          quarantine: [],
        });
        const [outcome] = result.events;
        if (outcome?.status === 'accepted') {
          eventId = outcome.eventId;
          jobId = outcome.jobIds[0] ?? null;
        }
      }
      this.#markClosed.run({ id: window.id, now: input.now, eventId, jobId });
      closed.push(windowFromRow({ ...window, status: 'closed', closed_at: input.now, event_id: eventId, job_id: jobId }));
    }
    return closed;
  }

  #summary(window: WindowRow, examples: number): DigestSummary {
    const counts: Record<string, number> = {};
    let counted = 0;
    for (const { type, n } of this.#countByType.all(window.id)) {
      counts[type] = n;
      counted += n;
    }
    // Events purged before their window closed (a retention shorter than a window) still count.
    if (counted < window.digested) counts['purged'] = window.digested - counted;
    return {
      windowId: window.id,
      rule: window.rule,
      windowStart: window.window_start,
      windowEnd: window.window_end,
      total: window.digested,
      sentIndividually: window.sent,
      counts,
      examples: this.#selectExamples.all(window.id, examples).map(
        (row): DigestExample => ({
          eventId: row.id,
          type: row.type,
          kitType: row.kit_type,
          source: row.source,
          origin: row.origin,
          kitEventId: row.kit_event_id,
          email: row.email,
          subscriberId: row.subscriber_id,
          scope: row.scope_param !== null && row.scope_value !== null ? { param: row.scope_param, value: row.scope_value } : null,
          receivedAt: row.received_at,
          payload: readable(row.payload),
        }),
      ),
    };
  }

  listWindows(filter: { readonly status?: 'open' | 'closed'; readonly limit?: number }): DigestWindowRecord[] {
    return this.#listWindows.all({ status: filter.status ?? null, limit: filter.limit ?? 100 }).map(windowFromRow);
  }

  /** Retention: closed windows that ended before `before`, and their items. */
  purge(before: number): number {
    const windows = this.#deleteClosedWindows.run(before).changes;
    if (windows > 0) this.#deleteOrphanItems.run();
    return windows;
  }

  takeAlerts(limit: number): DeadJobAlert[] {
    return this.#selectAlerts.all(limit).map((row): DeadJobAlert => {
      const jobRow = this.#selectJob.get(row.job_id);
      const event = jobRow && this.#selectEventOf.get(jobRow.event_id);
      return {
        id: row.id,
        jobId: row.job_id,
        createdAt: row.created_at,
        ...(jobRow ? { job: jobFromRow(jobRow, this.#storeId) } : {}),
        ...(event ? { eventType: event.type, eventOrigin: event.origin } : {}),
      };
    });
  }

  settleAlerts(ids: readonly number[]): void {
    for (const id of ids) this.#deleteAlert.run(id);
  }
}

/** An example's payload, or null when it nests too deep to read (it must not keep the window open). */
function readable(payload: string | null): unknown {
  try {
    return fromJson<unknown>(payload, null);
  } catch {
    return null;
  }
}

function windowFromRow(row: WindowRow): DigestWindowRecord {
  return {
    id: row.id,
    key: row.key,
    rule: row.rule,
    destination: row.destination,
    action: row.action,
    windowStart: row.window_start,
    windowEnd: row.window_end,
    sent: row.sent,
    digested: row.digested,
    status: row.status,
    closedAt: row.closed_at,
    eventId: row.event_id,
    jobId: row.job_id,
  };
}
