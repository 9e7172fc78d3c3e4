/** `kitrelay shadow report`: what shadow destinations would have sent, per destination and subscriber. */
import type { Command } from 'commander';
import { shadowReport } from '../services/index.js';
import { iso, parseId, parseTime, printJson, printTable, withServices } from './context.js';

interface ReportFlags {
  destination?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
}

export function registerShadow(program: Command): void {
  const shadow = program.command('shadow').description("shadow mode: destinations with mode 'shadow' build and record each request, and send nothing");
  shadow
    .command('report')
    .description('what shadow destinations would have sent, per destination and subscriber (compare it with your Zaps, then set the destination live)')
    .option('--destination <name>', 'one destination')
    .option('--since <time>', 'from this time: a date or an age like 24h, 7d')
    .option('--until <time>', 'up to this time')
    .option('--limit <n>', 'shadow attempts read at most, newest first (default 10000)')
    .option('--json', 'print JSON')
    .action(async (flags: ReportFlags, command: Command) => {
      await withServices(command, async (deps) => {
        const now = deps.clock.now();
        const report = await shadowReport(deps, {
          ...(flags.destination ? { destination: flags.destination } : {}),
          ...(flags.since ? { since: parseTime(flags.since, now, '--since') } : {}),
          ...(flags.until ? { until: parseTime(flags.until, now, '--until') } : {}),
          ...(flags.limit ? { limit: parseId(flags.limit, '--limit') } : {}),
        });
        if (flags.json) return printJson(report);
        if (report.entries.length === 0) {
          process.stdout.write("no shadow attempts (set a destination's mode to 'shadow' to record what it would send)\n");
          return;
        }
        for (const d of report.destinations) process.stdout.write(`${d.destination}: ${d.requests} request(s) for ${d.subscribers} subscriber(s) would have been sent\n`);
        printTable(
          report.entries.map((e) => ({
            destination: e.destination,
            action: e.action,
            subscriber: e.subscriber,
            email: e.email ?? '',
            requests: e.count,
            last: iso(e.lastAt),
            request: e.lastRequest ? `${e.lastRequest.method} ${e.lastRequest.url}` : '',
            body: (e.lastRequest?.bodyPreview ?? '').slice(0, 80),
          })),
        );
        if (report.isTruncated) process.stdout.write('(more shadow attempts than --limit: raise it or narrow --since)\n');
      });
    });
}
