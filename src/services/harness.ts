/**
 * What the services' tests stand on: a real SQLite file in a fresh temp dir, a TestClock, and a
 * resolved config with its compiled rules and route table, bundled as the deps every service
 * takes. Jobs go in the way ingest puts them in (`store.commitDelivery`), and finish the way the
 * worker finishes them (claim, then `finishAttempt`). Only tests import this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../config/load.js';
import { env, type Config, type ConfigInput } from '../config/schema.js';
import { buildRouteTable, type RouteTable } from '../ingest/routes.js';
import { TestClock } from '../lib/clock.js';
import { compileRules, type CompiledRule } from '../rules/route.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import type { JobRecord, QuarantineInput } from '../store/types.js';

export const SIGNING_SECRET = 'whsec_services';

/** Two destinations, a legacy route for tag 4242 and one signed endpoint. */
export const servicesConfig: ConfigInput = {
  kit: {
    legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] },
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET')] }] },
  },
  destinations: {
    sink: { type: 'webhook', url: 'http://127.0.0.1:9/sink' },
    other: { type: 'webhook', url: 'http://127.0.0.1:9/other' },
  },
  rules: [{ id: 'fan-out', on: 'subscriber.tag_added', actions: [{ destination: 'sink' }, { destination: 'other' }] }],
  retention: { eventDays: 30, quarantineDays: 90, auditPersonalDataDays: 7 },
};

export interface ServicesHarness {
  readonly store: SqliteStore;
  readonly clock: TestClock;
  readonly config: Config;
  readonly rules: readonly CompiledRule[];
  readonly routes: RouteTable;
  readonly dir: string;
  /** Commits one event of subscriber `subscriberId` with a job per destination; returns the job ids. */
  readonly commitJobs: (subscriberId: number, destinations: readonly string[]) => Promise<number[]>;
  /** Claims the job and records one attempt with this outcome: `failed` makes it dead. */
  readonly finish: (jobId: number, outcome: 'succeeded' | 'failed') => Promise<JobRecord>;
  /** Commits a quarantine entry as ingest would; returns its id. */
  readonly quarantine: (entry: Pick<QuarantineInput, 'system' | 'route' | 'body'>) => Promise<number>;
  readonly close: () => Promise<void>;
}

export async function createServicesHarness(): Promise<ServicesHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-services-'));
  const loaded = resolveConfig({ ...servicesConfig, store: { dataDir: dir } }, { cwd: dir, env: { KIT_SECRET: SIGNING_SECRET }, source: 'test' });
  const store = await openSqliteStore({ path: loaded.databasePath });
  const clock = new TestClock();
  const { config } = loaded;

  const commitJobs = async (subscriberId: number, destinations: readonly string[]): Promise<number[]> => {
    const id = String(subscriberId);
    const result = await store.commitDelivery({
      delivery: { system: 'signed', route: 'main', receivedAt: clock.now(), bodyBytes: 100 },
      events: [
        {
          source: 'signed',
          kitEventId: `evt-${id}-${clock.now()}`,
          type: 'subscriber.tag_added',
          kitType: 'subscriber.tag_add',
          scope: { param: 'tag_id', value: '4242' },
          subscriberId: id,
          email: `sub${id}@example.com`,
          subscriberKey: `id:${id}`,
          payload: { subscriber: { id: subscriberId } },
          jobs: destinations.map((destination) => ({ rule: 'fan-out', destination, action: 'post', params: {}, maxAttempts: 1 })),
          decisions: [],
        },
      ],
      quarantine: [],
    });
    const event = result.events[0];
    if (event?.status !== 'accepted') throw new Error(`expected an accepted event, got ${JSON.stringify(event)}`);
    return [...event.jobIds];
  };

  const finish = async (jobId: number, outcome: 'succeeded' | 'failed'): Promise<JobRecord> => {
    const job = await store.getJob(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    const now = clock.now();
    const claimed = await store.claimJobs({ workerId: 'test', destination: job.destination, limit: 100, now, leaseMs: 30_000 });
    if (!claimed.some((entry) => entry.job.id === jobId)) throw new Error(`job ${jobId} was not claimable`);
    const others = claimed.filter((entry) => entry.job.id !== jobId).map((entry) => entry.job.id);
    if (others.length > 0) await store.releaseJobs('test', others, now, now);
    await store.finishAttempt({
      attempt: {
        jobId,
        attempt: job.attempts + 1,
        workerId: 'test',
        startedAt: now,
        finishedAt: now + 5,
        outcome,
        ...(outcome === 'failed' ? { error: 'HTTP 404', responseStatus: 404 } : { responseStatus: 200 }),
        correlation: { idempotencyKey: job.idempotencyKey },
      },
      next: { status: outcome === 'failed' ? 'dead' : 'succeeded' },
      now: now + 5,
    });
    return (await store.getJob(jobId))!;
  };

  const quarantine = async (entry: Pick<QuarantineInput, 'system' | 'route' | 'body'>): Promise<number> => {
    const result = await store.commitDelivery({
      delivery: { system: entry.system === 'reingest' ? 'signed' : entry.system, route: entry.route, receivedAt: clock.now(), bodyBytes: entry.body.length },
      events: [],
      quarantine: [{ ...entry, reason: 'invalid_event', detail: 'failed validation', headers: {}, receivedAt: clock.now() }],
    });
    const [id] = result.quarantineIds;
    if (id === undefined) throw new Error('no quarantine entry was made');
    return id;
  };

  return {
    store,
    clock,
    config,
    rules: compileRules(config),
    routes: buildRouteTable(config, 'route-secret', loaded.publicBaseUrl),
    dir,
    commitJobs,
    finish,
    quarantine,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
