/**
 * Record writes over real HTTP (reference/destinations.md §3.3, §6): create, PATCH and PUT, upsert
 * with `createdRecords`/`updatedRecords` and its 422 on several matches, delete, the 10-record
 * limit, typecast and select options, values checked against field types, empty values left out,
 * and all-or-nothing requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAirtableSimulator, type AirtableSimulator, type AirtableSimulatorOptions, type BaseSpec } from './simulator.js';

const sims: AirtableSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const CONTACTS: BaseSpec = {
  name: 'CRM',
  tables: [
    {
      name: 'Contacts',
      fields: [
        { name: 'Email', type: 'email' },
        { name: 'Name', type: 'singleLineText' },
        { name: 'Tags', type: 'multipleSelects', choices: ['vip', 'customer'] },
        { name: 'Plan', type: 'singleSelect', choices: ['free', 'pro'] },
        { name: 'Subscribed', type: 'checkbox' },
        { name: 'Score', type: 'number' },
        { name: 'Joined', type: 'date' },
        { name: 'Seen', type: 'dateTime' },
        { name: 'Created', type: 'createdTime' },
      ],
    },
  ],
};

async function start(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const sim = await startAirtableSimulator({ rateLimit: false, bases: [CONTACTS], ...options });
  sims.push(sim);
  return sim;
}

async function call(s: AirtableSimulator, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${s.url}/v0/${s.baseId}/Contacts${path}`, { method, headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, json: await response.json() };
}

const fieldsOf = (s: AirtableSimulator) => s.records('Contacts').map((r) => r.fields);

describe('airtable simulator: create', () => {
  it('creates up to 10 records from records[] and one from fields, answering them with ids and createdTime, empty values left out', async () => {
    const s = await start();
    const many = await call(s, 'POST', '', { records: [{ fields: { Email: 'a@example.com', Name: '', Tags: [], Subscribed: false, Score: 0 } }, { fields: { Email: 'b@example.com', Tags: ['vip'], Subscribed: true } }] });
    expect(many.status).toBe(200);
    expect(many.json.records).toEqual([
      { id: expect.stringMatching(/^rec[A-Za-z0-9]{14}$/), createdTime: expect.any(String), fields: { Email: 'a@example.com', Score: 0, Created: expect.any(String) } },
      { id: expect.stringMatching(/^rec/), createdTime: expect.any(String), fields: { Email: 'b@example.com', Tags: ['vip'], Subscribed: true, Created: expect.any(String) } },
    ]);
    const one = await call(s, 'POST', '/', { fields: { Email: 'c@example.com', Joined: '2026-01-02T15:00:00Z', Seen: '2026-01-02T15:00:00+01:00' } });
    expect(one.json).toMatchObject({ id: expect.stringMatching(/^rec/), fields: { Email: 'c@example.com', Joined: '2026-01-02', Seen: '2026-01-02T14:00:00.000Z' } });
    expect(s.records('Contacts')).toHaveLength(3);
  });

  it('answers more than 10 records 422 INVALID_RECORDS and creates none', async () => {
    const s = await start();
    const answer = await call(s, 'POST', '', { records: Array.from({ length: 11 }, (_, i) => ({ fields: { Email: `${i}@example.com` } })) });
    expect(answer).toEqual({ status: 422, json: { error: { type: 'INVALID_RECORDS', message: 'A maximum of 10 records can be created per request but you have provided 11.' } } });
    expect(s.records('Contacts')).toEqual([]);
  });

  it('refuses an unknown field, a value of the wrong type, a computed field or a missing fields, and writes nothing of the request', async () => {
    const s = await start();
    const good = { fields: { Email: 'ok@example.com' } };
    expect((await call(s, 'POST', '', { records: [good, { fields: { Nope: 1 } }] })).json.error).toEqual({ type: 'UNKNOWN_FIELD_NAME', message: 'Unknown field name: "Nope"' });
    expect((await call(s, 'POST', '', { records: [good, { fields: { Score: 'ten' } }] })).json.error).toEqual({ type: 'INVALID_VALUE_FOR_COLUMN', message: 'Field "Score" cannot accept the provided value' });
    expect((await call(s, 'POST', '', { records: [good, { fields: { Subscribed: 'yes' } }] })).json.error.type).toBe('INVALID_VALUE_FOR_COLUMN');
    expect((await call(s, 'POST', '', { records: [good, { fields: { Joined: 'next tuesday' } }] })).json.error.type).toBe('INVALID_VALUE_FOR_COLUMN');
    expect((await call(s, 'POST', '', { records: [good, { fields: { Created: '2026-01-01' } }] })).json.error).toEqual({ type: 'INVALID_VALUE_FOR_COLUMN', message: 'Field "Created" cannot accept a value because the field is computed' });
    expect((await call(s, 'POST', '', { records: [good, { Email: 'x' }] })).json.error).toEqual({ type: 'INVALID_REQUEST_MISSING_FIELDS', message: 'Could not find field "fields" in the request body' });
    expect(s.records('Contacts')).toEqual([]);
  });

  it('refuses an unknown select option 422 INVALID_MULTIPLE_CHOICE_OPTIONS, and with typecast creates it and converts text', async () => {
    const s = await start();
    const refused = await call(s, 'POST', '', { fields: { Tags: ['vip', 'partner'] } });
    expect(refused).toEqual({ status: 422, json: { error: { type: 'INVALID_MULTIPLE_CHOICE_OPTIONS', message: 'Insufficient permissions to create new select option ""partner""' } } });
    const typecast = await call(s, 'POST', '', { fields: { Tags: 'vip, partner', Plan: 'enterprise', Score: '12', Subscribed: 'true' }, typecast: true });
    expect(typecast.json.fields).toMatchObject({ Tags: ['vip', 'partner'], Plan: 'enterprise', Score: 12, Subscribed: true });
    const schema = (await (await fetch(`${s.url}/v0/meta/bases/${s.baseId}/tables`, { headers: { authorization: `Bearer ${s.token}` } })).json()) as any;
    expect((schema.tables[0].fields as Array<{ name: string; options?: { choices: Array<{ name: string }> } }>).find((f) => f.name === 'Tags')!.options!.choices.map((c) => c.name)).toEqual(['vip', 'customer', 'partner']);
    expect((await call(s, 'POST', '', { fields: { Score: 'ten' }, typecast: true })).json.error).toEqual({ type: 'INVALID_VALUE_FOR_COLUMN', message: 'Cannot parse value "ten" for field Score' });
  });
});

describe('airtable simulator: update', () => {
  it('PATCH merges the fields given; PUT clears every field not given; an empty value clears a cell', async () => {
    const s = await start();
    const { json } = await call(s, 'POST', '', { fields: { Email: 'a@example.com', Name: 'Ada', Score: 3 } });
    const patched = await call(s, 'PATCH', '/', { records: [{ id: json.id, fields: { Name: 'Ada L', Score: null } }] });
    expect(patched.json.records[0].fields).toEqual({ Email: 'a@example.com', Name: 'Ada L', Created: expect.any(String) });
    const put = await call(s, 'PUT', '', { records: [{ id: json.id, fields: { Score: 7 } }] });
    expect(put.json.records[0].fields).toEqual({ Score: 7, Created: expect.any(String) });
    const single = await call(s, 'PATCH', `/${json.id}`, { fields: { Email: 'ada@example.com' } });
    expect(single.json).toEqual({ id: json.id, createdTime: json.createdTime, fields: { Email: 'ada@example.com', Score: 7, Created: expect.any(String) } });
    expect((await call(s, 'PUT', `/${json.id}`, { fields: { Name: 'Ada' } })).json.fields).toEqual({ Name: 'Ada', Created: expect.any(String) });
  });

  it('answers an unknown record id 422 ROW_DOES_NOT_EXIST in a batch and 404 on its own path, changing nothing', async () => {
    const s = await start();
    const { json } = await call(s, 'POST', '', { fields: { Name: 'Ada' } });
    const batch = await call(s, 'PATCH', '', { records: [{ id: json.id, fields: { Name: 'changed' } }, { id: 'recAAAAAAAAAAAAAA', fields: { Name: 'x' } }] });
    expect(batch).toEqual({ status: 422, json: { error: { type: 'ROW_DOES_NOT_EXIST', message: 'Record ID recAAAAAAAAAAAAAA does not exist in this table' } } });
    expect((await call(s, 'PATCH', '/recAAAAAAAAAAAAAA', { fields: { Name: 'x' } })).status).toBe(404);
    expect(fieldsOf(s)).toEqual([{ Name: 'Ada', Created: expect.any(String) }]);
    expect((await call(s, 'PATCH', '', { records: Array.from({ length: 11 }, () => ({ id: json.id, fields: {} })) })).json.error.message).toBe('A maximum of 10 records can be updated per request but you have provided 11.');
  });

  it('upserts on fieldsToMergeOn: one match updated, none created, answered with createdRecords and updatedRecords', async () => {
    const s = await start();
    const { json: ada } = await call(s, 'POST', '', { fields: { Email: 'ada@example.com', Name: 'Ada', Score: 1 } });
    const answer = await call(s, 'PATCH', '', { performUpsert: { fieldsToMergeOn: ['Email'] }, records: [{ fields: { Email: 'ada@example.com', Score: 2 } }, { fields: { Email: 'bob@example.com', Name: 'Bob' } }] });
    expect(answer.status).toBe(200);
    const bob = answer.json.records[1];
    expect(answer.json).toEqual({ records: [{ id: ada.id, createdTime: ada.createdTime, fields: { Email: 'ada@example.com', Name: 'Ada', Score: 2, Created: expect.any(String) } }, bob], createdRecords: [bob.id], updatedRecords: [ada.id] });
    const put = await call(s, 'PUT', '', { performUpsert: { fieldsToMergeOn: ['Email', 'Name'] }, records: [{ fields: { Email: 'bob@example.com', Name: 'Bob', Score: 5 } }] });
    expect(put.json).toMatchObject({ createdRecords: [], updatedRecords: [bob.id], records: [{ fields: { Email: 'bob@example.com', Name: 'Bob', Score: 5 } }] });
  });

  it('fails the whole upsert with 422 when several records match, writing nothing', async () => {
    const s = await start();
    await call(s, 'POST', '', { records: [{ fields: { Email: 'twin@example.com', Name: 'One' } }, { fields: { Email: 'twin@example.com', Name: 'Two' } }] });
    const answer = await call(s, 'PATCH', '', { performUpsert: { fieldsToMergeOn: ['Email'] }, records: [{ fields: { Email: 'new@example.com' } }, { fields: { Email: 'twin@example.com', Score: 9 } }] });
    expect(answer.status).toBe(422);
    expect(answer.json.error.message).toMatch(/^Cannot update more than one record/);
    expect(fieldsOf(s).map((f) => [f.Email, f.Score])).toEqual([['twin@example.com', undefined], ['twin@example.com', undefined]]);
    expect((await call(s, 'PATCH', '', { performUpsert: { fieldsToMergeOn: ['Nope'] }, records: [{ fields: {} }] })).json.error.type).toBe('UNKNOWN_FIELD_NAME');
  });

  it('keeps each field’s last change: only fields whose value changed get a new time', async () => {
    let now = Date.parse('2026-03-02T10:00:00.000Z');
    const s = await start({ now: () => now });
    const { json } = await call(s, 'POST', '', { fields: { Email: 'a@example.com', Name: 'Ada' } });
    now += 60_000;
    await call(s, 'PATCH', `/${json.id}`, { fields: { Email: 'a@example.com', Name: 'Ada L' } });
    const record = [...s.state.bases.get(s.baseId)!.tables[0]!.records.values()][0]!;
    const [email, name] = s.state.bases.get(s.baseId)!.tables[0]!.fields;
    expect([record.changedAt.get(email!.id), record.changedAt.get(name!.id)]).toEqual([now - 60_000, now]);
  });
});

describe('airtable simulator: delete', () => {
  it('deletes by records[] (at most 10) and by path, answering {id, deleted: true}', async () => {
    const s = await start();
    const { json } = await call(s, 'POST', '', { records: [{ fields: { Name: 'a' } }, { fields: { Name: 'b' } }, { fields: { Name: 'c' } }] });
    const [a, b, c] = (json.records as Array<{ id: string }>).map((r) => r.id);
    expect(await call(s, 'DELETE', `?records%5B%5D=${a}&records%5B%5D=${b}`)).toEqual({ status: 200, json: { records: [{ id: a, deleted: true }, { id: b, deleted: true }] } });
    expect(await call(s, 'DELETE', `/${c}`)).toEqual({ status: 200, json: { id: c, deleted: true } });
    expect((await call(s, 'DELETE', `/${c}`)).status).toBe(404);
    expect((await call(s, 'DELETE', `?${Array.from({ length: 11 }, () => `records%5B%5D=${a}`).join('&')}`)).json.error.type).toBe('INVALID_RECORDS');
    expect(s.records('Contacts')).toEqual([]);
  });
});
