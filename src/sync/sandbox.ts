/**
 * The living sandbox: with no Kit credentials, the service runs the Kit simulator in-process,
 * seeded with sample data, and registers its webhooks there. A change made in the simulated Kit
 * (`kitrelay sandbox tag <email> <tag>`) then reaches kitrelay as a real webhook POST over loopback.
 */
import type { Config } from '../config/schema.js';
import { buildRouteTable } from '../ingest/routes.js';
import type { KitClient } from '../kit/client/index.js';
import { startKitSimulator, type KitSimulator } from '../kit/simulator/index.js';
import { createKitWebhooks, type KitWebhooks } from '../kit/simulator/webhooks.js';
import type { Log } from '../lib/log.js';
import type { Store } from '../store/types.js';
import { openKitClient, SANDBOX_KIT_URL_SETTING } from './kit-access.js';
import { syncWebhooks, type SyncResult } from './webhooks.js';

export interface SandboxKit {
  readonly simulator: KitSimulator;
  readonly webhooks: KitWebhooks;
  readonly client: KitClient;
  readonly registration: SyncResult;
  close(): Promise<void>;
}

export interface SandboxKitOptions {
  readonly config: Config;
  readonly store: Store;
  readonly log: Log;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly routeSecret: string;
  /** Where the relay really listens: the simulator posts webhooks here. */
  readonly relayUrl: string;
  /** @default 200 */
  readonly subscribers?: number;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export async function startSandboxKit(options: SandboxKitOptions): Promise<SandboxKit> {
  const webhooks = createKitWebhooks();
  // The seeded account has tags 1–10 ("Customer" … "VIP" = 7 …), forms, sequences and products
  // 1–3: the built-in example config's rules name those ids.
  const simulator = await startKitSimulator({ port: options.port ?? 0, seed: { subscribers: options.subscribers ?? 200 }, plugins: [webhooks.plugin] });
  try {
    await options.store.setSetting(SANDBOX_KIT_URL_SETTING, simulator.url);
    // A fresh simulator has no webhooks: registrations from an earlier sandbox run name ids it never had.
    for (const old of await options.store.listWebhookRegistrations()) await options.store.deleteWebhookRegistration(old.system, old.kitId);
    const client = await openKitClient(options.config, options.store, options.env, { kind: 'sandbox', baseUrl: simulator.url });
    const routes = buildRouteTable(options.config, options.routeSecret, options.relayUrl);
    const registration = await syncWebhooks({ client, store: options.store, config: options.config, routes, publicBaseUrl: options.relayUrl, now: () => Date.now() });
    options.log.info({ kit: simulator.url, webhooksChanged: registration.changed }, 'sandbox: Kit simulator running, webhooks registered');
    return {
      simulator,
      webhooks,
      client,
      registration,
      async close() {
        await client.close();
        await webhooks.close();
        await simulator.close();
      },
    };
  } catch (error) {
    await webhooks.close();
    await simulator.close();
    throw error;
  }
}
