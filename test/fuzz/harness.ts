/**
 * A real relay on loopback for the fuzzer, a keep-alive HTTP client to it, and indexes of what its
 * store holds (quarantine by bytes, events by delivery) kept current incrementally, so checking a
 * batch costs a few store calls, not one per case.
 */
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { env, type ConfigInput } from '../../src/config/schema.js';
import { LEGACY_EVENTS } from '../../src/kit/events.js';
import { DEFAULT_SCOPE_VALUES, jsonBody, legacyFixture } from '../../src/kit/fixtures.js';
import type { LegacyRoute } from '../../src/ingest/routes.js';
import { eventually, startTestRelay, type TestRelay } from '../helpers.js';
import { OLD_SECRET, ROUTE_SECRET, SECRET } from './auth.js';

/** Only events of this domain make jobs: the health probe's. Every event still runs every rule. */
const PROBE_DOMAIN = '@probe.kitrelay.test';

const config: ConfigInput = {
  kit: {
    legacy: {
      routes: LEGACY_EVENTS.map((spec) => ({ event: spec.legacyName, ...(spec.scopeParam ? { [spec.scopeParam]: DEFAULT_SCOPE_VALUES[spec.scopeParam] } : {}) })),
      dedupeWindowSeconds: 60,
    },
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET'), env('KIT_OLD_SECRET')] }] },
  },
  destinations: { sink: { type: 'webhook', url: env('SINK_URL'), concurrency: 8, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } } },
  rules: [
    { id: 'probe', on: '*', when: (event) => event.subscriber?.email?.endsWith(PROBE_DOMAIN) === true, actions: [{ destination: 'sink' }] },
    // Reads hostile payloads the way a user's predicate would; never true.
    { id: 'reader', on: '*', when: (event) => Object.keys(event.subscriber?.fields ?? {}).length > 1e6 || (event.subscriber?.firstName ?? '') === '\u0000never', actions: [{ destination: 'sink' }] },
  ],
  queue: { pollIntervalMs: 20 },
};

export interface Answer {
  readonly status: number;
  readonly json: any;
  /** Set when no HTTP answer came (connection reset, timeout). */
  readonly error?: string;
}

export interface Request {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

export interface QuarantineHit {
  readonly id: number;
  readonly reason: string;
}

/** What the store holds, as the newest ids: equal snapshots mean nothing was stored. */
export interface Snapshot {
  readonly delivery: number;
  readonly event: number;
  readonly quarantine: number;
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const keyOf = (route: string, bytes: Uint8Array) => `${route}\n${sha(bytes)}`;

export class Harness {
  private readonly quarantine = new Map<string, QuarantineHit[]>();
  private readonly eventsByDelivery = new Map<number, number>();
  /** The newest id read back, per table. */
  private readonly seen = { quarantine: 0, event: 0 };
  private lastDeliveryId = 0;
  private probes = 0;

  private constructor(
    readonly relay: TestRelay,
    private readonly pool: Pool,
    readonly concurrency: number,
  ) {}

  static async start(concurrency: number): Promise<Harness> {
    const relay = await startTestRelay(config, { env: { KIT_SECRET: SECRET, KIT_OLD_SECRET: OLD_SECRET, KITRELAY_ROUTE_SECRET: ROUTE_SECRET } });
    // Idle sockets are dropped well before the server's keep-alive timeout, so a request never
    // races the server closing its socket (that would look like a relay failure).
    const pool = new Pool(relay.url, { connections: concurrency, keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return new Harness(relay, pool, concurrency);
  }

  get bodyLimitBytes(): number {
    return this.relay.relay.config.server.bodyLimitBytes;
  }

  route(event: string): LegacyRoute {
    const route = [...this.relay.relay.routes.legacy.values()].find((r) => r.spec.legacyName === event);
    if (!route) throw new Error(`no legacy route for ${event}`);
    return route;
  }

  async send(request: Request): Promise<Answer> {
    try {
      const response = await this.pool.request({ method: request.method ?? 'POST', path: request.path, headers: request.headers, ...(request.body ? { body: request.body } : {}) });
      const text = await response.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: response.statusCode, json };
    } catch (error) {
      return { status: 0, json: undefined, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }

  /** Quarantine entries of a route holding exactly these bytes. */
  quarantined(route: string, bytes: Uint8Array): readonly QuarantineHit[] {
    return this.quarantine.get(keyOf(route, bytes)) ?? [];
  }

  eventsOf(deliveryId: number): number {
    return this.eventsByDelivery.get(deliveryId) ?? 0;
  }

  /** Reads the quarantine entries and events stored since the last call. */
  async refresh(): Promise<void> {
    await withTimeout(this.readNew(), 'reading new quarantine entries and events back from the store');
  }

  private async readNew(): Promise<void> {
    const store = this.relay.relay.store;
    for (const q of await readAfter((page) => store.listQuarantine(page), this.seen.quarantine)) {
      const key = keyOf(q.route, q.body);
      this.quarantine.set(key, [...(this.quarantine.get(key) ?? []), { id: q.id, reason: q.reason }]);
      this.seen.quarantine = Math.max(this.seen.quarantine, q.id);
    }
    for (const e of await readAfter((page) => store.listEvents(page), this.seen.event)) {
      this.eventsByDelivery.set(e.deliveryId, this.eventsOf(e.deliveryId) + 1);
      this.seen.event = Math.max(this.seen.event, e.id);
    }
  }

  async snapshot(): Promise<Snapshot> {
    return withTimeout(this.newestIds(), 'reading the newest ids from the store');
  }

  private async newestIds(): Promise<Snapshot> {
    const store = this.relay.relay.store;
    // Deliveries cannot be listed: find the newest id by probing upwards (ids are dense).
    while (await store.getDelivery(this.lastDeliveryId + 1)) this.lastDeliveryId++;
    const [event] = await store.listEvents({ limit: 1 });
    const [quarantine] = await store.listQuarantine({ limit: 1 });
    return { delivery: this.lastDeliveryId, event: event?.id ?? 0, quarantine: quarantine?.id ?? 0 };
  }

  /**
   * Property 4: `/healthz` answers 200, and a normal legacy webhook is accepted and its job reaches
   * the destination. Returns what went wrong, if anything.
   */
  async health(): Promise<string | undefined> {
    const healthz = await this.send({ method: 'GET', path: '/healthz', headers: {} });
    if (healthz.status !== 200) return `/healthz answered ${healthz.status} ${JSON.stringify(healthz.json ?? healthz.error)}`;
    const n = ++this.probes;
    const email = `probe-${n}-${Date.now()}${PROBE_DOMAIN}`;
    const body = jsonBody(legacyFixture('subscriber.tag_add', { id: 1_900_000_000 + n, email }).body);
    const answer = await this.send({ path: this.route('subscriber.tag_add').path, headers: { 'content-type': 'application/json' }, body });
    if (answer.status !== 200 || answer.json?.status !== 'accepted') return `a valid legacy webhook was answered ${answer.status} ${JSON.stringify(answer.json ?? answer.error)}`;
    const receiver = this.relay.receiver;
    try {
      await eventually(() => receiver.requests.some((r) => r.body.includes(email)) || undefined, 20_000, `the probe job for ${email}`);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    return undefined;
  }

  /** Closes the client and the relay; a relay whose store no longer answers is left behind. */
  async close(): Promise<void> {
    await this.pool.destroy();
    await withTimeout(this.relay.close(), 'closing the relay', 5_000).catch((error: unknown) => {
      console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}: left running`);
    });
  }
}

const WINDOW = 200;

/**
 * Records with an id above `after`, read in windows of ids upwards. Listings are newest first, so
 * asking for "newer than" (a time or an id filter) can walk the whole table when few rows match;
 * a window `id < lo + WINDOW` with `limit WINDOW` reads at most its own rows. Ids are dense
 * (AUTOINCREMENT, rolled back with their transaction), so an empty window is the end.
 */
async function readAfter<T extends { readonly id: number }>(list: (page: { limit: number; beforeId: number }) => Promise<T[]>, after: number): Promise<T[]> {
  const found: T[] = [];
  for (let lo = after + 1; ; lo += WINDOW) {
    const fresh = (await list({ limit: WINDOW, beforeId: lo + WINDOW })).filter((r) => r.id >= lo);
    if (fresh.length === 0) return found;
    found.push(...fresh);
  }
}

/** A store call that never answers is a finding, not a reason for the run to hang. */
async function withTimeout<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer after ${ms} ms ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
