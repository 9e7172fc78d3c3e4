/**
 * The filters list endpoints share (reference/kit.md §5): `status` (default `active`, `all` for
 * every state) and the `created_*` / `updated_*` windows.
 */
import { invalidDate, timeWindow } from './http.js';
import { SUBSCRIBER_STATES, isSubscriberState, type SubscriberState } from './model.js';
import type { SubscriberFilter } from './subscribers.js';

/** Kit's message for a bad `status` is [UNC]. */
export const INVALID_STATUS = `The status param must be one of: ${SUBSCRIBER_STATES.join(', ')}, all`;

/** Reads `status` (`canceled` accepted for `cancelled`, as Kit does for `canceled_at`). */
export function parseStatus(value: unknown): ReadonlySet<SubscriberState> | undefined | 'invalid' {
  const raw = typeof value === 'string' && value !== '' ? value : 'active';
  if (raw === 'all') return undefined;
  const state = raw === 'canceled' ? 'cancelled' : raw;
  return isSubscriberState(state) ? new Set([state]) : 'invalid';
}

/** The subscriber filter of a list query, or the error message to answer 422 with. */
export function subscriberFilter(query: Record<string, unknown>, windows: ReadonlyArray<'created' | 'updated'>): SubscriberFilter | { error: string } {
  const states = parseStatus(query.status);
  if (states === 'invalid') return { error: INVALID_STATUS };
  const filter: { -readonly [K in keyof SubscriberFilter]: SubscriberFilter[K] } = states ? { states } : {};
  for (const prefix of windows) {
    const window = timeWindow(query, prefix);
    if ('invalid' in window) return { error: invalidDate(window.invalid) };
    if (prefix === 'created') Object.assign(filter, { createdFrom: window.from, createdTo: window.to });
    else Object.assign(filter, { updatedFrom: window.from, updatedTo: window.to });
  }
  return filter;
}
