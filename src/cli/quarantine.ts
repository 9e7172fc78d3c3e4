/** `kitrelay quarantine list|show|reingest|discard`: authenticated input that could not be used. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compileRules } from '../rules/route.js';
import { routeTableFor } from '../main.js';
import { discardQuarantine, listQuarantine, reingestQuarantine, showQuarantine } from '../services/index.js';
import type { QuarantineStatus } from '../store/types.js';
import { CliError, iso, parseId, parseLimit, parseTime, printJson, printTable, withServices } from './context.js';

const STATUSES: readonly QuarantineStatus[] = ['open', 'reingested', 'discarded'];

export function registerQuarantine(program: Command): void {
  const quarantine = program.command('quarantine').description('authenticated deliveries or events that failed validation, kept raw');
  quarantine
    .command('list')
    .description('list quarantined bodies, newest first')
    .option('--status <status>', STATUSES.join('|'))
    .option('--route <id>', 'legacy route id or signed endpoint name')
    .option('--since <time>', 'a date or an age like 24h')
    .option('--until <time>', 'up to this time')
    .option('--limit <n>', 'how many (default 100)')
    .option('--json', 'print JSON')
    .action(async (flags: { status?: string; route?: string; since?: string; until?: string; limit?: string; json?: boolean }, command: Command) => {
      if (flags.status && !STATUSES.includes(flags.status as QuarantineStatus)) throw new CliError('bad_option', `--status must be one of ${STATUSES.join(', ')}`, 2);
      await withServices(command, async (deps) => {
        const now = deps.clock.now();
        const limit = parseLimit(flags.limit);
        const rows = await listQuarantine(deps, {
          ...(flags.status ? { status: flags.status as QuarantineStatus } : {}),
          ...(flags.route ? { route: flags.route } : {}),
          ...(flags.since ? { since: parseTime(flags.since, now, '--since') } : {}),
          ...(flags.until ? { until: parseTime(flags.until, now, '--until') } : {}),
          ...(limit ? { limit } : {}),
        });
        if (flags.json) return printJson(rows);
        printTable(
          rows.map((q) => ({ id: q.id, received: iso(q.receivedAt), times: q.timesReceived, system: q.system, route: q.route, status: q.status, reason: q.reason, bytes: q.body.length, detail: q.detail.slice(0, 70) })),
        );
      });
    });

  quarantine
    .command('show <id>')
    .description('one quarantined body with why it failed')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withServices(command, async (deps) => {
        const entry = await showQuarantine(deps, parseId(id, 'quarantine id'));
        if (!entry) throw new CliError('not_found', `No quarantine entry ${id}`, 1);
        if (flags.json) return printJson(entry);
        const out = [
          `quarantine ${entry.id}  ${entry.system} ${entry.route}  ${entry.status}  received ${iso(entry.receivedAt)}`,
          `  reason: ${entry.reason}: ${entry.detail}`,
          ...(entry.timesReceived > 1 ? [`  received ${entry.timesReceived} times (the same bytes again, e.g. Kit retrying), last ${iso(entry.lastReceivedAt)}`] : []),
          `  headers: ${JSON.stringify(entry.headers)}`,
          ...(entry.reingestedEventIds.length ? [`  re-ingested as events ${entry.reingestedEventIds.join(', ')}`] : []),
          '  body:',
          entry.body.toString('utf8').replace(/^/gm, '    '),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      });
    });

  quarantine
    .command('reingest <id>')
    .description('ingest a quarantined body again (after a config fix, or with a corrected body)')
    .option('--body <file>', 'use this corrected body instead of the stored one')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { body?: string; json?: boolean }, command: Command) => {
      await withServices(command, async (deps, loaded) => {
        const routes = await routeTableFor(deps.store, loaded, process.env);
        const body = flags.body ? readFileSync(flags.body) : undefined;
        const result = await reingestQuarantine({ ...deps, rules: compileRules(deps.config), routes }, parseId(id, 'quarantine id'), body);
        if (flags.json) return printJson(result);
        switch (result.kind) {
          case 'not_found':
            throw new CliError('not_found', `No quarantine entry ${id}`, 1);
          case 'not_open':
            throw new CliError('not_open', `Quarantine entry ${id} is already ${result.entry.status}`, 1);
          case 'route_gone':
            throw new CliError('route_gone', `Route ${result.entry.route} is no longer in the config; restore it or re-ingest with a config that has it`, 1);
          case 'still_invalid':
            throw new CliError('still_invalid', `Still invalid (${result.reason}): ${result.detail}. Fix the body and pass it with --body <file>.`, 1);
          case 'done': {
            const outcome = result.outcome;
            if (outcome.kind === 'accepted') process.stdout.write(`re-ingested: ${outcome.accepted} event(s) accepted, ${outcome.duplicates} duplicate(s), ${outcome.jobs} job(s) made\n`);
            else throw new CliError('reingest_failed', `Not stored: ${JSON.stringify(outcome)}`, 1);
          }
        }
      });
    });

  quarantine
    .command('discard <id>')
    .description('mark a quarantined body as not worth re-ingesting (it is kept until retention)')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withServices(command, async (deps) => {
        const result = await discardQuarantine(deps, parseId(id, 'quarantine id'));
        // Unknown and already-resolved entries answer alike, as they always have.
        if (result.kind !== 'discarded') throw new CliError('not_open', `Quarantine entry ${id} is not open`, 1);
        process.stdout.write(`quarantine ${id} discarded\n`);
      });
    });
}
