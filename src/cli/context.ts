/**
 * What every CLI command shares: global options, loading the config, opening the store, parsing
 * times and printing (human lines, or JSON with --json for scripts).
 */
import type { Command } from 'commander';
import { loadConfig, parseRoles, type ConfigOverrides, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { systemClock } from '../lib/clock.js';
import { KitrelayError } from '../lib/errors.js';
import { openStore } from '../main.js';
import type { ServiceDeps } from '../services/index.js';
import type { AnyStore } from '../store/index.js';

/** A command's expected failure: printed as `error: <message>`, exit code 2 for usage, 1 otherwise. */
export class CliError extends KitrelayError {
  override name = 'CliError';
  constructor(code: string, message: string, readonly exitCode: 1 | 2) {
    super(code, message, 400);
  }
}

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  db?: string;
  databaseUrl?: string;
  port?: string;
  roles?: string;
  host?: string;
  publicUrl?: string;
  logLevel?: string;
}

export function overridesFrom(options: GlobalOptions): ConfigOverrides {
  const port = options.port === undefined ? undefined : Number(options.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new CliError('bad_option', `--port must be a whole number from 0 to 65535, not "${options.port}"`, 2);
  return {
    ...(options.config ? { config: options.config } : {}),
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.db ? { database: options.db } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(options.roles !== undefined ? { roles: parseRoles(options.roles) } : {}),
    ...(options.host ? { host: options.host } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  };
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export async function load(command: Command): Promise<LoadedConfig> {
  return loadConfig({ cwd: process.cwd(), env: process.env, overrides: overridesFrom(globals(command)) });
}

/** Opens the store for one command and always closes it. */
export async function withStore<T>(command: Command, run: (store: AnyStore, loaded: LoadedConfig) => Promise<T>): Promise<T> {
  const loaded = await load(command);
  const store = await openStore(loaded);
  try {
    return await run(store, loaded);
  } finally {
    await store.close();
  }
}

/** What a command hands the services: the open store, the system clock and the loaded config. */
export interface CliServiceDeps extends ServiceDeps {
  readonly store: AnyStore;
  readonly config: Config;
}

/** Opens the store for one command, hands the services' dependencies to `run`, and always closes it. */
export async function withServices<T>(command: Command, run: (deps: CliServiceDeps, loaded: LoadedConfig) => Promise<T>): Promise<T> {
  return withStore(command, (store, loaded) => run({ store, clock: systemClock, config: loaded.config }, loaded));
}

const RELATIVE = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `2026-01-31`, `2026-01-31T10:00:00Z`, or relative to now: `90s`, `15m`, `24h`, `7d`. */
export function parseTime(value: string, now: number, flag: string): number {
  const relative = RELATIVE.exec(value.trim());
  if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new CliError('bad_option', `${flag} takes a date (2026-01-31, 2026-01-31T10:00:00Z) or an age (15m, 24h, 7d), not "${value}"`, 2);
  return parsed;
}

export function parseId(value: string, what: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new CliError('bad_option', `${what} must be a positive whole number, not "${value}"`, 2);
  return id;
}

export function parseLimit(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseId(value, '--limit');
}

export function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : v), 2)}\n`);
}

/** Prints rows as aligned columns. */
export function printTable(rows: readonly Record<string, string | number>[], empty = '(none)'): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${line(columns)}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((column) => String(row[column] ?? '')))}\n`);
}

/** Common filter flags for list commands. */
export interface ListFlags {
  status?: string;
  destination?: string;
  subscriber?: string;
  email?: string;
  since?: string;
  until?: string;
  limit?: string;
  before?: string;
  json?: boolean;
}

export function timeAndSubscriberFilter(flags: ListFlags, now: number) {
  return {
    ...(flags.since ? { since: parseTime(flags.since, now, '--since') } : {}),
    ...(flags.until ? { until: parseTime(flags.until, now, '--until') } : {}),
    ...(flags.subscriber ? { subscriberId: flags.subscriber } : {}),
    ...(flags.email ? { email: flags.email } : {}),
    ...(flags.limit ? { limit: parseId(flags.limit, '--limit') } : {}),
    ...(flags.before ? { beforeId: parseId(flags.before, '--before') } : {}),
  };
}

export function addListOptions(command: Command): Command {
  return command
    .option('--subscriber <id>', 'Kit subscriber id')
    .option('--email <email>', 'subscriber email (case-insensitive)')
    .option('--since <time>', 'from this time: a date or an age like 24h, 7d')
    .option('--until <time>', 'up to this time')
    .option('--limit <n>', 'how many, newest first (default 100, at most 1000)')
    .option('--before <id>', 'page on: only ids below this one')
    .option('--json', 'print JSON');
}
