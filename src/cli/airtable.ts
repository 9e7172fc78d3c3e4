/**
 * `kitrelay airtable …`: Airtable syncs by hand. `backfill <sync>` writes every subscriber the sync
 * selects now (Kit pulled into the mirror first, when there is Kit access), resumable after a kill
 * or Ctrl-C; `status` shows each sync's records, its backfill checkpoint and the month's calls.
 * Both work whether or not the service runs: the call budget and the base's pace are shared
 * through the store.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { backfillCheckpointName, backfillSync, monthOf, syncKey, type BackfillSyncResult } from '../integrations/airtable/index.js';
import { integrationScheduleDeps, openKitPull } from '../main.js';
import { findCredentials } from '../sync/kit-access.js';
import { systemClock } from '../lib/clock.js';
import { createHttpClient } from '../lib/http.js';
import type { AnyStore } from '../store/index.js';
import { registerAirtableReview } from './airtable-review.js';
import { registerAirtableCheck } from './airtable-check.js';
import { registerAirtableWebhooks } from './airtable-webhooks.js';
import { airtables, findSync, secretsFor } from './airtable-target.js';
import { iso, printJson, printTable, withStore } from './context.js';

export function registerAirtable(program: Command): void {
  const airtable = program.command('airtable').description('Airtable: subscribers as records in a table');
  registerAirtableReview(airtable);
  registerAirtableCheck(airtable);
  registerAirtableWebhooks(airtable);

  airtable
    .command('backfill <sync>')
    .description("write every subscriber the sync selects to its table now (10 a call, at the base's pace), resumable")
    .option('--destination <name>', 'the airtable destination (when more than one has this sync)')
    .option('--force', 'send every record, even those kitrelay wrote before unchanged')
    .option('--restart', 'start from the first subscriber, not where an interrupted run stopped')
    .option('--json', 'print JSON')
    .action(async (sync: string, flags: { destination?: string; force?: boolean; restart?: boolean; json?: boolean }, command: Command) => {
      const result = await withStore(command, (store, loaded) => backfillNow(store, loaded, sync, flags));
      if (flags.json) printJson(result);
      else printBackfill(sync, result);
      if (result.status !== 'completed') process.exitCode = 1;
    });

  airtable
    .command('status')
    .description("each sync's records kitrelay keeps, its backfill, and this month's calls against the budget")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const month = monthOf(Date.now());
        const rows = [];
        for (const [name, destination] of airtables(loaded)) {
          const calls = await store.getAirtableCalls(name, month);
          for (const syncName of Object.keys(destination.syncs)) {
            const checkpoint = await store.getCheckpoint(backfillCheckpointName(name, syncName));
            rows.push({
              sync: `${name}/${syncName}`,
              records: await store.countAirtableRecords(syncKey(name, syncName)),
              backfill: checkpoint ? (checkpoint.completedAt !== null ? `done ${iso(checkpoint.completedAt)}` : `stopped after Kit id ${checkpoint.cursor ?? '0'}`) : 'never',
              calls: `${calls.calls}${destination.monthlyCallBudget ? ` of ${destination.monthlyCallBudget}` : ''} in ${month}`,
            });
          }
        }
        if (flags.json) return printJson(rows);
        printTable(rows);
      });
    });
}

/** One backfill in this process: progress on stderr, Ctrl-C stops it at a checkpoint. */
async function backfillNow(store: AnyStore, loaded: LoadedConfig, sync: string, flags: { destination?: string; force?: boolean; restart?: boolean }): Promise<BackfillSyncResult> {
  const target = await findSync(store, loaded, sync, flags.destination);
  const { config } = loaded;
  const secrets = secretsFor(target);
  const http = createHttpClient();
  const controller = new AbortController();
  const stop = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const credentials = await findCredentials(config, store, process.env);
  const kit = await openKitPull(undefined, credentials, { config, store, env: process.env, clock: systemClock }).catch(() => undefined);
  const isTty = process.stderr.isTTY;
  try {
    const deps = integrationScheduleDeps({ config, store, secrets, http, ...(kit ? { kit: kit.pull } : {}) }, target.destinationName, target.destination);
    return await backfillSync(deps, sync, {
      now: Date.now,
      signal: controller.signal,
      ...(flags.force ? { force: true } : {}),
      ...(flags.restart ? { restart: true } : {}),
      warn: (message) => process.stderr.write(`${isTty ? '\n' : ''}warning: ${message}\n`),
      progress: (report) => {
        const counts = report.total !== undefined ? ` [${report.done}/${report.total}]` : ` [${report.done}]`;
        process.stderr.write(isTty ? `\r\x1b[K${report.message}${counts}` : `${report.message}${counts}\n`);
      },
    });
  } finally {
    if (isTty) process.stderr.write('\n');
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await kit?.close();
    await http.close();
  }
}

function printBackfill(sync: string, result: BackfillSyncResult): void {
  const { stats } = result;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`backfill ${sync}: ${result.status}${result.resumedAfter !== null ? ` (resumed after Kit id ${result.resumedAfter})` : ''}${result.error ? ` — ${result.error}` : ''}`);
  out(`read ${stats.read} subscribers: ${stats.created} created, ${stats.updated} updated, ${stats.matched} matched by email (Kit id filled in), ${stats.unchanged} unchanged, ${stats.paused} paused, ${stats.removed} removed, ${stats.refused} refused; ${stats.calls} calls`);
  for (const duplicate of result.duplicates) out(`  duplicate: ${duplicate.what}: ${duplicate.recordIds.join(', ')} — ${duplicate.note}`);
  for (const refusal of result.refusals) out(`  refused: Kit id ${refusal.kitId}: ${refusal.error}`);
}
