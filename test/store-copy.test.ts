/**
 * `kitrelay store copy`: a SQLite store filled through its public API in every area, copied into a
 * fresh PostgreSQL schema (real file, real database), then read back through the Store port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyStore, type CopyStoreResult } from '../src/store/copy.js';
import { asAccepted, attemptFor, commit, eventInput, getJob, plannedJob, quarantineInput, SECOND, T0 } from '../src/store/fixtures.contract.js';
import { createTestSchema, type TestSchema } from '../src/store/postgres/harness.js';
import { openPostgresStore, openSqliteStore, type Store } from '../src/store/index.js';
import { Sqlite } from '../src/store/sqlite/driver.js';
import { execCli } from './helpers.js';

const MINUTE = 60 * SECOND;
const FP_TYPE = 'subscriber.tag_add';

let dir: string;
let target: TestSchema;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kitrelay-copy-'));
  target = await createTestSchema('kr_copy');
});

afterEach(async () => {
  await target.drop();
  await rm(dir, { recursive: true, force: true });
});

/** A legacy event whose fingerprint joins SQLite's dedupe window. */
const legacy = (subscriber: string, key: string, extra: Parameters<typeof eventInput>[0] = {}) =>
  eventInput({
    source: 'legacy',
    subscriberId: subscriber,
    subscriberKey: `id:${subscriber}`,
    dedupe: { key, expiresAt: T0 + 10 * MINUTE, subscriberKey: `id:${subscriber}`, type: FP_TYPE, scope: 'tag_id:5' },
    ...extra,
  });

/** Fills a SQLite store with rows in every area, through the Store port. */
async function fill(dbPath: string): Promise<void> {
  const store = await openSqliteStore({ path: dbPath });
  try {
    await store.setSetting('route_secret', 'secret-1');
    const first = await commit(store, [
      eventInput({ jobs: [plannedJob(), plannedJob({ destination: 'slack', ledgerKey: 'welcome:1' })] }),
      eventInput({ jobs: [plannedJob()], dedupe: { key: 'evt-2.0', expiresAt: T0 + MINUTE } }),
      eventInput({ jobs: [plannedJob()] }),
    ], T0, { quarantine: [quarantineInput()] });
    await commit(store, [legacy('901', 'fp-901'), legacy('902', 'fp-902')], T0 + SECOND);
    // An opposite event clears 902's fingerprint: the window keeps only 901's.
    await commit(store, [eventInput({ source: 'legacy', type: 'subscriber.tag_remove', kitType: 'subscriber.tag_remove', subscriberId: '902', subscriberKey: 'id:902', clearsDedupeTypes: [FP_TYPE] })], T0 + 2 * SECOND);
    const [a, b] = await store.claimJobs({ workerId: 'w1', destination: 'crm', limit: 2, now: T0 + 3 * SECOND, leaseMs: MINUTE });
    await store.finishAttempt({ attempt: attemptFor(a!.job, 'w1'), next: { status: 'succeeded' }, now: T0 + 4 * SECOND });
    await store.finishAttempt({ attempt: attemptFor(b!.job, 'w1', { outcome: 'failed', error: 'HTTP 400' }), next: { status: 'dead' }, now: T0 + 4 * SECOND });
    expect(asAccepted(first.events[0]).jobIds).toHaveLength(2);
    await store.pauseDestination('slack', 'maintenance', T0 + 5 * SECOND);
    await store.upsertSubscribers([{ kitId: 7, email: 'ann@example.com', firstName: 'Ann', state: 'active', fields: { co: 'X' }, createdAt: T0 - MINUTE, tags: [{ id: 5, name: 'VIP', taggedAt: T0 }] }], 'backfill', T0);
    await store.upsertSchedules([{ name: 'tidy', cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE }], T0);
    const claim = await store.claimDueSchedule({ name: 'tidy', owner: 'proc-a', now: T0 + MINUTE, leaseMs: MINUTE, latestSlotAt: T0 + MINUTE });
    if (claim.kind !== 'claimed') throw new Error('schedule not claimed');
    await store.finishScheduleRun({ runId: claim.run.id, owner: 'proc-a', now: T0 + MINUTE + SECOND, status: 'succeeded', counts: { removed: 2 }, retryAt: null });
    await store.setAudienceMembers('meta/vip', [{ subscriberId: 7, row: ['h7', '7'], matchKey: 'h7' }], T0);
    const run = await store.startAudienceRun({ audience: 'meta/vip', kind: 'sync', now: T0 });
    await store.planAudienceBatch({ runId: run.id, audience: 'meta/vip', op: 'add', sessionId: '1', seq: 1, isLast: true, items: [{ subscriberId: 7, matchKey: 'h7', row: ['h7', '7'] }], now: T0 });
    await store.setAirtableRecords('airtable/crm', [{ kitId: 7, recordId: 'rec7', hash: 'h', synced: { Email: 'ann@example.com' } }], T0);
    await store.saveKajabiEnrolments(
      [{ destination: 'kajabi', email: 'ann@example.com', offerId: 'o-1', offerTitle: 'Course', status: 'granted', purchaseId: 'p-1', transactionId: null, refundTransactionId: null, contactId: null, customerId: null, kitSubscriberId: 7, amountInCents: 4900, purchasedAt: T0, settledAt: null, endedAt: null, endReason: null, kitTagged: true, kitSyncedAt: T0, isStopApplied: false, changedBy: 'hook' }],
      [{ destination: 'kajabi', runId: null, email: 'ann@example.com', offerId: 'o-1', what: 'status', why: 'granted', before: 'pending', after: 'granted' }],
      T0,
    );
  } finally {
    await store.close();
  }
}

/** What the Store port shows of a store, for comparing source and target. */
async function snapshotOf(store: Store) {
  return {
    storeId: await store.getSetting('store_id'),
    routeSecret: await store.getSetting('route_secret'),
    events: await store.listEvents({ limit: 1000 }),
    jobs: await store.listJobs({ limit: 1000 }),
    attempts: await store.listAttempts({ limit: 1000 }),
    quarantine: await store.listQuarantine({ limit: 1000 }),
    destinations: await store.getDestinationStates(),
    subscriber: await store.getSubscriber(7),
    schedules: await store.listSchedules(),
    audience: await store.countAudience('meta/vip'),
    airtable: await store.getAirtableRecords('airtable/crm', [7]),
    kajabi: await store.listKajabiEnrolments({ destination: 'kajabi', limit: 100 }),
    corrections: await store.listKajabiCorrections({ destination: 'kajabi', limit: 100 }),
    ledger: await store.hasLedgerKey('welcome:1', T0),
  };
}

function copied(result: CopyStoreResult) {
  if (result.kind !== 'copied') throw new Error(`copy refused: ${result.message}`);
  return result;
}

describe('kitrelay store copy', () => {
  it('copies every table with its ids and values, and new rows get ids above the copied ones', async () => {
    const dbPath = path.join(dir, 'kitrelay.db');
    await fill(dbPath);
    const sqlite = await openSqliteStore({ path: dbPath });
    const before = await snapshotOf(sqlite);
    await sqlite.close();

    const result = copied(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema, batchSize: 2 }));
    expect(result.isComplete).toBe(true);
    expect(result.mismatches).toEqual([]);
    expect(result.tables.find((t) => t.table === 'dedupe_keys')).toMatchObject({ source: 2, target: 2 }); // evt-2.0 and fp-901
    for (const table of ['settings', 'deliveries', 'events', 'jobs', 'attempts', 'quarantine', 'ledger', 'dead_job_alerts', 'subscribers', 'subscriber_tags', 'schedules', 'schedule_runs', 'audience_members', 'audience_runs', 'audience_batches', 'audience_batch_items', 'airtable_records', 'kajabi_enrolments', 'kajabi_corrections', 'destination_state']) {
      const count = result.tables.find((t) => t.table === table);
      expect(count?.source, table).toBeGreaterThan(0);
      expect(count?.target, table).toBe(count?.source);
    }

    const pg = await openPostgresStore({ url: target.url, schema: target.schema });
    try {
      expect(await snapshotOf(pg)).toEqual(before);
      // The window's fingerprint still holds on PostgreSQL; 902's was cleared before the copy.
      const again = await commit(pg, [legacy('901', 'fp-901'), legacy('902', 'fp-902')], T0 + 3 * SECOND);
      expect(again.events.map((e) => e.status)).toEqual(['duplicate', 'accepted']);
      const maxEvent = Math.max(...before.events.map((e) => e.id));
      const maxJob = Math.max(...before.jobs.map((j) => j.id));
      expect(Math.min(...again.events.map((e) => e.eventId))).toBeGreaterThan(maxEvent);
      const fresh = await commit(pg, [eventInput({ jobs: [plannedJob()] })], T0 + 4 * SECOND);
      const [jobId] = asAccepted(fresh.events[0]).jobIds;
      expect(jobId).toBeGreaterThan(maxJob);
      expect((await getJob(pg, jobId!)).idempotencyKey).toBe(`${before.storeId}-${jobId}`);
      expect(again.deliveryId).toBeGreaterThan(Math.max(...before.events.map((e) => e.deliveryId)));
    } finally {
      await pg.close();
    }
  });

  it('moves the sequences past ids SQLite handed out and retention deleted, so no job key is reused', async () => {
    const dbPath = path.join(dir, 'kitrelay.db');
    await fill(dbPath);
    const db = new Sqlite(dbPath);
    const highest = db.prepare<[], number>('SELECT max(id) FROM jobs').pluck().get()!;
    db.prepare('DELETE FROM jobs WHERE id = ?').run(highest);
    db.close();
    copied(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema }));
    const pg = await openPostgresStore({ url: target.url, schema: target.schema });
    try {
      const [jobId] = asAccepted((await commit(pg, [eventInput({ jobs: [plannedJob()] })], T0 + MINUTE)).events[0]).jobIds;
      expect(jobId).toBeGreaterThan(highest);
    } finally {
      await pg.close();
    }
  });

  it('resumes a copy stopped after some batches, with no duplicates, and a further run changes nothing', async () => {
    const dbPath = path.join(dir, 'kitrelay.db');
    await fill(dbPath);
    const partial = copied(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema, batchSize: 2, maxBatches: 4 }));
    expect(partial).toMatchObject({ isComplete: false, batches: 4 });
    expect(partial.tables.some((t) => t.target < t.source)).toBe(true);

    const resumed = copied(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema, batchSize: 2 }));
    expect(resumed.isComplete).toBe(true);
    expect(resumed.mismatches).toEqual([]);
    // Each row was inserted by exactly one of the two runs.
    for (const count of resumed.tables) {
      const first = partial.tables.find((t) => t.table === count.table)?.copied ?? 0;
      expect(first + count.copied, count.table).toBe(count.source);
    }

    const third = copied(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema, batchSize: 2 }));
    expect(third.batches).toBe(0);
    expect(third.tables.every((t) => t.copied === 0)).toBe(true);
    expect(third.tables.map((t) => t.target)).toEqual(resumed.tables.map((t) => t.target));
    expect(third.mismatches).toEqual([]);
  });

  it('refuses a target holding data of another store', async () => {
    const dbPath = path.join(dir, 'kitrelay.db');
    await fill(dbPath);
    const used = await openPostgresStore({ url: target.url, schema: target.schema });
    await commit(used, [eventInput()], T0);
    await used.close();
    expect(await copyStore({ sqlitePath: dbPath, url: target.url, schema: target.schema })).toMatchObject({ kind: 'refused', reason: 'foreign_target', message: expect.stringContaining('events') as string });

    // A schema holding a copy of one store refuses another store's copy.
    const other = await createTestSchema('kr_copy');
    try {
      copied(await copyStore({ sqlitePath: dbPath, url: other.url, schema: other.schema }));
      const otherPath = path.join(dir, 'other.db');
      await (await openSqliteStore({ path: otherPath })).close();
      expect(await copyStore({ sqlitePath: otherPath, url: other.url, schema: other.schema })).toMatchObject({ kind: 'refused', reason: 'foreign_target', message: expect.stringContaining('holds a copy of store') as string });
    } finally {
      await other.drop();
    }
  });

  it('runs as `kitrelay store copy` and prints the counts of every table', async () => {
    const dbPath = path.join(dir, 'kitrelay.db');
    await fill(dbPath);
    const args = ['--data-dir', dir, '--db', dbPath, 'store', 'copy', '--to', target.url, '--schema', target.schema, '--batch', '3'];
    const run = await execCli([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { kind: string; isComplete: boolean; tables: { table: string; source: number; target: number }[] };
    expect(report).toMatchObject({ kind: 'copied', isComplete: true, mismatches: [] });
    expect(report.tables.find((t) => t.table === 'events')).toMatchObject({ source: 6, target: 6 });

    const human = await execCli(args);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^events\s+6\s+6\s+0\s+yes$/m);
    expect(human.stdout).toContain('copied 0 row(s)');

    const refused = await execCli(['--data-dir', dir, '--db', path.join(dir, 'missing.db'), 'store', 'copy', '--to', target.url, '--schema', target.schema]);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('no SQLite store at') as string });
  });
});
