/**
 * `kitrelay airtable check <sync> [--repair]`: the table compared with the subscriber mirror
 * (integrations/airtable/check.ts): rows missing, extra, duplicated or different, with examples of
 * each; `--repair` fixes them, each fix printed as it is made. A row kitrelay wrote that was
 * deleted in Airtable is never recreated: it waits for approval (`kitrelay airtable deletes`).
 * The same check runs nightly as the schedule `airtable-check:<destination>:<sync>`.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { runCheck, type CheckFix, type CheckResult } from '../integrations/airtable/index.js';
import { createHttpClient } from '../lib/http.js';
import { integrationScheduleDeps } from '../main.js';
import type { AnyStore } from '../store/index.js';
import { findSync, secretsFor } from './airtable-target.js';
import { CliError, printJson, printTable, withStore } from './context.js';


interface CheckFlags {
  readonly destination?: string;
  readonly repair?: boolean;
  readonly examples: string;
  readonly json?: boolean;
}

export function registerAirtableCheck(airtable: Command): void {
  airtable
    .command('check <sync>')
    .description('compare the table with the mirror: rows missing, extra, duplicated (one Kit id on two rows) or different; --repair fixes them')
    .option('--destination <name>', 'the airtable destination (when more than one has this sync)')
    .option('--repair', 'fix what is found, printing each fix (a row deleted in Airtable is never recreated: it waits for approval)')
    .option('--examples <n>', 'examples shown of each kind', '10')
    .option('--json', 'print JSON')
    .action(async (sync: string, flags: CheckFlags, command: Command) => {
      const result = await withStore(command, (store, loaded) => checkNow(store, loaded, sync, flags));
      if (flags.json) printJson(result);
      else printCheck(sync, result);
      if (result.status === 'failed') process.exitCode = 1;
    });
}

/** One check in this process: progress on stderr, fixes on stdout as they are made, Ctrl-C stops it. */
async function checkNow(store: AnyStore, loaded: LoadedConfig, sync: string, flags: CheckFlags): Promise<CheckResult> {
  const target = await findSync(store, loaded, sync, flags.destination);
  const examples = Number(flags.examples);
  if (!Number.isSafeInteger(examples) || examples < 0) throw new CliError('bad_examples', `--examples must be a whole number (got "${flags.examples}")`, 2);
  const secrets = secretsFor(target);
  const http = createHttpClient();
  const controller = new AbortController();
  const stop = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const isTty = process.stderr.isTTY;
  try {
    const deps = integrationScheduleDeps({ config: loaded.config, store, secrets, http }, target.destinationName, target.destination);
    return await runCheck(deps, sync, {
      now: Date.now,
      signal: controller.signal,
      examples,
      ...(flags.repair ? { repair: true } : {}),
      warn: (message) => process.stderr.write(`${isTty ? '\n' : ''}warning: ${message}\n`),
      progress: (report) => {
        if (isTty) process.stderr.write(`\r\x1b[K${report.message} [${report.done}]`);
      },
      onFix: (fix) => {
        if (!flags.json) process.stdout.write(`${isTty ? '\r\x1b[K' : ''}${fixLine(fix)}\n`);
      },
    });
  } finally {
    if (isTty) process.stderr.write('\r\x1b[K');
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await http.close();
  }
}

function fixLine(fix: CheckFix): string {
  return `  ${fix.action === 'failed' ? 'FAILED' : 'fixed'}: Kit id ${fix.kitId}${fix.recordId ? ` (${fix.recordId})` : ''} ${fix.found}: ${fix.action} — ${fix.detail}`;
}

function printCheck(sync: string, result: CheckResult): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const { counts } = result;
  out(`check ${sync}: ${result.status}${result.error ? ` — ${result.error}` : ''}`);
  printTable([
    { rows: counts.rows, selected: counts.selected, ok: counts.ok, missing: counts.missing, extra: counts.extra, duplicate: counts.duplicate, different: counts.different, paused: counts.paused, marked: counts.marked, 'no kit id': counts.noKitId, calls: counts.calls },
  ]);
  if (counts.deletedInAirtable > 0) out(`${counts.deletedInAirtable} of the missing rows were deleted in Airtable: they wait for approval (kitrelay airtable deletes list)`);
  if (counts.busy > 0) out(`${counts.busy} records were written while the check ran: judged next time`);
  for (const [kind, issues] of Object.entries(result.examples)) {
    for (const issue of issues) out(`  ${kind}: Kit id ${issue.kitId}${issue.email ? ` <${issue.email}>` : ''}${issue.recordIds.length > 0 ? ` ${issue.recordIds.join(', ')}` : ''} — ${issue.detail}`);
  }
  const failed = result.fixes.filter((fix) => fix.action === 'failed').length;
  if (result.isRepair) out(`${result.fixes.length - failed} fixes made${failed > 0 ? `, ${failed} failed` : ''}`);
  else if (result.status === 'drift') out('run again with --repair to fix these (rows deleted in Airtable wait for approval either way)');
}
