/**
 * The composition root: from a loaded config, build the store, the worker and the HTTP server, and
 * wire them together. Nothing else happens here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startWebhookReceiver } from './integrations/webhook/simulator.js';
import { IntegrationRegistry, type DestinationConfig, type KitClientFactory, type KitSubscriberPull, type ScheduleDeps, type SecretResolver } from './integrations/index.js';
import type { LoadedConfig } from './config/load.js';
import type { Config, Role } from './config/schema.js';
import type { Store } from './store/types.js';
import { createSecretResolver } from './config/secrets.js';
import { buildRouteTable, type RouteTable } from './ingest/routes.js';
import { startInternalEvents, type InternalEventLoop } from './ingest/internal.js';
import { startEventFollower, type EventFollower } from './ingest/follow.js';
import { ingestPolled, SOURCE_PATH_PREFIX, sourceToken } from './ingest/sources.js';
import { createIngestServer } from './ingest/server.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createHttpClient, type HttpClient } from './lib/http.js';
import { userAgent } from './lib/version.js';
import type { Log } from './lib/log.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { createWorker, type Worker } from './queue/index.js';
import { compileRules } from './rules/route.js';
import { createOperatorPort } from './services/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import { openPostgresStore } from './store/postgres/store.js';
import { sharedRateBuckets, type AnyStore } from './store/index.js';
import { findCredentials, openKitClient } from './sync/kit-access.js';
import { kitSubscriberPull } from './sync/pull.js';
import { startSandboxKit, type SandboxKit } from './sync/sandbox.js';
import { applyScheduleOverrides, createScheduler, type ConfiguredSchedules, type ScheduleDefinition, type Scheduler } from './schedules/index.js';
import { builtInSchedules, registerOnStart, type BuiltInScheduleDeps } from './sync/scheduled.js';

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
  readonly store: AnyStore;
  readonly worker: Worker | undefined;
  /** What this instance runs (`server.roles`). */
  readonly roles: ReadonlySet<Role>;
  /** Runs the durable schedules (retention, Kit recovery, integrations' syncs); absent without the scheduler role. */
  readonly scheduler: Scheduler | undefined;
  /** Closes ended digest windows and raises dead jobs' alerts (ingest/internal.ts); absent without the scheduler role. */
  readonly internalEvents: InternalEventLoop | undefined;
  /** Hands the subscribers accepted Kit events changed to the integrations that follow them (ingest/follow.ts); absent without the scheduler role. */
  readonly follower: EventFollower | undefined;
  readonly routes: RouteTable;
  readonly metrics: Metrics;
  /** Where the server listens (http://host:port). */
  readonly listenUrl: string;
  /** The sandbox's local webhook receiver, if started. */
  readonly sandboxReceiverUrl: string | undefined;
  /** The sandbox's Kit simulator, when there are no Kit credentials. */
  readonly sandboxKit: SandboxKit | undefined;
  /** Every simulator the sandbox runs (Kit, the webhook receiver, stand-ins for destinations without credentials). */
  readonly sandboxSimulators: readonly SandboxSimulator[];
  /** Stops taking requests, lets in-flight jobs finish (up to graceMs) or releases them, closes the store. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export interface SandboxSimulator {
  readonly name: string;
  readonly url: string;
  /** The destination it stands in for, if one. */
  readonly destination?: string;
  /**
   * That destination's config as the sandbox runs it (pointed at the simulator), and the values it
   * gave unset env references (the simulator's token): commands run in another process (`meta
   * sync`) act for the destination with them. Simulator values only, never a real secret.
   */
  readonly standIn?: { readonly config: unknown; readonly overlay: Readonly<Record<string, string>> };
}

/**
 * The running sandbox's stand-in for a destination, when one is recorded and the environment
 * still leaves its credentials unset (set them, and commands talk to the real API).
 */
export async function sandboxStandInFor(store: Store, destinationName: string, env: RelayOptions['env']): Promise<SandboxSimulator['standIn'] | undefined> {
  const text = await store.getSetting(SANDBOX_SIMULATORS_SETTING);
  if (text === undefined) return undefined;
  const record = JSON.parse(text) as { simulators?: readonly SandboxSimulator[] };
  const standIn = record.simulators?.find((sim) => sim.destination === destinationName)?.standIn;
  if (!standIn || Object.keys(standIn.overlay).some((name) => env[name])) return undefined;
  return standIn;
}

export const ROUTE_SECRET_SETTING = 'route_secret';
/** The sandbox's running simulators, written at start for `kitrelay sandbox status`. */
export const SANDBOX_SIMULATORS_SETTING = 'sandbox_simulators';
export const SANDBOX_SIGNING_SECRET_SETTING = 'sandbox_signing_secret';

/** Opens the configured store: PostgreSQL when `store.url` is set, else SQLite (its directory created). */
export async function openStore(loaded: LoadedConfig): Promise<AnyStore> {
  const { url, schema, poolSize, maxWriteBacklog, walLimitBytes } = loaded.config.store;
  if (url !== undefined) return openPostgresStore({ url, schema, max: poolSize, maxWriteBacklog });
  mkdirSync(path.dirname(loaded.databasePath), { recursive: true });
  return openSqliteStore({ path: loaded.databasePath, maxWriteBacklog, walLimitBytes });
}

/** The route secret: from KITRELAY_ROUTE_SECRET, else generated once and kept in the store. */
export async function routeSecret(store: AnyStore, env: RelayOptions['env']): Promise<string> {
  return env.KITRELAY_ROUTE_SECRET || store.initSetting(ROUTE_SECRET_SETTING, randomBytes(32).toString('base64url'));
}

/** The route table with this store's route secret; URLs on `baseUrl` (default the public URL). */
export async function routeTableFor(store: AnyStore, loaded: LoadedConfig, env: RelayOptions['env'], baseUrl = loaded.publicBaseUrl): Promise<RouteTable> {
  return buildRouteTable(loaded.config, await routeSecret(store, env), baseUrl);
}

/**
 * Every schedule the service runs, `config.schedules` applied: the built-in ones (retention, Kit
 * recovery), then the integrations' scheduled syncs, which the integration registry passes as
 * `integrationSchedules`. `kitrelay schedules` builds the same list.
 */
export function serviceSchedules(
  deps: BuiltInScheduleDeps,
  integrationSchedules: readonly ScheduleDefinition[] = integrationSchedulesOf({ config: deps.loaded.config, store: deps.store, secrets: createSecretResolver(deps.env) }),
): ConfiguredSchedules {
  return applyScheduleOverrides([...builtInSchedules(deps), ...integrationSchedules], deps.loaded.config.schedules);
}

export interface IntegrationScheduleOptions {
  readonly config: Config;
  readonly store: Store;
  readonly secrets: SecretResolver;
  /** The destinations as the relay runs them (the sandbox points some at simulators). @default config.destinations */
  readonly destinations?: Readonly<Record<string, DestinationConfig>>;
  readonly clock?: Clock;
  readonly registry?: IntegrationRegistry;
  /** The service's shared outbound client; without it (a CLI listing) a sync makes its own per run. */
  readonly http?: HttpClient;
  /** Pulls from Kit for syncs that read the mirror; absent without Kit access. */
  readonly kit?: KitSubscriberPull;
  /** Called when a poller's commit made jobs (a worker in the same process picks them up now). */
  readonly onJobs?: () => void;
}

/**
 * The scheduled syncs every configured destination's integration contributes (reconciliations,
 * pollers), each given a way to commit what it polls and durable cursors in the store.
 */
export function integrationSchedulesOf(options: IntegrationScheduleOptions): ScheduleDefinition[] {
  const registry = options.registry ?? new IntegrationRegistry();
  return Object.entries(options.destinations ?? options.config.destinations).flatMap(([destinationName, destination]) => {
    const integration = registry.get(destination.type);
    if (!integration?.schedules) return [];
    return integration.schedules(integrationScheduleDeps(options, destinationName, destination));
  });
}

/** What one destination's scheduled syncs are given (the CLI runs a sync now with the same). */
export function integrationScheduleDeps<D extends DestinationConfig>(options: IntegrationScheduleOptions, destinationName: string, destination: D): ScheduleDeps<D> {
  const { config, store, secrets } = options;
  const clock = options.clock ?? systemClock;
  const rules = compileRules(config);
  return {
    destinationName,
    destination,
    secrets,
    store,
    userAgent: userAgent(),
    ...(options.http ? { http: options.http } : {}),
    ...(options.kit ? { kit: options.kit } : {}),
    async ingest(poller, events) {
      const outcome = await ingestPolled({ store, config, rules, secrets }, { integration: destination.type, destinationName, poller }, events, clock.now());
      if (outcome.kind !== 'accepted') throw new Error(`could not store what ${destinationName}/${poller} polled: ${outcome.kind === 'unavailable' ? outcome.message : outcome.kind}`);
      if (outcome.jobs > 0) options.onJobs?.();
      return { accepted: outcome.accepted, duplicates: outcome.duplicates, jobs: outcome.jobs };
    },
    cursor: (name) => durableCursor(store, clock, `cursor:${destinationName}:${name}`),
  };
}

/**
 * The Kit pull destination syncs use (sync/pull.ts): the sandbox's client, or one of its own on
 * the configured credentials (closed with the service); none without Kit access.
 */
export async function openKitPull(
  sandboxKit: SandboxKit | undefined,
  credentials: Awaited<ReturnType<typeof findCredentials>>,
  deps: { readonly config: Config; readonly store: Store; readonly env: RelayOptions['env']; readonly clock: Clock },
): Promise<{ readonly pull: KitSubscriberPull; close(): Promise<void> } | undefined> {
  const now = () => deps.clock.now();
  if (sandboxKit) return { pull: kitSubscriberPull({ client: sandboxKit.client, store: deps.store, now }), close: () => Promise.resolve() };
  if (credentials.kind === 'none') return undefined;
  const client = await openKitClient(deps.config, deps.store, deps.env, credentials);
  return { pull: kitSubscriberPull({ client, store: deps.store, now }), close: () => client.close() };
}

/**
 * Kit for the worker's actions (Airtable → Kit edits): a client per attempt on whatever credentials
 * there are when it runs (the sandbox's Kit starts after the worker), spending from the shared budget.
 */
function kitClientFactory(deps: { readonly config: Config; readonly store: Store; readonly env: RelayOptions['env'] }): KitClientFactory {
  return async ({ http, onCall }) => openKitClient(deps.config, deps.store, deps.env, await findCredentials(deps.config, deps.store, deps.env), { http, onCall, maxBudgetWaitMs: 10_000, maxRetries: 0 });
}

/** A cursor kept as a sync checkpoint that no run ever completes, so it survives successful runs. */
function durableCursor(store: Store, clock: Clock, name: string) {
  return {
    load: async () => (await store.getCheckpoint(name))?.cursor ?? null,
    save: async (value: string) => {
      const now = clock.now();
      const current = await store.getCheckpoint(name);
      await store.saveCheckpoint({ name, cursor: value, data: current?.data ?? {}, startedAt: current?.startedAt ?? now, updatedAt: now, completedAt: null });
    },
  };
}

/** Values kitrelay provides itself in the sandbox: a signing secret for signed endpoints with none set. */
export async function sandboxOverlay(store: AnyStore, loaded: LoadedConfig, env: RelayOptions['env']): Promise<Record<string, string>> {
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
  // Roles (issue 13): ingest = the webhook and source routes (and registering Kit's webhooks);
  // worker = the queue's worker; scheduler = the background loops that are not a request or a job:
  // durable schedules, kitrelay's own events (digests, dead-job alerts) and the event follower.
  // /healthz and /metrics are served whatever the roles.
  const roles = new Set(config.server.roles);
  const store = await openStore(loaded);
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  try {
    const overlay = options.sandbox ? await sandboxOverlay(store, loaded, env) : {};
    let sandboxReceiverUrl: string | undefined;
    const integrations = new IntegrationRegistry();
    const destinations: Record<string, DestinationConfig> = { ...config.destinations };
    const sandboxSimulators: SandboxSimulator[] = [];
    if (options.sandbox) {
      const receiver = await startWebhookReceiver();
      cleanups.unshift(() => receiver.close());
      sandboxReceiverUrl = receiver.url;
      sandboxSimulators.push({ name: 'webhook', url: receiver.url });
      for (const [name, destination] of Object.entries(config.destinations)) {
        if (destination.type === 'webhook' && typeof destination.url === 'object' && !env[destination.url.$env]) overlay[destination.url.$env] = `${receiver.url}/${name}`;
        const standIn = await integrations.get(destination.type)?.sandbox?.({ destinationName: name, destination, env });
        if (!standIn) continue;
        cleanups.unshift(() => standIn.simulator.close());
        destinations[name] = standIn.destination as DestinationConfig;
        Object.assign(overlay, standIn.overlay);
        sandboxSimulators.push({ name: standIn.simulator.name, url: standIn.simulator.url, destination: name, standIn: { config: standIn.destination, overlay: standIn.overlay } });
      }
    }
    const secrets = createSecretResolver(env, overlay);
    const secret = await routeSecret(store, env);
    const routes = buildRouteTable(config, secret, loaded.publicBaseUrl);
    const http = createHttpClient();
    cleanups.unshift(() => http.close());
    const worker = config.queue.enabled && roles.has('worker')
      ? createWorker({ store, clock, log, metrics, integrations, http, destinations, queue: config.queue, secrets, operator: createOperatorPort({ store, clock, config }), kit: kitClientFactory({ config, store, env }), ...sharedRateBuckets(store), ...(Object.keys(config.enrichments).length > 0 ? { enrichment: { rules: config.rules, enrichments: config.enrichments } } : {}) })
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
      isIngest: roles.has('ingest'),
      ...(store.dialect === 'sqlite' ? { walBytes: () => store.stats().walBytes } : {}),
      ...(worker ? { onJobs: () => worker.nudge() } : {}),
    });
    // Before the first webhook is taken: a destination followed for the first time starts at the
    // newest event, so none acknowledged from now on is missed. Stopped after app.close.
    // Hooks queue their jobs as pollers do (Airtable: a delayed write per changed subscriber).
    const followIngest = (name: string, poller: string, events: Parameters<ScheduleDeps<DestinationConfig>['ingest']>[1]) => {
      const destination = destinations[name];
      if (!destination) throw new Error(`no destination ${name}`);
      return integrationScheduleDeps({ config, store, secrets, clock, ...(worker ? { onJobs: () => worker.nudge() } : {}) }, name, destination).ingest(poller, events);
    };
    const follower = roles.has('scheduler') ? await startEventFollower({ deps: { store, registry: integrations, destinations, ingest: followIngest }, clock, log }) : undefined;
    if (follower) cleanups.unshift(() => follower.stop());
    const address = await app.listen({ port: options.port ?? config.server.port, host: config.server.host });
    cleanups.unshift(() => app.close());
    worker?.start();
    if (worker && store.dialect === 'postgres') {
      // Jobs committed by any instance (this one's ingest too) wake the worker at once; polling stays the fallback.
      const stopListening = store.onJobsAvailable(
        () => worker.nudge(),
        (error) => log.warn({ err: error }, 'LISTEN for new jobs failed; the worker polls until it reconnects'),
      );
      cleanups.splice(1, 0, () => Promise.resolve(stopListening()));
    }
    const internalEvents = roles.has('scheduler') ? startInternalEvents({ deps: { store, config, rules: compileRules(config) }, clock, log, ...(worker ? { onJobs: () => worker.nudge() } : {}) }) : undefined;
    if (internalEvents) cleanups.splice(1, 0, () => internalEvents.stop()); // after app.close (cleanups[0]), before the store's
    const listenUrl = address.replace('[::1]', '127.0.0.1');
    const credentials = await findCredentials(config, store, env);
    let sandboxKit: SandboxKit | undefined;
    if (options.sandbox && (credentials.kind === 'none' || credentials.kind === 'sandbox')) {
      sandboxKit = await startSandboxKit({ config, store, log, env, routeSecret: secret, relayUrl: listenUrl, ...(options.sandboxKitPort !== undefined ? { port: options.sandboxKitPort } : {}) });
      const kit = sandboxKit;
      cleanups.splice(1, 0, () => kit.close());
    } else if (config.kit.sync.registerWebhooksOnStart && credentials.kind !== 'none' && roles.has('ingest')) {
      await registerOnStart(loaded, store, env, secret, log);
    }
    const hasKitAccess = sandboxKit !== undefined || credentials.kind !== 'none';
    const kitPull = await openKitPull(sandboxKit, credentials, { config, store, env, clock }).catch((error: unknown) => {
      log.warn({ err: error }, 'no Kit client for destination syncs: they read the subscriber mirror only');
      return undefined;
    });
    if (kitPull) cleanups.splice(1, 0, () => kitPull.close()); // after app.close (cleanups[0]): the scheduler has stopped by then
    const { schedules, unknownNames } = serviceSchedules(
      { loaded, store, env, routeSecret: secret, hasKitAccess },
      integrationSchedulesOf({ config, store, secrets, destinations, clock, registry: integrations, http, ...(kitPull ? { kit: kitPull.pull } : {}), ...(worker ? { onJobs: () => worker.nudge() } : {}) }),
    );
    if (unknownNames.length > 0) log.warn({ names: unknownNames }, 'config.schedules names schedules that do not exist here; see `kitrelay schedules list`');
    const scheduler = roles.has('scheduler') ? createScheduler({ store, clock, log, schedules }) : undefined;
    scheduler?.start();
    if (options.sandbox) {
      // Stand-ins that need the relay's address (Airtable's webhook pings its source).
      for (const sim of sandboxSimulators) {
        const integration = sim.destination === undefined ? undefined : integrations.get(destinations[sim.destination]?.type ?? '');
        if (!integration?.sandboxStarted || sim.destination === undefined) continue;
        const name = sim.destination;
        const deps = integrationScheduleDeps({ config, store, secrets, clock, http, ...(worker ? { onJobs: () => worker.nudge() } : {}) }, name, destinations[name]!);
        const sourceUrl = (source: string) => `${listenUrl}${SOURCE_PATH_PREFIX}/${name}/${source}/${sourceToken(secret, name, source)}`;
        await integration.sandboxStarted({ deps, sourceUrl }).catch((error: unknown) => log.warn({ err: error, destination: name }, 'the sandbox could not finish setting up a stand-in'));
      }
      const running = sandboxKit ? [{ name: 'kit', url: sandboxKit.simulator.url }, ...sandboxSimulators] : sandboxSimulators;
      // For `kitrelay sandbox status`, which runs in another process.
      await store.setSetting(SANDBOX_SIMULATORS_SETTING, JSON.stringify({ pid: process.pid, relayUrl: listenUrl, startedAt: clock.now(), simulators: running }));
    }
    log.info({ listen: address, roles: [...roles], database: loaded.databaseLabel, config: loaded.source, legacyRoutes: routes.legacy.size, signedEndpoints: routes.signed.size }, 'kitrelay is running');
    let closed: Promise<void> | undefined;
    return {
      app,
      config,
      store,
      worker,
      roles,
      scheduler,
      internalEvents,
      follower,
      routes,
      metrics,
      listenUrl,
      sandboxReceiverUrl,
      sandboxKit,
      sandboxSimulators: sandboxKit ? [{ name: 'kit', url: sandboxKit.simulator.url }, ...sandboxSimulators] : sandboxSimulators,
      close: (closeOptions = {}) =>
        (closed ??= (async () => {
          const schedulesStopped = scheduler?.stop({ graceMs: closeOptions.graceMs ?? 10_000 });
          await app.close(); // stop taking webhooks first: nothing new is acknowledged
          await worker?.stop({ graceMs: closeOptions.graceMs ?? 10_000 });
          await schedulesStopped;
          for (const cleanup of cleanups.slice(1)) await cleanup();
          log.info('kitrelay stopped');
        })()),
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
}
