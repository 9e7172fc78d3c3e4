/**
 * Events from an integration's source, as rules and actions see them. They are not Kit's, so they
 * take the KitEvent shape with what a source knows: the type, the subscriber's email (and Kit id
 * when the source has it), the time and the payload as received.
 */
import type { KitEvent } from '../kit/events.js';
import type { SourceEvent } from './types.js';

/** The stored type of a source event: `<integration>:<its own type>` (`kajabi:purchase.created`). */
export function sourceEventType(origin: string, type: string): string {
  return `${origin}:${type}`;
}

export function sourceKitEvent(event: Pick<SourceEvent, 'email' | 'subscriberId' | 'occurredAt' | 'payload'> & { readonly type: string; readonly id?: string | undefined }): KitEvent {
  const id = event.subscriberId !== undefined && /^\d+$/.test(event.subscriberId) ? Number(event.subscriberId) : undefined;
  return {
    type: event.type,
    kitType: event.type,
    system: 'signed',
    ...(event.id !== undefined ? { kitEventId: event.id } : {}),
    ...(event.email !== undefined || id !== undefined ? { subscriber: { ...(id !== undefined ? { id } : {}), ...(event.email !== undefined ? { email: event.email.trim().toLowerCase() } : {}), fields: {} } } : {}),
    ...(event.occurredAt !== undefined ? { occurredAt: event.occurredAt } : {}),
    payload: event.payload,
  };
}
