/**
 * The SQLite store against values that cannot cross the thread boundary, and against readers that
 * never let the write-ahead log start over. Real files, a real writer thread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { T0, commit, eventInput, plannedJob } from '../fixtures.contract.js';
import { Sqlite } from './driver.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from './store.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openTemp(options: Partial<SqliteStoreOptions> = {}): Promise<{ store: SqliteStore; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kitrelay-hostile-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'kitrelay.db');
  const store = await openSqliteStore({ path, ...options });
  cleanups.push(() => store.close());
  return { store, path };
}

/** `{"a":{"a":…1…}}`, `depth` objects deep: too deep for structured clone past ~1,500. */
const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

describe('values that cannot cross the thread boundary', () => {
  it('fails only the read whose result is too deep to copy; the calls around it and after it answer', async () => {
    const { store, path } = await openTemp();
    // Written behind the store's back, as a database from before ingest limited depth could hold it.
    const db = new Sqlite(path);
    db.prepare(`INSERT INTO subscribers (kit_id, email, state, fields, updated_at, source) VALUES (1, 'deep@example.com', 'active', ?, 0, 'webhook')`).run(nested(3000));
    db.close();
    const [before, deep, after] = await Promise.allSettled([store.getSetting('store_id'), store.getSubscriber(1), store.countSubscribers()]);
    expect(before).toMatchObject({ status: 'fulfilled', value: expect.any(String) });
    expect(deep).toMatchObject({ status: 'rejected', reason: { name: 'StoreValueError', message: expect.stringContaining('a stored value nests deeper than 768 levels') } });
    expect(after).toMatchObject({ status: 'fulfilled', value: 1 });
    // Every later call is answered with its own result (before the fix they went out of step).
    for (let i = 0; i < 20; i++) {
      const [id, count] = await Promise.all([store.getSetting('store_id'), store.countSubscribers()]);
      expect(typeof id).toBe('string');
      expect(count).toBe(1);
    }
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('rejects only the call whose arguments are too deep to copy, and commits the rest of its batch', async () => {
    const { store } = await openTemp();
    const deepPayload: unknown = JSON.parse(nested(50_000));
    const [bad, good] = await Promise.allSettled([commit(store, [eventInput({ payload: deepPayload })]), commit(store, [eventInput({ subscriberId: '7' })])]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { name: 'StoreValueError', message: expect.stringContaining('the arguments of commitDelivery') } });
    expect(good.status).toBe('fulfilled');
    expect((await store.listEvents({})).map((e) => e.subscriberId)).toEqual(['7']);
    expect(store.stats().writeBacklog).toBe(0);
  });

  it('sends a job whose stored payload is too deep to read to dead with the reason, and claims the others', async () => {
    const { store } = await openTemp();
    const job = plannedJob();
    await commit(store, [
      eventInput({ subscriberId: '1', payloadJson: nested(3000), jobs: [job] }),
      eventInput({ subscriberId: '2', jobs: [job] }),
    ]);
    const claimed = await store.claimJobs({ workerId: 'w', destination: job.destination, limit: 10, now: T0, leaseMs: 10_000 });
    expect(claimed.map((c) => c.job.subscriberId)).toEqual(['2']);
    const [dead] = await store.listJobs({ status: 'dead' });
    expect(dead).toMatchObject({ subscriberId: '1', attempts: 0, lastError: expect.stringContaining('nests deeper than 768 levels') });
    const events = await store.listEvents({});
    expect(events.find((e) => e.subscriberId === '1')).toMatchObject({ payload: null, unreadablePayload: expect.stringContaining('kept in the database') });
    expect(events.find((e) => e.subscriberId === '2')?.unreadablePayload).toBeUndefined();
  });
});

describe('the write-ahead log', () => {
  it('stays bounded while overlapping readers always hold an old snapshot', async () => {
    const walLimitBytes = 1_048_576;
    const { store, path } = await openTemp({ walLimitBytes });
    // Two reader connections take turns, each holding a read transaction for 60 ms, so some reader
    // always uses the log: a checkpoint that never waits for readers can never let it start over.
    const readers = [new Sqlite(path, { readonly: true }), new Sqlite(path, { readonly: true })];
    const inTransaction = [false, false];
    let turn = 0;
    const rotate = setInterval(() => {
      const index = turn++ % 2;
      const reader = readers[index]!;
      if (inTransaction[index]) reader.prepare('COMMIT').run();
      reader.prepare('BEGIN').run();
      reader.prepare('SELECT count(*) FROM events').get();
      inTransaction[index] = true;
    }, 30);
    let walAfterLoad: number;
    try {
      const payload = { subscriber: { id: 1, email_address: 'a@example.com' }, padding: 'x'.repeat(2000) };
      // Tens of MB of log: many times the limit.
      for (let round = 0; round < 40; round++) {
        await Promise.all(Array.from({ length: 100 }, () => commit(store, [eventInput({ payload })])));
      }
      // The writer checkpoints after a batch once 400 ms have passed since the last: give it two.
      for (let i = 0; i < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 450));
        await commit(store, [eventInput({ payload })]);
      }
      walAfterLoad = statSync(`${path}-wal`).size; // the readers are still taking turns
    } finally {
      clearInterval(rotate);
      readers.forEach((reader, index) => {
        if (inTransaction[index]) reader.prepare('COMMIT').run();
        reader.close();
      });
    }
    expect(await store.listEvents({ limit: 1 })).toHaveLength(1);
    // Without the bound the log only grew (to ~40 MB here); with it, it starts over while the
    // readers go on. Between checkpoints (400 ms), or when a busy machine lets a reader outlast one
    // bounding checkpoint's wait, it passes the limit by what arrives meanwhile (seen: 258 frames
    // against a limit of 254): the bound asserted is twice the limit, twenty times under unbounded.
    expect(walAfterLoad).toBeLessThan(2 * walLimitBytes);
    expect(store.stats().walBytes).toBeLessThan(2 * walLimitBytes);
  }, 60_000);
});
