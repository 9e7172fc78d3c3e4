/**
 * Inventory: every webhook registered in the Kit account, on both systems, with what it points at
 * (this relay, Zapier, n8n, Pipedream, Make, others), duplicates, and signed endpoints whose recent
 * deliveries fail — the map a team needs before replacing its Zaps.
 */
import type { KitClient, KitWebhookEndpoint } from '../kit/client/index.js';
import { legacyEventSpec } from '../kit/events.js';

export type Owner = 'kitrelay' | 'zapier' | 'n8n' | 'pipedream' | 'make' | 'other';

export interface InventoryItem {
  readonly system: 'legacy' | 'signed';
  readonly id: number;
  /** Legacy: the full event name and scope; signed: the subscribed types. */
  readonly events: readonly string[];
  readonly scope: string;
  readonly url: string;
  readonly owner: Owner;
  /** Other webhooks with the same event, scope and URL. */
  readonly duplicateOf: readonly number[];
  /** Other owners' webhooks for the same event and scope (the Zaps a kitrelay route replaces). */
  readonly alsoServedBy: readonly Owner[];
  readonly status?: string;
  /** Signed only: deliveries failed or retrying among the most recent ones read. */
  readonly failingDeliveries?: number;
}

const OWNERS: ReadonlyArray<[Owner, RegExp]> = [
  ['zapier', /(^|\.)zapier\.com$/i],
  ['n8n', /(^|\.)n8n\.(cloud|io)$|\/webhook(-test)?\//i],
  ['pipedream', /(^|\.)(pipedream\.net|pipedream\.com)$/i],
  ['make', /(^|\.)(make\.com|integromat\.com)$/i],
];

export function ownerOf(url: string, relayBaseUrl: string): Owner {
  if (url.startsWith(`${relayBaseUrl}/hooks/kit/`)) return 'kitrelay';
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    return 'other';
  }
  for (const [owner, pattern] of OWNERS) if (pattern.test(host) || (owner === 'n8n' && pattern.test(url))) return owner;
  return 'other';
}

export async function takeInventory(deps: { client: KitClient; relayBaseUrl: string; recentDeliveries?: number; includeSigned?: boolean }): Promise<InventoryItem[]> {
  const { client, relayBaseUrl } = deps;
  const legacy = await client.listWebhooks();
  let signed: KitWebhookEndpoint[] = [];
  if (deps.includeSigned ?? true) {
    try {
      signed = await client.listWebhookEndpoints();
    } catch {
      // Some accounts or keys cannot use Webhooks 2.0 yet (reference/kit.md §7B [UNC]): list legacy only.
      signed = [];
    }
  }
  const items: Array<Omit<InventoryItem, 'duplicateOf' | 'alsoServedBy'>> = [];
  for (const webhook of legacy) {
    const spec = legacyEventSpec(webhook.event.name);
    const scopeEntry = Object.entries(webhook.event).find(([key, value]) => key !== 'name' && value !== null && value !== undefined);
    items.push({
      system: 'legacy',
      id: webhook.id,
      events: [spec?.legacyName ?? webhook.event.name],
      scope: scopeEntry ? `${scopeEntry[0]}=${String(scopeEntry[1])}` : '',
      url: webhook.target_url,
      owner: ownerOf(webhook.target_url, relayBaseUrl),
    });
  }
  for (const endpoint of signed) {
    items.push({
      system: 'signed',
      id: endpoint.id,
      events: [...endpoint.events].sort(),
      scope: '',
      url: endpoint.url,
      owner: ownerOf(endpoint.url, relayBaseUrl),
      status: endpoint.status,
      failingDeliveries: await failingDeliveries(client, endpoint.id, deps.recentDeliveries ?? 100),
    });
  }
  return items.map((item) => {
    const same = items.filter((other) => other !== item && other.system === item.system && other.scope === item.scope && other.events.join() === item.events.join());
    return {
      ...item,
      duplicateOf: same.filter((other) => other.url === item.url).map((other) => other.id),
      alsoServedBy: [...new Set(same.filter((other) => other.owner !== item.owner).map((other) => other.owner))],
    };
  });
}

async function failingDeliveries(client: KitClient, endpointId: number, recent: number): Promise<number> {
  let seen = 0;
  let failing = 0;
  for await (const page of client.listWebhookDeliveries(endpointId, { perPage: Math.min(recent, 100) })) {
    for (const delivery of page.items) {
      if (seen >= recent) return failing;
      seen += 1;
      if (delivery.status === 'failed' || delivery.status === 'retrying') failing += 1;
    }
    if (seen >= recent) break;
  }
  return failing;
}
