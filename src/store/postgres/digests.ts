/**
 * Digest windows and dead-job alerts on PostgreSQL (sqlite/core-digests.ts is the reference).
 *
 * Every function takes the caller's transaction client. A window is counted (`planDigest`) and
 * collects its events (`collectDigest`) inside the ingest transaction, and closed (`closeDueDigests`)
 * in one transaction with the digest event it makes. Both run under the ingest lock (ingest.ts),
 * which also serialises closers on several instances: a window is read open and marked closed by
 * one holder at a time, so it is closed once.
 */
import type { CommitDeliveryInput, CommitDeliveryResult, DeadJobAlert, DigestExample, DigestPlan, DigestSummary, DigestWindowRecord, EventSource, PlannedJob } from '../types.js';
import { fromJson, jobFromRow, toJson, type JobRow } from '../rows.js';
import type { Queryable } from './pool.js';

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

/** What ingest does with a digesting rule's job: make it (under the threshold) or collect the event. */
export type DigestVerdict = { readonly kind: 'send' } | { readonly kind: 'collect'; readonly windowId: number };

const DEFAULT_EXAMPLES = 5;

/**
 * Whether this event's job of a digesting rule goes out (the window is under its threshold) or
 * joins the window; counts it either way. The window row is locked (FOR UPDATE) while counted.
 */
export async function planDigest(client: Queryable, job: PlannedJob & { readonly digest: DigestPlan }): Promise<DigestVerdict> {
  const { digest } = job;
  await client.query(
    `INSERT INTO digest_windows (key, rule, destination, action, params, sub_key, max_attempts, window_start, window_end)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key, window_start) DO NOTHING`,
    [digest.key, job.rule, job.destination, job.action, toJson(job.params) ?? 'null', job.subKey ?? null, job.maxAttempts, digest.windowStart, digest.windowEnd],
  );
  const { rows } = await client.query<WindowRow>('SELECT * FROM digest_windows WHERE key = $1 AND window_start = $2 FOR UPDATE', [digest.key, digest.windowStart]);
  const window = rows[0]!;
  // A window already closed (an event that arrived after the closer ran) would never be closed
  // again: its events go out one by one.
  if (window.status === 'closed' || window.sent + window.digested < (digest.threshold ?? 0)) {
    await client.query('UPDATE digest_windows SET sent = sent + 1 WHERE id = $1', [window.id]);
    return { kind: 'send' };
  }
  await client.query('UPDATE digest_windows SET digested = digested + 1 WHERE id = $1', [window.id]);
  return { kind: 'collect', windowId: window.id };
}

export async function collectDigest(client: Queryable, windowId: number, eventId: number): Promise<void> {
  await client.query('INSERT INTO digest_items (window_id, event_id) VALUES ($1, $2)', [windowId, eventId]);
}

/** See Store.closeDigests; `commit` is the ingest commit, run on the same client. */
export async function closeDueDigests(
  client: Queryable,
  input: { readonly now: number; readonly limit: number; readonly examples?: number },
  commit: (input: CommitDeliveryInput) => Promise<CommitDeliveryResult>,
): Promise<DigestWindowRecord[]> {
  const { rows: due } = await client.query<WindowRow>(
    `SELECT * FROM digest_windows WHERE status = 'open' AND window_end <= $1 ORDER BY window_end, id LIMIT $2 FOR UPDATE`,
    [input.now, Math.max(0, Math.trunc(input.limit))],
  );
  const closed: DigestWindowRecord[] = [];
  for (const window of due) {
    let eventId: number | null = null;
    let jobId: number | null = null;
    if (window.digested > 0) {
      const summary = await digestSummary(client, window, input.examples ?? DEFAULT_EXAMPLES);
      const job: PlannedJob = {
        rule: window.rule,
        destination: window.destination,
        action: window.action,
        params: JSON.parse(window.params) as unknown,
        maxAttempts: window.max_attempts,
        ...(window.sub_key !== null ? { subKey: window.sub_key } : {}),
      };
      const result = await commit({
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
    await client.query(`UPDATE digest_windows SET status = 'closed', closed_at = $2, event_id = $3, job_id = $4 WHERE id = $1`, [window.id, input.now, eventId, jobId]);
    closed.push(windowFromRow({ ...window, status: 'closed', closed_at: input.now, event_id: eventId, job_id: jobId }));
  }
  return closed;
}

async function digestSummary(client: Queryable, window: WindowRow, examples: number): Promise<DigestSummary> {
  const { rows: byType } = await client.query<{ type: string; n: number }>(
    `SELECT e.type AS type, count(*) AS n FROM digest_items AS d JOIN events AS e ON e.id = d.event_id
     WHERE d.window_id = $1 GROUP BY e.type ORDER BY n DESC, e.type`,
    [window.id],
  );
  const counts: Record<string, number> = {};
  let counted = 0;
  for (const { type, n } of byType) {
    counts[type] = n;
    counted += n;
  }
  // Events purged before their window closed (a retention shorter than a window) still count.
  if (counted < window.digested) counts['purged'] = window.digested - counted;
  const { rows } = await client.query<ExampleRow>(
    `SELECT e.id, e.type, e.kit_type, e.source, e.origin, e.kit_event_id, e.email, e.subscriber_id, e.scope_param, e.scope_value, e.received_at, e.payload
     FROM digest_items AS d JOIN events AS e ON e.id = d.event_id WHERE d.window_id = $1 ORDER BY d.event_id LIMIT $2`,
    [window.id, examples],
  );
  return {
    windowId: window.id,
    rule: window.rule,
    windowStart: window.window_start,
    windowEnd: window.window_end,
    total: window.digested,
    sentIndividually: window.sent,
    counts,
    examples: rows.map(
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

export async function listDigestWindows(client: Queryable, filter: { readonly status?: 'open' | 'closed'; readonly limit?: number }): Promise<DigestWindowRecord[]> {
  const { rows } = await client.query<WindowRow>('SELECT * FROM digest_windows WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2', [
    filter.status ?? null,
    filter.limit ?? 100,
  ]);
  return rows.map(windowFromRow);
}

type AlertJoinRow = JobRow & { alert_id: number; alert_job_id: number; alert_created_at: number; event_type: string | null; event_origin: string | null; store_id: string };

/** Dead-job alert rows with their jobs (if still stored) and the jobs' events' type and origin. */
export async function takeDeadJobAlerts(client: Queryable, limit: number): Promise<DeadJobAlert[]> {
  const { rows } = await client.query<AlertJoinRow>(
    `SELECT j.*, a.id AS alert_id, a.job_id AS alert_job_id, a.created_at AS alert_created_at, e.type AS event_type, e.origin AS event_origin,
       (SELECT value FROM settings WHERE key = 'store_id') AS store_id
     FROM dead_job_alerts AS a LEFT JOIN jobs AS j ON j.id = a.job_id LEFT JOIN events AS e ON e.id = j.event_id
     ORDER BY a.id LIMIT $1`,
    [Math.max(0, Math.trunc(limit))],
  );
  return rows.map(
    (row): DeadJobAlert => ({
      id: row.alert_id,
      jobId: row.alert_job_id,
      createdAt: row.alert_created_at,
      ...(row.id !== null ? { job: jobFromRow(row, row.store_id) } : {}),
      ...(row.event_type !== null && row.event_origin !== null ? { eventType: row.event_type, eventOrigin: row.event_origin } : {}),
    }),
  );
}

export async function settleDeadJobAlerts(client: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) await client.query('DELETE FROM dead_job_alerts WHERE id = ANY($1::bigint[])', [[...ids]]);
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
