/** `kitrelay jobs list|show|replay|replay-dead|cancel`: the queue, and the dead-letter triage. */
import type { Command } from 'commander';
import { cancelJob, listJobs, replayJob, replayJobs, showJob, type ReplayOptions } from '../services/index.js';
import type { JobFilter, JobStatus } from '../store/types.js';
import { CliError, addListOptions, iso, parseId, printJson, printTable, timeAndSubscriberFilter, withServices, type ListFlags } from './context.js';

const STATUSES: readonly JobStatus[] = ['pending', 'running', 'succeeded', 'dead', 'cancelled'];

function jobFilter(flags: ListFlags & { rule?: string }, now: number): JobFilter {
  if (flags.status && !STATUSES.includes(flags.status as JobStatus)) throw new CliError('bad_option', `--status must be one of ${STATUSES.join(', ')}`, 2);
  return {
    ...timeAndSubscriberFilter(flags, now),
    ...(flags.status ? { status: flags.status as JobStatus } : {}),
    ...(flags.destination ? { destination: flags.destination } : {}),
    ...(flags.rule ? { rule: flags.rule } : {}),
  };
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('jobs: one event × one action on one destination');
  addListOptions(
    jobs
      .command('list')
      .description('list jobs, newest first')
      .option('--status <status>', STATUSES.join('|'))
      .option('--destination <name>', 'destination name')
      .option('--rule <id>', 'rule id'),
  ).action(async (flags: ListFlags & { rule?: string }, command: Command) => {
    await withServices(command, async (deps) => {
      const rows = await listJobs(deps, jobFilter(flags, deps.clock.now()));
      if (flags.json) return printJson(rows);
      printTable(
        rows.map((j) => ({
          id: j.id,
          event: j.eventId,
          created: iso(j.createdAt),
          destination: j.destination,
          action: j.action,
          rule: j.rule,
          status: j.status,
          attempts: `${j.attempts}/${j.maxAttempts}`,
          next: j.status === 'pending' ? iso(j.runAt) : '',
          subscriber: j.subscriberId ?? j.email ?? '',
          error: (j.lastError ?? '').slice(0, 60),
        })),
      );
    });
  });

  jobs
    .command('show <id>')
    .description('one job with its event and every attempt')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withServices(command, async (deps) => {
        const detail = await showJob(deps, parseId(id, 'job id'));
        if (!detail) throw new CliError('not_found', `No job ${id}`, 1);
        if (flags.json) return printJson(detail);
        const { job, event, attempts } = detail;
        const out = [
          `job ${job.id}  ${job.destination}/${job.action}  ${job.status}  attempts ${job.attempts}/${job.maxAttempts}  (rule ${job.rule})`,
          `  event ${job.eventId} ${event?.type ?? '(removed by retention)'}  subscriber ${job.subscriberId ?? '-'} ${job.email ?? ''}`,
          `  created ${iso(job.createdAt)}  next run ${job.status === 'pending' ? iso(job.runAt) : '-'}  finished ${iso(job.finishedAt)}  replays ${job.replays}`,
          `  idempotency key ${job.idempotencyKey}${job.copyOf !== null ? `  (a copy of job ${job.copyOf})` : ''}${job.lastError ? `\n  last error: ${job.lastError}` : ''}`,
          ...(Object.keys(job.facts).length > 0 ? [`  facts: ${JSON.stringify(job.facts)}`] : []),
          '  attempts:',
          ...(attempts.length === 0
            ? ['    (none yet)']
            : attempts.map((a) => `    #${a.attempt}  ${iso(a.startedAt)}  ${a.isShadow ? 'shadow (not sent)' : a.outcome}  ${a.responseStatus ?? '-'}  ${a.durationMs} ms${a.error ? `  ${a.error}` : ''}`)),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      });
    });

  jobs
    .command('replay <id>')
    .description('run a finished (dead, cancelled or succeeded) job again with a fresh attempt budget')
    .option('--attempts <n>', 'attempts to allow', '5')
    .option('--force-new', 'make a new job copying this one (new id, new idempotency key), so the destination acts again: the explicit way to a second greet')
    .action(async (id: string, flags: { attempts: string; forceNew?: boolean }, command: Command) => {
      const jobId = parseId(id, 'job id');
      if (flags.forceNew && command.getOptionValueSource('attempts') === 'cli') throw new CliError('bad_option', "--attempts applies to a plain replay; with --force-new the new job gets the original's attempt limit", 2);
      const options: ReplayOptions = flags.forceNew ? { forceNew: true } : { extraAttempts: parseId(flags.attempts, '--attempts') };
      await withServices(command, async (deps) => {
        const result = await replayJob(deps, jobId, options);
        switch (result.kind) {
          case 'not_found':
            throw new CliError('not_found', `No job ${id}`, 1);
          case 'not_finished':
            throw new CliError('not_finished', `Job ${id} is ${result.job.status}: only finished jobs can be replayed`, 1);
          case 'replayed':
            process.stdout.write(`job ${id} replayed: pending, up to ${result.job.maxAttempts - result.job.attempts} more attempts\n`);
            return;
          case 'replayed_as_new':
            process.stdout.write(`job ${id} replayed as new job ${result.job.id}: pending, up to ${result.job.maxAttempts - result.job.attempts} attempts\n`);
        }
      });
    });

  addListOptions(
    jobs
      .command('replay-dead')
      .description('replay every job the filters select (dead ones unless --status says otherwise); only those jobs, never the rest of their fan-out')
      .option('--destination <name>', 'only this destination')
      .option('--rule <id>', 'only jobs of this rule')
      .option('--status <status>', 'dead (default), cancelled or succeeded')
      .option('--attempts <n>', 'attempts to allow each', '5')
      .option('--dry-run', 'list what would be replayed'),
  ).action(async (flags: ListFlags & { rule?: string; attempts: string; dryRun?: boolean }, command: Command) => {
    await withServices(command, async (deps) => {
      const ids = await replayJobs(deps, jobFilter(flags, deps.clock.now()), { extraAttempts: parseId(flags.attempts, '--attempts'), isDryRun: Boolean(flags.dryRun) });
      if (flags.json) return printJson({ dryRun: Boolean(flags.dryRun), jobs: ids });
      process.stdout.write(`${flags.dryRun ? 'would replay' : 'replayed'} ${ids.length} job(s)${ids.length ? `: ${ids.join(', ')}` : ''}\n`);
    });
  });

  jobs
    .command('cancel <id>')
    .description('cancel a pending or running job (a running attempt finishes, but the job is not retried)')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withServices(command, async (deps) => {
        const result = await cancelJob(deps, parseId(id, 'job id'));
        if (result.kind === 'not_found') throw new CliError('not_found', `No job ${id}`, 1);
        if (result.kind === 'already_finished') throw new CliError('already_finished', `Job ${id} is already ${result.job.status}`, 1);
        process.stdout.write(`job ${id} cancelled\n`);
      });
    });
}
