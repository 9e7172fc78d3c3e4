#!/usr/bin/env node
/** The `kitrelay` command. One file per command group; this file only assembles them. */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ConfigError, KitrelayError } from '../lib/errors.js';
import { registerAirtable } from './airtable.js';
import { registerAudit } from './audit.js';
import { CliError } from './context.js';
import { registerConfig } from './config.js';
import { registerDestinations } from './destinations.js';
import { registerEvents } from './events.js';
import { registerJobs } from './jobs.js';
import { registerKit } from './kit.js';
import { registerMaintenance } from './maintenance.js';
import { registerMeta } from './meta.js';
import { registerKajabi } from './kajabi.js';
import { registerQuarantine } from './quarantine.js';
import { registerRoutes } from './routes.js';
import { registerSandbox } from './sandbox.js';
import { registerSimulator } from './simulator.js';
import { registerSchedules } from './schedules.js';
import { registerShadow } from './shadow.js';
import { registerStart } from './start.js';
import { registerStore } from './store.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('kitrelay')
    .description('Run Kit (ConvertKit) integrations as code: durable webhook ingest, rules, and a delivery queue')
    .version(version)
    .option('--config <file>', 'config file (env KITRELAY_CONFIG; default ./kitrelay.config.ts, else the built-in example)')
    .option('--data-dir <dir>', 'data directory (env KITRELAY_DATA_DIR, default ./data)')
    .option('--db <file>', 'SQLite database file (env KITRELAY_DATABASE, default <data-dir>/kitrelay.db)')
    .option('--database-url <url>', 'PostgreSQL instead of SQLite: postgres://… (env DATABASE_URL)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [registerStart, registerRoutes, registerConfig, registerEvents, registerJobs, registerQuarantine, registerAudit, registerDestinations, registerKit, registerSandbox, registerMaintenance, registerMeta, registerAirtable, registerKajabi, registerSchedules, registerShadow, registerSimulator, registerStore]) register(program);
  return program;
}

// `kitrelay audit | head`: the reader went away, so there is nobody left to print to. Exit quietly,
// as Unix tools do, instead of dying on an unhandled EPIPE with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof CliError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  if (error instanceof KitrelayError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
