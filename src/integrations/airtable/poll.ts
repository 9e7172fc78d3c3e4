/**
 * Airtable → Kit by polling, where no webhook works (`inbound.mode: 'poll'`, no webhook made yet,
 * or the webhook failing): the table's records modified since the **poll cursor**, read with
 * `filterByFormula: IS_AFTER(LAST_MODIFIED_TIME(), '<cursor − overlap>')` and only the Kit id
 * field, each noted as a pending change at the poll's time. The cursor (a setting per sync,
 * `airtable_poll:<destination>/<sync>`) is the time before which every change is known to be
 * noted: a poll moves it to its own start once every page is noted, and a healthy webhook's read
 * moves it too (webhooks.ts), so a poll after the webhook failed starts where the webhook stopped.
 *
 * The overlap (Airtable's clock and ours differ; a write may show a moment late) makes a record
 * edited just before a poll show in the next one too. Seen again so, it is noted at the time it
 * was first noted (kept a while in `recent`), not pushed later: its quiet time is not moved on by
 * the overlap, and if it was applied meanwhile it is read once more, which finds it unchanged.
 *
 * A poll cannot see a deleted row (it lists the rows there are): the full check finds those.
 * The first poll of a sync notes nothing: it starts the cursor (edits made before kitrelay watched
 * the table are not changes it missed).
 */
import { z } from 'zod';
import type { AirtableChange, AirtableStore } from '../../store/types.js';
import type { SettingsStore } from '../types.js';
import { MAX_PAGE_SIZE } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import { syncKey } from './records.js';
import type { SyncRunDeps } from './open.js';

export const POLL_SETTING_PREFIX = 'airtable_poll:';
/** How far before the cursor a poll looks again. */
export const POLL_OVERLAP_MS = 10_000;
/** Pages one poll reads at most (100 records each); past it the cursor stays and the run fails. */
const MAX_POLL_PAGES = 1_000;
/** Records kept in `recent` at most (the newest). */
const MAX_RECENT = 10_000;

const pollStateSchema = z.object({
  since: z.number(),
  /** Record id → when it was first noted, for records a later poll's overlap may show again. */
  recent: z.record(z.string(), z.number()).default({}),
});

export type PollState = z.output<typeof pollStateSchema>;

export type DetectStore = SettingsStore & Pick<AirtableStore, 'noteAirtableChanges'>;

export type PollDeps = SyncRunDeps<DetectStore>;

export type PollResult =
  /** `isStart`: the sync's first poll, which only started the cursor. */
  | { readonly ok: true; readonly noted: number; readonly isStart: boolean }
  | { readonly ok: false; readonly noted: number; readonly error: string; readonly outcome?: AirtableErrorOutcome };

export function pollSettingKey(destinationName: string, syncName: string): string {
  return `${POLL_SETTING_PREFIX}${syncKey(destinationName, syncName)}`;
}

export async function loadPoll(store: Pick<SettingsStore, 'getSetting'>, destinationName: string, syncName: string): Promise<PollState | undefined> {
  const text = await store.getSetting(pollSettingKey(destinationName, syncName));
  if (text === undefined) return undefined;
  try {
    const parsed = pollStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // Not JSON: no cursor kitrelay wrote; the next poll starts one.
    return undefined;
  }
}

/**
 * Moves the poll cursor on to `at` (never back): every change before it is noted. A sync without
 * one gets one.
 */
export async function advancePoll(store: SettingsStore, destinationName: string, syncName: string, at: number): Promise<void> {
  const state = await loadPoll(store, destinationName, syncName);
  if (state && state.since >= at) return;
  await store.setSetting(pollSettingKey(destinationName, syncName), JSON.stringify({ since: at, recent: pruned(state?.recent ?? {}, at) }));
}

/** Starts the poll cursor at `at` if the sync has none (a new webhook watches from then on). */
export async function startPoll(store: SettingsStore, destinationName: string, syncName: string, at: number): Promise<void> {
  if (!(await loadPoll(store, destinationName, syncName))) await advancePoll(store, destinationName, syncName, at);
}

/** Notes the records modified since the poll cursor, then moves the cursor to the poll's start. */
export async function pollChanges(deps: PollDeps): Promise<PollResult> {
  const { store, sync, client } = deps;
  const startedAt = deps.now();
  const state = await loadPoll(store, deps.destinationName, deps.syncName);
  if (!state) {
    await advancePoll(store, deps.destinationName, deps.syncName, startedAt);
    return { ok: true, noted: 0, isStart: true };
  }
  const key = syncKey(deps.destinationName, deps.syncName);
  const filterByFormula = `IS_AFTER(LAST_MODIFIED_TIME(), '${new Date(state.since - POLL_OVERLAP_MS).toISOString()}')`;
  const noted = new Map<string, number>();
  let offset: string | undefined;
  for (let page = 0; page < MAX_POLL_PAGES; page += 1) {
    deps.signal?.throwIfAborted();
    const listed = await client.list(sync.baseId, sync.table, { filterByFormula, fields: [sync.kitIdField], pageSize: MAX_PAGE_SIZE, ...(offset !== undefined ? { offset } : {}) });
    if (listed.outcome.kind !== 'ok' || !listed.body) {
      const outcome = listed.outcome as AirtableErrorOutcome;
      return { ok: false, noted: noted.size, error: `polling ${sync.table}: ${outcome.message}`, outcome };
    }
    const changes: AirtableChange[] = listed.body.records.filter((r) => !noted.has(r.id)).map((r) => ({ recordId: r.id, changedAt: state.recent[r.id] ?? startedAt, isDestroyed: false }));
    if (changes.length > 0) await store.noteAirtableChanges(key, changes);
    for (const change of changes) noted.set(change.recordId, change.changedAt);
    offset = listed.body.offset;
    if (offset === undefined) {
      const recent = pruned({ ...state.recent, ...Object.fromEntries(noted) }, startedAt);
      await store.setSetting(pollSettingKey(deps.destinationName, deps.syncName), JSON.stringify({ since: Math.max(state.since, startedAt), recent }));
      return { ok: true, noted: noted.size, isStart: false };
    }
  }
  return { ok: false, noted: noted.size, error: `more than ${MAX_POLL_PAGES * MAX_PAGE_SIZE} records of ${sync.table} changed since ${new Date(state.since).toISOString()}: the poll cursor stays there (noted records are noted again next time)` };
}

/** The entries a poll whose cursor is `at` may still see again, the newest `MAX_RECENT`. */
function pruned(recent: Readonly<Record<string, number>>, at: number): Record<string, number> {
  const kept = Object.entries(recent).filter(([, notedAt]) => notedAt >= at - 2 * POLL_OVERLAP_MS);
  kept.sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(kept.slice(0, MAX_RECENT));
}
