/** `kitrelay destinations list|pause|resume`: hold a destination's jobs by hand (no attempts spent). */
import type { Command } from 'commander';
import { listDestinations, pauseDestination, resumeDestination } from '../services/index.js';
import { CliError, iso, printJson, printTable, withServices } from './context.js';

export function registerDestinations(program: Command): void {
  const destinations = program.command('destinations').description('configured destinations, their pause switch and circuit breaker');
  destinations
    .command('list')
    .description('each destination with its queue counts, pause and breaker state')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withServices(command, async (deps) => {
        const rows = (await listDestinations(deps)).map((d) => ({
          name: d.name,
          type: d.type,
          paused: d.pausedAt !== null ? `since ${iso(d.pausedAt)}${d.pausedReason ? ` (${d.pausedReason})` : ''}` : 'no',
          breaker: d.breakerOpenUntil !== null ? `open until ${iso(d.breakerOpenUntil)}` : 'closed',
          pending: d.jobs.pending,
          running: d.jobs.running,
          dead: d.jobs.dead,
          succeeded: d.jobs.succeeded,
        }));
        if (flags.json) return printJson(rows);
        printTable(rows);
      });
    });

  destinations
    .command('pause <name>')
    .description('hold this destination\'s jobs: nothing is attempted until resume')
    .option('--reason <text>', 'why (shown in destinations list)', 'paused by hand')
    .action(async (name: string, flags: { reason: string }, command: Command) => {
      await withServices(command, async (deps) => {
        const result = await pauseDestination(deps, name, flags.reason);
        if (result.kind === 'not_found') throw new CliError('not_found', `No destination "${name}" in the config`, 1);
        process.stdout.write(`${name} paused\n`);
      });
    });

  destinations
    .command('resume <name>')
    .description('let a paused destination\'s held jobs run')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withServices(command, async (deps) => {
        const result = await resumeDestination(deps, name);
        if (result.kind === 'not_found') throw new CliError('not_found', `No destination "${name}" in the config`, 1);
        process.stdout.write(`${name} resumed\n`);
      });
    });
}
