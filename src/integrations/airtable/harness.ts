/**
 * What the Airtable tests stand on: a real SQLite store in a temp dir, the Airtable simulator on
 * loopback with a `Kit` base, a real worker running the `upsert` action, subscribers in the mirror,
 * and jobs queued the way the follower queues them (an event per subscriber, deduplicated by id).
 * Only tests import this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { silentLog, type Log } from '../../lib/log.js';
import type { Worker } from '../../queue/types.js';
import { createWorker } from '../../queue/worker.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { SubscriberSnapshot } from '../../store/types.js';
import { IntegrationRegistry } from '../registry.js';
import type { ScheduleDeps } from '../types.js';
import { airtableIntegration, backfillSync, type BackfillRun } from './index.js';
import { airtableDestinationSchema, type AirtableDestinationConfig } from './schema.js';
import { startAirtableSimulator, type AirtableSimulator, type AirtableSimulatorOptions, type FieldSpec, type RecordJson } from './simulator.js';

export const TABLE = 'Subscribers';

/** The test table: every kind of field a sync writes, a pause box and a "left" box. */
export const TEST_FIELDS: readonly FieldSpec[] = [
  { name: 'Kit ID', type: 'number' },
  { name: 'Email', type: 'email' },
  { name: 'Name', type: 'singleLineText' },
  { name: 'State', type: 'singleLineText' },
  { name: 'Tags', type: 'multipleSelects', choices: ['customer', 'newsletter', 'vip'] },
  { name: 'Revenue', type: 'number' },
  { name: 'Paused', type: 'checkbox' },
  { name: 'Left', type: 'checkbox' },
];

export interface AirtableHarness {
  readonly sim: AirtableSimulator;
  readonly store: SqliteStore;
  readonly baseId: string;
  readonly destination: AirtableDestinationConfig;
  /** Starts a worker for the `airtable` destination (stopped by `close`). */
  worker(): Worker;
  /** Puts subscribers in the mirror. */
  seed(subscribers: readonly SubscriberSnapshot[]): Promise<void>;
  /** Queues one `upsert` job per subscriber, as the follower does (without its delay). */
  queue(sync: string, kitIds: readonly number[]): Promise<void>;
  /** What a schedule or the CLI is given, for `backfillSync`. */
  deps(): ScheduleDeps<AirtableDestinationConfig>;
  backfill(sync?: string, run?: Partial<BackfillRun>): ReturnType<typeof backfillSync>;
  /** The table's records, as the API shows them. */
  records(): RecordJson[];
  close(): Promise<void>;
}

export interface AirtableHarnessOptions {
  /** Merged into the `subscribers` sync's config. */
  readonly sync?: Record<string, unknown>;
  /** Merged into the destination's config (retry, rateLimit, monthlyCallBudget, …). */
  readonly destination?: Record<string, unknown>;
  /** @default no rate limit */
  readonly sim?: AirtableSimulatorOptions;
  /** Rows already in the table. */
  readonly records?: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly clock?: Clock;
  readonly log?: Log;
}

export const subscriber = (kitId: number, overrides: Partial<SubscriberSnapshot> = {}): SubscriberSnapshot => ({
  kitId, email: `s${kitId}@example.com`, firstName: `Sub ${kitId}`, state: 'active', fields: {}, tags: [{ id: 1, name: 'customer' }], createdAt: null, ...overrides,
});

export async function createAirtableHarness(options: AirtableHarnessOptions = {}): Promise<AirtableHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-airtable-'));
  const clock = options.clock ?? systemClock;
  const sim = await startAirtableSimulator({ rateLimit: false, now: () => clock.now(), bases: [{ name: 'Kit', tables: [{ name: TABLE, fields: TEST_FIELDS, ...(options.records ? { records: options.records } : {}) }] }], ...options.sim });
  const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  const http: HttpClient = createHttpClient();
  const destination = airtableDestinationSchema.parse({
    type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, apiUrl: sim.url,
    syncs: { subscribers: { baseId: sim.baseId, table: TABLE, fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags' }, coalesceMs: 0, ...options.sync } },
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 }, rateLimit: { perSecond: 500, burst: 500 }, subKeyRateLimit: { perSecond: 500, burst: 500 },
    ...options.destination,
  });
  const secrets = (value: string | { readonly $env: string }) => (typeof value === 'string' ? value : sim.token);
  const workers: Worker[] = [];
  const deps = (): ScheduleDeps<AirtableDestinationConfig> => ({
    destinationName: 'airtable', destination, secrets, store, http, userAgent: 'kitrelay/test',
    ingest: () => Promise.reject(new Error('the harness queues jobs with queue()')),
    cursor: () => ({ load: () => Promise.resolve(null), save: () => Promise.resolve() }),
  });
  return {
    sim, store, destination, baseId: sim.baseId,
    worker() {
      const worker = createWorker({
        store, clock, log: options.log ?? silentLog(), http, destinations: { airtable: destination },
        queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 }, secrets,
        integrations: new IntegrationRegistry([airtableIntegration]),
      });
      workers.push(worker);
      worker.start();
      return worker;
    },
    seed: (subscribers) => store.upsertSubscribers(subscribers, 'backfill', clock.now()),
    async queue(sync, kitIds) {
      const now = clock.now();
      await store.commitDelivery({
        delivery: { system: 'source', route: 'airtable/follow', receivedAt: now, bodyBytes: 0 },
        events: kitIds.map((kitId) => ({
          source: 'poll' as const, origin: 'airtable', type: 'airtable:record_changed', kitType: 'record_changed', payload: { sync, kitId },
          subscriberId: String(kitId), subscriberKey: `id:${kitId}`, decisions: [],
          jobs: [{ rule: 'airtable:follow', destination: 'airtable', action: 'upsert', params: { sync, kitId }, maxAttempts: destination.retry.maxAttempts, subKey: destination.syncs[sync]?.baseId ?? sync }],
        })),
        quarantine: [],
      });
    },
    deps,
    backfill: (sync = 'subscribers', run = {}) => backfillSync(deps(), sync, { now: () => clock.now(), ...run }),
    records: () => sim.records(TABLE),
    async close() {
      for (const worker of workers) await worker.stop({ graceMs: 1000 });
      await http.close();
      await store.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
