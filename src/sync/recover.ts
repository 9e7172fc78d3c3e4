/**
 * Recovering webhooks that never reached kitrelay.
 *
 * - Signed endpoints: Kit keeps 30 days of delivery history (reference/kit.md §7B). Deliveries that
 *   failed or are still retrying are read back and their events ingested, exactly as if they had
 *   arrived: dedupe on the event id makes a late real delivery (or a second recovery) harmless.
 * - Legacy webhooks have no history and undocumented retries, so they are reconciled instead: for
 *   every tag a legacy route listens to, Kit's tag members are compared with the subscriber mirror,
 *   and each difference becomes a synthetic event (source `reconciled`) that is routed like a real
 *   one and updates the mirror in the same transaction.
 */
import type { CommitDeps } from '../ingest/commit.js';
import { commit } from '../ingest/commit.js';
import type { RouteTable } from '../ingest/routes.js';
import type { KitClient, KitSubscriber } from '../kit/client/index.js';
import { parseLegacyDelivery, parseSignedDelivery } from '../kit/normalize.js';
import type { Store } from '../store/types.js';
import { BACKFILL_CHECKPOINT } from './backfill.js';

export interface RecoverDeps extends CommitDeps {
  readonly client: KitClient;
  readonly routes: RouteTable;
  readonly now: () => number;
}

export interface SignedRecovery {
  readonly deliveriesRead: number;
  readonly eventsAccepted: number;
  readonly eventsAlreadyHere: number;
  /** Deliveries whose events Kit's history did not hold. */
  readonly withoutEvents: readonly string[];
}

/** Reads failed and retrying deliveries of kitrelay's signed endpoints and ingests their events. */
export async function recoverSignedDeliveries(deps: RecoverDeps): Promise<SignedRecovery> {
  const registrations = (await deps.store.listWebhookRegistrations()).filter((r) => r.system === 'signed');
  let deliveriesRead = 0;
  let eventsAccepted = 0;
  let eventsAlreadyHere = 0;
  const withoutEvents: string[] = [];
  for (const registration of registrations) {
    const endpoint = deps.config.kit.signed.endpoints.find((e) => e.name === registration.route);
    if (!endpoint) continue;
    for (const status of ['failed', 'retrying'] as const) {
      for await (const page of deps.client.listWebhookDeliveries(registration.kitId, { status, perPage: 100 })) {
        for (const summary of page.items) {
          deliveriesRead += 1;
          const delivery = await deps.client.getWebhookDelivery(registration.kitId, summary.id);
          const events = (delivery as { events?: unknown } | undefined)?.events;
          if (!Array.isArray(events) || events.length === 0) {
            withoutEvents.push(String(summary.id));
            continue;
          }
          const body = Buffer.from(JSON.stringify({ delivery_id: summary.id, events }));
          const parsed = parseSignedDelivery(body);
          if (!parsed.ok) {
            withoutEvents.push(String(summary.id));
            continue;
          }
          const good = parsed.events.flatMap((item) => (item.ok ? [{ event: item.event, source: 'reconciled' as const }] : []));
          const outcome = await commit(deps, { system: 'signed', route: endpoint.name, kitDeliveryId: String(summary.id), receivedAt: deps.now(), bodyBytes: body.length }, good, []);
          if (outcome.kind === 'unavailable') throw new Error(`store unavailable during recovery: ${outcome.message}`);
          if (outcome.kind === 'accepted') {
            eventsAccepted += outcome.accepted;
            eventsAlreadyHere += outcome.duplicates;
          }
        }
      }
    }
  }
  return { deliveriesRead, eventsAccepted, eventsAlreadyHere, withoutEvents };
}

export interface LegacyReconciliation {
  readonly tagsChecked: number;
  readonly tagAddedEmitted: number;
  readonly tagRemovedEmitted: number;
}

/**
 * Compares Kit's members of every tag a legacy tag_add / tag_remove route listens to with the
 * mirror, and emits synthetic events for the differences. Needs a finished backfill: without a
 * mirror, every member would look new.
 */
export async function reconcileLegacyTags(deps: RecoverDeps): Promise<LegacyReconciliation> {
  const backfill = await deps.store.getCheckpoint(BACKFILL_CHECKPOINT);
  if (!backfill?.completedAt) throw new Error('Run `kitrelay kit backfill` first: reconciliation compares Kit with the subscriber mirror it fills.');
  const tagRoutes = [...deps.routes.legacy.values()].filter((r) => r.scopeParam === 'tag_id' && r.scopeValue !== undefined);
  const tagIds = [...new Set(tagRoutes.map((r) => Number(r.scopeValue)))].filter(Number.isSafeInteger);
  let tagAddedEmitted = 0;
  let tagRemovedEmitted = 0;
  for (const tagId of tagIds) {
    const inKit = new Map<number, KitSubscriber>();
    for await (const page of deps.client.listTagSubscribers(tagId, { status: 'all', perPage: 1000 })) {
      for (const subscriber of page.items) inKit.set(subscriber.id, subscriber);
    }
    const inMirror = await mirrorMembers(deps.store, tagId);
    const addRoute = tagRoutes.find((r) => r.spec.legacyName === 'subscriber.tag_add' && Number(r.scopeValue) === tagId);
    const removeRoute = tagRoutes.find((r) => r.spec.legacyName === 'subscriber.tag_remove' && Number(r.scopeValue) === tagId);
    for (const [id, subscriber] of inKit) {
      if (inMirror.has(id) || !addRoute) continue;
      tagAddedEmitted += await emit(deps, addRoute.id, subscriber, `reconciled:tag_added:${id}:${tagId}:${subscriber.tagged_at ?? ''}`);
    }
    for (const [id, subscriber] of inMirror) {
      if (inKit.has(id) || !removeRoute) continue;
      tagRemovedEmitted += await emit(deps, removeRoute.id, subscriber, `reconciled:tag_removed:${id}:${tagId}:${deps.now()}`);
    }
  }
  return { tagsChecked: tagIds.length, tagAddedEmitted, tagRemovedEmitted };
}

async function mirrorMembers(store: Store, tagId: number): Promise<Map<number, KitSubscriber>> {
  const members = new Map<number, KitSubscriber>();
  let afterKitId: number | undefined;
  for (;;) {
    const page = await store.listSubscribers({ tagId, limit: 1000, ...(afterKitId !== undefined ? { afterKitId } : {}) });
    for (const s of page) {
      members.set(s.kitId, { id: s.kitId, first_name: s.firstName, email_address: s.email, state: s.state, created_at: new Date(s.createdAt ?? 0).toISOString(), fields: s.fields });
    }
    if (page.length < 1000) return members;
    afterKitId = page[page.length - 1]?.kitId;
  }
}

/** A synthetic legacy event, as the route's webhook would have carried it. Returns 1 if accepted. */
async function emit(deps: RecoverDeps, routeId: string, subscriber: KitSubscriber, dedupeKey: string): Promise<number> {
  const route = deps.routes.legacy.get(routeId);
  if (!route) return 0;
  const { tagged_at: _taggedAt, added_at: _addedAt, tags: _tags, ...plain } = subscriber;
  const body = Buffer.from(JSON.stringify({ subscriber: plain }));
  const parsed = parseLegacyDelivery({ spec: route.spec, ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}), body });
  if (!parsed.ok) return 0;
  const now = deps.now();
  const outcome = await commit(deps, { system: 'reingest', route: `reconcile:${route.id}`, receivedAt: now, bodyBytes: body.length }, [
    { event: parsed.event, source: 'reconciled', dedupe: { key: dedupeKey, expiresAt: now + 90 * 86_400_000 } },
  ], []);
  if (outcome.kind === 'unavailable') throw new Error(`store unavailable during reconciliation: ${outcome.message}`);
  return outcome.kind === 'accepted' ? outcome.accepted : 0;
}
