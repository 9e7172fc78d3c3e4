/**
 * `kitrelay start`: run the service. With no config file it runs the built-in example; any webhook
 * destination whose URL variable is unset is pointed at a local receiver simulator (the sandbox),
 * unless --no-sandbox.
 */
import type { Command } from 'commander';
import { requiredEnvMissing } from '../config/load.js';
import { ConfigError } from '../lib/errors.js';
import { createLog } from '../lib/log.js';
import { startRelay } from '../main.js';
import { globals, load } from './context.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the relay: receive Kit webhooks, route them, deliver jobs')
    .option('--port <port>', 'listen port (env KITRELAY_PORT, default 8787)')
    .option('--roles <list>', 'what this instance runs, a comma list of ingest, worker, scheduler (env KITRELAY_ROLES, default all three)')
    .option('--host <host>', 'listen address (env KITRELAY_HOST, default 127.0.0.1)')
    .option('--public-url <url>', 'base of the URLs Kit posts to (env KITRELAY_PUBLIC_URL)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env KITRELAY_LOG_LEVEL)')
    .option('--no-sandbox', 'fail instead of standing in local simulators for destinations without credentials')
    .option('--grace <ms>', 'how long shutdown waits for in-flight jobs', '10000')
    .action(async (_options: unknown, command: Command) => {
      const options = globals(command) as ReturnType<typeof globals> & { sandbox: boolean; grace: string };
      const loaded = await load(command);
      const log = createLog({ level: loaded.config.log.level });
      for (const warning of loaded.warnings) log.warn(warning);
      const missing = requiredEnvMissing(loaded, process.env);
      if (missing.length > 0 && !options.sandbox) {
        throw new ConfigError(`These environment variables are not set: ${missing.join(', ')}. Set them, or drop --no-sandbox to use local simulators.`);
      }
      const relay = await startRelay({ loaded, env: process.env, log, sandbox: options.sandbox });
      const lines = [
        `kitrelay listening on ${relay.listenUrl} (config: ${loaded.source}; database: ${loaded.databaseLabel}; roles: ${loaded.config.server.roles.join(', ')})`,
        `  ${relay.routes.legacy.size} legacy route(s), ${relay.routes.signed.size} signed endpoint(s): list their URLs with \`npx kitrelay routes\``,
        ...(relay.sandboxReceiverUrl ? [`  sandbox: destinations without a URL deliver to a local receiver at ${relay.sandboxReceiverUrl}`] : []),
        ...relay.sandboxSimulators
          .filter((sim) => sim.destination !== undefined)
          .map((sim) => `  sandbox: destination ${sim.destination ?? ''} has no credentials: a ${sim.name} simulator stands in at ${sim.url} (see \`npx kitrelay sandbox status\`)`),
        `  health: ${relay.listenUrl}/healthz  metrics: ${relay.listenUrl}/metrics`,
      ];
      process.stderr.write(`${lines.join('\n')}\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        relay.close({ graceMs: Number(options.grace) }).then(
          () => process.exit(0),
          (error: unknown) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
