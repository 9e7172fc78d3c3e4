/**
 * The out-of-sync check against the Airtable simulator and a real SQLite store: drift planted "as
 * a person in Airtable" after a backfill is reported, repaired with each fix logged, and gone on
 * the next check; a row kitrelay wrote and a person deleted waits for approval and is never
 * recreated; the nightly schedule runs it through the real scheduler.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestClock } from '../../lib/clock.js';
import { silentLog } from '../../lib/log.js';
import { createScheduler } from '../../schedules/scheduler.js';
import { checkScheduleName, runCheck, type CheckFix, type CheckRun } from './check.js';
import { createAirtableHarness, subscriber, TABLE, type AirtableHarness, type AirtableHarnessOptions } from './harness.js';
import { airtableIntegration } from './index.js';

const KEY = 'airtable/subscribers';

let harness: AirtableHarness | undefined;
let clock = new TestClock();
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function setup(options: AirtableHarnessOptions = {}): Promise<AirtableHarness> {
  clock = new TestClock();
  harness = await createAirtableHarness({ clock, ...options });
  return harness;
}

/** Seeds subscribers, writes them with a backfill, and lets a minute pass. */
async function backfilled(s: AirtableHarness, kitIds: readonly number[]): Promise<void> {
  await s.seed(kitIds.map((id) => subscriber(id)));
  expect(await s.backfill()).toMatchObject({ status: 'completed', stats: { created: kitIds.length } });
  clock.advance(60_000);
}

const check = (s: AirtableHarness, run: Partial<CheckRun> = {}) => runCheck(s.deps(), 'subscribers', { now: () => clock.now(), ...run });
const rowsOf = (s: AirtableHarness, kitId: number) => s.records().filter((r) => r.fields['Kit ID'] === kitId);
const rowOf = (s: AirtableHarness, kitId: number) => {
  const [row] = rowsOf(s, kitId);
  if (!row) throw new Error(`no row for Kit id ${kitId}`);
  return row;
};
/** A person's edit in Airtable, a second after the last. */
const person = (s: AirtableHarness) => {
  clock.advance(1000);
  return s.sim.person;
};

describe('airtable check', () => {
  it('reports a missing, an extra, a duplicated and a different row and skips a paused one; --repair fixes each, logging it; the next check is clean', async () => {
    const s = await setup({ sync: { pauseField: 'Paused' } });
    await backfilled(s, [1, 2, 3, 4, 5, 6]);
    const original3 = rowOf(s, 3).id;
    await s.seed([subscriber(7), subscriber(6, { state: 'cancelled' })]); // 7 never written; 6 left the selection
    person(s).create(TABLE, { 'Kit ID': 999, Email: 'ghost@example.com' });
    const duplicate = person(s).create(TABLE, { 'Kit ID': 3, Email: 's3@example.com', Name: 'Sub 3', State: 'active', Tags: ['customer'] });
    person(s).update(TABLE, rowOf(s, 4).id, { Name: 'Edited in Airtable' });
    person(s).update(TABLE, rowOf(s, 5).id, { Paused: true, Name: 'Keep me' });
    person(s).create(TABLE, { Email: 'nobody@example.com' });
    clock.advance(60_000);
    const before = s.records();

    const report = await check(s);
    expect(report).toMatchObject({ status: 'drift', isRepair: false, fixes: [] });
    expect(report.counts).toMatchObject({ rows: 9, selected: 6, ok: 3, missing: 1, deletedInAirtable: 0, extra: 2, duplicate: 1, different: 1, paused: 1, noKitId: 1, calls: 1 });
    expect(report.examples.missing).toEqual([expect.objectContaining({ kitId: 7, recordIds: [], detail: expect.stringContaining('created on repair') })]);
    expect(report.examples.extra.map((i) => i.kitId)).toEqual([6, 999]);
    expect(report.examples.duplicate).toEqual([expect.objectContaining({ kitId: 3, recordIds: [original3, duplicate.id], detail: expect.stringContaining(`${original3} is kept (the row kitrelay wrote)`) })]);
    expect(report.examples.different).toEqual([expect.objectContaining({ kitId: 4, fields: [{ field: 'Name', kit: 'Sub 4', airtable: 'Edited in Airtable' }] })]);
    expect(report.examples.paused).toEqual([expect.objectContaining({ kitId: 5, detail: 'paused: skipped (differs: Name)' })]);
    expect(s.records()).toEqual(before); // a report changes nothing

    const logged: CheckFix[] = [];
    const repaired = await check(s, { repair: true, onFix: (fix) => void logged.push(fix) });
    expect(repaired.status).toBe('repaired');
    expect(logged).toEqual(repaired.fixes);
    const fixes = repaired.fixes.map(({ kitId, found, action }) => ({ kitId, found, action }));
    expect(fixes).toEqual(
      expect.arrayContaining([
        { kitId: 3, found: 'duplicate', action: 'deleted' },
        { kitId: 7, found: 'missing', action: 'created' },
        { kitId: 4, found: 'different', action: 'updated' },
        { kitId: 6, found: 'extra', action: 'deleted' },
        { kitId: 999, found: 'extra', action: 'deleted' },
      ]),
    );
    expect(fixes).toHaveLength(5);
    expect(repaired.fixes.find((f) => f.kitId === 3)?.recordId).toBe(duplicate.id);

    expect(rowsOf(s, 3).map((r) => r.id)).toEqual([original3]);
    expect(rowOf(s, 7).fields).toMatchObject({ Email: 's7@example.com', Name: 'Sub 7', State: 'active', Tags: ['customer'] });
    expect(rowOf(s, 4).fields.Name).toBe('Sub 4');
    expect(rowOf(s, 5).fields).toMatchObject({ Name: 'Keep me', Paused: true }); // paused: never repaired
    expect(rowsOf(s, 6)).toEqual([]);
    expect(rowsOf(s, 999)).toEqual([]);
    expect(s.records().filter((r) => r.fields.Email === 'nobody@example.com')).toHaveLength(1); // not kitrelay's
    expect(await s.store.getAirtableRecords(KEY, [6, 7])).toEqual([expect.objectContaining({ kitId: 7, recordId: rowOf(s, 7).id })]);

    clock.advance(60_000);
    const again = await check(s);
    expect(again).toMatchObject({ status: 'clean', fixes: [], counts: { missing: 0, extra: 0, duplicate: 0, different: 0, paused: 1, noKitId: 1, ok: 5 } });
  });

  it('queues a row kitrelay wrote and a person deleted for approval, never recreating it; creates a subscriber never written; a row back withdraws the request', async () => {
    const s = await setup();
    await backfilled(s, [1, 2, 3]);
    const deleted = rowOf(s, 2).id;
    person(s).delete(TABLE, deleted);
    await s.seed([subscriber(4)]);
    clock.advance(1000);

    const report = await check(s);
    expect(report).toMatchObject({ status: 'drift', counts: { missing: 2, deletedInAirtable: 1 } });
    expect(report.examples.missing).toEqual([
      expect.objectContaining({ kitId: 2, recordIds: [deleted], detail: 'missing (deleted in Airtable: waiting for approval)' }),
      expect.objectContaining({ kitId: 4, recordIds: [] }),
    ]);
    expect(report.fixes).toEqual([expect.objectContaining({ kitId: 2, recordId: deleted, action: 'delete_requested' })]);
    const pending = await s.store.listAirtableDeletes({ sync: KEY, status: 'pending', limit: 10 });
    expect(pending).toEqual([expect.objectContaining({ kitId: 2, recordId: deleted, email: 's2@example.com', detectedBy: 'check' })]);

    const repaired = await check(s, { repair: true });
    expect(repaired.fixes.map(({ kitId, action }) => ({ kitId, action }))).toEqual([{ kitId: 4, action: 'created' }]); // the request waits already
    expect(rowsOf(s, 2)).toEqual([]);
    expect(rowsOf(s, 4)).toHaveLength(1);
    expect(await s.store.listAirtableDeletes({ sync: KEY, status: 'pending', limit: 10 })).toHaveLength(1);

    // Undone in Airtable: the row is back (a new record id), so nothing is to be approved.
    const back = person(s).create(TABLE, { 'Kit ID': 2, Email: 's2@example.com', Name: 'Sub 2', State: 'active', Tags: ['customer'] });
    clock.advance(1000);
    const seen = await check(s);
    expect(seen).toMatchObject({ status: 'clean', counts: { missing: 0, unlinked: 1 }, fixes: [expect.objectContaining({ kitId: 2, action: 'delete_withdrawn' })] });
    expect(await s.store.listAirtableDeletes({ sync: KEY, status: 'pending', limit: 10 })).toEqual([]);
    expect(await s.store.listAirtableDeletes({ sync: KEY, status: 'withdrawn', limit: 10 })).toEqual([expect.objectContaining({ kitId: 2 })]);
    // Repair makes the record state name the row that is there now.
    const linked = await check(s, { repair: true });
    expect(linked.fixes).toEqual([expect.objectContaining({ kitId: 2, recordId: back.id, action: 'linked' })]);
    expect(await s.store.getAirtableRecords(KEY, [2])).toEqual([expect.objectContaining({ recordId: back.id })]);
  });

  it('with onDelete mark, marks the row of a subscriber who left instead of deleting it, unmarks a selected one, and counts marked rows as they should be', async () => {
    const s = await setup({ sync: { onDelete: { mark: 'Left' } } });
    await backfilled(s, [1, 2]);
    await s.seed([subscriber(2, { state: 'cancelled' })]);
    person(s).update(TABLE, rowOf(s, 1).id, { Left: true });
    clock.advance(1000);

    const report = await check(s);
    expect(report.counts).toMatchObject({ extra: 1, different: 1 });
    expect(report.examples.different).toEqual([expect.objectContaining({ kitId: 1, fields: [{ field: 'Left', kit: null, airtable: true }] })]);

    const repaired = await check(s, { repair: true });
    expect(repaired.fixes.map(({ kitId, action }) => ({ kitId, action }))).toEqual([{ kitId: 1, action: 'updated' }, { kitId: 2, action: 'marked' }]);
    expect(rowOf(s, 2).fields.Left).toBe(true);
    expect(rowOf(s, 1).fields.Left).toBeUndefined();
    clock.advance(1000);
    expect(await check(s)).toMatchObject({ status: 'clean', counts: { marked: 1, extra: 0, ok: 1 } });
  });

  it('leaves a field whose conflict is held for an operator, writing the others', async () => {
    const s = await setup();
    await backfilled(s, [1]);
    const recordId = rowOf(s, 1).id;
    person(s).update(TABLE, recordId, { Name: 'Mine', State: 'bogus' });
    await s.store.recordAirtableDecisions(KEY, [{ kitId: 1, recordId, field: 'Name', kitValue: 'Sub 1', airtableValue: 'Mine', syncedValue: 'Sub 1', policy: 'manual', winner: null }], clock.now());
    clock.advance(1000);

    const report = await check(s);
    expect(report.examples.different).toEqual([expect.objectContaining({ kitId: 1, fields: [{ field: 'Name', kit: 'Sub 1', airtable: 'Mine', isHeld: true }, { field: 'State', kit: 'active', airtable: 'bogus' }] })]);
    const repaired = await check(s, { repair: true });
    expect(repaired.fixes).toEqual([expect.objectContaining({ kitId: 1, action: 'updated', detail: 'written from Kit: State' })]);
    expect(rowOf(s, 1).fields).toMatchObject({ Name: 'Mine', State: 'active' });
  });

  it('reads the whole table page by page through a 503 and an iterator Airtable ended, and fails without a change when the table cannot be read', async () => {
    const s = await setup();
    await backfilled(s, Array.from({ length: 150 }, (_, i) => i + 1));
    s.sim.faults.add({ kind: 'status', status: 503, method: 'GET', times: 1 });
    const sent = s.sim.requests.length;
    let pages = 0;
    const result = await check(s, { progress: () => void (pages++ === 0 && s.sim.expireIterators()) });
    // 503, page 1, page 2 refused (iterator gone), then pages 1 and 2 again.
    expect(result).toMatchObject({ status: 'clean', counts: { rows: 150, ok: 150, calls: 5 } });
    expect(s.sim.requests.slice(sent).map((r) => `${r.method} ${r.status}`)).toEqual(['GET 503', 'GET 200', 'GET 422', 'GET 200', 'GET 200']);

    s.sim.faults.add({ kind: 'status', status: 404, method: 'GET', times: 1, body: { error: { type: 'TABLE_NOT_FOUND', message: 'Could not find table Subscribers' } } });
    const failed = await check(s, { repair: true });
    expect(failed).toMatchObject({ status: 'failed', fixes: [], error: expect.stringMatching(/^reading Subscribers failed: .*TABLE_NOT_FOUND/) });
  });

  it('runs nightly as a schedule per sync through the scheduler: a report unless check.repair, its counts and fixes in the run record', async () => {
    const s = await setup({ sync: { check: { schedule: '30 2 * * *', repair: true } } });
    await backfilled(s, [1, 2]);
    await s.seed([subscriber(3)]);
    const schedules = airtableIntegration.schedules!(s.deps());
    const definition = schedules.find((d) => d.name === checkScheduleName('airtable', 'subscribers'));
    expect(definition).toMatchObject({ name: 'airtable-check:airtable:subscribers', cron: '30 2 * * *' });

    const scheduler = createScheduler({ store: s.store, clock, log: silentLog(), schedules: [definition!] });
    try {
      const outcome = await scheduler.runNow('airtable-check:airtable:subscribers');
      expect(outcome).toMatchObject({ kind: 'finished', run: { status: 'succeeded', counts: { missing: 1, ok: 2 }, changes: [expect.objectContaining({ kitId: 3, action: 'created' })], summary: expect.stringContaining('repaired') } });
      expect(rowsOf(s, 3)).toHaveLength(1);
    } finally {
      await scheduler.stop({ graceMs: 100 });
    }

    await s.close();
    harness = undefined;
    const t = await setup();
    const [nightly] = airtableIntegration.schedules!(t.deps()).filter((d) => d.name.startsWith('airtable-check:'));
    expect(nightly).toMatchObject({ cron: '0 3 * * *', description: expect.stringContaining('report only') });
  });
});
