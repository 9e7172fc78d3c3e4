/** `kitrelay destinations list|pause|resume`: hold a destination's jobs by hand (no attempts spent). */
import type { Command } from 'commander';
import { CliError, iso, printJson, printTable, withStore } from './context.js';

export function registerDestinations(program: Command): void {
  const destinations = program.command('destinations').description('configured destinations, their pause switch and circuit breaker');
  destinations
    .command('list')
    .description('each destination with its queue counts, pause and breaker state')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const [states, counts] = await Promise.all([store.getDestinationStates(), store.countJobs()]);
        const now = Date.now();
        const rows = Object.entries(loaded.config.destinations).map(([name, destination]) => {
          const state = states.find((s) => s.destination === name);
          const count = (status: string) => counts.find((c) => c.destination === name && c.status === status)?.count ?? 0;
          return {
            name,
            type: destination.type,
            paused: state?.pausedAt ? `since ${iso(state.pausedAt)}${state.pausedReason ? ` (${state.pausedReason})` : ''}` : 'no',
            breaker: state?.breakerOpenUntil && state.breakerOpenUntil > now ? `open until ${iso(state.breakerOpenUntil)}` : 'closed',
            pending: count('pending'),
            running: count('running'),
            dead: count('dead'),
            succeeded: count('succeeded'),
          };
        });
        if (flags.json) return printJson(rows);
        printTable(rows);
      });
    });

  destinations
    .command('pause <name>')
    .description('hold this destination\'s jobs: nothing is attempted until resume')
    .option('--reason <text>', 'why (shown in destinations list)', 'paused by hand')
    .action(async (name: string, flags: { reason: string }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        if (!(name in loaded.config.destinations)) throw new CliError('not_found', `No destination "${name}" in the config`, 1);
        await store.pauseDestination(name, flags.reason, Date.now());
        process.stdout.write(`${name} paused\n`);
      });
    });

  destinations
    .command('resume <name>')
    .description('let a paused destination\'s held jobs run')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withStore(command, async (store, loaded) => {
        if (!(name in loaded.config.destinations)) throw new CliError('not_found', `No destination "${name}" in the config`, 1);
        await store.resumeDestination(name, Date.now());
        process.stdout.write(`${name} resumed\n`);
      });
    });
}
