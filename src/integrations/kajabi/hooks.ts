/**
 * Registers kitrelay's public-API hooks (reference/destinations.md §5.2 (A)): one hook per event
 * pointing at kitrelay's hook URL. Kajabi signs nothing, so the URL carries a secret token
 * (§5.2 [V by absence]); a new token means new hooks, and the old ones (same origin and path,
 * another token) are deleted so Kajabi stops posting to a URL kitrelay refuses.
 *
 * Running it twice changes nothing the second time.
 */
import { redactUrl } from '../../lib/redact.js';
import type { KajabiHookRecord } from './client-records.js';
import type { KajabiClient } from './client.js';

export interface HookSyncOptions {
  readonly siteId: string;
  /** kitrelay's hook URL, token included. */
  readonly targetUrl: string;
  readonly events: readonly string[];
  /**
   * Hooks whose target URL starts with this are kitrelay's: an old one (another URL) is deleted.
   * @default the target URL's origin and path when it has a query (the token is there); else its
   * origin and path without the last segment (the token is that segment)
   */
  readonly ownedPrefix?: string;
}

export interface HookSyncReport {
  readonly created: readonly KajabiHookRecord[];
  readonly kept: readonly KajabiHookRecord[];
  readonly removed: readonly KajabiHookRecord[];
}

export async function syncHooks(client: KajabiClient, options: HookSyncOptions): Promise<HookSyncReport> {
  const prefix = options.ownedPrefix ?? ownedPrefixOf(options.targetUrl);
  const created: KajabiHookRecord[] = [];
  const kept: KajabiHookRecord[] = [];
  const removed: KajabiHookRecord[] = [];
  for (const event of new Set(options.events)) {
    const hooks = (await client.listHooks(event)).filter((h) => h.event === event && (h.siteId === null || h.siteId === options.siteId) && h.resourceId === null);
    const exact = hooks.filter((h) => h.targetUrl === options.targetUrl);
    const [keep, ...extra] = exact;
    const stale = hooks.filter((h) => h.targetUrl !== options.targetUrl && h.targetUrl.startsWith(prefix));
    // Created before the old ones go: no moment without a hook for the event.
    if (keep) kept.push(keep);
    else created.push(await client.createHook({ siteId: options.siteId, targetUrl: options.targetUrl, event }));
    for (const hook of [...extra, ...stale]) {
      await client.deleteHook(hook.id);
      removed.push(hook);
    }
  }
  return { created, kept, removed };
}

export function ownedPrefixOf(targetUrl: string): string {
  const url = new URL(targetUrl);
  const base = `${url.protocol}//${url.host}`;
  if (url.search !== '') return `${base}${url.pathname}`;
  return `${base}${url.pathname.replace(/[^/]*$/, '')}`;
}

export interface HookSummaryRow {
  readonly id: string;
  readonly event: string;
  /** Secret query values removed (the token). */
  readonly targetUrl: string;
  readonly siteId: string | null;
  readonly resourceId: string | null;
  /** Points at exactly `targetUrl`, when one was given. */
  readonly isCurrent: boolean;
  /** kitrelay's, but for an old URL (sync deletes it). */
  readonly isStale: boolean;
}

/** Every hook of the key, for `kitrelay kajabi hooks list`: tokens hidden. */
export async function listHooks(client: KajabiClient, options: { readonly targetUrl?: string; readonly ownedPrefix?: string } = {}): Promise<HookSummaryRow[]> {
  const prefix = options.ownedPrefix ?? (options.targetUrl === undefined ? undefined : ownedPrefixOf(options.targetUrl));
  const hooks = await client.listHooks();
  return hooks.map((h) => {
    const isCurrent = h.targetUrl === options.targetUrl;
    return { id: h.id, event: h.event, targetUrl: hiddenToken(h.targetUrl, prefix), siteId: h.siteId, resourceId: h.resourceId, isCurrent, isStale: !isCurrent && prefix !== undefined && h.targetUrl.startsWith(prefix) };
  });
}

/** The URL without secrets: query values redacted, and a path token past the owned prefix hidden. */
function hiddenToken(url: string, prefix: string | undefined): string {
  const redacted = redactUrl(url);
  if (prefix === undefined || !url.startsWith(prefix) || url.includes('?')) return redacted;
  return `${prefix}…`;
}
