/**
 * Fidelity: the official `airtable` package (airtable.js 0.12), unchanged, against the Airtable
 * simulator, pointed at it with `endpointUrl`. What the SDK sends (reference/destinations.md §8:
 * trailing slashes on create and update paths, `fields[]` and `sort[0][field]` in the query, the
 * offset back as given, POST listRecords for long URLs or `method: 'post'`) must be accepted, and
 * what the simulator answers must read back as the SDK's own records and AirtableErrors.
 *
 * airtable.js 0.12 has no upsert method: `update(records, { performUpsert })` passes the option
 * through to PATCH, and keeps only `records` of the answer (its types do not list the option).
 */
import Airtable from 'airtable';
import { afterEach, describe, expect, it } from 'vitest';
import { startAirtableSimulator, type AirtableSimulator, type AirtableSimulatorOptions } from './simulator.js';

let sim: AirtableSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: AirtableSimulatorOptions = {}): Promise<{ s: AirtableSimulator; table: Airtable.Table<Airtable.FieldSet> }> {
  sim = await startAirtableSimulator({ rateLimit: false, ...options });
  const base = new Airtable({ apiKey: sim.token, endpointUrl: sim.url, noRetryIfRateLimited: true }).base(sim.baseId);
  return { s: sim, table: base('Subscribers') };
}

const plain = (records: ReadonlyArray<Airtable.Record<Airtable.FieldSet>>) => records.map((r) => ({ id: r.id, fields: { ...r.fields } }));

describe('airtable.js against the simulator', () => {
  it('creates one record and a batch, finds, updates (merge) and replaces (clear) them, and destroys one and many', async () => {
    const { s, table } = await start();
    const ada = await table.create({ Email: 'ada@example.com', 'First name': 'Ada', Tags: ['vip'] });
    expect(ada.id).toMatch(/^rec[A-Za-z0-9]{14}$/);
    expect(ada.get('Tags')).toEqual(['vip']);
    const batch = await table.create([{ fields: { Email: 'bob@example.com' } }, { fields: { Email: 'cy@example.com', Subscribed: true } }], { typecast: true });
    expect(batch.map((r) => r.get('Email'))).toEqual(['bob@example.com', 'cy@example.com']);
    expect((await table.find(ada.id)).get('First name')).toBe('Ada');
    const updated = await table.update(ada.id, { 'Kit subscriber ID': 42 });
    expect(updated.fields).toMatchObject({ Email: 'ada@example.com', 'First name': 'Ada', 'Kit subscriber ID': 42 });
    const replaced = await table.replace([{ id: ada.id, fields: { Email: 'ada@example.com' } }]);
    expect(replaced[0]!.get('First name')).toBeUndefined();
    const updatedMany = await table.update(batch.map((r) => ({ id: r.id, fields: { Status: 'active' } })));
    expect(updatedMany.map((r) => r.get('Status'))).toEqual(['active', 'active']);
    expect((await table.destroy(ada.id)).id).toBe(ada.id);
    expect((await table.destroy(batch.map((r) => r.id))).map((r) => r.id)).toEqual(batch.map((r) => r.id));
    expect(s.records()).toEqual([]);
  });

  it('lists every page with eachPage and all(), with a formula, fields, sort and maxRecords, over GET and POST listRecords', async () => {
    const { s, table } = await start();
    for (let i = 0; i < 3; i += 1) await table.create(Array.from({ length: 10 }, (_, j) => ({ fields: { Email: `p${i * 10 + j}@example.com`, 'Kit subscriber ID': i * 10 + j, Subscribed: j % 2 === 0 } })));
    const pages: number[] = [];
    await table.select({ pageSize: 7, filterByFormula: '{Subscribed}', fields: ['Email'], sort: [{ field: 'Kit subscriber ID', direction: 'desc' }] }).eachPage((records, next) => {
      pages.push(records.length);
      next();
    });
    expect(pages).toEqual([7, 7, 1]);
    const all = await table.select({ pageSize: 4, maxRecords: 9, filterByFormula: "NOT({Email} = '')", sort: [{ field: 'Kit subscriber ID' }] }).all();
    expect(all.map((r) => r.get('Kit subscriber ID'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const posted = await table.select({ method: 'post', pageSize: 4, maxRecords: 9, filterByFormula: "NOT({Email} = '')", sort: [{ field: 'Kit subscriber ID' }] }).all();
    expect(plain(posted)).toEqual(plain(all));
    expect(s.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/listRecords'))).toHaveLength(3);
    const long = `OR(${Array.from({ length: 600 }, (_, i) => `{Email} = 'p${i}@example.com'`).join(', ')})`;
    expect(await table.select({ filterByFormula: long }).all()).toHaveLength(30);
    expect((await table.select({ maxRecords: 1 }).firstPage())[0]!.get('Email')).toBe('p0@example.com');
  });

  it('upserts through update(records, { performUpsert }): the matched record updated, the new one created', async () => {
    const { s, table } = await start();
    const ada = await table.create({ Email: 'ada@example.com', 'First name': 'Ada' });
    const upsert = table.update as unknown as (records: Array<{ fields: Airtable.FieldSet }>, opts: Record<string, unknown>) => Promise<Airtable.Records<Airtable.FieldSet>>;
    const records = await upsert.call(table, [{ fields: { Email: 'ada@example.com', 'Kit subscriber ID': 1 } }, { fields: { Email: 'bob@example.com' } }], { performUpsert: { fieldsToMergeOn: ['Email'] } });
    expect(records[0]!.id).toBe(ada.id);
    expect(records[0]!.fields).toMatchObject({ 'First name': 'Ada', 'Kit subscriber ID': 1 });
    expect(s.records().map((r) => r.fields.Email)).toEqual(['ada@example.com', 'bob@example.com']);
  });

  it('surfaces the simulator’s errors as AirtableError with Airtable’s type and status', async () => {
    const { table } = await start();
    await expect(table.create({ Nope: 1 })).rejects.toMatchObject({ error: 'UNKNOWN_FIELD_NAME', message: 'Unknown field name: "Nope"', statusCode: 422 });
    await expect(table.create({ Tags: ['unknown option'] })).rejects.toMatchObject({ error: 'INVALID_MULTIPLE_CHOICE_OPTIONS', statusCode: 422 });
    await expect(table.find('recAAAAAAAAAAAAAA')).rejects.toMatchObject({ error: 'NOT_FOUND', statusCode: 404, message: 'Record not found' });
    await expect(table.create(Array.from({ length: 11 }, () => ({ fields: {} })))).rejects.toMatchObject({ error: 'INVALID_RECORDS', statusCode: 422 });
    const wrong = new Airtable({ apiKey: 'patWRONG', endpointUrl: sim!.url }).base(sim!.baseId)('Subscribers');
    await expect(wrong.select().all()).rejects.toMatchObject({ error: 'AUTHENTICATION_REQUIRED', statusCode: 401 });
  });

  it('reports the rate limit as TOO_MANY_REQUESTS when told not to retry', async () => {
    const { table } = await start({ rateLimit: { perBase: 2 } });
    await table.select({ maxRecords: 1 }).firstPage();
    await table.select({ maxRecords: 1 }).firstPage();
    await expect(table.select({ maxRecords: 1 }).firstPage()).rejects.toMatchObject({ error: 'TOO_MANY_REQUESTS', statusCode: 429 });
  });

  it('restarts nothing by itself on a stale offset: eachPage fails with LIST_RECORDS_ITERATOR_NOT_AVAILABLE', async () => {
    const { s, table } = await start();
    await table.create(Array.from({ length: 3 }, (_, i) => ({ fields: { Email: `p${i}@example.com` } })));
    const error = await table
      .select({ pageSize: 2 })
      .eachPage((_records, next) => {
        s.expireIterators();
        next();
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ error: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE', statusCode: 422 });
  });
});
