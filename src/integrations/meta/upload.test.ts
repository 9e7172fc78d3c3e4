/**
 * The `upload` action through a real worker: a planned batch in a real SQLite store, sent over
 * real HTTP to the Meta simulator, acknowledged once; a batch acknowledged before is not sent
 * again; a lost answer is sent again and acknowledged once; a flagged audience fails the batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { silentLog } from '../../lib/log.js';
import { createWorker } from '../../queue/worker.js';
import type { Worker } from '../../queue/types.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { AudienceBatchItem, JobRecord } from '../../store/types.js';
import { IntegrationRegistry } from '../registry.js';
import { metaIntegration } from './index.js';
import { sha256Hex } from './normalize.js';
import { metaDestinationSchema, type MetaDestinationConfig } from './schema.js';
import { startMetaSimulator, type MetaSimulator } from './simulator.js';
import { audienceKey } from './upload.js';

const AUDIENCE = audienceKey('meta', 'customers');

interface Setup {
  readonly sim: MetaSimulator;
  readonly store: SqliteStore;
  readonly audienceId: string;
  readonly destination: MetaDestinationConfig;
  worker(): Worker;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<Setup> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-meta-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sim = await startMetaSimulator({ usage: false });
  cleanups.push(() => sim.close());
  const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  cleanups.push(() => store.close());
  const http: HttpClient = createHttpClient();
  cleanups.push(() => http.close());
  const audienceId = sim.createAudience({ name: 'Customers' }).id;
  const destination = metaDestinationSchema.parse({
    type: 'meta', accessToken: { $env: 'META_ACCESS_TOKEN' }, adAccountId: sim.adAccountId, graphUrl: sim.url,
    audiences: { customers: { audienceId, keys: { EMAIL: true, EXTERN_ID: true } } },
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 }, rateLimit: { perSecond: 100, burst: 100 },
  });
  return {
    sim, store, audienceId, destination,
    worker() {
      const worker = createWorker({
        store, clock: systemClock, log: silentLog(), http, destinations: { meta: destination as never },
        queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 },
        secrets: (value) => (typeof value === 'string' ? value : sim.accessToken),
        integrations: new IntegrationRegistry([metaIntegration]),
      });
      cleanups.push(() => worker.stop({ graceMs: 1000 }));
      worker.start();
      return worker;
    },
  };
}

const item = (n: number): AudienceBatchItem => ({ subscriberId: n, matchKey: sha256Hex(`p${n}@example.com`), row: [String(n), sha256Hex(`p${n}@example.com`)] });

/** Plans a batch of these subscribers and queues its upload job, as a run does. */
async function queueBatch(s: Setup, op: 'add' | 'remove', ns: readonly number[]): Promise<{ batchId: number; jobId: number }> {
  if (op === 'add') await s.store.setAudienceMembers(AUDIENCE, ns.map((n) => ({ subscriberId: n, row: item(n).row, matchKey: item(n).matchKey })), Date.now());
  const run = await s.store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: Date.now() });
  const batch = await s.store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op, sessionId: String(1000 + run.id), seq: 1, isLast: true, items: ns.map(item), now: Date.now() });
  const result = await s.store.commitDelivery({
    delivery: { system: 'internal', route: 'test', receivedAt: Date.now(), bodyBytes: 0 },
    events: [{ source: 'internal', origin: 'kitrelay', type: 'kitrelay:audience_run', kitType: 'audience_run', payload: { run: run.id }, decisions: [], jobs: [{ rule: 'meta:sync', destination: 'meta', action: 'upload', params: { audience: 'customers', batchId: batch.id, audienceId: s.audienceId }, maxAttempts: 3, subKey: 'customers' }] }],
    quarantine: [],
  });
  const [outcome] = result.events;
  if (outcome?.status !== 'accepted') throw new Error('not accepted');
  return { batchId: batch.id, jobId: outcome.jobIds[0]! };
}

async function settled(store: SqliteStore, jobId: number): Promise<JobRecord> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const job = await store.getJob(jobId);
    if (job && (job.status === 'succeeded' || job.status === 'dead')) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not settle: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('meta upload action', () => {
  it('sends a planned batch once, acknowledges it with Meta\'s counts, and audits it by batch and session', async () => {
    const s = await setup();
    s.worker();
    const { batchId, jobId } = await queueBatch(s, 'add', [1, 2, 3]);
    expect(await settled(s.store, jobId)).toMatchObject({ status: 'succeeded' });
    expect(s.sim.members(s.audienceId)).toHaveLength(3);
    expect(await s.store.getAudienceBatch(batchId)).toMatchObject({ status: 'acked', response: { num_received: 3, num_invalid_entries: 0, rows_sent: 3 } });
    expect(await s.store.countAudience(AUDIENCE)).toEqual({ expected: 3, confirmed: 3, toAdd: 0, toRemove: 0 });
    const [audit] = await s.store.listAttempts({ jobId });
    expect(audit?.correlation).toMatchObject({ batchId: String(batchId), op: 'add', numReceived: '3', rows: '3' });
    expect(JSON.stringify(audit)).not.toContain(s.sim.accessToken);

    // The job runs again (as after a crash between the acknowledgement and its record): nothing is sent.
    const before = s.sim.requests.length;
    await s.store.replayJob(jobId, 1, Date.now());
    expect(await settled(s.store, jobId)).toMatchObject({ status: 'succeeded' });
    expect(s.sim.requests.length).toBe(before);
    const attempts = await s.store.listAttempts({ jobId });
    expect(attempts.map((a) => a.correlation.note)).toContain('acknowledged by Meta before: not sent again');
  });

  it('sends a batch again when its answer was lost, and acknowledges it once', async () => {
    const s = await setup();
    s.sim.faults.add({ kind: 'apply_then_reset', method: 'POST' });
    s.worker();
    const { batchId, jobId } = await queueBatch(s, 'add', [1, 2]);
    expect(await settled(s.store, jobId)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(s.sim.members(s.audienceId)).toHaveLength(2);
    // The reset after sending is doubt, retried at once: Meta's add is idempotent by hash.
    const attempts = (await s.store.listAttempts({ jobId })).sort((a, b) => a.attempt - b.attempt);
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'succeeded']);
    expect(attempts[0]?.error).toMatch(/reset|socket|closed/i);
    expect(await s.store.getAudienceBatch(batchId)).toMatchObject({ status: 'acked' });
  });

  it('records a flagged audience on the batch and kills the job without retrying; the members stay pending', async () => {
    const s = await setup();
    s.sim.flagAudience(s.audienceId);
    s.worker();
    const { batchId, jobId } = await queueBatch(s, 'add', [1]);
    const job = await settled(s.store, jobId);
    expect(job).toMatchObject({ status: 'dead', attempts: 1 });
    expect(job.lastError).toMatch(/1713230|blocked|flagged/i);
    expect(await s.store.getAudienceBatch(batchId)).toMatchObject({ status: 'failed' });
    expect(await s.store.countAudience(AUDIENCE)).toMatchObject({ toAdd: 1, confirmed: 0 });
  });

  it('removes a leaver only when Meta acknowledged the removal', async () => {
    const s = await setup();
    s.worker();
    const added = await queueBatch(s, 'add', [1, 2]);
    await settled(s.store, added.jobId);
    await s.store.setAudienceMembers(AUDIENCE, [{ subscriberId: 2, row: null, matchKey: null }], Date.now());
    const removed = await queueBatch(s, 'remove', [2]);
    expect(await settled(s.store, removed.jobId)).toMatchObject({ status: 'succeeded' });
    expect(s.sim.members(s.audienceId).map((m) => m.keys.EXTERN_ID)).toEqual(['1']);
    expect(await s.store.countAudience(AUDIENCE)).toEqual({ expected: 1, confirmed: 1, toAdd: 0, toRemove: 0 });
  });
});
