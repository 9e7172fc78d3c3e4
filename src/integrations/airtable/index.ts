/**
 * Airtable (pattern 4): Kit subscribers as records in a table, one per subscriber, keyed by the Kit
 * id in a field of its own. Facts: reference/destinations.md §3.
 *
 * Kit → Airtable: webhooks change the subscriber mirror; the event follower hands the changed
 * subscribers to `followSubscribers` (follow.ts), which queues one delayed `upsert` job per
 * subscriber whose record needs a write (changes within `coalesceMs` coalesce); the `upsert`
 * action (upsert.ts) sends up to 10 of them in one call. `kitrelay airtable backfill <sync>`
 * (backfill.ts) writes every selected subscriber, resumably. Every call spends from the call
 * budget first (budget.ts).
 *
 * Airtable → Kit: the base's webhook pings the `webhook` source (source.ts, MAC-checked), whose
 * `fetch_changes` job reads the payloads by a durable cursor (webhooks.ts); without a working
 * webhook, a poll by `LAST_MODIFIED_TIME()` (poll.ts). Either notes changed records as pending; the
 * inbound schedule applies each once quiet (inbound.ts): field by field against the synced values,
 * conflicts by policy, Kit's writes as `kit_update` jobs (kit-update.ts), deletes held for approval
 * and conflicts for review (review.ts). The out-of-sync check (check.ts) compares the whole table
 * with the mirror, nightly.
 */
import type { ScheduleDefinition } from '../../schedules/types.js';
import type { Integration, ScheduleDeps } from '../types.js';
import { emptyStats, runBackfill, type BackfillOptions, type BackfillResult } from './backfill.js';
import { followSyncs } from './follow.js';
import { airtableDestinationSchema, checkAirtable, type AirtableDestinationConfig } from './schema.js';
import { airtableStandIn } from './sandbox.js';
import { applyQuietChanges, type InboundStats } from './inbound.js';
import { kitUpdateAction } from './kit-update.js';
import { openClient } from './open.js';
import { detectChanges, syncWebhook } from './webhooks.js';
import { fetchChangesAction } from './fetch-changes.js';
import { FETCH_CHANGES_ACTION, webhookSource } from './source.js';
import { upsertAction } from './upsert.js';
import { checkSchedules } from './check.js';

export interface BackfillRun extends BackfillOptions {
  readonly now: () => number;
  readonly signal?: AbortSignal;
  readonly progress?: (report: { readonly done: number; readonly total?: number; readonly message: string }) => void;
  /** Where the month's budget warning goes. */
  readonly warn?: (message: string) => void;
}

export type BackfillSyncResult = BackfillResult & {
  /** Kit's side first, when there is Kit access: what the pull into the mirror did. */
  readonly kitPull?: Readonly<Record<string, unknown>>;
};

/**
 * Runs one sync's backfill with what a schedule (or the CLI, or a test) is given: with Kit access,
 * Kit's changed subscribers are pulled into the mirror first (all of Kit while no Kit backfill has
 * finished), as an audience run does, so the table gets who is in Kit now.
 */
export async function backfillSync(deps: ScheduleDeps<AirtableDestinationConfig>, syncName: string, run: BackfillRun): Promise<BackfillSyncResult> {
  const { destination, destinationName } = deps;
  const sync = Object.hasOwn(destination.syncs, syncName) ? destination.syncs[syncName] : undefined;
  if (!sync) throw new Error(`no sync "${syncName}" on destination ${destinationName} (syncs: ${Object.keys(destination.syncs).join(', ') || 'none'})`);
  const pulled = await pullFromKit(deps, run);
  if (pulled.failed) return { status: 'failed', stats: emptyStats(), resumedAfter: null, duplicates: [], refusals: [], error: pulled.failed, kitPull: pulled.stats };
  const opened = openClient(deps, run);
  const { client } = opened;
  try {
    const result = await runBackfill({ store: deps.store, client, destinationName, syncName, sync, now: run.now, ...(run.signal ? { signal: run.signal } : {}), ...(run.progress ? { progress: run.progress } : {}) }, { concurrency: run.concurrency ?? destination.concurrency, ...(run.force ? { force: true } : {}), ...(run.restart ? { restart: true } : {}) });
    return pulled.stats ? { ...result, kitPull: pulled.stats } : result;
  } finally {
    await opened.close();
  }
}

/** The schedule that applies one sync's Airtable edits to Kit. */
export function inboundScheduleName(destinationName: string, syncName: string): string {
  return `airtable-inbound:${destinationName}:${syncName}`;
}

/**
 * One schedule per two-way sync: looks for changes every `inbound.pollIntervalMs` (the webhook's
 * payloads, or a poll; pings fetch them sooner through `fetch_changes` jobs), then applies every
 * record quiet for `inbound.quietMs` (inbound.ts).
 */
function inboundSchedules(deps: ScheduleDeps<AirtableDestinationConfig>): ScheduleDefinition[] {
  return Object.entries(deps.destination.syncs)
    .filter(([, sync]) => sync.inbound.mode !== 'off')
    .map(([syncName, sync]) => ({
      name: inboundScheduleName(deps.destinationName, syncName),
      cron: sync.inbound.schedule,
      description: `Airtable ${syncName}: edits made in Airtable, applied to Kit once quiet (conflicts by policy, deletes held for approval)`,
      retry: { maxRetries: 0, baseDelayMs: 1000 },
      async run(ctx) {
        const result = await runInbound(deps, syncName, { now: () => ctx.now(), signal: ctx.signal, warn: (message) => ctx.log.warn({ sync: syncName }, message) });
        const counts = { ...result.stats, ...(result.detected ? { detected: result.detected.noted } : {}) };
        if (result.error) return { counts, error: result.error };
        return { counts, summary: `${result.stats.taken} changes applied: ${result.stats.toKit} to Kit, ${result.stats.toAirtable} back to Airtable, ${result.stats.held} held, ${result.stats.deleteRequests} deletes to approve` };
      },
    }));
}

export interface InboundRunResult {
  readonly stats: InboundStats;
  readonly detected?: { readonly noted: number; readonly mode: string };
  readonly error?: string;
}

/** Looks for changes when due, then applies the quiet ones: what one inbound schedule run does. */
export async function runInbound(deps: ScheduleDeps<AirtableDestinationConfig>, syncName: string, run: { readonly now: () => number; readonly signal?: AbortSignal; readonly warn?: (message: string) => void; readonly detectNow?: boolean }): Promise<InboundRunResult> {
  const sync = Object.hasOwn(deps.destination.syncs, syncName) ? deps.destination.syncs[syncName] : undefined;
  if (!sync) throw new Error(`no sync "${syncName}" on destination ${deps.destinationName}`);
  const opened = openClient(deps, run);
  const { client } = opened;
  try {
    let detected: InboundRunResult['detected'];
    const errors: string[] = [];
    const cursor = deps.cursor(`airtable-detect:${syncName}`);
    const last = Number((await cursor.load()) ?? 0);
    if (run.detectNow || run.now() - last >= sync.inbound.pollIntervalMs) {
      const found = await detectChanges({ store: deps.store, client, destinationName: deps.destinationName, syncName, sync, now: run.now });
      detected = { noted: found.noted, mode: found.mode };
      if (found.error) errors.push(`looking for changes: ${found.error}`);
      await cursor.save(String(run.now()));
    }
    const applied = await applyQuietChanges({ store: deps.store, client, destinationName: deps.destinationName, syncName, sync, now: run.now, ingest: (poller, events) => deps.ingest(poller, events), ...(run.signal ? { signal: run.signal } : {}) });
    if (!applied.ok) errors.push(`applying changes: ${applied.error}`);
    return { stats: applied.stats, ...(detected ? { detected } : {}), ...(errors.length > 0 ? { error: errors.join('; ') } : {}) };
  } finally {
    await opened.close();
  }
}

/**
 * Who changed in Kit since the last pull, into the mirror. A failed pull of changes leaves the
 * mirror as webhooks keep it (noted); a failed first fill stops the backfill, since a half-filled
 * mirror would leave most of the table out.
 */
async function pullFromKit(deps: ScheduleDeps<AirtableDestinationConfig>, run: BackfillRun): Promise<{ readonly stats?: Record<string, unknown>; readonly failed?: string }> {
  if (!deps.kit) return {};
  const cursor = deps.cursor('kit-pull');
  const startedAt = run.now();
  const saved = await cursor.load();
  const since = saved !== null && /^\d+$/.test(saved) ? Number(saved) : undefined;
  try {
    const result = await deps.kit.pull({
      ...(since !== undefined ? { since } : {}),
      ...(run.signal ? { signal: run.signal } : {}),
      onPage: (page) => run.progress?.({ done: page.written, ...(page.total !== undefined ? { total: page.total } : {}), message: `pulled ${page.written} subscribers from Kit` }),
    });
    await cursor.save(String(startedAt));
    return { stats: { ...result } };
  } catch (error) {
    run.signal?.throwIfAborted();
    const message = error instanceof Error ? error.message : String(error);
    if (since === undefined) return { stats: { error: message }, failed: `could not fill the subscriber mirror from Kit (${message}): nothing was sent` };
    return { stats: { error: message, note: 'the mirror as webhooks keep it was used' } };
  }
}

export const airtableIntegration: Integration<AirtableDestinationConfig> = {
  type: 'airtable',
  description: 'Airtable: Kit subscribers as records in a table, kept up to date as webhooks arrive',
  configSchema: airtableDestinationSchema,
  defaultAction: 'upsert',
  actions: { upsert: upsertAction, kit_update: kitUpdateAction, [FETCH_CHANGES_ACTION]: fetchChangesAction },
  sources: [webhookSource],
  followSubscribers: followSyncs,
  schedules: (deps) => [...inboundSchedules(deps), ...checkSchedules(deps)],
  check: checkAirtable,
  // No token set: the sandbox points the destination at an Airtable simulator holding each sync's
  // table, empty (`kitrelay airtable backfill <sync>` fills it).
  async sandbox({ destination, env }) {
    if (env[destination.token.$env] || Object.keys(destination.syncs).length === 0) return undefined;
    return airtableStandIn(destination);
  },
  // The stand-in's webhooks, pointed at this sandbox's `webhook` source: edits made "as a person" ping it.
  async sandboxStarted({ deps, sourceUrl }) {
    for (const [syncName, sync] of Object.entries(deps.destination.syncs)) {
      if (sync.inbound.mode !== 'webhook') continue;
      const opened = openClient(deps, { now: Date.now });
      try {
        const made = await syncWebhook({ store: deps.store, client: opened.client, destinationName: deps.destinationName, syncName, sync, now: Date.now }, { notificationUrl: sourceUrl('webhook') });
        if (!made.ok) throw new Error(`the sandbox's Airtable webhook for ${syncName}: ${made.error}`);
      } finally {
        await opened.close();
      }
    }
  },
};

export { airtableDestinationSchema, syncSchema, checkAirtable, matchOf, resolveField, type AirtableDestinationConfig, type AirtableSyncConfig } from './schema.js';
export { airtableClient, type AirtableClient } from './client.js';
export { backfillCheckpointName, type BackfillResult, type BackfillStats } from './backfill.js';
export { monthOf } from './budget.js';
export { syncKey } from './records.js';
export { openClient, type OpenedClient } from './open.js';
export { upsertParamsSchema, type UpsertParams } from './upsert.js';
export { checkScheduleName, checkSync, runCheck, type CheckCounts, type CheckFix, type CheckIssue, type CheckResult, type CheckRun } from './check.js';
