import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAY } from '../lib/clock.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import { createServicesHarness, type ServicesHarness } from './harness.js';
import { backupStore, retentionCutoffs, runRetention } from './index.js';

let h: ServicesHarness;
beforeEach(async () => {
  h = await createServicesHarness();
});
afterEach(async () => h.close());

describe('maintenance services', () => {
  it('computes each retention cutoff as now minus its days', () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    expect(retentionCutoffs({ eventDays: 30, quarantineDays: 90, auditPersonalDataDays: 7, schedule: '0 * * * *' }, now)).toEqual({
      now,
      eventsBefore: now - 30 * DAY,
      quarantineBefore: now - 90 * DAY,
      auditScrubBefore: now - 7 * DAY,
    });
  });

  it('runs retention at the clock\'s now: old finished events go, recent ones and unfinished jobs stay', async () => {
    const [old] = await h.commitJobs(1, ['sink']);
    const [oldPending] = await h.commitJobs(2, ['sink']);
    await h.finish(old!, 'succeeded');
    h.clock.advance(29 * DAY);
    const [recent] = await h.commitJobs(3, ['sink']);
    await h.finish(recent!, 'succeeded');
    h.clock.advance(2 * DAY);

    const run = await runRetention(h);
    expect(run.cutoffs).toEqual(retentionCutoffs(h.config.retention, h.clock.now()));
    expect(run.removed).toMatchObject({ events: 1, jobs: 1, auditScrubbed: 1 });
    expect(await h.store.getJob(old!)).toBeUndefined();
    expect(await h.store.getJob(oldPending!)).toMatchObject({ status: 'pending' });
    expect(await h.store.getJob(recent!)).toMatchObject({ status: 'succeeded' });
  });

  it('backs up the store to a copy another store can open and read', async () => {
    const [id] = await h.commitJobs(1, ['sink']);
    const target = path.join(h.dir, 'backup.db');
    expect(await backupStore(h, target)).toEqual({ kind: 'backed_up', from: h.store.path, to: target });
    const copy = await openSqliteStore({ path: target });
    try {
      expect(await copy.getJob(id!)).toMatchObject({ id, destination: 'sink', status: 'pending' });
    } finally {
      await copy.close();
    }
  });

  it('refuses to back up the store onto its own file', async () => {
    expect(await backupStore(h, path.resolve(h.store.path))).toEqual({ kind: 'same_file', path: path.resolve(h.store.path) });
  });
});
