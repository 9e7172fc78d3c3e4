/**
 * The backfill against the Airtable simulator and a real SQLite store: 50,000 subscribers written
 * 10 to a call, then again after a few changed (only those are written), with no duplicate row;
 * forced, every record again, merged on the Kit id; the first sync into a table with rows matches
 * them by email and reports duplicates; Airtable's pace is kept (no 429); a spent monthly budget
 * and a field the table lacks stop the run, which resumes where it stopped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { backfillCheckpointName } from './backfill.js';
import { createAirtableHarness, subscriber, type AirtableHarness, type AirtableHarnessOptions } from './harness.js';

/** Subscribers in the big run: the 50,000 (the simulator's upsert finds the Kit id by an index). */
const BIG = 50_000;

let harness: AirtableHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function setup(options: AirtableHarnessOptions = {}): Promise<AirtableHarness> {
  harness = await createAirtableHarness(options);
  return harness;
}

async function seedMany(s: AirtableHarness, count: number, make = (id: number) => subscriber(id)): Promise<void> {
  for (let start = 1; start <= count; start += 1000) {
    await s.seed(Array.from({ length: Math.min(1000, count - start + 1) }, (_, i) => make(start + i)));
  }
}

const kitIdsOf = (s: AirtableHarness) => s.records().map((r) => Number(r.fields['Kit ID']));

/** How many rows of the table hold each Kit id. */
function rowsPerKitId(s: AirtableHarness): Map<number, number> {
  const rows = new Map<number, number>();
  for (const id of kitIdsOf(s)) rows.set(id, (rows.get(id) ?? 0) + 1);
  return rows;
}

/** Kit ids held by more than one row. */
const duplicatesIn = (rows: ReadonlyMap<number, number>) => [...rows].filter(([, n]) => n > 1).map(([id]) => id);

/** The Kit ids the write calls (PATCH) carried, sorted. */
const kitIdsWritten = (requests: AirtableHarness['sim']['requests']) =>
  requests
    .filter((r) => r.method !== 'GET')
    .flatMap((r) => (r.body as { records: { fields: Record<string, unknown> }[] }).records.map((record) => Number(record.fields['Kit ID'])))
    .sort((a, b) => a - b);

describe('airtable backfill', () => {
  it(`backfill of ${BIG.toLocaleString('en')} subscribers run twice: no duplicate row, and the second run writes only what changed`, { timeout: 300_000 }, async () => {
    // No limit at the simulator and a budget far above what the run can reach: this test is about what is written, not the pace.
    const s = await setup({ sim: { rateLimit: false, maxRequests: 1_000 }, destination: { rateLimit: { perSecond: 10_000 }, subKeyRateLimit: { perSecond: 10_000 }, concurrency: 8 } });
    await seedMany(s, BIG, (id) => subscriber(id, { state: id % 10 === 0 ? 'cancelled' : 'active' }));
    const isSelected = (id: number) => id % 10 !== 0;
    const selected = BIG - BIG / 10;
    const progress: number[] = [];
    const first = await s.backfill('subscribers', { progress: (p) => void progress.push(p.done) });
    expect(first).toMatchObject({ status: 'completed', stats: { read: BIG, created: selected, updated: 0, matched: 0, refused: 0 }, duplicates: [] });
    expect(first.stats.calls).toBe(selected / 10 + 1); // 10 a call, and the table read once
    expect(progress.at(-1)).toBe(BIG);
    let rows = rowsPerKitId(s);
    expect(rows.size).toBe(selected);
    expect(duplicatesIn(rows)).toEqual([]);

    // Between the runs one selected subscriber in 100 gets a new name in Kit.
    const renamed = Array.from({ length: BIG / 100 }, (_, k) => 100 * k + 1);
    expect(renamed.every(isSelected)).toBe(true);
    await s.seed(renamed.map((id) => subscriber(id, { firstName: `Renamed ${id}` })));
    const seenBefore = s.sim.requests.at(-1)?.seq ?? 0;
    const again = await s.backfill();
    const sent = s.sim.requests.filter((r) => r.seq > seenBefore);
    // The table read (100 rows a call), then only the renamed: 10 a call, merged on the Kit id.
    expect(again).toMatchObject({ status: 'completed', stats: { read: BIG, created: 0, updated: renamed.length, matched: 0, unchanged: selected - renamed.length, refused: 0, calls: selected / 100 + renamed.length / 10 } });
    expect(sent.filter((r) => r.method !== 'GET')).toHaveLength(renamed.length / 10);
    expect(kitIdsWritten(sent)).toEqual(renamed);
    rows = rowsPerKitId(s);
    expect(rows.size).toBe(selected);
    expect(duplicatesIn(rows)).toEqual([]);
    expect([...rows.keys()].every(isSelected)).toBe(true);
    expect(s.records().filter((r) => String(r.fields.Name).startsWith('Renamed ')).map((r) => Number(r.fields['Kit ID'])).sort((a, b) => a - b)).toEqual(renamed);
    expect(await s.store.getCheckpoint(backfillCheckpointName('airtable', 'subscribers'))).toMatchObject({ cursor: String(BIG), completedAt: expect.any(Number) });
  });

  it('sends every record again when forced, merged on the Kit id: no duplicate row', async () => {
    const s = await setup();
    await seedMany(s, 120);
    expect(await s.backfill()).toMatchObject({ status: 'completed', stats: { created: 120 } });
    const forced = await s.backfill('subscribers', { force: true });
    // The table read (2 pages of 100), then all 120 again, 10 a call.
    expect(forced).toMatchObject({ status: 'completed', stats: { created: 0, updated: 120, unchanged: 0, calls: 2 + 12 } });
    const rows = rowsPerKitId(s);
    expect(rows.size).toBe(120);
    expect(duplicatesIn(rows)).toEqual([]);
  });

  it('fills in the Kit id of rows that lack it, matched by email, and reports two rows for one person without merging them', async () => {
    const s = await setup({
      records: [
        { Email: 's1@example.com', Name: 'Typed by hand', Revenue: 10 },
        { Email: 'S2@Example.com ', Name: 'Older' },
        { Email: 's2@example.com', Name: 'Newer' },
        { Email: 'stranger@example.com', Name: 'Not in Kit' },
        { 'Kit ID': 4, Email: 's4@example.com', Name: 'Written before' },
        { 'Kit ID': 5, Email: 's5@example.com' },
        { 'Kit ID': 5, Email: 's5@example.com' },
      ],
    });
    await s.seed([1, 2, 3, 4, 5].map((id) => subscriber(id)));
    const [older] = s.records().filter((r) => r.fields.Name === 'Older');
    const result = await s.backfill();
    // Kit id 5 is on two rows: Airtable refuses that one record's upsert, the run goes on.
    expect(result.status).toBe('completed');
    expect(result.stats).toMatchObject({ matched: 2, created: 1, updated: 1, refused: 1 });
    expect(result.refusals).toEqual([{ kitId: 5, error: expect.stringContaining('delete the extra rows in Airtable') }]);
    expect(result.duplicates).toEqual([
      { what: 'Kit ID 5', recordIds: [expect.stringMatching(/^rec/)], note: expect.stringContaining('more than one row holds this Kit id') },
      { what: 'Email s2@example.com', recordIds: [older?.id, expect.stringMatching(/^rec/)], note: expect.stringContaining(`the oldest (${older?.id}) is matched`) },
    ]);
    const rows = s.records();
    expect(rows).toHaveLength(8);
    expect(rows.find((r) => r.fields.Email === 's1@example.com')?.fields).toMatchObject({ 'Kit ID': 1, Name: 'Sub 1', Revenue: 10 }); // Kit wins, other fields kept
    expect(rows.find((r) => r.id === older?.id)?.fields).toMatchObject({ 'Kit ID': 2, Email: 's2@example.com', Name: 'Sub 2' });
    expect(rows.find((r) => r.fields.Name === 'Newer')?.fields['Kit ID']).toBeUndefined();
    expect(rows.filter((r) => r.fields['Kit ID'] === 3)).toHaveLength(1);
    expect(rows.find((r) => r.fields.Name === 'Not in Kit')?.fields['Kit ID']).toBeUndefined();
  });

  it('keeps Airtable\'s 5 requests a second per base: no 429 however many calls it makes', { timeout: 30_000 }, async () => {
    const s = await setup({ sim: { rateLimit: { perBase: 5, perToken: 50 } }, destination: { rateLimit: undefined, subKeyRateLimit: undefined } });
    await seedMany(s, 150);
    const started = Date.now();
    const result = await s.backfill();
    expect(result).toMatchObject({ status: 'completed', stats: { created: 150 } });
    expect(s.sim.requests.filter((r) => r.status === 429)).toEqual([]);
    // 16 calls at 5 a second: at least three whole windows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  });

  it('waits out a 429 (the base is blocked for everyone in the store) and goes on without a duplicate', { timeout: 60_000 }, async () => {
    // The simulator's penalty and the client's, both 1.5 s here (Airtable's is 30 s).
    const s = await setup({ sim: { rateLimit: { perBase: 5, perToken: 50, penaltyMs: 1_500 } }, destination: { rateLimitPenaltyMs: 1_500 } });
    await seedMany(s, 40);
    s.sim.faults.add({ kind: 'rate_limited', method: 'PATCH', times: 1 });
    const result = await s.backfill();
    expect(result).toMatchObject({ status: 'completed', stats: { created: 40 } });
    expect(s.sim.requests.filter((r) => r.status === 429)).toHaveLength(1);
    expect(duplicatesIn(rowsPerKitId(s))).toEqual([]);
    expect(kitIdsOf(s)).toHaveLength(40);
  });

  it('stops at the monthly budget and at a field the table lacks, naming the fix, its checkpoint kept where it stopped', async () => {
    const s = await setup({ destination: { monthlyCallBudget: 3 } });
    await seedMany(s, 50);
    const stopped = await s.backfill();
    expect(stopped.status).toBe('failed');
    expect(stopped.error).toMatch(/monthly call budget of airtable is spent \(3 of 3 calls/);
    expect(stopped.stats).toMatchObject({ created: 20, calls: 3 }); // the table read, then two calls
    expect(await s.store.getCheckpoint(backfillCheckpointName('airtable', 'subscribers'))).toMatchObject({ cursor: '20', completedAt: null });
    await harness?.close();

    const t = await setup({ sync: { fields: { Email: 'email', Phone: { customField: 'phone' } } } });
    await seedMany(t, 5);
    const refused = await t.backfill();
    expect(refused).toMatchObject({ status: 'failed', stats: { created: 0 } });
    expect(refused.error).toMatch(/UNKNOWN_FIELD_NAME.*create the field in the table, or fix its name/);
  });
});
