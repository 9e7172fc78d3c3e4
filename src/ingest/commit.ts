/**
 * The commit step: parsed events → routed events → one store transaction → an outcome. Shared by
 * both webhook systems and by quarantine re-ingest, so every path into the store routes and
 * dedupes the same way.
 */
import { hash } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { oppositeTypes } from '../kit/events.js';
import { legacyFingerprint, type NormalizedEvent } from '../kit/normalize.js';
import { routeEvent, type CompiledRule } from '../rules/route.js';
import { StoreUnavailableError } from '../lib/errors.js';
import { dedupeScope, type CommitDeliveryInput, type DeliveryInput, type EventInput, type EventSource, type QuarantineInput, type Store } from '../store/types.js';
import { mirrorChanges } from './mirror.js';
import type { IngestOutcome } from './outcome.js';

export interface CommitDeps {
  readonly store: Store;
  readonly config: Config;
  readonly rules: readonly CompiledRule[];
}

export interface ParsedEvent {
  readonly event: NormalizedEvent;
  readonly source: EventSource;
  /** Legacy only: the route the body came in on (fingerprint dedupe). */
  readonly legacyRouteId?: string;
  /** The payload as JSON text when the caller has it (a legacy body): stored as is, not serialised again. */
  readonly payloadJson?: string;
  /** A dedupe key of the caller's (reconciliation's synthetic events), used instead of the above. */
  readonly dedupe?: { readonly key: string; readonly expiresAt: number };
}

const HOUR = 3_600_000;

/**
 * The fingerprint of a legacy body: sha256 over the route id and the body text exactly as it came
 * (Kit re-sends identical bytes), which costs a fraction of legacyFingerprint's key-sorted
 * serialisation of the parsed body. Every legacy path (live ingest, quarantine re-ingest) has the
 * text; the fallback only serves callers that built an event without one.
 */
function legacyKey(routeId: string, parsed: ParsedEvent): string {
  if (parsed.payloadJson === undefined) return legacyFingerprint(routeId, parsed.event.payload);
  return hash('sha256', `${routeId}\n${parsed.payloadJson}`);
}

export function toEventInput(parsed: ParsedEvent, deps: CommitDeps, receivedAt: number): EventInput {
  const { event } = parsed;
  const routed = routeEvent(event.kitEvent, deps.rules, deps.config, receivedAt);
  const scope = event.scope ? dedupeScope(event.scope) : undefined;
  const dedupe = parsed.dedupe
    ? parsed.dedupe
    : event.kitEventId
    ? // Kit's 2.0 event ids are stable across retries and re-emits: remember them past the
      // ~41 h retry span (reference/kit.md §7B "Idempotency").
      { key: `kit:${event.kitEventId}`, expiresAt: receivedAt + deps.config.kit.signed.dedupeHours * HOUR }
    : parsed.legacyRouteId
      ? {
          key: `legacy:${legacyKey(parsed.legacyRouteId, parsed)}`,
          expiresAt: receivedAt + deps.config.kit.legacy.dedupeWindowSeconds * 1000,
          ...(event.subscriberKey ? { subscriberKey: event.subscriberKey } : {}),
          type: event.type,
          ...(scope ? { scope } : {}),
        }
      : undefined;
  const opposites = oppositeTypes(event.type);
  return {
    source: parsed.source,
    type: event.type,
    kitType: event.kitType,
    payload: event.payload,
    ...(parsed.payloadJson !== undefined ? { payloadJson: parsed.payloadJson } : {}),
    ...(event.kitEventId ? { kitEventId: event.kitEventId } : {}),
    ...(event.scope ? { scope: event.scope } : {}),
    ...(event.subscriberId ? { subscriberId: event.subscriberId } : {}),
    ...(event.email ? { email: event.email } : {}),
    ...(event.subscriberKey ? { subscriberKey: event.subscriberKey } : {}),
    ...(event.occurredAt !== undefined ? { occurredAt: event.occurredAt } : {}),
    ...(dedupe ? { dedupe } : {}),
    ...(opposites.length > 0 && event.subscriberKey ? { clearsDedupeTypes: opposites } : {}),
    jobs: routed.jobs,
    decisions: routed.decisions,
    mirror: mirrorChanges(event),
  };
}

/**
 * Commits a delivery (or, when `isWholeBodyBad`, only its quarantine entry). Store faults become `unavailable` (Kit retries later); anything else
 * thrown here is a bug and propagates.
 */
export async function commit(
  deps: CommitDeps,
  delivery: DeliveryInput,
  events: readonly ParsedEvent[],
  quarantine: readonly QuarantineInput[],
  options: { readonly reingestOf?: number; readonly isWholeBodyBad?: boolean } = {},
): Promise<IngestOutcome> {
  const { reingestOf } = options;
  const input: CommitDeliveryInput = {
    delivery,
    events: events.map((parsed) => toEventInput(parsed, deps, delivery.receivedAt)),
    quarantine,
    ...(reingestOf !== undefined ? { reingestOf } : {}),
  };
  const first = quarantine[0];
  return commitInput(deps.store, input, options.isWholeBodyBad ? { reason: first?.reason ?? 'invalid_payload', detail: first?.detail ?? 'no events' } : undefined);
}

/**
 * Commits a prepared delivery and says what became of it. `wholeBodyBad`: the body could not be
 * used at all, so it is answered 400 (a signed batch whose events were all bad is still a
 * well-formed delivery: 2xx with them quarantined, or Kit retries it for 41 h). Store faults
 * become `unavailable` (the sender retries later); never a 2xx for what was not stored.
 */
export async function commitInput(store: Store, input: CommitDeliveryInput, wholeBodyBad?: { readonly reason: string; readonly detail: string }): Promise<IngestOutcome> {
  try {
    const result = await store.commitDelivery(input);
    if (wholeBodyBad) return { kind: 'quarantined', deliveryId: result.deliveryId, quarantineIds: result.quarantineIds, ...wholeBodyBad };
    const accepted = result.events.filter((e) => e.status === 'accepted');
    return {
      kind: 'accepted',
      deliveryId: result.deliveryId,
      accepted: accepted.length,
      duplicates: result.events.length - accepted.length,
      quarantined: result.quarantineIds.length,
      eventIds: result.events.map((e) => e.eventId),
      jobs: accepted.reduce((n, e) => n + (e.status === 'accepted' ? e.jobIds.length : 0), 0),
    };
  } catch (error) {
    if (error instanceof StoreUnavailableError) return { kind: 'unavailable', retryAfterSeconds: error.retryAfterSeconds, message: error.message };
    // Any other store failure also means "not stored": the sender must retry, never get a 2xx.
    return { kind: 'unavailable', retryAfterSeconds: 5, message: `store error: ${error instanceof Error ? error.message : String(error)}` };
  }
}
