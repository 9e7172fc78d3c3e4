/**
 * The composition root: from a loaded config, build the store, the worker and the HTTP server, and
 * wire them together. Nothing else happens here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createConnectors } from './connectors/index.js';
import { startWebhookReceiver } from './connectors/webhook/simulator.js';
import type { LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createSecretResolver } from './config/secrets.js';
import { buildRouteTable, type RouteTable } from './ingest/routes.js';
import { createIngestServer } from './ingest/server.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createHttpClient } from './lib/http.js';
import type { Log } from './lib/log.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { createWorker, type Worker } from './queue/index.js';
import { compileRules } from './rules/route.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite/index.js';
import { findCredentials } from './sync/kit-access.js';
import { startSandboxKit, type SandboxKit } from './sync/sandbox.js';
import { registerOnStart, startRecovery, startRetention } from './sync/scheduled.js';

export interface RelayOptions {
  readonly loaded: LoadedConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Log;
  readonly clock?: Clock;
  /** Stand in a local receiver for webhook destinations whose URL variable is unset. */
  readonly sandbox?: boolean;
  readonly metrics?: Metrics;
  /** Listen on this port instead of the config's (0 = any free port; tests). */
  readonly port?: number;
  /** Port of the sandbox's Kit simulator. @default 0 (any free port) */
  readonly sandboxKitPort?: number;
}

export interface Relay {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly store: SqliteStore;
  readonly worker: Worker | undefined;
  readonly routes: RouteTable;
  readonly metrics: Metrics;
  /** Where the server listens (http://host:port). */
  readonly listenUrl: string;
  /** The sandbox's local webhook receiver, if started. */
  readonly sandboxReceiverUrl: string | undefined;
  /** The sandbox's Kit simulator, when there are no Kit credentials. */
  readonly sandboxKit: SandboxKit | undefined;
  /** Stops taking requests, lets in-flight jobs finish (up to graceMs) or releases them, closes the store. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export const ROUTE_SECRET_SETTING = 'route_secret';
export const SANDBOX_SIGNING_SECRET_SETTING = 'sandbox_signing_secret';

/** Opens the store with its directory created. */
export async function openStore(loaded: LoadedConfig): Promise<SqliteStore> {
  mkdirSync(path.dirname(loaded.databasePath), { recursive: true });
  const { maxWriteBacklog, walLimitBytes } = loaded.config.store;
  return openSqliteStore({ path: loaded.databasePath, maxWriteBacklog, walLimitBytes });
}

/** The route secret: from KITRELAY_ROUTE_SECRET, else generated once and kept in the store. */
export async function routeSecret(store: SqliteStore, env: RelayOptions['env']): Promise<string> {
  return env.KITRELAY_ROUTE_SECRET || store.initSetting(ROUTE_SECRET_SETTING, randomBytes(32).toString('base64url'));
}

/** The route table with this store's route secret; URLs on `baseUrl` (default the public URL). */
export async function routeTableFor(store: SqliteStore, loaded: LoadedConfig, env: RelayOptions['env'], baseUrl = loaded.publicBaseUrl): Promise<RouteTable> {
  return buildRouteTable(loaded.config, await routeSecret(store, env), baseUrl);
}

/** Values kitrelay provides itself in the sandbox: a signing secret for signed endpoints with none set. */
export async function sandboxOverlay(store: SqliteStore, loaded: LoadedConfig, env: RelayOptions['env']): Promise<Record<string, string>> {
  const overlay: Record<string, string> = {};
  for (const endpoint of loaded.config.kit.signed.endpoints) {
    const unset = endpoint.secrets.every((ref) => !env[ref.$env]);
    const first = endpoint.secrets[0];
    if (unset && first) overlay[first.$env] = await store.initSetting(SANDBOX_SIGNING_SECRET_SETTING, `whsec_${randomBytes(24).toString('base64url')}`);
  }
  return overlay;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const { loaded, env, log } = options;
  const { config } = loaded;
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? createMetrics();
  const store = await openStore(loaded);
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  try {
    const overlay = options.sandbox ? await sandboxOverlay(store, loaded, env) : {};
    let sandboxReceiverUrl: string | undefined;
    if (options.sandbox) {
      const receiver = await startWebhookReceiver();
      cleanups.unshift(() => receiver.close());
      sandboxReceiverUrl = receiver.url;
      for (const [name, destination] of Object.entries(config.destinations)) {
        if (typeof destination.url === 'object' && !env[destination.url.$env]) overlay[destination.url.$env] = `${receiver.url}/${name}`;
      }
    }
    const secrets = createSecretResolver(env, overlay);
    const secret = await routeSecret(store, env);
    const routes = buildRouteTable(config, secret, loaded.publicBaseUrl);
    const http = createHttpClient();
    cleanups.unshift(() => http.close());
    const worker = config.queue.enabled
      ? createWorker({ store, clock, log, metrics, connectors: createConnectors({ http }), destinations: config.destinations, queue: config.queue, secrets })
      : undefined;
    const app = createIngestServer({
      config,
      routes,
      rules: compileRules(config),
      store,
      clock,
      log,
      metrics,
      secrets,
      walBytes: () => store.stats().walBytes,
      ...(worker ? { onJobs: () => worker.nudge() } : {}),
    });
    const address = await app.listen({ port: options.port ?? config.server.port, host: config.server.host });
    cleanups.unshift(() => app.close());
    worker?.start();
    const listenUrl = address.replace('[::1]', '127.0.0.1');
    const credentials = await findCredentials(config, store, env);
    let sandboxKit: SandboxKit | undefined;
    if (options.sandbox && (credentials.kind === 'none' || credentials.kind === 'sandbox')) {
      sandboxKit = await startSandboxKit({ config, store, log, env, routeSecret: secret, relayUrl: listenUrl, ...(options.sandboxKitPort !== undefined ? { port: options.sandboxKitPort } : {}) });
      const kit = sandboxKit;
      cleanups.splice(1, 0, () => kit.close());
    } else if (config.kit.sync.registerWebhooksOnStart && credentials.kind !== 'none') {
      await registerOnStart(loaded, store, env, secret, log);
    }
    const retention = startRetention(store, loaded, clock, log);
    const recovery = config.kit.sync.recoverIntervalMs > 0 && (sandboxKit || credentials.kind !== 'none') ? startRecovery({ loaded, store, env, secret, log, clock }) : undefined;
    log.info({ listen: address, database: loaded.databasePath, config: loaded.source, legacyRoutes: routes.legacy.size, signedEndpoints: routes.signed.size }, 'kitrelay is running');
    let closed: Promise<void> | undefined;
    return {
      app,
      config,
      store,
      worker,
      routes,
      metrics,
      listenUrl,
      sandboxReceiverUrl,
      sandboxKit,
      close: (closeOptions = {}) =>
        (closed ??= (async () => {
          clearInterval(retention);
          if (recovery) clearInterval(recovery);
          await app.close(); // stop taking webhooks first: nothing new is acknowledged
          await worker?.stop({ graceMs: closeOptions.graceMs ?? 10_000 });
          for (const cleanup of cleanups.slice(1)) await cleanup();
          log.info('kitrelay stopped');
        })()),
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
}
