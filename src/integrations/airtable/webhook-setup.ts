/**
 * Each two-way sync's webhook on its base (reference/destinations.md §3.6): made, refreshed,
 * replaced and removed here, by `kitrelay airtable webhooks …` and by the service when its webhook
 * is gone. One webhook per sync, on the sync's table (`recordChangeScope`), of record data only
 * (`dataTypes: ['tableData']`), pinging the destination's `webhook` source URL.
 *
 * Only kitrelay's own webhook is ever deleted: the one whose id the sync's state holds. Others on
 * the base (another tool's, another kitrelay's) are never touched.
 */
import type { AirtableClient, WebhookInfo } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { startPoll, type DetectStore } from './poll.js';
import type { AirtableSyncConfig } from './schema.js';
import { forgetWebhook, loadWebhook, saveWebhook, webhookView, type WebhookState, type WebhookView } from './webhook-state.js';
import type { SyncRunDeps } from './open.js';

/** What the webhook calls of one sync need. */
export type WebhookDeps = SyncRunDeps<DetectStore>;

type Failure = { readonly ok: false; readonly error: string; readonly outcome?: AirtableErrorOutcome };

export type WebhookSyncResult =
  /** `replaced`: the id of kitrelay's earlier webhook of this sync, deleted (or found gone). */
  | { readonly ok: true; readonly action: 'created' | 'refreshed'; readonly webhook: WebhookView; readonly replaced?: string }
  | Failure;

const TABLE_ID = /^tbl[A-Za-z0-9]{14}$/;

/** The sync's table id: its `table` when it is one, else looked up by name (needs `schema.bases:read`). */
export async function resolveTableId(client: AirtableClient, sync: AirtableSyncConfig): Promise<{ readonly ok: true; readonly tableId: string } | Failure> {
  if (TABLE_ID.test(sync.table)) return { ok: true, tableId: sync.table };
  const listed = await client.listTables(sync.baseId);
  if (listed.outcome.kind !== 'ok' || !listed.body) {
    const outcome = listed.outcome as AirtableErrorOutcome;
    return { ok: false, error: `reading the tables of base ${sync.baseId} (the token needs schema.bases:read, or set the sync's table to its tbl… id): ${outcome.message}`, outcome };
  }
  const table = listed.body.tables.find((t) => t.name === sync.table);
  if (!table) return { ok: false, error: `no table "${sync.table}" in base ${sync.baseId} (tables: ${listed.body.tables.map((t) => t.name).join(', ') || 'none'}): fix the sync's table` };
  return { ok: true, tableId: table.id };
}

/**
 * Makes the sync's webhook current: kitrelay's webhook refreshed (7 more days) when it is alive,
 * on this table and pinging `notificationUrl`; otherwise kitrelay's old one deleted (if any) and a
 * new one made, its secret and a cursor of 1 kept. A new webhook watches from now: the gap since
 * the old one stopped is polled by the next look for changes (the poll cursor stayed there).
 */
export async function syncWebhook(deps: WebhookDeps, options: { readonly notificationUrl: string }): Promise<WebhookSyncResult> {
  const { client, sync, store } = deps;
  if (sync.inbound.mode !== 'webhook') return { ok: false, error: `inbound.mode of ${deps.syncName} is '${sync.inbound.mode}': set it to 'webhook' to use one` };
  const table = await resolveTableId(client, sync);
  if (!table.ok) return table;
  const state = await loadWebhook(store, deps.destinationName, deps.syncName);
  const listed = await client.listWebhooks(sync.baseId);
  if (listed.outcome.kind !== 'ok' || !listed.body) return failure('listing the webhooks of the base (the token needs webhook:manage)', listed.outcome as AirtableErrorOutcome);
  const ours = state && state.baseId === sync.baseId ? listed.body.webhooks.find((h) => h.id === state.webhookId) : undefined;
  if (state && ours && isUsable(state, ours, table.tableId, options.notificationUrl, deps.now())) {
    const refreshed = await client.refreshWebhook(sync.baseId, state.webhookId);
    if (refreshed.outcome.kind === 'ok' && refreshed.body) {
      const next: WebhookState = withoutFailure({ ...state, expirationTime: refreshed.body.expirationTime ?? state.expirationTime, refreshedAt: deps.now() });
      await saveWebhook(store, deps.destinationName, deps.syncName, next);
      return { ok: true, action: 'refreshed', webhook: webhookView(next) };
    }
    if (!isGone(refreshed.outcome as AirtableErrorOutcome)) return failure('refreshing the webhook', refreshed.outcome as AirtableErrorOutcome);
  }
  // Ours, but unusable (or on the base the sync had before): deleted before its replacement is made.
  if (state && (ours || state.baseId !== sync.baseId)) {
    const deleted = await client.deleteWebhook(state.baseId, state.webhookId);
    if (deleted.outcome.kind !== 'ok' && deleted.outcome.kind !== 'not_found') return failure(`deleting kitrelay's old webhook ${state.webhookId}: nothing was made`, deleted.outcome);
  }
  const created = await client.createWebhook(sync.baseId, { notificationUrl: options.notificationUrl, tableId: table.tableId });
  if (created.outcome.kind !== 'ok' || !created.body) return failure('making the webhook (the token needs webhook:manage and data.records:read)', created.outcome as AirtableErrorOutcome);
  const now = deps.now();
  const next: WebhookState = {
    webhookId: created.body.id,
    macSecretBase64: created.body.macSecretBase64,
    baseId: sync.baseId,
    tableId: table.tableId,
    notificationUrl: options.notificationUrl,
    expirationTime: created.body.expirationTime,
    cursor: 1,
    createdAt: now,
  };
  await saveWebhook(store, deps.destinationName, deps.syncName, next);
  await startPoll(store, deps.destinationName, deps.syncName, now);
  return { ok: true, action: 'created', webhook: webhookView(next), ...(state ? { replaced: state.webhookId } : {}) };
}

/** Deletes kitrelay's webhook of the sync (gone already is fine) and forgets it. Answers its id, if it had one. */
export async function removeWebhook(deps: Pick<WebhookDeps, 'store' | 'client' | 'destinationName' | 'syncName'>): Promise<{ readonly ok: true; readonly removed?: string } | Failure> {
  const state = await loadWebhook(deps.store, deps.destinationName, deps.syncName);
  if (!state) return { ok: true };
  const deleted = await deps.client.deleteWebhook(state.baseId, state.webhookId);
  if (deleted.outcome.kind !== 'ok' && deleted.outcome.kind !== 'not_found') return failure(`deleting webhook ${state.webhookId}`, deleted.outcome);
  await forgetWebhook(deps.store, deps.destinationName, deps.syncName);
  return { ok: true, removed: state.webhookId };
}

export interface WebhookStatus {
  /** What kitrelay keeps (no secret); absent: no webhook made. */
  readonly local?: WebhookView;
  /** Airtable's view of it; null: not on the base any more. Absent when it could not be read. */
  readonly remote?: WebhookInfo | null;
  readonly error?: string;
}

/** The sync's webhook as kitrelay keeps it and as Airtable lists it. */
export async function webhookStatus(deps: Pick<WebhookDeps, 'store' | 'destinationName' | 'syncName'> & { readonly client?: AirtableClient }): Promise<WebhookStatus> {
  const state = await loadWebhook(deps.store, deps.destinationName, deps.syncName);
  if (!state) return {};
  const local = webhookView(state);
  if (!deps.client) return { local };
  const listed = await deps.client.listWebhooks(state.baseId);
  if (listed.outcome.kind !== 'ok' || !listed.body) return { local, error: (listed.outcome as AirtableErrorOutcome).message };
  return { local, remote: listed.body.webhooks.find((h) => h.id === state.webhookId) ?? null };
}

/** Alive, on this table, pinging this URL: worth refreshing rather than replacing. */
function isUsable(state: WebhookState, listed: WebhookInfo, tableId: string, notificationUrl: string, now: number): boolean {
  const isAlive = listed.isHookEnabled && (listed.expirationTime === null || listed.expirationTime > now);
  const scope = listed.recordChangeScope ?? state.tableId;
  return isAlive && state.tableId === tableId && scope === tableId && state.notificationUrl === notificationUrl && listed.notificationUrl === notificationUrl;
}

/** The webhook is not there, or can no longer be refreshed (expired: 422). */
export function isGone(outcome: AirtableErrorOutcome): boolean {
  return outcome.kind === 'not_found' || (outcome.kind === 'invalid' && outcome.status === 422);
}

export function withoutFailure(state: WebhookState): WebhookState {
  const { lastError: _error, failingSince: _since, recreateAfter: _after, ...rest } = state;
  return rest;
}

function failure(what: string, outcome: AirtableErrorOutcome): Failure {
  return { ok: false, error: `${what}: ${outcome.message}`, outcome };
}
