/**
 * Airtable (pattern 4): Kit subscribers as records in a table, one per subscriber, keyed by the Kit
 * id in a field of its own. Facts: reference/destinations.md §3.
 *
 * Kit → Airtable: webhooks change the subscriber mirror; the event follower hands the changed
 * subscribers to `followSubscribers` (follow.ts), which queues one delayed `upsert` job per
 * subscriber whose record needs a write (changes within `coalesceMs` coalesce); the `upsert`
 * action (upsert.ts) sends up to 10 of them in one call. `kitrelay airtable backfill <sync>`
 * (backfill.ts) writes every selected subscriber, resumably. Every call spends from the call
 * budget first (budget.ts). Airtable → Kit is not built yet (README, "Not yet").
 */
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { Integration, ScheduleDeps } from '../types.js';
import { emptyStats, runBackfill, type BackfillOptions, type BackfillResult } from './backfill.js';
import { storeCallBudget } from './budget.js';
import { airtableClient } from './client.js';
import { followSyncs } from './follow.js';
import { airtableDestinationSchema, checkAirtable, type AirtableDestinationConfig } from './schema.js';
import { airtableStandIn } from './sandbox.js';
import { upsertAction } from './upsert.js';

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
  const token = deps.secrets(destination.token);
  const http: HttpClient = deps.http ?? createHttpClient();
  try {
    const budget = storeCallBudget({ store: deps.store, destinationName, destination, token, now: run.now, onWarning: (warning) => run.warn?.(warning.message) });
    const client = airtableClient((request) => http.send({ timeoutMs: destination.timeoutMs, ...(run.signal ? { signal: run.signal } : {}), ...request }), { apiUrl: destination.apiUrl, token, userAgent: deps.userAgent }, { budget, now: run.now, ...(run.signal ? { signal: run.signal } : {}) });
    const result = await runBackfill({ store: deps.store, client, destinationName, syncName, sync, now: run.now, ...(run.signal ? { signal: run.signal } : {}), ...(run.progress ? { progress: run.progress } : {}) }, { concurrency: run.concurrency ?? destination.concurrency, ...(run.force ? { force: true } : {}), ...(run.restart ? { restart: true } : {}) });
    return pulled.stats ? { ...result, kitPull: pulled.stats } : result;
  } finally {
    if (!deps.http) await http.close();
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
  actions: { upsert: upsertAction },
  followSubscribers: followSyncs,
  check: checkAirtable,
  // No token set: the sandbox points the destination at an Airtable simulator holding each sync's
  // table, empty (`kitrelay airtable backfill <sync>` fills it).
  async sandbox({ destination, env }) {
    if (env[destination.token.$env] || Object.keys(destination.syncs).length === 0) return undefined;
    return airtableStandIn(destination);
  },
};

export { airtableDestinationSchema, syncSchema, checkAirtable, matchOf, type AirtableDestinationConfig, type AirtableSyncConfig } from './schema.js';
export { airtableClient, type AirtableClient } from './client.js';
export { backfillCheckpointName, type BackfillResult, type BackfillStats } from './backfill.js';
export { monthOf } from './budget.js';
export { syncKey } from './records.js';
export { upsertParamsSchema, type UpsertParams } from './upsert.js';
