/**
 * Loading the config: find the file, import it (TypeScript, no build step: jiti), validate it,
 * apply flags and environment overrides, and check what the schema alone cannot (rules naming
 * destinations that exist, scope parameters that fit the event, secrets that are set).
 *
 * This module and cli/ are the only readers of `process.env`; everything else gets values passed in.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import type { z } from 'zod';
import { IntegrationRegistry } from '../integrations/index.js';
import { envRefsIn } from '../lib/env-ref.js';
import { ConfigError } from '../lib/errors.js';
import { canonicalEventType, isKnownEventType, legacyEventSpecByAnyName, SCOPE_OF } from '../kit/events.js';
import { configSchema, ROLES, type Config, type ConfigInput, type EnvRef } from './schema.js';
import { exampleConfig } from './example.js';

export const CONFIG_FILE_NAMES = ['kitrelay.config.ts', 'kitrelay.config.mts', 'kitrelay.config.js', 'kitrelay.config.mjs'];

export interface ConfigOverrides {
  readonly config?: string;
  readonly port?: number;
  /** `--roles`, split at commas. */
  readonly roles?: readonly string[];
  readonly host?: string;
  readonly dataDir?: string;
  readonly database?: string;
  readonly databaseUrl?: string;
  readonly publicUrl?: string;
  readonly logLevel?: string;
}

export interface LoadedConfig {
  readonly config: Config;
  /** The file it came from, or `built-in example`. */
  readonly source: string;
  readonly isExample: boolean;
  readonly dataDir: string;
  readonly databasePath: string;
  /** Where the store is, for people and logs: the SQLite file, or the PostgreSQL URL with its password hidden and the schema. */
  readonly databaseLabel: string;
  readonly publicBaseUrl: string;
  /** Things that work but probably are not what was meant. */
  readonly warnings: readonly string[];
  /** Environment variable names referenced but unset (optional ones, or sandbox-filled ones). */
  readonly missingEnv: readonly string[];
}

export interface LoadConfigOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly overrides?: ConfigOverrides;
}

export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const { cwd, env } = options;
  const overrides = options.overrides ?? {};
  const file = findConfigFile(cwd, overrides.config ?? env.KITRELAY_CONFIG);
  const input = file ? await importConfig(file) : exampleConfig;
  return resolveConfig(input, { ...options, source: file ?? 'built-in example' });
}

/** Validates an already-imported config object (used by tests and by loadConfig). */
export function resolveConfig(input: unknown, options: LoadConfigOptions & { source: string }): LoadedConfig {
  const { cwd, env } = options;
  const overrides = options.overrides ?? {};
  const parsed = configSchema.safeParse(applyOverrides(input, overrides, env));
  if (!parsed.success) throw new ConfigError(`Invalid config (${options.source}):\n${formatIssues(parsed.error.issues).join('\n')}`, formatIssues(parsed.error.issues));
  const config = parsed.data;
  const { errors, warnings, missingEnv } = checkConfig(config, env);
  if (errors.length > 0) throw new ConfigError(`Invalid config (${options.source}):\n${errors.join('\n')}`, errors);
  const dataDir = path.resolve(cwd, config.store.dataDir);
  const databasePath = config.store.database ? path.resolve(cwd, config.store.database) : path.join(dataDir, 'kitrelay.db');
  return {
    config,
    source: options.source,
    isExample: options.source === 'built-in example',
    dataDir,
    databasePath,
    databaseLabel: config.store.url ? `${redactUrl(config.store.url)} (schema ${config.store.schema})` : databasePath,
    publicBaseUrl: (config.server.publicBaseUrl ?? `http://${config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host}:${config.server.port}`).replace(/\/+$/, ''),
    warnings,
    missingEnv,
  };
}

/** A connection URL with its password (and any secret-looking query value) hidden: it may reach logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) if (/pass|secret|key|token/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function findConfigFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(`Config file not found: ${file} (from --config or KITRELAY_CONFIG)`);
    return file;
  }
  return CONFIG_FILE_NAMES.map((name) => path.join(cwd, name)).find((file) => existsSync(file));
}

async function importConfig(file: string): Promise<unknown> {
  // jiti compiles TypeScript on the fly, so the config needs no build step. `kitrelay` resolves
  // to this very installation, so a config works from a checkout as well as from node_modules.
  const self = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../index.ts' : '../index.js', import.meta.url));
  const jiti = createJiti(import.meta.url, { moduleCache: false, alias: { kitrelay: self } });
  try {
    return await jiti.import(file, { default: true });
  } catch (error) {
    throw new ConfigError(`Could not load ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Flags win over environment variables, which win over the file. */
function applyOverrides(input: unknown, o: ConfigOverrides, env: LoadConfigOptions['env']): unknown {
  if (typeof input !== 'object' || input === null) return input;
  const c = input as ConfigInput;
  const port = o.port ?? (env.KITRELAY_PORT ? Number(env.KITRELAY_PORT) : undefined);
  const host = o.host ?? env.KITRELAY_HOST;
  const roles = o.roles ?? (env.KITRELAY_ROLES !== undefined ? parseRoles(env.KITRELAY_ROLES) : undefined);
  const publicBaseUrl = o.publicUrl ?? env.KITRELAY_PUBLIC_URL;
  const dataDir = o.dataDir ?? env.KITRELAY_DATA_DIR;
  const database = o.database ?? env.KITRELAY_DATABASE;
  const databaseUrl = o.databaseUrl ?? env.DATABASE_URL;
  const level = o.logLevel ?? env.KITRELAY_LOG_LEVEL;
  return {
    ...c,
    server: { ...c.server, ...(port !== undefined ? { port } : {}), ...(roles !== undefined ? { roles } : {}), ...(host ? { host } : {}), ...(publicBaseUrl ? { publicBaseUrl } : {}) },
    store: { ...c.store, ...(dataDir ? { dataDir } : {}), ...(database ? { database } : {}), ...(databaseUrl ? { url: databaseUrl } : {}) },
    log: { ...c.log, ...(level ? { level } : {}) },
  };
}

/** A comma list of roles (`KITRELAY_ROLES`, `--roles`): the schema checks the names. */
export function parseRoles(text: string): string[] {
  return text.split(',').map((role) => role.trim()).filter((role) => role !== '');
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const at = issue.path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`), 'config');
    return `  ${at}: ${issue.message}${hintFor(issue)}`;
  });
}

/** Fields that were replaced, by their path: what to write instead. */
const REPLACED_FIELDS: Readonly<Record<string, string>> = {
  'retention.intervalMs': "retention.intervalMs was replaced by retention.schedule, a cron expression: e.g. '0 * * * *' (hourly)",
  'kit.sync.recoverIntervalMs': "kit.sync.recoverIntervalMs was replaced by kit.sync.recoverSchedule, a cron expression: e.g. '*/15 * * * *' (leave it out to turn recovery off)",
};

function hintFor(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const replaced = issue.keys.map((key) => REPLACED_FIELDS[[...issue.path, key].join('.')]).filter((hint) => hint !== undefined);
    if (replaced.length > 0) return ` (${replaced.join('; ')})`;
    return ` (remove ${issue.keys.join(', ')}, or check the spelling against the README's config reference)`;
  }
  if (issue.code === 'invalid_union' && issue.path.includes('destinations')) return ` (set \`type\` to a known integration: ${new IntegrationRegistry().types.join(', ')})`;
  return '';
}

const registry = new IntegrationRegistry();

/**
 * A rule action names one of its integration's actions, and its params pass that action's schema
 * now, at load, not at the first attempt. Templates (`{{…}}`) are checked as written.
 */
function checkAction(at: string, type: string, name: string | undefined, params: unknown): string[] {
  const integration = registry.get(type);
  if (!integration) return [];
  const actionName = name ?? integration.defaultAction;
  if (actionName === undefined) return [`  ${at}.action: the ${type} integration has no default action; name one of: ${Object.keys(integration.actions).join(', ')}`];
  const action = registry.action(type, actionName);
  if (!action) return [`  ${at}.action: "${actionName}" is not an action of the ${type} integration; use one of: ${Object.keys(integration.actions).join(', ')}`];
  const parsed = action.params.safeParse(params);
  if (parsed.success) return [];
  return formatIssues(parsed.error.issues).map((line) => line.replace(/^ {2}config/, `  ${at}.params`));
}

function checkConfig(config: Config, env: LoadConfigOptions['env']) {
  const errors: string[] = [];
  const warnings: string[] = [];
  const missingEnv = new Set<string>();
  const seenRules = new Set<string>();
  const checkEnv = (ref: EnvRef) => {
    if (env[ref.$env] === undefined || env[ref.$env] === '') missingEnv.add(ref.$env);
  };

  // An integration's own events are `<its type>:<event>` (integrations/source-event.ts), e.g. `meta:sync_held`.
  const integrationTypes = new Set<string>(Object.values(config.destinations).map((destination) => destination.type));
  const isIntegrationEvent = (type: string): boolean => integrationTypes.has(type.slice(0, Math.max(type.indexOf(':'), 0)));
  config.rules.forEach((rule, i) => {
    const at = `config.rules[${i}]`;
    if (seenRules.has(rule.id)) errors.push(`  ${at}.id: "${rule.id}" is used twice (rule ids are recorded on jobs, so they must be unique)`);
    seenRules.add(rule.id);
    const types = (Array.isArray(rule.on) ? rule.on : [rule.on]).map(canonicalEventType);
    for (const type of types) {
      if (type !== '*' && !type.startsWith('kitrelay:') && !isIntegrationEvent(type) && !isKnownEventType(type)) warnings.push(`${at}.on: "${type}" is not an event type kitrelay knows; it will match only if Kit sends exactly that type`);
    }
    for (const param of Object.keys(rule.scope ?? {})) {
      const fits = types.some((type) => type === '*' || SCOPE_OF.get(type) === param);
      if (!fits) errors.push(`  ${at}.scope.${param}: none of the rule's events (${types.join(', ')}) is scoped by ${param}; remove it or listen to an event that is (e.g. tag_id goes with subscriber.tag_added)`);
    }
    rule.actions.forEach((action, j) => {
      const destination = Object.hasOwn(config.destinations, action.destination) ? config.destinations[action.destination] : undefined;
      if (!destination) {
        errors.push(`  ${at}.actions[${j}].destination: "${action.destination}" is not defined; add it under config.destinations or fix the name (defined: ${Object.keys(config.destinations).join(', ') || 'none'})`);
        return;
      }
      errors.push(...checkAction(`${at}.actions[${j}]`, destination.type, action.action, action.params));
      if (action.enrich !== undefined && !Object.hasOwn(config.enrichments, action.enrich)) {
        errors.push(`  ${at}.actions[${j}].enrich: "${action.enrich}" is not defined; add it under config.enrichments (defined: ${Object.keys(config.enrichments).join(', ') || 'none'})`);
      }
    });
  });

  // SQLite takes several processes on one file (writes wait for its lock; the dedupe window and job
  // ids catch up with other processes' writes), but only on one host, and nothing wakes a worker
  // in another process: it finds new jobs by polling.
  if (config.store.url === undefined && config.server.roles.length < ROLES.length) {
    warnings.push(`server.roles is ${config.server.roles.join(', ')} on SQLite: the other roles must run in processes on this host with the same file, and workers there find new jobs by polling (queue.pollIntervalMs); PostgreSQL (store.url) wakes them at once`);
  }

  config.kit.legacy.routes.forEach((route, i) => {
    const spec = legacyEventSpecByAnyName(route.event);
    if (!spec) {
      errors.push(`  config.kit.legacy.routes[${i}].event: "${route.event}" is not a legacy Kit webhook event (e.g. subscriber.tag_add)`);
      return;
    }
    if (spec.scopeParam && route[spec.scopeParam] === undefined) errors.push(`  config.kit.legacy.routes[${i}]: ${spec.legacyName} needs ${spec.scopeParam}`);
  });

  const names = new Set<string>();
  config.kit.signed.endpoints.forEach((endpoint, i) => {
    if (names.has(endpoint.name)) errors.push(`  config.kit.signed.endpoints[${i}].name: "${endpoint.name}" is used twice`);
    names.add(endpoint.name);
    endpoint.secrets.forEach(checkEnv);
  });

  for (const [name, destination] of Object.entries(config.destinations)) {
    envRefsIn(destination).forEach(checkEnv);
    const integration = registry.get(destination.type);
    for (const message of integration?.check?.(destination, name) ?? []) errors.push(`  config.destinations.${name}.${message}`);
  }
  return { errors, warnings, missingEnv: [...missingEnv] };
}


/** Environment variables a destination needs that are unset: the sandbox fills webhook URLs. */
export function requiredEnvMissing(loaded: LoadedConfig, env: LoadConfigOptions['env']): string[] {
  const missing: string[] = [];
  const need = (ref: EnvRef) => {
    if (!ref.optional && (env[ref.$env] === undefined || env[ref.$env] === '')) missing.push(ref.$env);
  };
  for (const destination of Object.values(loaded.config.destinations)) envRefsIn(destination).forEach(need);
  return [...new Set(missing)];
}
