/** `kitrelay backup <file>`, `kitrelay retention run` and `kitrelay erase <email>`. */
import path from 'node:path';
import type { Command } from 'commander';
import { backupStore, eraseSubscriber, runRetention } from '../services/index.js';
import { CliError, printJson, withServices, withStore } from './context.js';
import { removeFromAirtable } from './airtable-erase.js';
import { removeFromAudiences } from './meta.js';

export function registerMaintenance(program: Command): void {
  program
    .command('backup <file>')
    .description('online backup of the SQLite store to <file> (safe while the service runs)')
    .action(async (file: string, _flags: unknown, command: Command) => {
      await withServices(command, async (deps) => {
        const { store } = deps;
        if (store.dialect === 'postgres') throw new CliError('not_sqlite', 'The store is PostgreSQL: back it up with pg_dump (or your database service\'s backups); `kitrelay backup` copies the SQLite file', 2);
        const result = await backupStore({ store }, path.resolve(file));
        if (result.kind === 'same_file') throw new CliError('same_file', `${result.path} is the live database: back up to another file`, 2);
        process.stdout.write(`backed up ${result.from} to ${result.to}\n`);
      });
    });

  program
    .command('erase <email>')
    .description("erase one person (GDPR): their events, jobs, mirror row, quarantined bodies and spent once-keys leave the store; their audit records stay with nothing personal in them")
    .option('--json', 'print JSON')
    .action(async (email: string, flags: { json?: boolean }, command: Command) => {
      // First out of every Meta audience that holds the address (at Meta) and every Airtable table, then out of the store.
      const audiences = await withStore(command, (store, loaded) => removeFromAudiences(store, loaded, email));
      const airtable = await withStore(command, (store, loaded) => removeFromAirtable(store, loaded, email));
      await withServices(command, async (deps) => {
        const outcome = await eraseSubscriber(deps, email);
        if (outcome.kind === 'invalid_email') throw new CliError('invalid_email', outcome.message, 2);
        const r = outcome.result;
        if (flags.json) return printJson({ ...r, audiences, airtable });
        const ids = r.subscriberIds.length > 0 ? ` (Kit subscriber ${r.subscriberIds.join(', ')})` : '';
        process.stdout.write(
          `erased ${r.email}${ids}: ${r.events} event(s), ${r.jobs} job(s), ${r.mirror} mirror row(s), ${r.quarantine} quarantine entr(ies), ${r.ledgerKeys} once-key(s), ${r.audienceRows} audience row(s), ${r.airtableRows} Airtable row(s), ${r.kajabiRows} Kajabi row(s); ${r.auditRecordsScrubbed} audit record(s) kept without personal data\n`,
        );
        for (const key of audiences.removed) process.stdout.write(`removed from Meta audience ${key}\n`);
        for (const key of audiences.skipped) process.stdout.write(`not removed from Meta audience ${key}\n`);
        for (const key of airtable.removed) process.stdout.write(`removed from Airtable sync ${key}\n`);
      });
    });

  const retention = program.command('retention').description('retention of events, quarantine and audit personal data');
  retention
    .command('run')
    .description('apply the retention settings now (the service also runs them periodically)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withServices(command, async (deps) => {
        const { removed } = await runRetention(deps);
        if (flags.json) return printJson(removed);
        process.stdout.write(`removed ${removed.events} event(s), ${removed.jobs} job(s), ${removed.quarantine} quarantine entr(ies), ${removed.dedupeKeys} expired dedupe key(s); scrubbed ${removed.auditScrubbed} audit record(s)\n`);
      });
    });
}
