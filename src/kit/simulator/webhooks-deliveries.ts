/**
 * Webhooks 2.0 delivery history (reference/kit.md §7B, W-hist): every delivery with its status and
 * every attempt, kept 30 days, listed newest first.
 *
 * Kit documents the fields (status, attempt count, completion time, each attempt's time, HTTP
 * status, start of the response body and duration) but not the exact JSON [UNC]. The shape chosen
 * here: `{id, status, event_type, event_count, attempt_count, created_at, completed_at,
 * next_attempt_at}` in lists, plus `events` and `attempts: [{attempted_at, response_status,
 * response_body, duration_ms, error}]` for one delivery. Times carry milliseconds, because scaled
 * test retries are milliseconds apart.
 */
import { SIGNED_EVENT_TYPES } from '../events.js';
import { isoMillis } from './webhooks-payloads.js';

export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'retrying', 'delivered', 'failed'];

/** One element of a delivery's `events`. */
export interface SignedEvent {
  /** UUID, the same for every endpoint the change went to and across retries. */
  readonly id: string;
  readonly type: string;
  /** ISO-8601, second precision. */
  readonly created: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface DeliveryAttempt {
  readonly attemptedAt: number;
  /** Null when no HTTP answer came (connect error, timeout, dropped). */
  readonly responseStatus: number | null;
  /** The start of the answer's body. */
  readonly responseBody: string | null;
  readonly durationMs: number;
  readonly error: string | null;
  /** The attempt was eaten by a simulator drop fault: the receiver never saw it. */
  readonly isDropped: boolean;
  /** Kit's wait before the next attempt, before `retryScale`; null when this attempt ended the delivery. */
  readonly retryDelayMs: number | null;
}

export interface Delivery {
  readonly id: number;
  readonly endpointId: number;
  readonly eventType: string;
  readonly events: readonly SignedEvent[];
  /** The exact bytes every attempt POSTs (only the signature changes between attempts). */
  readonly body: string;
  readonly status: DeliveryStatus;
  readonly attempts: readonly DeliveryAttempt[];
  readonly createdAt: number;
  readonly completedAt: number | null;
  readonly nextAttemptAt: number | null;
}

export type MutableDelivery = { -readonly [K in keyof Delivery]: Delivery[K] } & { attempts: DeliveryAttempt[] };

export interface DeliveryFilter {
  readonly status?: DeliveryStatus;
  readonly eventType?: string;
}

export class DeliveryHistory {
  /** Insertion order is id order. */
  readonly #byId = new Map<number, MutableDelivery>();

  constructor(private readonly retentionMs: number, private readonly maxDeliveries: number) {}

  add(delivery: MutableDelivery, now: number): void {
    this.#byId.set(delivery.id, delivery);
    this.prune(now);
  }

  /** Drops deliveries past retention, then the oldest beyond the cap (a long sandbox run stays bounded). */
  prune(now: number): void {
    const oldest = now - this.retentionMs;
    for (const [id, d] of this.#byId) {
      if (d.createdAt >= oldest && this.#byId.size <= this.maxDeliveries) break;
      this.#byId.delete(id);
    }
  }

  /** One endpoint's deliveries, newest first. */
  list(endpointId: number, now: number, filter: DeliveryFilter = {}): Delivery[] {
    this.prune(now);
    const out: Delivery[] = [];
    for (const d of this.#byId.values()) {
      if (d.endpointId !== endpointId) continue;
      if (filter.status !== undefined && d.status !== filter.status) continue;
      if (filter.eventType !== undefined && d.eventType !== filter.eventType) continue;
      out.push(d);
    }
    return out.reverse();
  }

  get(endpointId: number, id: number, now: number): Delivery | undefined {
    this.prune(now);
    const d = this.#byId.get(id);
    return d?.endpointId === endpointId ? d : undefined;
  }
}

/** Reads `status` and `event_type` query filters; a value Kit would not know → an error (422). */
export function parseDeliveryFilter(query: Record<string, unknown>): DeliveryFilter | { error: string } {
  const { status, event_type: eventType } = query;
  const filter: { status?: DeliveryStatus; eventType?: string } = {};
  if (status !== undefined) {
    if (typeof status !== 'string' || !(DELIVERY_STATUSES as readonly string[]).includes(status)) {
      return { error: `Status must be one of: ${DELIVERY_STATUSES.join(', ')}` };
    }
    filter.status = status as DeliveryStatus;
  }
  if (eventType !== undefined) {
    if (typeof eventType !== 'string' || !SIGNED_EVENT_TYPES.includes(eventType)) return { error: 'Event type is not a valid event type' };
    filter.eventType = eventType;
  }
  return filter;
}

export function deliverySummaryJson(d: Delivery): Record<string, unknown> {
  return {
    id: d.id,
    status: d.status,
    event_type: d.eventType,
    event_count: d.events.length,
    attempt_count: d.attempts.length,
    created_at: isoMillis(d.createdAt),
    completed_at: d.completedAt === null ? null : isoMillis(d.completedAt),
    next_attempt_at: d.nextAttemptAt === null ? null : isoMillis(d.nextAttemptAt),
  };
}

export function deliveryDetailJson(d: Delivery): Record<string, unknown> {
  return {
    ...deliverySummaryJson(d),
    events: d.events,
    attempts: d.attempts.map((a) => ({
      attempted_at: isoMillis(a.attemptedAt),
      response_status: a.responseStatus,
      response_body: a.responseBody,
      duration_ms: a.durationMs,
      error: a.error,
    })),
  };
}
