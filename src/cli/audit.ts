/**
 * `kitrelay audit`: the audit log, one record per outbound attempt. With `--email` and a Meta
 * destination or audience as `--destination`, what was sent to Meta about that person: every batch
 * row with their address's hash.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { audienceSends, listAuditRecords } from '../services/index.js';
import type { AttemptOutcome } from '../store/types.js';
import { CliError, addListOptions, iso, load, parseId, printJson, printTable, timeAndSubscriberFilter, withServices, type ListFlags } from './context.js';

/** The Meta audiences (`<destination>/<name>`) `--destination` names: a meta destination's, or one audience by name. */
function metaAudiences(loaded: LoadedConfig, name: string): string[] | undefined {
  const metas = Object.entries(loaded.config.destinations).flatMap(([destination, config]) => (config.type === 'meta' ? [[destination, Object.keys(config.audiences)] as const] : []));
  const whole = metas.find(([destination]) => destination === name);
  if (whole) return whole[1].map((audience) => `${whole[0]}/${audience}`);
  const named = metas.flatMap(([destination, audiences]) => audiences.filter((a) => a === name || `${destination}/${a}` === name).map((a) => `${destination}/${a}`));
  return named.length > 0 ? named : undefined;
}

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
    const audiences = flags.email && flags.destination ? metaAudiences(await load(command), flags.destination) : undefined;
    if (audiences && flags.email) {
      const email = flags.email;
      await withServices(command, async (deps) => {
        const result = await audienceSends(deps, email, audiences);
        if (result.kind === 'invalid_email') throw new CliError('invalid_email', `--email ${email}: ${result.reason}`, 2);
        if (flags.json) return printJson(result);
        process.stdout.write(`sent to Meta about ${email} (EMAIL sha256 ${result.matchKey}): ${result.sends.length} row(s)\n`);
        printTable(
          result.sends.map((s) => ({
            batch: s.batch.id,
            audience: s.batch.audience,
            run: s.batch.runId,
            op: s.batch.op,
            session: s.batch.sessionId,
            planned: iso(s.batch.createdAt),
            status: s.batch.status,
            acked: s.batch.ackedAt === null ? '-' : iso(s.batch.ackedAt),
            subscriber: s.subscriberId,
            keys: s.row.filter((value) => value !== '').length,
          })),
        );
      });
      return;
    }
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
