/** `kitrelay events list|show`: what arrived from Kit, and what the rules made of it. */
import type { Command } from 'commander';
import { canonicalEventType } from '../kit/events.js';
import { listEvents, showEvent } from '../services/index.js';
import type { EventStatus } from '../store/types.js';
import { CliError, addListOptions, iso, parseId, printJson, printTable, timeAndSubscriberFilter, withServices, type ListFlags } from './context.js';

const STATUSES: readonly EventStatus[] = ['accepted', 'duplicate'];

export function registerEvents(program: Command): void {
  const events = program.command('events').description('inbound events');
  addListOptions(
    events
      .command('list')
      .description('list events, newest first')
      .option('--status <status>', `one of ${STATUSES.join(', ')}`)
      .option('--type <type>', 'event type (canonical or legacy name)'),
  ).action(async (flags: ListFlags & { type?: string }, command: Command) => {
    if (flags.status && !STATUSES.includes(flags.status as EventStatus)) throw new CliError('bad_option', `--status must be one of ${STATUSES.join(', ')}`, 2);
    await withServices(command, async (deps) => {
      const rows = await listEvents(deps, {
        ...timeAndSubscriberFilter(flags, deps.clock.now()),
        ...(flags.status ? { status: flags.status as EventStatus } : {}),
        ...(flags.type ? { type: canonicalEventType(flags.type) } : {}),
      });
      if (flags.json) return printJson(rows);
      printTable(
        rows.map((e) => ({
          id: e.id,
          received: iso(e.receivedAt),
          origin: e.origin,
          type: e.type,
          scope: e.scope ? `${e.scope.param}=${e.scope.value}` : '',
          subscriber: e.subscriberId ?? '',
          email: e.email ?? '',
          status: e.duplicateOf ? `duplicate of ${e.duplicateOf}` : e.status,
          jobs: e.decisions.filter((d) => d.outcome === 'job').length,
        })),
      );
    });
  });

  events
    .command('show <id>')
    .description('one event: payload, rule decisions, jobs')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withServices(command, async (deps) => {
        const detail = await showEvent(deps, parseId(id, 'event id'));
        if (!detail) throw new CliError('not_found', `No event ${id}`, 1);
        if (flags.json) return printJson(detail);
        const { event, jobs } = detail;
        const out = [
          `event ${event.id}  ${event.type} (Kit: ${event.kitType})  ${event.status}${event.duplicateOf ? ` of ${event.duplicateOf}` : ''}`,
          `  received ${iso(event.receivedAt)} via ${event.source}, delivery ${event.deliveryId}${event.kitEventId ? `, Kit event ${event.kitEventId}` : ''}`,
          `  subscriber ${event.subscriberId ?? '-'} ${event.email ?? ''}${event.scope ? `  scope ${event.scope.param}=${event.scope.value}` : ''}`,
          '  decisions:',
          ...(event.decisions.length === 0 ? ['    (no rule matched this event type and scope)'] : event.decisions.map((d) => `    rule ${d.rule}: ${d.outcome}${d.destination ? ` → ${d.destination}/${d.action ?? ''}` : ''}${d.jobId ? ` job ${d.jobId}` : ''}${d.detail ? ` (${d.detail})` : ''}`)),
          '  jobs:',
          ...(jobs.length === 0 ? ['    (none)'] : jobs.map((j) => `    ${j.id}  ${j.destination}/${j.action}  ${j.status}  attempts ${j.attempts}/${j.maxAttempts}${j.lastError ? `  last error: ${j.lastError}` : ''}`)),
          '  payload:',
          JSON.stringify(event.payload, null, 2).replace(/^/gm, '    '),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      });
    });
}
