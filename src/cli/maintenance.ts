/** `kitrelay backup <file>` and `kitrelay retention run`. */
import path from 'node:path';
import type { Command } from 'commander';
import { DAY } from '../lib/clock.js';
import { printJson, withStore } from './context.js';

export function registerMaintenance(program: Command): void {
  program
    .command('backup <file>')
    .description('online backup of the SQLite store to <file> (safe while the service runs)')
    .action(async (file: string, _flags: unknown, command: Command) => {
      await withStore(command, async (store) => {
        const target = path.resolve(file);
        await store.backup(target);
        process.stdout.write(`backed up ${store.path} to ${target}\n`);
      });
    });

  const retention = program.command('retention').description('retention of events, quarantine and audit personal data');
  retention
    .command('run')
    .description('apply the retention settings now (the service also runs them periodically)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const now = Date.now();
        const r = loaded.config.retention;
        const result = await store.purge({ now, eventsBefore: now - r.eventDays * DAY, quarantineBefore: now - r.quarantineDays * DAY, auditScrubBefore: now - r.auditPersonalDataDays * DAY });
        if (flags.json) return printJson(result);
        process.stdout.write(`removed ${result.events} event(s), ${result.jobs} job(s), ${result.quarantine} quarantine entr(ies), ${result.dedupeKeys} expired dedupe key(s); scrubbed ${result.auditScrubbed} audit record(s)\n`);
      });
    });
}
