/**
 * Recovering webhooks that never reached kitrelay.
 *
 * - Signed endpoints: Kit keeps 30 days of delivery history (reference/kit.md §7B). Deliveries that
 *   failed or are still retrying are read back and their events ingested, exactly as if they had
 *   arrived: dedupe on the event id makes a late real delivery (or a second recovery) harmless.
 * - Legacy webhooks have no history and undocumented retries, so Kit is reconciled with the
 *   subscriber mirror instead (`reconcileWithKit`): each difference becomes a synthetic event
 *   (source `reconciled`) routed like a real one. Signed deliveries whose events Kit's history does
 *   not hold are covered by the same reconciliation.
 */
import type { CommitDeps } from '../ingest/commit.js';
import { commit } from '../ingest/commit.js';
import type { RouteTable } from '../ingest/routes.js';
import type { KitClient, KitSubscriber } from '../kit/client/index.js';
import { legacyEventSpec } from '../kit/events.js';
import { parseLegacyDelivery, parseSignedDelivery } from '../kit/normalize.js';
import type { Store } from '../store/types.js';
import { BACKFILL_CHECKPOINT, toSnapshot } from './backfill.js';

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
          const parsed = parseSignedDelivery(body, deps.config.server.maxJsonDepth);
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

export interface Reconciliation {
  readonly tagsChecked: number;
  readonly tagAddedEmitted: number;
  readonly tagRemovedEmitted: number;
  readonly subscribersChecked: number;
  readonly stateEventsEmitted: number;
}

export const RECONCILE_CHECKPOINT = 'kit-reconcile';
/** List endpoints lag writes by up to ~5 minutes (reference/kit.md §9.4): look back this far. */
const LIST_LAG_MS = 5 * 60_000;

/** The event Kit would have sent for a subscriber now in this state. */
const STATE_EVENTS: Readonly<Record<string, string>> = {
  active: 'subscriber.subscriber_activate',
  cancelled: 'subscriber.subscriber_unsubscribe',
  bounced: 'subscriber.subscriber_bounce',
  complained: 'subscriber.subscriber_complain',
};

/**
 * Compares Kit with the subscriber mirror and emits a synthetic event (source `reconciled`) for
 * every difference, routed like a real one and updating the mirror in the same transaction:
 * - tags: Kit's members of every tag a legacy route or a rule's scope names, both ways
 *   (tag_added / tag_removed);
 * - states: subscribers Kit changed since the last run whose state differs from the mirror's, or
 *   whom the mirror has never seen (activated / unsubscribed / bounced / complained).
 * Needs a finished backfill: without a mirror, every subscriber would look new.
 */
export async function reconcileWithKit(deps: RecoverDeps): Promise<Reconciliation> {
  const backfill = await deps.store.getCheckpoint(BACKFILL_CHECKPOINT);
  if (!backfill?.completedAt) throw new Error('Run `kitrelay kit backfill` first: reconciliation compares Kit with the subscriber mirror it fills.');
  const startedAt = deps.now();
  const previous = await deps.store.getCheckpoint(RECONCILE_CHECKPOINT);
  const since = (previous?.completedAt ?? backfill.startedAt) - LIST_LAG_MS;
  // States first: a subscriber the mirror never saw is reported as Kit's activation would have
  // been, before a tag event makes the mirror learn of them.
  const states = await reconcileStates(deps, since);
  const tags = await reconcileTags(deps);
  await deps.store.saveCheckpoint({ name: RECONCILE_CHECKPOINT, cursor: null, data: { ...tags, ...states }, startedAt, updatedAt: deps.now(), completedAt: startedAt });
  return { ...tags, ...states };
}

/** Tag ids the relay cares about: legacy tag routes and rules scoped by tag. */
function watchedTags(deps: RecoverDeps): number[] {
  const ids = new Set<number>();
  for (const route of deps.routes.legacy.values()) if (route.scopeParam === 'tag_id') ids.add(Number(route.scopeValue));
  for (const rule of deps.config.rules) {
    const values = rule.scope?.tag_id;
    for (const value of values === undefined ? [] : Array.isArray(values) ? values : [values]) ids.add(Number(value));
  }
  return [...ids].filter(Number.isSafeInteger);
}

async function reconcileTags(deps: RecoverDeps) {
  const tagIds = watchedTags(deps);
  let tagAddedEmitted = 0;
  let tagRemovedEmitted = 0;
  for (const tagId of tagIds) {
    const inKit = new Map<number, KitSubscriber>();
    for await (const page of deps.client.listTagSubscribers(tagId, { status: 'all', perPage: 1000 })) {
      for (const subscriber of page.items) inKit.set(subscriber.id, subscriber);
    }
    const inMirror = await mirrorMembers(deps.store, tagId);
    for (const [id, subscriber] of inKit) {
      if (!inMirror.has(id)) tagAddedEmitted += await emit(deps, 'subscriber.tag_add', String(tagId), subscriber, `reconciled:tag_added:${id}:${tagId}:${subscriber.tagged_at ?? ''}`);
    }
    for (const [id, subscriber] of inMirror) {
      if (!inKit.has(id)) tagRemovedEmitted += await emit(deps, 'subscriber.tag_remove', String(tagId), subscriber, `reconciled:tag_removed:${id}:${tagId}:${deps.now()}`);
    }
  }
  return { tagsChecked: tagIds.length, tagAddedEmitted, tagRemovedEmitted };
}

async function reconcileStates(deps: RecoverDeps, since: number) {
  let subscribersChecked = 0;
  let stateEventsEmitted = 0;
  const pages = deps.client.listSubscribers({ status: 'all', updatedAfter: new Date(Math.max(0, since)), sortField: 'id', sortOrder: 'asc', perPage: deps.config.kit.sync.pageSize });
  for await (const page of pages) {
    for (const subscriber of page.items) {
      subscribersChecked += 1;
      const mirrored = await deps.store.getSubscriber(subscriber.id);
      if (mirrored?.state === subscriber.state) continue;
      const legacyName = STATE_EVENTS[subscriber.state];
      if (legacyName) {
        stateEventsEmitted += await emit(deps, legacyName, undefined, subscriber, `reconciled:state:${subscriber.id}:${subscriber.state}:${mirrored?.state ?? 'unseen'}`);
      } else {
        // A state no event reports (inactive: awaiting confirmation): only the mirror learns it.
        await deps.store.upsertSubscribers([toSnapshot(subscriber)], 'reconcile', deps.now());
      }
    }
  }
  return { subscribersChecked, stateEventsEmitted };
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

/** A synthetic event, as the legacy webhook would have carried it. Returns 1 if accepted. */
async function emit(deps: RecoverDeps, legacyName: string, scopeValue: string | undefined, subscriber: KitSubscriber, dedupeKey: string): Promise<number> {
  const spec = legacyEventSpec(legacyName);
  if (!spec) return 0;
  const { tagged_at: _taggedAt, added_at: _addedAt, tags: _tags, ...plain } = subscriber;
  const body = Buffer.from(JSON.stringify({ subscriber: plain }));
  const parsed = parseLegacyDelivery({ spec, ...(scopeValue !== undefined ? { scopeValue } : {}), body, maxDepth: deps.config.server.maxJsonDepth });
  if (!parsed.ok) return 0;
  const now = deps.now();
  const route = `reconcile:${spec.slug}${scopeValue !== undefined ? `-${scopeValue}` : ''}`;
  const outcome = await commit(deps, { system: 'reingest', route, receivedAt: now, bodyBytes: body.length }, [
    { event: parsed.event, source: 'reconciled', dedupe: { key: dedupeKey, expiresAt: now + 90 * 86_400_000 } },
  ], []);
  if (outcome.kind === 'unavailable') throw new Error(`store unavailable during reconciliation: ${outcome.message}`);
  return outcome.kind === 'accepted' ? outcome.accepted : 0;
}
