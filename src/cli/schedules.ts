/**
 * `kitrelay schedules list | history | run`: the durable schedules (retention, Kit recovery,
 * integrations' syncs), their run history, and a run on demand in this process.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { systemClock } from '../lib/clock.js';
import { parseCron } from '../lib/cron.js';
import { createLog } from '../lib/log.js';
import { routeSecret, serviceSchedules } from '../main.js';
import { createScheduler, type ConfiguredSchedules } from '../schedules/index.js';
import type { ScheduleRecord, ScheduleRunRecord } from '../store/types.js';
import type { AnyStore } from '../store/index.js';
import { findCredentials } from '../sync/kit-access.js';
import { CliError, iso, parseId, parseLimit, printJson, printTable, withStore } from './context.js';

export function registerSchedules(program: Command): void {
  const schedules = program.command('schedules').description('durable schedules: retention, Kit recovery, integrations\' syncs');

  schedules
    .command('list')
    .description('every schedule: cron, next run, last run, and the process running it now')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const listed = await listSchedules(store, loaded);
        if (flags.json) return printJson(listed);
        printTable(
          listed.map((s) => ({
            name: s.name,
            cron: s.timezone ? `${s.cron} (${s.timezone})` : s.cron,
            next: s.isEnabled ? iso(s.retryAt ?? s.nextRunAt) + (s.retryAt ? ' (retry)' : '') : 'off',
            last: s.lastRun ? `${s.lastRun.status} ${iso(s.lastRun.finishedAt ?? s.lastRun.startedAt)}` : '-',
            running: s.holder ? `${s.holder.owner} (run ${s.holder.runId})` : '',
          })),
          '(no schedules)',
        );
      });
    });

  schedules
    .command('history [name]')
    .description('schedule runs, newest first: trigger, status, duration, counts, error')
    .option('--limit <n>', 'how many (default 20)')
    .option('--before <id>', 'page on: only run ids below this one')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, flags: { limit?: string; before?: string; json?: boolean }, command: Command) => {
      await withStore(command, async (store) => {
        const runs = await store.listScheduleRuns({
          ...(name ? { schedule: name } : {}),
          limit: parseLimit(flags.limit) ?? 20,
          ...(flags.before ? { beforeId: parseId(flags.before, '--before') } : {}),
        });
        if (flags.json) return printJson(runs);
        printTable(runs.map(runRow), name ? `(no runs of ${name})` : '(no runs)');
      });
    });

  schedules
    .command('run <name>')
    .description('run a schedule now in this process, holding its lease (refused while another process runs it)')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        // A schedule turned off in config.schedules can still be run by hand.
        const { schedules: enabled, disabled } = await configuredSchedules(store, loaded);
        const definitions = [...enabled, ...disabled];
        const log = createLog({ level: 'warn', destination: process.stderr, name: 'kitrelay-cli' });
        const ownerId = `cli:${hostname()}:${process.pid}`;
        const outcome = await createScheduler({ store, clock: systemClock, log, schedules: definitions, ownerId }).runNow(name);
        switch (outcome.kind) {
          case 'unknown_schedule':
            throw new CliError('unknown_schedule', `No schedule "${name}" (schedules: ${definitions.map((d) => d.name).join(', ') || 'none'})`, 2);
          case 'held':
            throw new CliError(
              'schedule_running',
              `${name} is running in another process (${outcome.owner}, run ${outcome.runId}); its lease lasts until ${iso(outcome.leaseExpiresAt)}. Try again when it finishes: see \`kitrelay schedules list\``,
              1,
            );
          case 'finished': {
            const { run } = outcome;
            if (flags.json) printJson(run);
            else process.stdout.write(`${name}: ${run.status} in ${duration(run)}${run.summary ? `: ${run.summary}` : ''}${run.error ? `\nerror: ${run.error}` : ''}\n`);
            if (run.status !== 'succeeded') process.exitCode = 1;
          }
        }
      });
    });
}

/**
 * The schedules the service would run with this config, and those turned off in it. Integrations'
 * scheduled syncs join them through serviceSchedules (its `integrationSchedules`).
 */
async function configuredSchedules(store: AnyStore, loaded: LoadedConfig): Promise<ConfiguredSchedules> {
  const credentials = await findCredentials(loaded.config, store, process.env);
  return serviceSchedules({ loaded, store, env: process.env, routeSecret: await routeSecret(store, process.env), hasKitAccess: credentials.kind !== 'none' });
}

interface ListedSchedule {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly description: string | null;
  /** false: turned off in config.schedules, or no longer configured. */
  readonly isEnabled: boolean;
  readonly nextRunAt: number | null;
  readonly retryAt: number | null;
  readonly consecutiveFailures: number;
  readonly lastRun: ScheduleRunRecord | null;
  /** The process running it now, while its lease is live. */
  readonly holder: { readonly owner: string; readonly runId: number; readonly leaseExpiresAt: number } | null;
}

/** The configured schedules joined with what the store knows of them, plus stored ones no longer configured. */
async function listSchedules(store: AnyStore, loaded: LoadedConfig): Promise<ListedSchedule[]> {
  const now = systemClock.now();
  const { schedules, disabled } = await configuredSchedules(store, loaded);
  const enabled = new Set(schedules.map((d) => d.name));
  const definitions = [...schedules, ...disabled];
  const rows = new Map((await store.listSchedules()).map((row) => [row.name, row] as const));
  const listed = definitions.map((definition) => {
    const row = rows.get(definition.name);
    rows.delete(definition.name);
    const parsed = parseCron(definition.cron, definition.timezone);
    const nextRunAt = row && row.cron === definition.cron ? row.nextRunAt : parsed.ok ? parsed.schedule.nextAfter(now) : null;
    return toListed(row, { name: definition.name, cron: definition.cron, timezone: definition.timezone ?? null, description: definition.description ?? null, isEnabled: enabled.has(definition.name), nextRunAt }, now);
  });
  for (const row of rows.values()) listed.push(toListed(row, { name: row.name, cron: row.cron, timezone: row.timezone, description: null, isEnabled: false, nextRunAt: row.nextRunAt }, now));
  return listed;
}

function toListed(row: ScheduleRecord | undefined, base: Pick<ListedSchedule, 'name' | 'cron' | 'timezone' | 'description' | 'isEnabled' | 'nextRunAt'>, now: number): ListedSchedule {
  const lease = row?.lease;
  return {
    ...base,
    retryAt: row?.retryAt ?? null,
    consecutiveFailures: row?.consecutiveFailures ?? 0,
    lastRun: row?.lastRun ?? null,
    holder: lease && lease.expiresAt > now ? { owner: lease.owner, runId: lease.runId, leaseExpiresAt: lease.expiresAt } : null,
  };
}

function runRow(run: ScheduleRunRecord): Record<string, string | number> {
  return {
    id: run.id,
    schedule: run.schedule,
    trigger: run.attempt > 1 ? `${run.trigger} #${run.attempt}` : run.trigger,
    status: run.status,
    started: iso(run.startedAt),
    took: duration(run),
    counts: run.counts ? Object.entries(run.counts).map(([what, count]) => `${what}=${count}`).join(' ') : '',
    error: run.error ?? '',
  };
}

function duration(run: ScheduleRunRecord): string {
  if (run.finishedAt === null) return 'running';
  const ms = run.finishedAt - run.startedAt;
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
