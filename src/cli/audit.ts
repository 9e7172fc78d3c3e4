/** `kitrelay audit`: the audit log, one record per outbound attempt. */
import type { Command } from 'commander';
import { listAuditRecords } from '../services/index.js';
import type { AttemptOutcome } from '../store/types.js';
import { CliError, addListOptions, iso, parseId, printJson, printTable, timeAndSubscriberFilter, withServices, type ListFlags } from './context.js';

const OUTCOMES: readonly AttemptOutcome[] = ['succeeded', 'retry', 'failed', 'unknown'];

export function registerAudit(program: Command): void {
  addListOptions(
    program
      .command('audit')
      .description('audit records: what each attempt sent and got back, newest first')
      .option('--job <id>', 'attempts of one job')
      .option('--destination <name>', 'destination name')
      .option('--outcome <outcome>', OUTCOMES.join('|')),
  ).action(async (flags: ListFlags & { job?: string; outcome?: string }, command: Command) => {
    if (flags.outcome && !OUTCOMES.includes(flags.outcome as AttemptOutcome)) throw new CliError('bad_option', `--outcome must be one of ${OUTCOMES.join(', ')}`, 2);
    await withServices(command, async (deps) => {
      const rows = await listAuditRecords(deps, {
        ...timeAndSubscriberFilter(flags, deps.clock.now()),
        ...(flags.job ? { jobId: parseId(flags.job, '--job') } : {}),
        ...(flags.destination ? { destination: flags.destination } : {}),
        ...(flags.outcome ? { outcome: flags.outcome as AttemptOutcome } : {}),
      });
      if (flags.json) return printJson(rows);
      printTable(
        rows.map((a) => ({
          id: a.id,
          started: iso(a.startedAt),
          destination: a.destination,
          action: a.action,
          job: a.jobId,
          attempt: a.attempt,
          outcome: a.isShadow ? 'shadow' : a.outcome,
          status: a.responseStatus ?? '-',
          ms: a.durationMs,
          subscriber: a.subscriberKey ?? '',
          request: a.request ? `${a.request.method} ${a.request.url}` : '',
          error: (a.error ?? '').slice(0, 50),
        })),
      );
    });
  });
}
