/**
 * Webhook registration: make the webhooks registered in Kit match what the config's routes need.
 * Creates the missing ones, removes the ones kitrelay created that are no longer needed, leaves
 * everybody else's alone, and does nothing when everything already matches (idempotent).
 *
 * "Ours" means: recorded in the store when kitrelay created it, or pointing at this relay's
 * `/hooks/kit/` URLs. Kit echoes legacy event names without their prefix (reference/kit.md §7A),
 * so names are compared through kit/events.ts.
 */
import type { Config } from '../config/schema.js';
import type { KitClient, KitWebhook, KitWebhookEndpoint } from '../kit/client/index.js';
import { canonicalEventType, legacyEventSpec, SIGNED_EVENT_TYPES } from '../kit/events.js';
import type { LegacyRoute, RouteTable, SignedRoute } from '../ingest/routes.js';
import { endpointSecretSetting } from '../ingest/secrets.js';
import type { Store } from '../store/types.js';

export type WebhookAction =
  | { readonly kind: 'create_legacy'; readonly route: LegacyRoute }
  | { readonly kind: 'keep_legacy'; readonly route: LegacyRoute; readonly webhook: KitWebhook }
  | { readonly kind: 'delete_legacy'; readonly webhook: KitWebhook; readonly reason: string }
  | { readonly kind: 'create_signed'; readonly route: SignedRoute; readonly events: readonly string[] }
  | { readonly kind: 'update_signed'; readonly route: SignedRoute; readonly endpoint: KitWebhookEndpoint; readonly events: readonly string[] }
  | { readonly kind: 'keep_signed'; readonly route: SignedRoute; readonly endpoint: KitWebhookEndpoint }
  | { readonly kind: 'delete_signed'; readonly endpoint: KitWebhookEndpoint; readonly reason: string }
  | { readonly kind: 'leave'; readonly system: 'legacy' | 'signed'; readonly id: number; readonly url: string };

export interface SyncPlanInput {
  readonly config: Config;
  readonly routes: RouteTable;
  readonly publicBaseUrl: string;
  readonly legacy: readonly KitWebhook[];
  readonly signed: readonly KitWebhookEndpoint[];
  /** Kit ids kitrelay recorded as its own. */
  readonly ours: ReadonlySet<string>;
}


/** The 2.0 event types a signed endpoint subscribes to: those the rules listen to. */
export function signedEventsFor(config: Config): string[] {
  const types = new Set<string>();
  for (const rule of config.rules) {
    for (const on of typeof rule.on === 'string' ? [rule.on] : rule.on) {
      if (on === '*') return [...SIGNED_EVENT_TYPES].filter((t) => t.startsWith('subscriber.') || t.startsWith('custom_field.'));
      const canonical = canonicalEventType(on);
      if (SIGNED_EVENT_TYPES.includes(canonical)) types.add(canonical);
    }
  }
  return [...types].sort();
}

function legacyMatches(route: LegacyRoute, webhook: KitWebhook): boolean {
  if (webhook.target_url !== route.url) return false;
  const spec = legacyEventSpec(webhook.event.name);
  if (spec?.legacyName !== route.spec.legacyName) return false;
  if (!route.scopeParam) return true;
  // Kit's v3 docs and client send course_id for the sequence events (reference/kit.md §7A [UNC]).
  const value = webhook.event[route.scopeParam] ?? (route.scopeParam === 'sequence_id' ? webhook.event.course_id : undefined);
  return value !== undefined && value !== null && String(value) === route.scopeValue;
}

export function planWebhookSync(input: SyncPlanInput): WebhookAction[] {
  const { config, routes } = input;
  const register = config.kit.sync.register;
  const hookPrefix = `${input.publicBaseUrl}/hooks/kit/`;
  const isOurs = (system: string, id: number, url: string) => input.ours.has(`${system}:${id}`) || url.startsWith(hookPrefix);
  const actions: WebhookAction[] = [];

  const wantLegacy = register !== 'signed' ? [...routes.legacy.values()] : [];
  const claimed = new Set<number>();
  for (const route of wantLegacy) {
    const existing = input.legacy.find((webhook) => !claimed.has(webhook.id) && legacyMatches(route, webhook));
    if (existing) {
      claimed.add(existing.id);
      actions.push({ kind: 'keep_legacy', route, webhook: existing });
    } else actions.push({ kind: 'create_legacy', route });
  }
  for (const webhook of input.legacy) {
    if (claimed.has(webhook.id)) continue;
    if (isOurs('legacy', webhook.id, webhook.target_url)) actions.push({ kind: 'delete_legacy', webhook, reason: wantLegacy.some((r) => legacyMatches(r, webhook)) ? 'duplicate' : 'no longer needed' });
    else actions.push({ kind: 'leave', system: 'legacy', id: webhook.id, url: webhook.target_url });
  }

  const wantSigned = register !== 'legacy' ? [...routes.signed.values()] : [];
  const events = signedEventsFor(config);
  const claimedSigned = new Set<number>();
  for (const route of wantSigned) {
    const existing = input.signed.find((endpoint) => !claimedSigned.has(endpoint.id) && endpoint.url === route.url);
    if (!existing) {
      actions.push({ kind: 'create_signed', route, events });
      continue;
    }
    claimedSigned.add(existing.id);
    const same = existing.events.length === events.length && [...existing.events].sort().every((e, i) => e === events[i]);
    actions.push(same ? { kind: 'keep_signed', route, endpoint: existing } : { kind: 'update_signed', route, endpoint: existing, events });
  }
  for (const endpoint of input.signed) {
    if (claimedSigned.has(endpoint.id)) continue;
    if (isOurs('signed', endpoint.id, endpoint.url)) actions.push({ kind: 'delete_signed', endpoint, reason: 'no longer needed' });
    else actions.push({ kind: 'leave', system: 'signed', id: endpoint.id, url: endpoint.url });
  }
  return actions;
}

export interface SyncResult {
  readonly actions: readonly WebhookAction[];
  readonly changed: number;
}

/** Reads Kit's webhooks, plans, and (unless dry-run) applies the plan. */
export async function syncWebhooks(deps: {
  readonly client: KitClient;
  readonly store: Store;
  readonly config: Config;
  readonly routes: RouteTable;
  readonly publicBaseUrl: string;
  readonly now: () => number;
  readonly isDryRun?: boolean;
}): Promise<SyncResult> {
  const { client, store } = deps;
  const register = deps.config.kit.sync.register;
  const [legacy, signed, registrations] = await Promise.all([
    client.listWebhooks(),
    register === 'legacy' ? Promise.resolve([]) : client.listWebhookEndpoints(),
    store.listWebhookRegistrations(),
  ]);
  const ours = new Set(registrations.map((r) => `${r.system}:${r.kitId}`));
  const actions = planWebhookSync({ config: deps.config, routes: deps.routes, publicBaseUrl: deps.publicBaseUrl, legacy, signed, ours });
  if (deps.isDryRun) return { actions, changed: actions.filter(isChange).length };
  for (const action of actions) await apply(action, deps);
  return { actions, changed: actions.filter(isChange).length };
}

export function isChange(action: WebhookAction): boolean {
  return action.kind.startsWith('create') || action.kind.startsWith('update') || action.kind.startsWith('delete');
}

async function apply(action: WebhookAction, deps: Parameters<typeof syncWebhooks>[0]): Promise<void> {
  const { client, store } = deps;
  switch (action.kind) {
    case 'create_legacy': {
      const { route } = action;
      const event = { name: route.spec.legacyName, ...(route.scopeParam ? { [route.scopeParam]: scopeForKit(route.scopeValue) } : {}) };
      const webhook = await client.createWebhook({ targetUrl: route.url, event });
      await store.saveWebhookRegistration({ system: 'legacy', kitId: webhook.id, route: route.id, url: route.url, createdAt: deps.now() });
      return;
    }
    case 'delete_legacy':
      await client.deleteWebhook(action.webhook.id);
      await store.deleteWebhookRegistration('legacy', action.webhook.id);
      return;
    case 'create_signed': {
      const endpoint = await client.createWebhookEndpoint({ url: action.route.url, events: action.events, name: `kitrelay ${action.route.name}`, description: 'Managed by kitrelay' });
      // Kit shows the secret only now: keep it, so ingest can verify this endpoint's deliveries.
      await store.setSetting(endpointSecretSetting(action.route.name), endpoint.secret);
      await store.saveWebhookRegistration({ system: 'signed', kitId: endpoint.id, route: action.route.name, url: action.route.url, createdAt: deps.now() });
      return;
    }
    case 'update_signed':
      await client.updateWebhookEndpoint(action.endpoint.id, { events: action.events });
      return;
    case 'delete_signed':
      await client.deleteWebhookEndpoint(action.endpoint.id);
      await store.deleteWebhookRegistration('signed', action.endpoint.id);
      return;
    case 'keep_legacy':
    case 'keep_signed':
    case 'leave':
      return;
  }
}

/** Ids go to Kit as numbers; link URLs (initiator_value) as strings. */
function scopeForKit(value: string | undefined): string | number | null {
  if (value === undefined) return null;
  return /^\d+$/.test(value) ? Number(value) : value;
}
