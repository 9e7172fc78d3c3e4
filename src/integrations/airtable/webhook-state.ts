/**
 * What kitrelay keeps about each sync's Airtable webhook, in the store's settings (so the service,
 * the CLI and other instances on the store share it): the webhook's id, its MAC secret (Airtable
 * gives it once, at creation: §3.6), the table it watches, where it pings, its expiry, and the
 * **payload cursor**, the next payload to read, moved on only once the changes before it are
 * noted. A key per sync: `airtable_webhook:<destination>/<sync>`.
 *
 * The secret is kept as given and never logged or printed: `webhookView` is what may be shown.
 * Settings are last-writer-wins, so an update re-reads the state and applies only to the webhook
 * it was made for: a look at the old webhook never overwrites a new one made meanwhile.
 */
import { z } from 'zod';
import type { SettingsStore } from '../types.js';
import { syncKey } from './records.js';
import type { AirtableDestinationConfig, AirtableSyncConfig } from './schema.js';

export const WEBHOOK_SETTING_PREFIX = 'airtable_webhook:';

/** The value a removed webhook's setting holds (the store has no delete). */
const REMOVED = 'null';

const webhookStateSchema = z.object({
  webhookId: z.string().min(1),
  macSecretBase64: z.string().min(1),
  baseId: z.string().min(1),
  tableId: z.string().min(1),
  notificationUrl: z.string().min(1),
  /** Epoch ms, as Airtable last said; null when it gave none. */
  expirationTime: z.number().nullable(),
  /** The next payload to read (the first is 1). */
  cursor: z.number().int().min(1),
  createdAt: z.number(),
  refreshedAt: z.number().optional(),
  /** When Airtable's list of the base's webhooks was last read for it (its expiry, whether it is there). */
  checkedAt: z.number().optional(),
  /** Why the last look at the webhook failed (changes are polled meanwhile). */
  lastError: z.string().optional(),
  /** Since when looks at it have been failing. */
  failingSince: z.number().optional(),
  /** A gone webhook is made again by the service at most this often (epoch ms of the next try). */
  recreateAfter: z.number().optional(),
});

export type WebhookState = z.output<typeof webhookStateSchema>;

/** A webhook's state without its secret: what may be logged, printed and stored in results. */
export type WebhookView = Omit<WebhookState, 'macSecretBase64'>;

export function webhookSettingKey(destinationName: string, syncName: string): string {
  return `${WEBHOOK_SETTING_PREFIX}${syncKey(destinationName, syncName)}`;
}

export function webhookView(state: WebhookState): WebhookView {
  const { macSecretBase64: _secret, ...view } = state;
  return view;
}

/** The sync's webhook state, if it has one (an unreadable value counts as none). */
export async function loadWebhook(store: Pick<SettingsStore, 'getSetting'>, destinationName: string, syncName: string): Promise<WebhookState | undefined> {
  const text = await store.getSetting(webhookSettingKey(destinationName, syncName));
  if (text === undefined || text === REMOVED) return undefined;
  try {
    const parsed = webhookStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // Not JSON: no state kitrelay wrote; a new webhook replaces it.
    return undefined;
  }
}

export async function saveWebhook(store: SettingsStore, destinationName: string, syncName: string, state: WebhookState): Promise<void> {
  await store.setSetting(webhookSettingKey(destinationName, syncName), JSON.stringify(state));
}

export async function forgetWebhook(store: SettingsStore, destinationName: string, syncName: string): Promise<void> {
  await store.setSetting(webhookSettingKey(destinationName, syncName), REMOVED);
}

/**
 * Changes the state of webhook `webhookId`, read afresh: nothing when the sync's webhook is
 * another one now (made again meanwhile) or none. Answers the state saved.
 */
export async function updateWebhook(store: SettingsStore, destinationName: string, syncName: string, webhookId: string, change: (state: WebhookState) => WebhookState): Promise<WebhookState | undefined> {
  const current = await loadWebhook(store, destinationName, syncName);
  if (!current || current.webhookId !== webhookId) return undefined;
  const next = change(current);
  if (JSON.stringify(next) !== JSON.stringify(current)) await saveWebhook(store, destinationName, syncName, next);
  return next;
}

/** The sync of this destination whose webhook has this id, with its state. */
export async function findWebhookSync(
  store: Pick<SettingsStore, 'getSetting'>,
  destinationName: string,
  destination: Pick<AirtableDestinationConfig, 'syncs'>,
  webhookId: string,
): Promise<{ readonly syncName: string; readonly sync: AirtableSyncConfig; readonly state: WebhookState } | undefined> {
  for (const [syncName, sync] of Object.entries(destination.syncs)) {
    const state = await loadWebhook(store, destinationName, syncName);
    if (state?.webhookId === webhookId) return { syncName, sync, state };
  }
  return undefined;
}
