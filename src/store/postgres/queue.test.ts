/**
 * The queue on PostgreSQL, what only several writers and claimers can show beyond the store
 * contract (store.test.ts): two whole stores (two pools on one schema, as two processes) claiming
 * at the same time, and a job that commits late with a lower id than a job of its stream already
 * running. Jobs are written straight into the tables on a pool of the test's own.
 */
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECOND, T0 } from '../fixtures.contract.js';
import type { Store } from '../types.js';
import { createTestSchema, type TestSchema } from './harness.js';
import { openPool } from './pool.js';
import { claimIn } from './queue-claim.js';
import { openPostgresStore } from './store.js';

const LEASE = 30 * SECOND;

async function storeIdOf(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ value: string }>("SELECT value FROM settings WHERE key = 'store_id'");
  return rows[0]!.value;
}

/**
 * A fresh schema per test, and a way to open whole stores on it (each on its own pool, migrating
 * the schema), with a plain pool beside each for writing straight into the tables.
 */
function useSchema(): { readonly open: (max?: number) => Promise<{ pool: pg.Pool; store: Store }> } {
  let schema: TestSchema | undefined;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(async () => {
    schema = await createTestSchema();
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
    await schema?.drop();
    schema = undefined;
  });
  return {
    async open(max = 4) {
      const store = await openPostgresStore({ url: schema!.url, schema: schema!.schema, max });
      const pool = openPool({ url: schema!.url, schema: schema!.schema, max });
      closers.push(() => store.close(), () => pool.end());
      return { pool, store };
    },
  };
}

/** Inserts jobs straight into the tables (one event each), outside the ingest path; returns their ids. */
async function insertJobs(client: pg.Pool | pg.PoolClient, jobs: readonly { subscriberKey: string | null; destination?: string }[]): Promise<number[]> {
  const ids: number[] = [];
  for (const job of jobs) {
    const { rows: events } = await client.query<{ id: number }>(
      `INSERT INTO events (delivery_id, source, type, kit_type, subscriber_key, received_at, status, payload)
       VALUES (1, 'signed', 'subscriber.tag_add', 'subscriber.tag_add', $1, $2, 'accepted', '{}') RETURNING id`,
      [job.subscriberKey, T0],
    );
    const { rows } = await client.query<{ id: number }>(
      `INSERT INTO jobs (event_id, rule, destination, action, params, subscriber_key, status, max_attempts, run_at, created_at, updated_at)
       VALUES ($1, 'r', $2, 'post', '{}', $3, 'pending', 3, $4, $4, $4) RETURNING id`,
      [events[0]!.id, job.destination ?? 'crm', job.subscriberKey, T0],
    );
    ids.push(rows[0]!.id);
  }
  return ids;
}

describe('postgres queue store: several claimers', () => {
  const db = useSchema();

  it('never leases one job to two store handles claiming at the same time, and keeps each subscriber’s order', async () => {
    const [a, b] = [await db.open(6), await db.open(6)];
    // 40 subscribers with 4 jobs each, and 80 jobs of no subscriber, interleaved.
    const specs = Array.from({ length: 240 }, (_, i) => ({ subscriberKey: i % 3 === 2 ? null : `id:${i % 40}` }));
    const ids = await insertJobs(a.pool, specs);
    const streamOf = new Map(ids.map((id, i) => [id, specs[i]!.subscriberKey]));

    const claims: { id: number; worker: string }[] = [];
    const holding = new Map<string, number>(); // stream → the job of it a worker holds
    const violations: string[] = [];
    const work = async (store: Store, worker: string): Promise<void> => {
      for (let idle = 0; idle < 5; ) {
        const claimed = await store.claimJobs({ workerId: worker, destination: 'crm', limit: 4, now: T0, leaseMs: LEASE });
        idle = claimed.length === 0 ? idle + 1 : 0;
        for (const { job } of claimed) {
          claims.push({ id: job.id, worker });
          const stream = streamOf.get(job.id);
          if (stream) {
            if (holding.has(stream)) violations.push(`${job.id} leased while ${holding.get(stream)} of ${stream} ran`);
            holding.set(stream, job.id);
          }
        }
        for (const { job } of claimed) {
          const stream = streamOf.get(job.id);
          if (stream) holding.delete(stream);
          const attempt = { jobId: job.id, attempt: 1, workerId: worker, startedAt: T0, finishedAt: T0, outcome: 'succeeded' as const, correlation: {} };
          expect(await store.finishAttempt({ attempt, next: { status: 'succeeded' }, now: T0 })).toBe(true);
        }
      }
    };
    await Promise.all([work(a.store, 'a1'), work(a.store, 'a2'), work(a.store, 'a3'), work(b.store, 'b1'), work(b.store, 'b2'), work(b.store, 'b3')]);

    expect(violations).toEqual([]);
    expect(claims.map((c) => c.id).sort((x, y) => x - y)).toEqual(ids);
    expect(new Set(claims.map((c) => c.worker[0])).size).toBe(2);
    for (let s = 0; s < 40; s++) {
      const order = claims.filter((c) => streamOf.get(c.id) === `id:${s}`).map((c) => c.id);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    expect(await a.store.countJobs()).toEqual([{ destination: 'crm', status: 'succeeded', count: 240 }]);
  });

  it('holds a job committed late with a lower id until the running job of its subscriber finishes', async () => {
    const { pool, store } = await db.open(4);
    const late = await pool.connect();
    try {
      // The writer draws its job id first and commits last, as a concurrent writer could.
      await late.query('BEGIN');
      const [early] = await insertJobs(late, [{ subscriberKey: 'id:1' }]);
      const [running] = await insertJobs(pool, [{ subscriberKey: 'id:1' }]);
      expect(running).toBeGreaterThan(early!);
      expect((await store.claimJobs({ workerId: 'w1', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE })).map((c) => c.job.id)).toEqual([running]);
      await late.query('COMMIT');

      const claim = async (): Promise<number[]> =>
        (await store.claimJobs({ workerId: 'w2', destination: 'crm', limit: 10, now: T0 + SECOND, leaseMs: LEASE })).map((c) => c.job.id);
      expect(await claim()).toEqual([]);
      const attempt = { jobId: running!, attempt: 1, workerId: 'w1', startedAt: T0, finishedAt: T0 + SECOND, outcome: 'succeeded' as const, correlation: {} };
      expect(await store.finishAttempt({ attempt, next: { status: 'succeeded' }, now: T0 + SECOND })).toBe(true);
      expect(await claim()).toEqual([early]);
    } finally {
      late.release();
    }
  });

  it('does not lease a late-committed job while another claim of its subscriber is still deciding', async () => {
    const { pool, store } = await db.open(4);
    const [late, claimer] = [await pool.connect(), await pool.connect()];
    try {
      await late.query('BEGIN');
      const [early] = await insertJobs(late, [{ subscriberKey: 'id:1' }]);
      const [later] = await insertJobs(pool, [{ subscriberKey: 'id:1' }]);
      // One claim leases `later` and has not committed yet when `early` becomes visible.
      await claimer.query('BEGIN');
      expect((await claimIn(claimer, await storeIdOf(pool), { workerId: 'w1', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE })).map((c) => c.job.id)).toEqual([later]);
      await late.query('COMMIT');
      // A second claim sees both pending (the first has not committed): only the stream lock stops it.
      const claim = async (): Promise<number[]> => (await store.claimJobs({ workerId: 'w2', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE })).map((c) => c.job.id);
      expect(await claim()).toEqual([]);
      await claimer.query('COMMIT');
      expect(await claim()).toEqual([]);
      expect(early).toBeLessThan(later!);
    } finally {
      late.release();
      claimer.release();
    }
  });

  it('reclaims an expired lease even when a lower job of the subscriber was replayed meanwhile', async () => {
    const { pool, store } = await db.open(4);
    const [first, second] = await insertJobs(pool, [{ subscriberKey: 'id:1' }, { subscriberKey: 'id:1' }]);
    const claim = async (now: number, workerId: string): Promise<number[]> =>
      (await store.claimJobs({ workerId, destination: 'crm', limit: 10, now, leaseMs: LEASE })).map((c) => c.job.id);
    expect(await claim(T0, 'w1')).toEqual([first]);
    const attempt = { jobId: first!, attempt: 1, workerId: 'w1', startedAt: T0, finishedAt: T0, outcome: 'failed' as const, correlation: {} };
    await store.finishAttempt({ attempt, next: { status: 'dead' }, now: T0 });
    expect(await claim(T0, 'w2')).toEqual([second]);
    await store.replayJob(first!, 1, T0 + SECOND);
    // The replayed job waits for the running one; the running one's lost lease is taken over.
    expect(await claim(T0 + SECOND, 'w3')).toEqual([]);
    expect(await claim(T0 + LEASE, 'w3')).toEqual([second]);
  });

  it('sends a job whose stored payload is too deep to read to dead with the reason, and claims the others', async () => {
    const { pool, store } = await db.open(4);
    const [unreadable, readable] = await insertJobs(pool, [{ subscriberKey: 'id:1' }, { subscriberKey: 'id:2' }]);
    await pool.query('UPDATE events SET payload = $2 WHERE id = (SELECT event_id FROM jobs WHERE id = $1)', [unreadable, `${'['.repeat(3000)}${']'.repeat(3000)}`]);
    const claimed = await store.claimJobs({ workerId: 'w1', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE });
    expect(claimed.map((c) => c.job.id)).toEqual([readable]);
    expect(await store.getJob(unreadable!)).toMatchObject({ status: 'dead', attempts: 0, leaseOwner: null, lastError: expect.stringContaining('nests deeper than') });
    expect(await store.listAttempts({ jobId: unreadable! })).toEqual([]);
  });

  it('sends a job whose event is gone to dead with the reason, instead of failing every claim', async () => {
    const { pool, store } = await db.open(4);
    const [orphan, readable] = await insertJobs(pool, [{ subscriberKey: 'id:1' }, { subscriberKey: 'id:2' }]);
    await pool.query('DELETE FROM events WHERE id = (SELECT event_id FROM jobs WHERE id = $1)', [orphan]);
    const claimed = await store.claimJobs({ workerId: 'w1', destination: 'crm', limit: 10, now: T0, leaseMs: LEASE });
    expect(claimed.map((c) => c.job.id)).toEqual([readable]);
    expect(await store.getJob(orphan!)).toMatchObject({ status: 'dead', leaseOwner: null, lastError: expect.stringContaining('does not exist') });
  });
});
