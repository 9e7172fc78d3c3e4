/**
 * Rows as both stores return them (better-sqlite3 and pg: the PostgreSQL schema keeps SQLite's
 * column names and value forms), and their mapping to the store's records. Column names are
 * snake_case in SQL and camelCase in records; JSON columns are parsed here, once.
 */
import { jsonDepth } from '../lib/json-scan.js';
import type {
  AttemptOutcome,
  AttemptRecord,
  DeliveryRecord,
  DestinationState,
  EventRecord,
  EventSource,
  EventStatus,
  JobRecord,
  JobStatus,
  QuarantineRecord,
  QuarantineStatus,
  RequestSummary,
  RouteDecision,
} from './types.js';

export interface DeliveryRow {
  id: number;
  system: string;
  route: string;
  kit_delivery_id: string | null;
  received_at: number;
  body_bytes: number;
  event_count: number;
  quarantined_count: number;
}

export interface EventRow {
  id: number;
  delivery_id: number;
  source: string;
  kit_event_id: string | null;
  type: string;
  kit_type: string;
  scope_param: string | null;
  scope_value: string | null;
  subscriber_id: string | null;
  email: string | null;
  subscriber_key: string | null;
  occurred_at: number | null;
  received_at: number;
  status: string;
  duplicate_of: number | null;
  payload: string | null;
  decisions: string;
  origin: string;
}

export interface JobRow {
  id: number;
  event_id: number;
  rule: string;
  destination: string;
  action: string;
  params: string;
  sub_key: string | null;
  subscriber_key: string | null;
  subscriber_id: string | null;
  email: string | null;
  status: string;
  attempts: number;
  max_attempts: number;
  run_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  replays: number;
  facts: string;
  copy_of: number | null;
}

export interface AttemptRow {
  id: number;
  job_id: number;
  attempt: number;
  event_id: number;
  destination: string;
  action: string;
  subscriber_key: string | null;
  subscriber_id: string | null;
  email: string | null;
  worker_id: string;
  started_at: number;
  finished_at: number;
  duration_ms: number;
  outcome: string;
  error_class: string | null;
  error: string | null;
  request: string | null;
  response_status: number | null;
  response_body: string | null;
  correlation: string;
  scrubbed_at: number | null;
  is_shadow: number;
}

export interface QuarantineRow {
  id: number;
  system: string;
  route: string;
  reason: string;
  detail: string;
  headers: string;
  body: Buffer;
  received_at: number;
  times_received: number;
  last_received_at: number | null;
  status: string;
  resolved_at: number | null;
  reingested_event_ids: string;
}

export interface DestinationStateRow {
  destination: string;
  paused_at: number | null;
  paused_reason: string | null;
  breaker_open_until: number | null;
  breaker_openings: number;
  updated_at: number;
}

/** JSON text for a column; `undefined` (no value) becomes SQL NULL. */
export function toJson(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}

/**
 * A JSON column's value. Text nested deeper than READABLE_DEPTH is not parsed: such a value could
 * not be copied to the calling thread (or serialised again), so the call reading it fails alone
 * with a StoreValueError, instead of the answer going missing.
 */
export function fromJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  if (isTooDeep(text)) {
    throw Object.assign(new Error(`a stored value nests deeper than ${READABLE_DEPTH} levels (${text.length} characters) and cannot be read`), { name: 'StoreValueError' });
  }
  return JSON.parse(text) as T;
}

/**
 * Stored values nested deeper than this are not parsed (structured clone and JSON.stringify both
 * recurse, and fail somewhere past 1,000 levels). Ingest keeps new payloads to
 * `server.maxJsonDepth` (at most 512); only rows stored before that limit existed can be deeper.
 */
export const READABLE_DEPTH = 768;

function isTooDeep(text: string): boolean {
  // Nesting N levels takes at least 2N characters: shorter text needs no scan.
  return text.length > 2 * READABLE_DEPTH && jsonDepth(Buffer.from(text), READABLE_DEPTH) > READABLE_DEPTH;
}

export function deliveryFromRow(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    system: row.system,
    route: row.route,
    kitDeliveryId: row.kit_delivery_id,
    receivedAt: row.received_at,
    bodyBytes: row.body_bytes,
    eventCount: row.event_count,
    quarantinedCount: row.quarantined_count,
  };
}

export function eventFromRow(row: EventRow): EventRecord {
  return {
    id: row.id,
    deliveryId: row.delivery_id,
    source: row.source as EventSource,
    origin: row.origin,
    kitEventId: row.kit_event_id,
    type: row.type,
    kitType: row.kit_type,
    scope: row.scope_param !== null && row.scope_value !== null ? { param: row.scope_param, value: row.scope_value } : null,
    subscriberId: row.subscriber_id,
    email: row.email,
    subscriberKey: row.subscriber_key,
    occurredAt: row.occurred_at,
    receivedAt: row.received_at,
    status: row.status as EventStatus,
    duplicateOf: row.duplicate_of,
    ...payloadFromRow(row.payload),
    decisions: fromJson<RouteDecision[]>(row.decisions, []),
  };
}

/**
 * An event's payload. One too deep to read does not fail the read (listing events, claiming its
 * jobs): the record says why it has no payload, and its jobs go dead at claim (core-queue.ts).
 */
function payloadFromRow(text: string | null): Pick<EventRecord, 'payload' | 'unreadablePayload'> {
  if (text === null) return { payload: null };
  if (isTooDeep(text)) {
    return { payload: null, unreadablePayload: `the stored payload nests deeper than ${READABLE_DEPTH} levels (${text.length} characters): kept in the database, not read` };
  }
  // Checked just above: not fromJson, which would scan the text a second time.
  return { payload: JSON.parse(text) as unknown };
}

/**
 * A job's idempotency key: the database's random store id and the job id. Unique by construction
 * (job ids are never reused, and a fresh database has a fresh store id), so it is not stored.
 */
export function idempotencyKey(storeId: string, jobId: number): string {
  return `${storeId}-${jobId}`;
}

export function jobFromRow(row: JobRow, storeId: string): JobRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    rule: row.rule,
    destination: row.destination,
    action: row.action,
    params: fromJson<unknown>(row.params, null),
    subKey: row.sub_key,
    subscriberKey: row.subscriber_key,
    subscriberId: row.subscriber_id,
    email: row.email,
    status: row.status as JobStatus,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    lastError: row.last_error,
    idempotencyKey: idempotencyKey(storeId, row.id),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    replays: row.replays,
    facts: fromJson<Record<string, unknown>>(row.facts, {}),
    copyOf: row.copy_of,
  };
}

export function attemptFromRow(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    attempt: row.attempt,
    eventId: row.event_id,
    destination: row.destination,
    action: row.action,
    subscriberKey: row.subscriber_key,
    email: row.email,
    workerId: row.worker_id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
    outcome: row.outcome as AttemptOutcome,
    correlation: fromJson<Record<string, string>>(row.correlation, {}),
    scrubbedAt: row.scrubbed_at,
    ...(row.is_shadow === 1 && { isShadow: true }),
    // Optional fields of AttemptInput: absent rather than null, as the caller wrote them.
    ...(row.error_class !== null && { errorClass: row.error_class as NonNullable<AttemptRecord['errorClass']> }),
    ...(row.error !== null && { error: row.error }),
    ...(row.request !== null && { request: fromJson<RequestSummary>(row.request, {} as RequestSummary) }),
    ...(row.response_status !== null && { responseStatus: row.response_status }),
    ...(row.response_body !== null && { responseBody: row.response_body }),
  };
}

export function quarantineFromRow(row: QuarantineRow): QuarantineRecord {
  return {
    id: row.id,
    system: row.system,
    route: row.route,
    reason: row.reason,
    detail: row.detail,
    headers: fromJson<Record<string, string>>(row.headers, {}),
    body: row.body,
    receivedAt: row.received_at,
    timesReceived: row.times_received,
    lastReceivedAt: row.last_received_at ?? row.received_at,
    status: row.status as QuarantineStatus,
    resolvedAt: row.resolved_at,
    reingestedEventIds: fromJson<number[]>(row.reingested_event_ids, []),
  };
}

export function destinationStateFromRow(row: DestinationStateRow): DestinationState {
  return {
    destination: row.destination,
    pausedAt: row.paused_at,
    pausedReason: row.paused_reason,
    breakerOpenUntil: row.breaker_open_until,
    breakerOpenings: row.breaker_openings,
    updatedAt: row.updated_at,
  };
}

/**
 * Calls running, from the destination's running jobs by action (ClaimInput.maxRunning): one a job,
 * and ⌈jobs / size⌉ for a batch action's.
 */
export function runningCalls(byAction: readonly { readonly action: string; readonly count: number }[], batchActions: Readonly<Record<string, number>> = {}): number {
  let calls = 0;
  for (const { action, count } of byAction) {
    const size = Object.hasOwn(batchActions, action) ? batchActions[action]! : 1;
    calls += Math.ceil(count / Math.max(1, size));
  }
  return calls;
}
