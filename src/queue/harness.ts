/**
 * What the queue's tests stand on: a real SQLite file in a fresh temp dir, the real webhook
 * connector over real HTTP to the webhook receiver simulator, and a TestClock (or the system clock
 * for the background loop). No fakes besides the simulator and the clock.
 *
 * Jobs go in the way ingest puts them in: `store.commitDelivery` with hand-written subscriber events.
 * Only tests import this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { destinationSchema, type DestinationConfig } from '../config/schema.js';
import { startWebhookReceiver, type WebhookReceiver } from '../integrations/webhook/simulator.js';
import { TestClock, type Clock } from '../lib/clock.js';
import { createHttpClient, type HttpClient } from '../lib/http.js';
import { silentLog } from '../lib/log.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import type { AttemptRecord, EventInput, JobRecord } from '../store/types.js';
import type { Worker, WorkerDeps } from './types.js';
import { createWorker } from './worker.js';

/** A destination as a config file writes it, minus the URL (it points at the receiver). */
export type DestinationOptions = Record<string, unknown>;

export interface HarnessOptions {
  /** Destination name → config; each posts to `<receiver>/<name>`. @default { hook: {} } */
  readonly destinations?: Readonly<Record<string, DestinationOptions>>;
  /** @default a TestClock at 2026-01-01T00:00:00Z */
  readonly clock?: Clock;
}

export interface EventSpec {
  readonly subscriberId: number;
  /** @default ['hook'] */
  readonly destinations?: readonly string[];
  readonly subKey?: string;
  /** @default 8 */
  readonly maxAttempts?: number;
  /** Makes it a signed (Webhooks 2.0) event with this Kit event id. */
  readonly kitEventId?: string;
}

export interface Harness {
  readonly store: SqliteStore;
  readonly clock: Clock;
  readonly receiver: WebhookReceiver;
  readonly destinations: Record<string, DestinationConfig>;
  /** The shared outbound client the harness's workers send through. */
  readonly http: HttpClient;
  /** A worker over this harness (stopped by `close`). Plain functions: safe to destructure. */
  readonly worker: (overrides?: Partial<WorkerDeps>) => Worker;
  /** Commits one delivery holding these events; returns the job ids, in commit order. */
  readonly commit: (...events: EventSpec[]) => Promise<number[]>;
  readonly job: (id: number) => Promise<JobRecord>;
  /** The job's audit records, oldest first. */
  readonly attempts: (jobId: number) => Promise<AttemptRecord[]>;
  readonly close: () => Promise<void>;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-queue-'));
  const clock = options.clock ?? new TestClock();
  const receiver = await startWebhookReceiver();
  const http: HttpClient = createHttpClient();
  const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  const destinations: Record<string, DestinationConfig> = {};
  for (const [name, extra] of Object.entries(options.destinations ?? { hook: {} })) {
    destinations[name] = destinationSchema.parse({ type: 'webhook', url: `${receiver.url}/${name}`, ...extra });
  }
  const workers: Worker[] = [];
  let sequence = 0;

  return {
    store, clock, receiver, destinations, http,
    worker(overrides = {}) {
      const worker = createWorker({
        store, clock, log: silentLog(), http, destinations,
        queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 },
        secrets: (value) => (typeof value === 'string' ? value : ''),
        workerId: `test-worker-${workers.length + 1}`,
        ...overrides,
      });
      workers.push(worker);
      return worker;
    },
    async commit(...specs) {
      const events = specs.map((spec) => subscriberEvent(spec, (sequence += 1)));
      const now = clock.now();
      const result = await store.commitDelivery({
        delivery: { system: 'legacy', route: 'test', receivedAt: now, bodyBytes: 100 },
        events,
        quarantine: [],
      });
      return result.events.flatMap((e) => (e.status === 'accepted' ? e.jobIds : []));
    },
    async job(id) {
      const job = await store.getJob(id);
      if (!job) throw new Error(`no job ${id}`);
      return job;
    },
    async attempts(jobId) {
      const records = await store.listAttempts({ jobId, limit: 1_000 });
      return records.sort((a, b) => a.attempt - b.attempt);
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
      await store.close();
      await http.close();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `subscriber.tag_added` event as ingest would commit it, with one job per destination. */
function subscriberEvent(spec: EventSpec, sequence: number): EventInput {
  const id = spec.subscriberId;
  const subscriber = { id, first_name: `Sub ${id}`, email_address: `sub${id}@example.com`, state: 'active', created_at: '2026-01-01T00:00:00.000Z', fields: {} };
  const jobs = (spec.destinations ?? ['hook']).map((destination) => ({
    rule: 'test-rule',
    destination,
    action: 'send',
    params: { sequence },
    maxAttempts: spec.maxAttempts ?? 8,
    ...(spec.subKey !== undefined ? { subKey: spec.subKey } : {}),
  }));
  const common = {
    type: 'subscriber.tag_added',
    scope: { param: 'tag_id', value: '7' },
    subscriberId: String(id),
    email: subscriber.email_address,
    subscriberKey: `id:${id}`,
    jobs,
    decisions: [],
  };
  if (spec.kitEventId !== undefined) {
    const payload = { id: spec.kitEventId, type: 'subscriber.tag_added', created: '2026-01-01T00:00:00Z', data: { subscriber, tag: { id: 7, name: 'vip' } } };
    return { ...common, source: 'signed', kitEventId: spec.kitEventId, kitType: 'subscriber.tag_added', payload };
  }
  return { ...common, source: 'legacy', kitType: 'subscriber.tag_add', payload: { subscriber } };
}

/** Job ids a request carried, from the webhook connector's default body (`{ job: { id } }`). */
export function jobIdOf(request: { readonly json: unknown }): number {
  const body = request.json as { job?: { id?: unknown } } | undefined;
  if (typeof body?.job?.id !== 'number') throw new Error('request has no job id');
  return body.job.id;
}

/** Polls until `check` returns true, for at most `timeoutMs` (bounded: never loops forever). */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
