/**
 * What the Meta tests stand on: a real SQLite store in a temp dir, the Meta simulator on loopback,
 * a real worker running the `upload` action, and the way a run queues its uploads (an internal
 * event per batch, deduplicated by the batch's id). Only tests import this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { silentLog } from '../../lib/log.js';
import type { Worker } from '../../queue/types.js';
import { createWorker } from '../../queue/worker.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { AudienceBatchRecord } from '../../store/types.js';
import { IntegrationRegistry } from '../registry.js';
import { graphClient, type GraphClient } from './client.js';
import { metaIntegration } from './index.js';
import { metaDestinationSchema, type MetaDestinationConfig } from './schema.js';
import { startMetaSimulator, type MetaSimulator, type MetaSimulatorOptions } from './simulator.js';

export interface MetaHarness {
  readonly sim: MetaSimulator;
  readonly store: SqliteStore;
  readonly audienceId: string;
  readonly destination: MetaDestinationConfig;
  readonly graph: GraphClient;
  /** Starts a worker for the `meta` destination (stopped by `close`). */
  worker(): Worker;
  /** Queues one upload job per batch, as a run does: an internal event each, deduplicated by batch id. */
  queueUploads(batches: readonly AudienceBatchRecord[], audienceId: string): Promise<void>;
  close(): Promise<void>;
}

export interface MetaHarnessOptions {
  /** Merged into the `customers` audience's config. */
  readonly audience?: Record<string, unknown>;
  /** Merged into the destination's config (retry, rateLimit, timeoutMs, …). */
  readonly destination?: Record<string, unknown>;
  /** @default `{ usage: false }` */
  readonly sim?: MetaSimulatorOptions;
  /** The worker's clock, and the simulator's unless `sim.now` is given. @default systemClock */
  readonly clock?: Clock;
}

export async function createMetaHarness(options: MetaHarnessOptions = {}): Promise<MetaHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-meta-'));
  const clock = options.clock ?? systemClock;
  const sim = await startMetaSimulator({ usage: false, now: () => clock.now(), ...options.sim });
  const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  const http: HttpClient = createHttpClient();
  const audienceId = sim.createAudience({ name: 'Customers' }).id;
  const destination = metaDestinationSchema.parse({
    type: 'meta', accessToken: { $env: 'META_ACCESS_TOKEN' }, adAccountId: sim.adAccountId, graphUrl: sim.url,
    audiences: { customers: { audienceId, keys: { EMAIL: true, EXTERN_ID: true }, ...options.audience } },
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 }, rateLimit: { perSecond: 100, burst: 100 },
    ...options.destination,
  });
  const graph = graphClient((request) => http.send({ timeoutMs: 10_000, ...request }), { graphUrl: sim.url, apiVersion: destination.apiVersion, accessToken: sim.accessToken, userAgent: 'kitrelay/test' });
  const workers: Worker[] = [];
  return {
    sim, store, audienceId, destination, graph,
    worker() {
      const worker = createWorker({
        store, clock, log: silentLog(), http, destinations: { meta: destination },
        queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 },
        secrets: (value) => (typeof value === 'string' ? value : sim.accessToken),
        integrations: new IntegrationRegistry([metaIntegration]),
      });
      workers.push(worker);
      worker.start();
      return worker;
    },
    async queueUploads(batches, id) {
      const now = clock.now();
      await store.commitDelivery({
        delivery: { system: 'internal', route: 'meta/customers', receivedAt: now, bodyBytes: 0 },
        events: batches.map((batch) => ({
          source: 'internal' as const, origin: 'meta', type: 'meta:audience_batch', kitType: 'audience_batch', payload: { batchId: batch.id, op: batch.op, size: batch.size },
          dedupe: { key: `meta:meta:batch-${batch.id}`, expiresAt: now + 86_400_000 }, decisions: [],
          jobs: [{ rule: 'meta:sync', destination: 'meta', action: 'upload', params: { audience: 'customers', batchId: batch.id, audienceId: id }, maxAttempts: destination.retry.maxAttempts, subKey: 'customers' }],
        })),
        quarantine: [],
      });
    },
    async close() {
      for (const worker of workers) await worker.stop({ graceMs: 1000 });
      await http.close();
      await store.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
