/**
 * Airtable → Kit, detection: which records a person (or anything else) changed in a sync's table,
 * noted in the store as pending changes (`noteAirtableChanges`) for inbound.ts to apply once quiet.
 *
 * `inbound.mode: 'webhook'`: the sync's webhook (webhook-setup.ts) collects a payload per change
 * (reference/destinations.md §3.6); a ping makes a `fetch_changes` job (source.ts), and the inbound
 * schedule looks too, in case pings were lost. Each look refreshes the webhook once it has less
 * than `inbound.refreshBeforeMs` to live, reads the payloads from the durable cursor (50 a call,
 * while `mightHaveMore`, bounded), notes the created, changed and destroyed records of the sync's
 * table (changed at the payload's time) and only then moves the cursor on: a crash in between
 * notes the same records again, which changes nothing.
 *
 * Polling (poll.ts) stands in whenever the webhook does not work: `mode: 'poll'`, no webhook made
 * yet, or the webhook failing (expired, deleted, its payloads unreadable). A webhook that is gone
 * is made again by the service (at most every 15 minutes), at the notification URL it had; the
 * poll cursor, which the webhook's reads keep moving on, makes the first poll after a failure
 * start where the webhook stopped, so nothing in between is missed.
 */
import type { AirtableChange } from '../../store/types.js';
import { isRecord } from '../../lib/json.js';
import { MAX_PAYLOADS_PER_CALL, type WebhookInfo } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { advancePoll, loadPoll, pollChanges, type PollResult } from './poll.js';
import { syncKey } from './records.js';
import { isGone, syncWebhook, withoutFailure, type WebhookDeps } from './webhook-setup.js';
import { loadWebhook, updateWebhook, type WebhookState } from './webhook-state.js';

export { syncWebhook, removeWebhook, webhookStatus, resolveTableId, type WebhookDeps, type WebhookStatus, type WebhookSyncResult } from './webhook-setup.js';
export { findWebhookSync, loadWebhook, webhookSettingKey, webhookView, type WebhookState, type WebhookView } from './webhook-state.js';

/** Payload calls one look makes at most (50 payloads each); the next look reads on from the cursor. */
const MAX_PAYLOAD_CALLS = 20;
/** A gone webhook is made again at most this often. */
const RECREATE_EVERY_MS = 15 * 60_000;
/** How often Airtable's list says whether the webhook is still there and enabled. */
const CHECK_EVERY_MS = 60 * 60_000;

export type DetectDeps = WebhookDeps;

export interface DetectResult {
  /** How changes were found: the webhook's payloads, a poll, or not looked for (`inbound.mode: 'off'`). */
  readonly mode: 'webhook' | 'poll' | 'off';
  /** Records noted as changed (destroyed ones included). */
  readonly noted: number;
  /** Of which destroyed (webhook payloads only: a poll cannot see a deleted row). */
  readonly destroyed: number;
  /** Webhook payloads read. */
  readonly payloads: number;
  /** The webhook's life was extended. */
  readonly refreshed: boolean;
  /** The webhook was gone and a new one was made (its id). */
  readonly recreated?: string;
  /** In webhook mode, why changes were polled instead (no webhook, or why it failed). */
  readonly fallback?: string;
  /** What failed, so that what changed may not all be noted yet: look again later. */
  readonly error?: string;
  readonly outcome?: AirtableErrorOutcome;
}

/** Looks for one sync's changes once: through its webhook when it works, else by polling. */
export async function detectChanges(deps: DetectDeps): Promise<DetectResult> {
  const { mode } = deps.sync.inbound;
  if (mode === 'off') return { mode: 'off', noted: 0, destroyed: 0, payloads: 0, refreshed: false };
  if (mode === 'poll') return fromPoll(await pollChanges(deps));
  const state = await loadWebhook(deps.store, deps.destinationName, deps.syncName);
  if (!state) return fromPoll(await pollChanges(deps), { fallback: 'no webhook: make one with `kitrelay airtable webhooks sync`' });
  const read = await readWebhook(deps, state);
  if (read.ok) return afterRead(deps, state, read);

  let recreated: string | undefined;
  if (read.isGone && (state.recreateAfter ?? 0) <= deps.now()) {
    const made = await syncWebhook(deps, { notificationUrl: state.notificationUrl });
    if (made.ok) recreated = made.webhook.webhookId;
    else await markFailing(deps, state, `${read.error}; making it again failed: ${made.error}`, deps.now() + RECREATE_EVERY_MS);
  } else {
    await markFailing(deps, state, read.error, state.recreateAfter);
  }
  // The poll starts where the webhook's last good read left the cursor: nothing in between is missed.
  const polled = fromPoll(await pollChanges(deps), { fallback: read.error });
  return { ...polled, noted: polled.noted + read.noted, destroyed: read.destroyed, payloads: read.payloads, refreshed: read.refreshed, ...(recreated ? { recreated } : {}) };
}

type Read =
  | { readonly ok: true; readonly noted: number; readonly destroyed: number; readonly payloads: number; readonly refreshed: boolean; readonly startedAt: number; readonly isComplete: boolean }
  | { readonly ok: false; readonly noted: number; readonly destroyed: number; readonly payloads: number; readonly refreshed: boolean; readonly error: string; readonly isGone: boolean; readonly outcome?: AirtableErrorOutcome };

/**
 * Checks the webhook is there (hourly), refreshes it when due, then notes its payloads from the
 * cursor on. An expired webhook's payloads are still read (Airtable keeps them 7 days): they are
 * the only report of rows deleted before it expired; then it counts as gone.
 */
async function readWebhook(deps: DetectDeps, state: WebhookState): Promise<Read> {
  const { client, sync } = deps;
  const startedAt = deps.now();
  const counts = { noted: 0, destroyed: 0, payloads: 0, refreshed: false };
  const fail = (error: string, isGone: boolean, outcome?: AirtableErrorOutcome): Read => ({ ok: false, ...counts, error: `webhook ${state.webhookId}: ${error}`, isGone, ...(outcome ? { outcome } : {}) });
  if (state.baseId !== sync.baseId) return fail(`it is on base ${state.baseId}, the sync is now on ${sync.baseId}`, true);
  const checked = await checkWebhook(deps, state, startedAt);
  if (checked === 'gone') return fail('it is not on the base any more', true);
  const expirationTime = checked?.expirationTime ?? state.expirationTime;
  const isExpired = checked?.isHookEnabled === false || (expirationTime !== null && expirationTime <= startedAt);
  if (!isExpired && expirationTime !== null && expirationTime - startedAt < sync.inbound.refreshBeforeMs) {
    const refreshed = await client.refreshWebhook(state.baseId, state.webhookId);
    if (refreshed.outcome.kind !== 'ok' || !refreshed.body) {
      const outcome = refreshed.outcome as AirtableErrorOutcome;
      return fail(`refreshing it: ${outcome.message}`, isGone(outcome), outcome);
    }
    const next = refreshed.body.expirationTime;
    await updateWebhook(deps.store, deps.destinationName, deps.syncName, state.webhookId, (s) => ({ ...s, expirationTime: next ?? s.expirationTime, refreshedAt: startedAt }));
    counts.refreshed = true;
  }
  const read = await readPayloads(deps, state, counts);
  if (!read.ok) return fail(read.error, read.isGone, read.outcome);
  if (isExpired) return fail(`expired${expirationTime !== null ? ` at ${new Date(expirationTime).toISOString()}` : ''}`, true);
  return { ok: true, ...counts, startedAt, isComplete: read.isComplete };
}

/**
 * Airtable's own view of the webhook, read at most hourly: whether it is still on the base, still
 * enabled, and its expiry (reading payloads extends it too, §3.6). Undefined when not due or not
 * readable (the payloads say more).
 */
async function checkWebhook(deps: DetectDeps, state: WebhookState, now: number): Promise<WebhookInfo | 'gone' | undefined> {
  if (now - (state.checkedAt ?? state.createdAt) < CHECK_EVERY_MS) return undefined;
  const listed = await deps.client.listWebhooks(state.baseId);
  if (listed.outcome.kind !== 'ok' || !listed.body) return undefined;
  const found = listed.body.webhooks.find((h) => h.id === state.webhookId);
  if (!found) return 'gone';
  await updateWebhook(deps.store, deps.destinationName, deps.syncName, state.webhookId, (s) => ({ ...s, expirationTime: found.expirationTime ?? s.expirationTime, checkedAt: now }));
  return found;
}

type PayloadRead = { readonly ok: true; readonly isComplete: boolean } | { readonly ok: false; readonly error: string; readonly isGone: boolean; readonly outcome?: AirtableErrorOutcome };

/** Notes the payloads' changes page by page, the cursor saved after each page's are noted. */
async function readPayloads(deps: DetectDeps, state: WebhookState, counts: { noted: number; destroyed: number; payloads: number }): Promise<PayloadRead> {
  const { client } = deps;
  const key = syncKey(deps.destinationName, deps.syncName);
  // Read afresh: another look (a ping's job, the schedule) may have moved it on meanwhile.
  const current = await loadWebhook(deps.store, deps.destinationName, deps.syncName);
  let cursor = current?.webhookId === state.webhookId ? current.cursor : state.cursor;
  for (let call = 0; call < MAX_PAYLOAD_CALLS; call += 1) {
    deps.signal?.throwIfAborted();
    const page = await client.listPayloads(state.baseId, state.webhookId, { cursor, limit: MAX_PAYLOADS_PER_CALL });
    if (page.outcome.kind !== 'ok' || !page.body) {
      const outcome = page.outcome as AirtableErrorOutcome;
      return { ok: false, error: `reading its payloads: ${outcome.message}`, isGone: outcome.kind === 'not_found', outcome };
    }
    const found = changesIn(page.body.payloads, state.tableId);
    if (found.invalid) return { ok: false, error: `Airtable reports it broken (${found.invalid})`, isGone: true };
    if (found.changes.length > 0) await deps.store.noteAirtableChanges(key, found.changes);
    counts.noted += found.changes.length;
    counts.destroyed += found.changes.filter((c) => c.isDestroyed).length;
    counts.payloads += page.body.payloads.length;
    const next = page.body.cursor;
    const saved = await updateWebhook(deps.store, deps.destinationName, deps.syncName, state.webhookId, (s) => withoutFailure({ ...s, cursor: Math.max(s.cursor, next) }));
    // Replaced meanwhile (the CLI made a new one): the new one is read from its own cursor next time.
    if (!saved) return { ok: true, isComplete: false };
    cursor = next;
    if (!page.body.mightHaveMore) return { ok: true, isComplete: true };
  }
  return { ok: true, isComplete: false };
}

/**
 * After a good read: every change up to its start is noted, so the poll cursor moves there, unless
 * the webhook is younger than the poll cursor's gap (made again after a failure): then the gap is
 * polled first.
 */
async function afterRead(deps: DetectDeps, state: WebhookState, read: Extract<Read, { ok: true }>): Promise<DetectResult> {
  const result: DetectResult = { mode: 'webhook', noted: read.noted, destroyed: read.destroyed, payloads: read.payloads, refreshed: read.refreshed };
  const poll = await loadPoll(deps.store, deps.destinationName, deps.syncName);
  if (poll && poll.since < state.createdAt) {
    const caughtUp = await pollChanges(deps);
    return caughtUp.ok ? { ...result, noted: result.noted + caughtUp.noted } : { ...result, noted: result.noted + caughtUp.noted, error: caughtUp.error, ...(caughtUp.outcome ? { outcome: caughtUp.outcome } : {}) };
  }
  if (read.isComplete) await advancePoll(deps.store, deps.destinationName, deps.syncName, read.startedAt);
  return result;
}

async function markFailing(deps: DetectDeps, state: WebhookState, error: string, recreateAfter: number | undefined): Promise<void> {
  const now = deps.now();
  await updateWebhook(deps.store, deps.destinationName, deps.syncName, state.webhookId, (s) => ({ ...s, lastError: error, failingSince: s.failingSince ?? now, ...(recreateAfter !== undefined ? { recreateAfter } : {}) }));
}

function fromPoll(polled: PollResult, extra: { readonly fallback?: string } = {}): DetectResult {
  const base = { mode: 'poll' as const, noted: polled.noted, destroyed: 0, payloads: 0, refreshed: false, ...extra };
  return polled.ok ? base : { ...base, error: extra.fallback ? `${extra.fallback}; polling instead failed too: ${polled.error}` : polled.error, ...(polled.outcome ? { outcome: polled.outcome } : {}) };
}

/**
 * The records of one table that payloads report created, changed or destroyed, each once with its
 * latest time (the payload's `timestamp`) and whether its latest change destroyed it. `invalid`:
 * an error payload (`{error: true, code}`), which Airtable sends when the webhook stopped working.
 */
export function changesIn(payloads: readonly Readonly<Record<string, unknown>>[], tableId: string): { readonly changes: AirtableChange[]; readonly invalid?: string } {
  const byRecord = new Map<string, AirtableChange>();
  const note = (recordId: string, changedAt: number, isDestroyed: boolean) => {
    const known = byRecord.get(recordId);
    byRecord.set(recordId, { recordId, changedAt: Math.max(changedAt, known?.changedAt ?? changedAt), isDestroyed });
  };
  for (const payload of payloads) {
    if (payload.error === true) return { changes: [...byRecord.values()], invalid: typeof payload.code === 'string' ? payload.code : 'error payload' };
    const at = typeof payload.timestamp === 'string' ? Date.parse(payload.timestamp) : Number.NaN;
    const tables = isRecord(payload.changedTablesById) ? payload.changedTablesById : {};
    const table = tables[tableId];
    if (!Number.isFinite(at) || !isRecord(table)) continue;
    for (const id of Object.keys(isRecord(table.createdRecordsById) ? table.createdRecordsById : {})) note(id, at, false);
    for (const id of Object.keys(isRecord(table.changedRecordsById) ? table.changedRecordsById : {})) note(id, at, false);
    for (const id of Array.isArray(table.destroyedRecordIds) ? table.destroyedRecordIds : []) if (typeof id === 'string') note(id, at, true);
  }
  return { changes: [...byRecord.values()] };
}
