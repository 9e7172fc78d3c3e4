/**
 * What an inbound event says about the subscriber mirror (store/kit-types.ts): the subscriber
 * object it carries, and the tag it added or removed. Applied in the ingest transaction, only for
 * accepted events, so webhooks keep the mirror current without extra calls to Kit.
 */
import type { NormalizedEvent } from '../kit/normalize.js';
import type { MirrorChange } from '../store/types.js';

export function mirrorChanges(event: NormalizedEvent): MirrorChange[] {
  const subscriber = event.kitEvent.subscriber;
  const kitId = subscriber?.id;
  if (!subscriber || kitId === undefined || !subscriber.email) return [];
  const changes: MirrorChange[] = [];
  // A purchase or custom-field event may carry only part of a subscriber: only subscriber.*
  // events with a state are taken as the subscriber's whole current state.
  if (event.type.startsWith('subscriber.') && subscriber.state) {
    changes.push({
      kind: 'subscriber',
      subscriber: {
        kitId,
        email: subscriber.email,
        firstName: subscriber.firstName ?? null,
        state: subscriber.state,
        fields: subscriber.fields,
        createdAt: createdAtOf(event.payload),
      },
    });
  }
  const tagId = event.scope?.param === 'tag_id' ? Number(event.scope.value) : Number.NaN;
  if (Number.isSafeInteger(tagId)) {
    const name = typeof event.kitEvent.tag?.name === 'string' ? event.kitEvent.tag.name : undefined;
    if (event.type === 'subscriber.tag_added') {
      changes.push({ kind: 'tag_added', kitId, email: subscriber.email, tag: { id: tagId, ...(name ? { name } : {}), ...(event.occurredAt !== undefined ? { taggedAt: event.occurredAt } : {}) } });
    } else if (event.type === 'subscriber.tag_removed') {
      changes.push({ kind: 'tag_removed', kitId, tagId });
    }
  }
  return changes;
}

/** `created_at` of the subscriber object, wherever the payload keeps it (legacy body or 2.0 `data`). */
function createdAtOf(payload: unknown): number | null {
  const record = payload as { subscriber?: { created_at?: unknown }; data?: { subscriber?: { created_at?: unknown } } } | null;
  const value = record?.subscriber?.created_at ?? record?.data?.subscriber?.created_at;
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
