/**
 * Kit's webhooks, simulated: the management API (legacy `/v4/webhooks`, Webhooks 2.0
 * `/v4/webhook_endpoints` with delivery history) and the emitter that turns every `KitChange` of
 * the simulated account into the POSTs Kit would send (reference/kit.md §7A, §7B, §9.7).
 *
 * Words, as the rest of kitrelay uses them, seen from Kit's side:
 * - **legacy webhook**: a `/v4/webhooks` subscription, one event (and scope: a tag id, form id…)
 *   to one URL; its POSTs are unsigned, carry no event name, and are not retried by default.
 * - **endpoint**: a Webhooks 2.0 subscription, many event types to one URL, with a signing secret.
 * - **event**: one change as a 2.0 endpoint sees it, `{id, type, created, data}`.
 * - **delivery**: one signed POST of 1–100 events of one type, `{delivery_id, events}`; retried
 *   under the same id until delivered or failed.
 * - **attempt**: one POST of a delivery, recorded in the delivery history.
 *
 * Usage:
 *   const webhooks = createKitWebhooks({ retryScale: 0.001 });
 *   const sim = await startKitSimulator({ plugins: [webhooks.plugin] });
 *   … act on the API …; await webhooks.flush();   // or webhooks.idle() to wait out retries
 * The plugin mounts the routes, subscribes to `sim.onChange`, and stops the emitter when the
 * simulator's server closes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeListener, KitChange } from './changes.js';
import { DeliveryHistory, type Delivery } from './webhooks-deliveries.js';
import { WebhookEmitter } from './webhooks-emitter.js';
import { EMITTED_EVENT_TYPES, randomSecret, WebhookEndpoints, type WebhookEndpoint } from './webhooks-endpoints.js';
import { LegacyWebhooks, type LegacyWebhook } from './webhooks-legacy.js';
import { WebhookPoster, type DropFault, type SentWebhook, type WebhookPostView } from './webhooks-post.js';
import { KIT_RETRY_SCHEDULE_MS } from './webhooks-retry.js';
import { registerWebhookRoutes } from './webhooks-routes.js';

export type { Delivery, DeliveryAttempt, DeliveryStatus, SignedEvent } from './webhooks-deliveries.js';
export type { WebhookEndpoint } from './webhooks-endpoints.js';
export type { LegacyWebhook } from './webhooks-legacy.js';
export type { DropFault, SentOutcome, SentWebhook, WebhookPostView } from './webhooks-post.js';
export { EMITTED_EVENT_TYPES } from './webhooks-endpoints.js';
export { KIT_RETRY_SCHEDULE_MS } from './webhooks-retry.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface KitWebhooksOptions {
  /** Epoch ms; timestamps in bodies, history and signatures. @default the simulator's clock, else Date.now */
  readonly now?: () => number;
  /** The `account_id` legacy webhooks report. @default 1 */
  readonly accountId?: number;
  /** How long a 2.0 batch waits for more events of its type before it is sent. @default 50 */
  readonly batchWindowMs?: number;
  /** @default 100 (Kit's maximum, §7B) */
  readonly maxEventsPerDelivery?: number;
  /** A delivery is split before it grows past this (Kit: "about 512 KB"). @default 524_288 */
  readonly maxDeliveryBytes?: number;
  /** Waits between 2.0 attempts; length + 1 attempts in all. @default 30 s, 2 m, 15 m, 1 h, 4 h, 12 h, 24 h */
  readonly retryScheduleMs?: readonly number[];
  /** Multiplies every retry wait, Retry-After included (0.001: 30 s → 30 ms). History reports the scaled times. @default 1 */
  readonly retryScale?: number;
  /** Per-attempt response timeout; Kit's is unpublished (a prototype page said 30 s) [UNC]. @default 30_000 */
  readonly timeoutMs?: number;
  /** Retries of a failed legacy POST, on the same (scaled) schedule; Kit's policy is undocumented [UNC]. @default 0 */
  readonly legacyRetries?: number;
  /** `purchase.purchase_create` as `{purchase: {…}}` instead of bare [UNC §7A]. @default false */
  readonly isPurchaseWrapped?: boolean;
  /** Types an endpoint may subscribe to; other known 2.0 types are "planned" → 422 [UNC]. @default EMITTED_EVENT_TYPES */
  readonly availableEventTypes?: readonly string[];
  /** Reject private/loopback endpoint URLs as Kit does; off because the simulator delivers to loopback. @default false */
  readonly isPrivateUrlRejected?: boolean;
  /** How long the previous secret still signs after a rotation. @default 24 h */
  readonly rotationWindowMs?: number;
  /** @default 30 days */
  readonly historyRetentionMs?: number;
  /** Deliveries kept in the history at most, oldest dropped first. @default 10_000 */
  readonly maxDeliveries?: number;
  /** POSTs kept in `sent`. @default 1_000 */
  readonly maxSent?: number;
  /** Characters of a receiver's answer kept per attempt. @default 500 */
  readonly responseBodyChars?: number;
  /** @default a random `whsec_…` */
  readonly generateSecret?: () => string;
  /** Another drop-fault source, asked for every POST besides `faults.drop` and the simulator's `faults.dropWebhooks`. */
  readonly shouldDrop?: (post: WebhookPostView) => boolean;
  /**
   * Runs before every webhook route and answers the request to stop it. Leave undefined on the
   * Kit simulator: its own preHandler hook (faults, auth, rate limit) already covers every `/v4`
   * route, plugin routes included; this is for mounting on a bare server.
   */
  readonly guard?: (request: FastifyRequest, reply: FastifyReply) => Promise<void> | void;
}

/** What the plugin needs of the simulator: its change feed and, when it has them, its drop faults. */
export interface ChangeSource {
  onChange(listener: ChangeListener): () => void;
  /** The simulator's clock, used unless `options.now` is given. */
  now?(): number;
  /** The core's faults (faults.ts): `sim.faults.dropWebhooks(…)` then drops POSTs to matching URLs. */
  readonly faults?: { shouldDropWebhook(url: string): boolean };
}

export type KitSimulatorPlugin = (app: FastifyInstance, sim: ChangeSource) => void;

export interface KitWebhooks {
  /** Pass to `startKitSimulator({ plugins: [webhooks.plugin] })`; mount once. */
  readonly plugin: KitSimulatorPlugin;
  /** Emits for one change (the plugin feeds `sim.onChange` here). */
  handle(change: KitChange): void;
  /** Legacy webhooks, in id order. */
  readonly legacy: readonly LegacyWebhook[];
  /** 2.0 endpoints, in id order. */
  readonly endpoints: readonly WebhookEndpoint[];
  /** An endpoint's delivery history, newest first. */
  deliveries(endpointId: number): readonly Delivery[];
  /** The last `maxSent` POSTs (legacy and signed, dropped ones included), oldest first. */
  readonly sent: readonly SentWebhook[];
  readonly faults: {
    /** Drops the next `times` POSTs matching `match`: a legacy one is never sent; a signed attempt fails and is retried. */
    drop(fault?: DropFault): void;
    clear(): void;
  };
  /** Sends queued batches now and waits for the POSTs in flight (not for retries still waiting). */
  flush(): Promise<void>;
  /** Waits until nothing is queued, in flight or waiting to retry. @param timeoutMs @default 10_000 */
  idle(timeoutMs?: number): Promise<void>;
  /** Cancels timers, aborts POSTs in flight. The plugin calls it when the server closes. */
  close(): Promise<void>;
}

export function createKitWebhooks(options: KitWebhooksOptions = {}): KitWebhooks {
  // Until mounted, and when the simulator has no clock, the options' clock (or the system's).
  let clock: () => number = options.now ?? Date.now;
  const now = (): number => clock();
  const responseBodyChars = options.responseBodyChars ?? 500;
  const legacy = new LegacyWebhooks(options.accountId ?? 1);
  const endpoints = new WebhookEndpoints({
    availableEventTypes: options.availableEventTypes ?? EMITTED_EVENT_TYPES,
    isPrivateUrlRejected: options.isPrivateUrlRejected ?? false,
    rotationWindowMs: options.rotationWindowMs ?? DAY_MS,
    generateSecret: options.generateSecret ?? randomSecret,
  });
  let simFaults: ChangeSource['faults'];
  const history = new DeliveryHistory(options.historyRetentionMs ?? 30 * DAY_MS, options.maxDeliveries ?? 10_000);
  const poster = new WebhookPoster({
    now,
    timeoutMs: options.timeoutMs ?? 30_000,
    maxSent: options.maxSent ?? 1_000,
    maxResponseBytes: Math.max(1024, responseBodyChars * 4),
    // Every drop source is asked for every POST (legacy or signed attempt), each counting its own.
    shouldDrop: (post) => (options.shouldDrop?.(post) ?? false) || (simFaults?.shouldDropWebhook(post.url) ?? false),
  });
  const emitter = new WebhookEmitter(
    {
      now,
      batchWindowMs: options.batchWindowMs ?? 50,
      maxEventsPerDelivery: options.maxEventsPerDelivery ?? 100,
      maxDeliveryBytes: options.maxDeliveryBytes ?? 512 * 1024,
      retryScheduleMs: options.retryScheduleMs ?? KIT_RETRY_SCHEDULE_MS,
      retryScale: options.retryScale ?? 1,
      legacyRetries: options.legacyRetries ?? 0,
      isPurchaseWrapped: options.isPurchaseWrapped ?? false,
      responseBodyChars,
    },
    { legacy, endpoints, history, poster },
  );
  let isMounted = false;

  return {
    plugin(app, sim) {
      // One emitter, one feed: a second mount would send every webhook twice.
      if (isMounted) throw new Error('kit simulator webhooks: the plugin is already mounted on a simulator');
      isMounted = true;
      simFaults = sim.faults;
      if (!options.now && sim.now) clock = () => (sim.now as () => number).call(sim);
      registerWebhookRoutes(app, { legacy, endpoints, history, now, ...(options.guard ? { guard: options.guard } : {}) });
      const unsubscribe = sim.onChange((change) => emitter.handle(change));
      app.addHook('onClose', async () => {
        unsubscribe();
        await emitter.close();
      });
    },
    handle: (change) => emitter.handle(change),
    get legacy() {
      return legacy.list();
    },
    get endpoints() {
      return endpoints.list();
    },
    deliveries: (endpointId) => history.list(endpointId, now()),
    get sent() {
      return poster.sent;
    },
    faults: {
      drop: (fault = {}) => poster.drop(fault),
      clear: () => poster.clearDrops(),
    },
    flush: () => emitter.flush(),
    idle: (timeoutMs) => emitter.idle(timeoutMs),
    close: () => emitter.close(),
  };
}
