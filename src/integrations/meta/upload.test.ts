/**
 * The `upload` action through a real worker: a planned batch in a real SQLite store, sent over
 * real HTTP to the Meta simulator, acknowledged once; a batch acknowledged before is not sent
 * again; a lost answer is sent again and acknowledged once; a flagged audience fails the batch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../store/sqlite/index.js';
import type { AudienceBatchItem, JobRecord } from '../../store/types.js';
import { createMetaHarness, type MetaHarness } from './harness.js';
import { sha256Hex } from './normalize.js';
import { audienceKey } from './upload.js';

const AUDIENCE = audienceKey('meta', 'customers');

let harness: MetaHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function setup(): Promise<MetaHarness> {
  harness = await createMetaHarness();
  return harness;
}

const item = (n: number): AudienceBatchItem => ({ subscriberId: n, matchKey: sha256Hex(`p${n}@example.com`), row: [String(n), sha256Hex(`p${n}@example.com`)] });

/** Plans a batch of these subscribers and queues its upload job, as a run does. */
async function queueBatch(s: MetaHarness, op: 'add' | 'remove', ns: readonly number[]): Promise<{ batchId: number; jobId: number }> {
  if (op === 'add') await s.store.setAudienceMembers(AUDIENCE, ns.map((n) => ({ subscriberId: n, row: item(n).row, matchKey: item(n).matchKey })), Date.now());
  const run = await s.store.startAudienceRun({ audience: AUDIENCE, kind: 'sync', now: Date.now() });
  const batch = await s.store.planAudienceBatch({ runId: run.id, audience: AUDIENCE, op, sessionId: String(1000 + run.id), seq: 1, isLast: true, items: ns.map(item), now: Date.now() });
  await s.queueUploads([batch], s.audienceId);
  const [job] = (await s.store.listJobs({ destination: 'meta' })).filter((j) => (j.params as { batchId: number }).batchId === batch.id);
  if (!job) throw new Error('no upload job');
  return { batchId: batch.id, jobId: job.id };
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
