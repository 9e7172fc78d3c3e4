/**
 * The `upsert` action through a real worker, over real HTTP to the Airtable simulator, with a real
 * SQLite store: 10 jobs to a call with one audit record per job; a record that did not change is
 * not sent; leaving the selection deletes or marks the row; a paused row is left alone; a value
 * one record's field refuses kills that job alone; a spent monthly budget refuses with the fix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../store/sqlite/index.js';
import type { JobRecord } from '../../store/types.js';
import { monthOf } from './budget.js';
import { createAirtableHarness, subscriber, type AirtableHarness, type AirtableHarnessOptions } from './harness.js';

let harness: AirtableHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function setup(options: AirtableHarnessOptions = {}): Promise<AirtableHarness> {
  harness = await createAirtableHarness(options);
  return harness;
}

/** Waits until every job of the destination has settled. */
async function settled(store: SqliteStore, count: number): Promise<JobRecord[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const jobs = await store.listJobs({ destination: 'airtable', limit: 1000 });
    if (jobs.length >= count && jobs.every((job) => job.status === 'succeeded' || job.status === 'dead')) return jobs.sort((a, b) => a.id - b.id);
    if (Date.now() > deadline) throw new Error(`jobs did not settle: ${JSON.stringify(jobs.map((j) => [j.id, j.status, j.lastError]))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const writes = (s: AirtableHarness) => s.sim.requests.filter((r) => r.method === 'PATCH' || r.method === 'DELETE' || r.method === 'POST');
const byKitId = (s: AirtableHarness) => new Map(s.records().map((r) => [Number(r.fields['Kit ID']), r]));

describe('airtable upsert action', () => {
  it('writes 10 subscribers to a call, merged on the Kit id, with one audit record per job naming the call', async () => {
    const s = await setup();
    await s.seed(Array.from({ length: 25 }, (_, i) => subscriber(i + 1, i === 0 ? { tags: [{ id: 1, name: 'customer' }, { id: 2, name: 'vip' }] } : {})));
    await s.queue('subscribers', Array.from({ length: 25 }, (_, i) => i + 1));
    s.worker();
    const jobs = await settled(s.store, 25);
    expect(jobs.every((job) => job.status === 'succeeded')).toBe(true);
    const calls = writes(s);
    expect(calls.map((r) => (r.body as { records: unknown[] }).records.length)).toEqual([10, 10, 5]);
    expect(calls[0]?.body).toMatchObject({ performUpsert: { fieldsToMergeOn: ['Kit ID'] }, typecast: false });
    expect(s.records()).toHaveLength(25);
    expect(byKitId(s).get(1)?.fields).toEqual({ 'Kit ID': 1, Email: 's1@example.com', Name: 'Sub 1', State: 'active', Tags: ['customer', 'vip'] });

    const audits = await Promise.all(jobs.map(async (job) => (await s.store.listAttempts({ jobId: job.id }))[0]));
    const batchIds = audits.map((a) => a?.correlation.batchId);
    expect(new Set(batchIds).size).toBe(3);
    expect(audits.filter((a) => a?.correlation.batchId === batchIds[0])).toHaveLength(10);
    expect(audits[0]).toMatchObject({ outcome: 'succeeded', responseStatus: 200, correlation: { sync: 'subscribers', kitId: '1', op: 'created', records: '10' } });
    expect(audits[0]?.correlation.recordId).toBe(byKitId(s).get(1)?.id);
    expect(JSON.stringify(audits)).not.toContain(s.sim.token);
    expect(await s.store.countAirtableRecords('airtable/subscribers')).toBe(25);
  });

  it('sends nothing for a record that holds this already, and updates the same row (never a second) when it changed', async () => {
    const s = await setup();
    await s.seed([subscriber(1), subscriber(2)]);
    s.worker();
    await s.queue('subscribers', [1, 2]);
    await settled(s.store, 2);
    const id = byKitId(s).get(1)?.id;
    await s.queue('subscribers', [1, 2]);
    await settled(s.store, 4);
    expect(writes(s)).toHaveLength(1);
    await s.seed([subscriber(1, { firstName: 'Renamed', tags: [] })]);
    await s.queue('subscribers', [1]);
    const jobs = await settled(s.store, 5);
    expect(writes(s)).toHaveLength(2);
    expect(s.records()).toHaveLength(2);
    expect(byKitId(s).get(1)).toMatchObject({ id, fields: { 'Kit ID': 1, Email: 's1@example.com', Name: 'Renamed', State: 'active' } });
    expect(byKitId(s).get(1)?.fields.Tags).toBeUndefined(); // cleared
    const [audit] = await s.store.listAttempts({ jobId: jobs[3]!.id });
    expect(audit?.correlation).toMatchObject({ op: 'none', note: 'the record holds this already: not sent' });
  });

  it('deletes the row of a subscriber who left the selection, or marks it and unmarks it when they come back', async () => {
    const s = await setup();
    await s.seed([subscriber(1), subscriber(2)]);
    s.worker();
    await s.queue('subscribers', [1, 2]);
    await settled(s.store, 2);
    await s.seed([subscriber(1, { state: 'cancelled' })]);
    await s.queue('subscribers', [1]);
    await settled(s.store, 3);
    expect([...byKitId(s).keys()]).toEqual([2]);
    expect(await s.store.getAirtableRecords('airtable/subscribers', [1])).toEqual([]);
    expect(writes(s).at(-1)).toMatchObject({ method: 'DELETE' });
    await harness?.close();

    const m = await setup({ sync: { onDelete: { mark: 'Left' } } });
    await m.seed([subscriber(1)]);
    m.worker();
    await m.queue('subscribers', [1]);
    await settled(m.store, 1);
    expect(byKitId(m).get(1)?.fields.Left).toBeUndefined();
    await m.seed([subscriber(1, { state: 'cancelled' })]);
    await m.queue('subscribers', [1]);
    await settled(m.store, 2);
    expect(byKitId(m).get(1)?.fields).toMatchObject({ Left: true, State: 'active' });
    await m.queue('subscribers', [1]); // marked already: nothing sent
    await settled(m.store, 3);
    expect(writes(m)).toHaveLength(2);
    await m.seed([subscriber(1)]);
    await m.queue('subscribers', [1]);
    await settled(m.store, 4);
    expect(byKitId(m).get(1)?.fields.Left).toBeUndefined();
    expect(m.records()).toHaveLength(1);
  });

  it('leaves a paused row alone, reading the rows first only when a pause field is set', async () => {
    const s = await setup({ sync: { pauseField: 'Paused' } });
    await s.seed([subscriber(1), subscriber(2)]);
    s.worker();
    await s.queue('subscribers', [1, 2]);
    await settled(s.store, 2);
    const row = byKitId(s).get(1)!;
    s.sim.person.update('Subscribers', row.id, { Paused: true, Name: 'Edited by hand' });
    await s.seed([subscriber(1, { firstName: 'From Kit' }), subscriber(2, { firstName: 'From Kit' })]);
    await s.queue('subscribers', [1, 2]);
    const jobs = await settled(s.store, 4);
    expect(byKitId(s).get(1)?.fields.Name).toBe('Edited by hand');
    expect(byKitId(s).get(2)?.fields.Name).toBe('From Kit');
    const lists = s.sim.requests.filter((r) => r.method === 'GET');
    expect(lists).toHaveLength(2);
    expect(lists[1]?.query).toMatchObject({ filterByFormula: 'AND({Paused}, OR({Kit ID}=1, {Kit ID}=2))' });
    const [audit] = await s.store.listAttempts({ jobId: jobs[2]!.id });
    expect(audit?.correlation.note).toContain('paused in Airtable');
  });

  it('kills only the job whose value a field refuses, with Airtable\'s type and message; the rest of its call is written', async () => {
    const s = await setup({ sync: { fields: { Email: 'email', Revenue: { customField: 'revenue' } } } });
    await s.seed(Array.from({ length: 6 }, (_, i) => subscriber(i + 1, { fields: { revenue: i === 3 ? 'lots' : '' } })));
    await s.queue('subscribers', [1, 2, 3, 4, 5, 6]);
    s.worker();
    const jobs = await settled(s.store, 6);
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'dead', 'succeeded', 'succeeded']);
    expect(jobs[3]?.lastError).toMatch(/^Airtable: HTTP 422 INVALID_VALUE_FOR_COLUMN: .*Revenue.* — the field's type does not take this value/);
    expect([...byKitId(s).keys()].sort()).toEqual([1, 2, 3, 5, 6]);
  });

  it('counts every call in the month, and refuses past the budget with the fix named', async () => {
    const warnings: string[] = [];
    const log = { warn: (_: object, message: string) => void warnings.push(message), info: () => undefined, debug: () => undefined, error: () => undefined, child: () => log } as never;
    const s = await setup({ destination: { monthlyCallBudget: 2, budgetWarnShare: 0.5 }, log });
    await s.seed([subscriber(1), subscriber(2), subscriber(3)]);
    s.worker();
    for (const id of [1, 2, 3]) {
      await s.queue('subscribers', [id]);
      await settled(s.store, id);
    }
    const jobs = await settled(s.store, 3);
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'dead']);
    expect(jobs[2]?.lastError).toMatch(/monthly call budget of airtable is spent \(2 of 2 calls in \d{4}-\d\d\): nothing was sent — raise monthlyCallBudget/);
    expect(await s.store.getAirtableCalls('airtable', monthOf(Date.now()))).toMatchObject({ calls: 2 });
    expect(writes(s)).toHaveLength(2);
    expect(warnings.filter((w) => w.startsWith('Airtable calls'))).toEqual([expect.stringMatching(/^Airtable calls of airtable in \d{4}-\d\d: 1 of the monthly budget of 2 \(50%\)$/)]);
  });
});
