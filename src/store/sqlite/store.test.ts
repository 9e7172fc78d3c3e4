import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../lib/errors.js';
import { storeContract } from '../contract.js';
import { T0, asAccepted, commit, eventInput, ingestJob, plannedJob } from '../fixtures.contract.js';
import { MIGRATIONS_DIR, migrate, openDatabase } from './core.js';
import { SqliteStoreClient } from './client.js';
import { Sqlite } from './driver.js';
import { openSqliteStore, startWriter, type SqliteStore, type SqliteStoreOptions } from './store.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kitrelay-store-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A store on a fresh file, closed after the test. */
async function openTemp(options: Partial<SqliteStoreOptions> = {}): Promise<{ store: SqliteStore; path: string; dir: string }> {
  const dir = await tempDir();
  const path = join(dir, 'kitrelay.db');
  const store = await openSqliteStore({ path, ...options });
  cleanups.push(() => store.close());
  return { store, path, dir };
}

storeContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kitrelay-contract-'));
  const path = join(dir, 'kitrelay.db');
  let store = await openSqliteStore({ path });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await openSqliteStore({ path });
      return store;
    },
    openPeer: () => openSqliteStore({ path }),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store', () => {
  it('opens the file in WAL mode with synchronous=FULL and a busy timeout', async () => {
    const path = join(await tempDir(), 'pragmas.db');
    const db = openDatabase(path, 5000);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    } finally {
      db.close();
    }
    const { path: storePath } = await openTemp();
    const reader = new Sqlite(storePath, { readonly: true });
    expect(reader.pragma('journal_mode', { simple: true })).toBe('wal');
    reader.close();
  });

  it('applies migrations once, however often it runs', async () => {
    const db = openDatabase(join(await tempDir(), 'migrate.db'), 5000);
    try {
      expect(migrate(db)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const storeId = db.prepare('SELECT value FROM settings WHERE key = ?').pluck().get('store_id');
      expect(storeId).toMatch(/^[0-9a-f]{16}$/);
      expect(migrate(db)).toEqual([]);
      expect(db.prepare('SELECT version, name FROM schema_migrations').all()).toEqual([
        { version: 1, name: '001_init.sql' },
        { version: 2, name: '002_kit.sql' },
        { version: 3, name: '003_dedupe_window.sql' },
        { version: 4, name: '004_quarantine_dedupe.sql' },
        { version: 5, name: '005_integration_port.sql' },
        { version: 6, name: '006_schedules.sql' },
        { version: 7, name: '007_digests_alerts.sql' },
        { version: 8, name: '008_audiences.sql' },
        { version: 9, name: '009_airtable.sql' },
        { version: 10, name: '010_airtable_two_way.sql' },
        { version: 11, name: '011_kajabi.sql' },
      ]);
      expect(db.prepare('SELECT value FROM settings WHERE key = ?').pluck().get('store_id')).toBe(storeId);
    } finally {
      db.close();
    }
  });

  it('moves legacy fingerprints written before migration 003 into the dedupe window, with its scope spelling', async () => {
    const dir = await tempDir();
    const before = join(dir, 'migrations-before-003');
    await mkdir(before);
    for (const name of ['001_init.sql', '002_kit.sql']) await copyFile(new URL(name, MIGRATIONS_DIR), join(before, name));
    const path = join(dir, 'upgrade.db');
    const db = openDatabase(path, 5000);
    try {
      expect(migrate(db, pathToFileURL(`${before}/`))).toEqual([1, 2]);
      const insert = db.prepare('INSERT INTO dedupe_keys (key, event_id, expires_at, subscriber_key, type, scope) VALUES (?, ?, ?, ?, ?, ?)');
      insert.run('legacy:old', 1, T0 + 30_000, 'id:9', 'subscriber.tag_added', 'tag_id=5');
      insert.run('kit:evt-1', 2, T0 + 72 * 3_600_000, null, null, null);
      expect(migrate(db)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(db.prepare('SELECT key FROM dedupe_keys').pluck().all()).toEqual(['kit:evt-1']);
      expect(db.prepare('SELECT key, event_id, subscriber_key, scope, type FROM dedupe_window').all()).toEqual([
        { key: 'legacy:old', event_id: 1, subscriber_key: 'id:9', scope: 'tag_id:5', type: 'subscriber.tag_added' },
      ]);
    } finally {
      db.close();
    }
    // The store reads it: a resend is a duplicate until an opposite event for tag 5 clears it.
    const store = await openSqliteStore({ path });
    cleanups.push(() => store.close());
    const resend = eventInput({ subscriberId: '9', dedupe: { key: 'legacy:old', expiresAt: T0 + 60_000, subscriberKey: 'id:9', type: 'subscriber.tag_added', scope: 'tag_id:5' } });
    expect((await commit(store, [resend], T0 + 1000)).events[0]?.status).toBe('duplicate');
    await commit(store, [eventInput({ subscriberId: '9', subscriberKey: 'id:9', type: 'subscriber.tag_removed', scope: { param: 'tag_id', value: '5' }, clearsDedupeTypes: ['subscriber.tag_added'] })], T0 + 2000);
    expect((await commit(store, [resend], T0 + 3000)).events[0]?.status).toBe('accepted');
  });

  it('gives Airtable record states written before migration 010 no synced values, and patches them from there', async () => {
    const dir = await tempDir();
    const before = join(dir, 'migrations-before-010');
    await mkdir(before);
    for (const name of readdirSync(MIGRATIONS_DIR).filter((f) => /^00\d_.*\.sql$/.test(f))) await copyFile(new URL(name, MIGRATIONS_DIR), join(before, name));
    const path = join(dir, 'upgrade.db');
    const db = openDatabase(path, 5000);
    try {
      expect(migrate(db, pathToFileURL(`${before}/`))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      db.prepare('INSERT INTO airtable_records (sync, kit_id, record_id, hash, written_at) VALUES (?, ?, ?, ?, ?)').run('airtable/subscribers', 1, 'rec1', 'h1', T0);
      expect(migrate(db)).toEqual([10, 11]);
    } finally {
      db.close();
    }
    const store = await openSqliteStore({ path });
    cleanups.push(() => store.close());
    expect(await store.findAirtableRecordsByRecordId('airtable/subscribers', ['rec1'])).toEqual([{ kitId: 1, recordId: 'rec1', hash: 'h1', writtenAt: T0, synced: {} }]);
    await store.setAirtableRecords('airtable/subscribers', [{ kitId: 1, recordId: 'rec1', hash: 'h1', synced: { Email: 'a@example.com' } }], T0 + 1);
    expect(await store.getAirtableRecords('airtable/subscribers', [1])).toEqual([expect.objectContaining({ synced: { Email: 'a@example.com' } })]);
  });

  it('gives each new database its own store id, so job idempotency keys never repeat across databases', async () => {
    const [a, b] = [await openTemp(), await openTemp()];
    const jobOf = async (store: SqliteStore) => store.getJob(asAccepted((await commit(store, [eventInput({ jobs: [plannedJob()] })])).events[0]).jobIds[0]!);
    const [jobA, jobB] = [await jobOf(a.store), await jobOf(b.store)];
    expect(jobA?.id).toBe(jobB?.id);
    expect(jobA?.idempotencyKey).toBe(`${await a.store.getSetting('store_id')}-${jobA?.id}`);
    expect(jobA?.idempotencyKey).not.toBe(jobB?.idempotencyKey);
  });

  it('keeps data when the file is opened again', async () => {
    const { store, path } = await openTemp();
    const { eventId } = asAccepted((await commit(store, [eventInput({ jobs: [plannedJob()] })])).events[0]);
    await store.close();
    const again = await openSqliteStore({ path });
    cleanups.push(() => again.close());
    expect(await again.getEvent(eventId)).toMatchObject({ id: eventId, status: 'accepted' });
    expect(await again.listJobs({ eventId })).toHaveLength(1);
  });

  it('commits 500 concurrent deliveries, handing them to the writer 8 at a time as they gather, and all of them are there', async () => {
    const { store } = await openTemp();
    const before = store.stats().batches;
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => commit(store, [eventInput({ subscriberId: String(i), jobs: [plannedJob()] })], T0 + i)),
    );
    // 62 batches of 8 posted while the turn went on, the last 4 at its end.
    expect(store.stats().batches - before).toBe(63);
    expect(new Set(results.map((r) => asAccepted(r.events[0]).eventId)).size).toBe(500);
    expect(await store.listEvents({ limit: 1000 })).toHaveLength(500);
    expect(await store.countJobs()).toEqual([{ destination: 'crm', status: 'pending', count: 500 }]);
    expect(store.stats().writeBacklog).toBe(0);
  });

  it('rolls back only the failing operation of a batch', async () => {
    const { store } = await openTemp();
    const broken = plannedJob({ maxAttempts: null as unknown as number }); // violates NOT NULL
    const [good, bad] = await Promise.allSettled([
      commit(store, [eventInput({ subscriberId: '1', jobs: [plannedJob()] })]),
      commit(store, [eventInput({ subscriberId: '2', jobs: [broken] })]),
    ]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).not.toBeInstanceOf(StoreUnavailableError);
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_CONSTRAINT_NOTNULL' });
    expect((await store.listEvents({})).map((e) => e.subscriberId)).toEqual(['1']);
  });

  it('undoes a batch whose operation failed and runs it again with a savepoint each: the others commit once', async () => {
    const { store } = await openTemp();
    const before = store.stats().batches;
    const broken = plannedJob({ maxAttempts: null as unknown as number }); // violates NOT NULL
    const outcomes = await Promise.allSettled([
      commit(store, [eventInput({ subscriberId: 'a', jobs: [plannedJob()] })]),
      commit(store, [eventInput({ subscriberId: 'b', jobs: [plannedJob(), broken] })]),
      store.setSetting('written-with', 'the bad one'),
      commit(store, [eventInput({ subscriberId: 'c', jobs: [plannedJob()] })]),
    ]);
    expect(store.stats().batches - before).toBe(1);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(await store.getSetting('written-with')).toBe('the bad one');
    // Nothing of the first, optimistic run is left: each good delivery is there once.
    expect((await store.listEvents({})).map((e) => e.subscriberId).sort()).toEqual(['a', 'c']);
    const jobs = await store.listJobs({});
    expect(jobs).toHaveLength(2);
    for (const outcome of [outcomes[0], outcomes[3]]) {
      const { eventId, jobIds } = asAccepted((outcome as PromiseFulfilledResult<Awaited<ReturnType<typeof commit>>>).value.events[0]);
      expect((await store.getJob(jobIds[0]!))?.eventId).toBe(eventId);
      expect((await store.getEvent(eventId))?.decisions).toEqual([{ rule: 'tagged-to-crm', destination: 'crm', action: 'post', outcome: 'job', jobId: jobIds[0] }]);
    }
    // Ids the failed delivery was given are skipped, never handed out again.
    const next = await ingestJob(store);
    expect(next).toBeGreaterThan(Math.max(...jobs.map((j) => j.id)));
  });

  it('a batch of one failing operation fails it and leaves the store as it was', async () => {
    const { store } = await openTemp();
    await expect(commit(store, [eventInput({ jobs: [plannedJob({ maxAttempts: null as unknown as number })] })])).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_NOTNULL',
    });
    expect(await store.listEvents({})).toEqual([]);
    await expect(commit(store, [eventInput()])).resolves.toMatchObject({ events: [{ status: 'accepted' }] });
  });

  it('never hands out a job id twice when another process (a CLI) adds jobs to the same file', async () => {
    const { store, path } = await openTemp();
    const cli = await openSqliteStore({ path });
    cleanups.push(() => cli.close());
    const ids: number[] = [];
    for (let round = 0; round < 5; round++) ids.push(...(await Promise.all([ingestJob(store), ingestJob(cli), ingestJob(store)])));
    expect(new Set(ids).size).toBe(ids.length);
    const keys = (await store.listJobs({ limit: 1000 })).map((job) => job.idempotencyKey);
    expect(new Set(keys).size).toBe(ids.length);
  });

  it('answers each call of batches that waited for the writer together with its own result', async () => {
    const { store } = await openTemp();
    const calls: { subscriberId: string; result: ReturnType<typeof commit> }[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10; i++) {
        const subscriberId = `${turn}-${i}`;
        calls.push({ subscriberId, result: commit(store, [eventInput({ subscriberId, jobs: [plannedJob()] })]) });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const reads = calls.map(async ({ subscriberId, result }) => {
      const { eventId, jobIds } = asAccepted((await result).events[0]);
      return { subscriberId, event: await store.getEvent(eventId), job: await store.getJob(jobIds[0]!) };
    });
    for (const { subscriberId, event, job } of await Promise.all(reads)) {
      expect(event?.subscriberId).toBe(subscriberId);
      expect(job?.subscriberId).toBe(subscriberId);
    }
    expect(store.stats()).toMatchObject({ calls: expect.any(Number) as number, writeBacklog: 0 });
    expect(await store.listEvents({ limit: 1000 })).toHaveLength(200);
  });

  it('stores payloadJson as the payload text, as given', async () => {
    const { store, path } = await openTemp();
    const text = '{ "subscriber": {"id": 42, "big": 12345678901234567890}, "tag_id": 5 }';
    const payload = JSON.parse(text) as unknown;
    const { eventId } = asAccepted((await commit(store, [eventInput({ payload, payloadJson: text })])).events[0]);
    expect((await store.getEvent(eventId))?.payload).toEqual(payload);
    const db = new Sqlite(path, { readonly: true });
    try {
      expect(db.prepare('SELECT payload FROM events WHERE id = ?').pluck().get(eventId)).toBe(text);
    } finally {
      db.close();
    }
  });

  it('keeps legacy fingerprints out of dedupe_keys, in a log trimmed as they expire', async () => {
    const { store, path } = await openTemp();
    const fingerprint = (i: number) =>
      eventInput({ subscriberId: String(i), dedupe: { key: `legacy:fp-${i}`, expiresAt: T0 + 30_000 + i, subscriberKey: `id:${i}`, type: 'subscriber.tag_add' } });
    for (let i = 0; i < 50; i++) await commit(store, [fingerprint(i)], T0 + i);
    await commit(store, [eventInput({ dedupe: { key: 'kit:evt-x', expiresAt: T0 + 72 * 3_600_000 } })], T0 + 50);
    const count = (sql: string): number => {
      const db = new Sqlite(path, { readonly: true });
      try {
        return db.prepare<[], number>(sql).pluck().get() ?? -1;
      } finally {
        db.close();
      }
    };
    expect(count('SELECT count(*) FROM dedupe_keys')).toBe(1);
    expect(count('SELECT count(*) FROM dedupe_window')).toBe(50);
    // Deliveries a second apart trim the log as the window moves: keys 0–19 have expired at T0 + 30,019.
    await commit(store, [eventInput()], T0 + 30_019);
    await commit(store, [eventInput()], T0 + 30_500);
    expect(count('SELECT min(event_id) FROM dedupe_window') - count('SELECT min(id) FROM events')).toBe(20);
    expect(count('SELECT count(*) FROM dedupe_window')).toBe(30);
    // purge drops the rest once they expire, and counts them with the other expired keys.
    expect((await store.purge({ now: T0 + 40_000 })).dedupeKeys).toBe(30);
    expect(count('SELECT count(*) FROM dedupe_window')).toBe(0);
  });

  it('keeps statement journals in memory and checkpoints the WAL between batches', async () => {
    const path = join(await tempDir(), 'pragmas-perf.db');
    const db = openDatabase(path, 5000);
    try {
      expect(db.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });

  it('rejects only the call whose arguments cannot reach the writer thread', async () => {
    const { store } = await openTemp();
    const uncloneable = plannedJob({ params: { format: () => 'x' } });
    const [bad, good] = await Promise.allSettled([commit(store, [eventInput({ jobs: [uncloneable] })]), commit(store, [eventInput({ subscriberId: '3' })])]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { name: 'StoreValueError', message: expect.stringContaining('the arguments of commitDelivery cannot be passed between threads') } });
    expect(good.status).toBe('fulfilled');
    expect((await store.listEvents({})).map((e) => e.subscriberId)).toEqual(['3']);
    expect(store.stats().writeBacklog).toBe(0);
  });

  it('refuses deliveries beyond maxWriteBacklog at once with StoreUnavailableError', async () => {
    const { store } = await openTemp({ maxWriteBacklog: 5 });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => commit(store, [eventInput({ subscriberId: String(i) })])));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as unknown);
    expect(refused).toHaveLength(15);
    for (const reason of refused) {
      expect(reason).toBeInstanceOf(StoreUnavailableError);
      expect(reason).toMatchObject({ retryAfterSeconds: 1, statusCode: 503 });
    }
    await expect(commit(store, [eventInput()])).resolves.toMatchObject({ events: [{ status: 'accepted' }] });
  });

  it('takes an online backup that is a readable copy while writes go on', async () => {
    const { store, dir } = await openTemp();
    for (let i = 0; i < 20; i++) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => commit(store, [eventInput({ payload: { filler: 'x'.repeat(2000), i, j } })])));
    }
    const backupPath = join(dir, 'backup.db');
    const writes = Array.from({ length: 200 }, () => commit(store, [eventInput()]));
    await Promise.all([store.backup(backupPath), ...writes]);
    expect(await store.listEvents({ limit: 1000 })).toHaveLength(1000);

    const copy = new Sqlite(backupPath, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.prepare('SELECT count(*) FROM events').pluck().get()).toBeGreaterThanOrEqual(1000);
      const migrations = readdirSync(new URL('../migrations/sqlite/', import.meta.url)).filter((f) => f.endsWith('.sql')).map((f) => Number(f.slice(0, 3)));
      expect(copy.prepare('SELECT version FROM schema_migrations').pluck().all()).toEqual(migrations.sort((a, b) => a - b));
      expect(copy.prepare(`SELECT value FROM settings WHERE key = 'store_id'`).pluck().get()).toBe(await store.getSetting('store_id'));
    } finally {
      copy.close();
    }
  });

  it('fails writes as unavailable while another process holds the lock past busy_timeout, then recovers', async () => {
    const { store, path } = await openTemp({ busyTimeoutMs: 100 });
    const cli = new Sqlite(path);
    cli.pragma('busy_timeout = 100');
    cli.prepare('BEGIN IMMEDIATE').run();
    try {
      const refused = commit(store, [eventInput()]);
      await expect(refused).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 5 });
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await store.listEvents({})).toEqual([]); // reads still answer from the WAL snapshot
    } finally {
      cli.prepare('COMMIT').run();
      cli.close();
    }
    await expect(store.ping()).resolves.toBeUndefined();
    await expect(commit(store, [eventInput()])).resolves.toMatchObject({ events: [{ status: 'accepted' }] });
  });

  it('fails pending and later calls, and ping, when the writer thread dies', async () => {
    const path = join(await tempDir(), 'dies.db');
    const worker = startWriter({ path, busyTimeoutMs: 5000, walLimitBytes: 67_108_864 });
    const store = await SqliteStoreClient.attach(worker, { path, maxWriteBacklog: 100 });
    const terminated = worker.terminate();
    const pending = commit(store, [eventInput()]);
    await terminated;
    await expect(pending).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(commit(store, [eventInput()])).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it('lets a process that never closes the store exit, after its awaited write committed', async () => {
    const path = join(await tempDir(), 'cli.db');
    const script = `
      import { openSqliteStore } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)} });
      await store.setSetting('written-by', 'cli');`;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 });
    const db = new Sqlite(path, { readonly: true });
    expect(db.prepare(`SELECT value FROM settings WHERE key = 'written-by'`).pluck().get()).toBe('cli');
    db.close();
  });

  it('rejects opening a file it cannot create', async () => {
    const path = join(await tempDir(), 'missing-dir', 'kitrelay.db');
    await expect(openSqliteStore({ path })).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('refuses calls after close', async () => {
    const { store } = await openTemp();
    await store.close();
    await expect(store.getSetting('store_id')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
