/**
 * The Airtable client over real HTTP against the simulator, with the call budget in a real SQLite
 * store: the calls' wire format and answers, and each class of refusal as the client reads it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import { baseKey, storeCallBudget } from './budget.js';
import { airtableClient, type AirtableClient } from './client.js';
import { TABLE, TEST_FIELDS } from './harness.js';
import { airtableDestinationSchema } from './schema.js';
import { startAirtableSimulator, type AirtableSimulator } from './simulator.js';

let sim: AirtableSimulator;
let store: SqliteStore;
let http: HttpClient;
let dir: string;
beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-airtable-client-'));
  sim = await startAirtableSimulator({ bases: [{ name: 'Kit', tables: [{ name: TABLE, fields: TEST_FIELDS }] }, { name: 'Other', tables: [{ name: TABLE, fields: TEST_FIELDS }] }] });
  store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  http = createHttpClient();
});
afterEach(async () => {
  await http.close();
  await store.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(token = sim.token): AirtableClient {
  const destination = airtableDestinationSchema.parse({ type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, apiUrl: sim.url });
  const budget = storeCallBudget({ store, destinationName: 'airtable', destination, token, now: Date.now });
  return airtableClient((request) => http.send({ timeoutMs: 5000, ...request }), { apiUrl: sim.url, token, userAgent: 'kitrelay/test' }, { budget, now: Date.now });
}

describe('airtable client', () => {
  it('upserts on the Kit id (created, then updated), lists with a formula and fields, updates and deletes by id', async () => {
    const c = client();
    const first = await c.upsert(sim.baseId, TABLE, { records: [{ fields: { 'Kit ID': 1, Email: 'a@example.com' } }, { fields: { 'Kit ID': 2, Email: 'b@example.com' } }], mergeOn: ['Kit ID'], typecast: false });
    expect(first.outcome.kind).toBe('ok');
    expect(first.body?.createdRecords).toHaveLength(2);
    const again = await c.upsert(sim.baseId, TABLE, { records: [{ fields: { 'Kit ID': 1, Email: 'a2@example.com' } }], mergeOn: ['Kit ID'], typecast: false });
    expect(again.body).toMatchObject({ createdRecords: [], updatedRecords: [first.body?.records[0]?.id] });
    const listed = await c.list(sim.baseId, TABLE, { filterByFormula: '{Kit ID}=1', fields: ['Email'] });
    expect(listed.body?.records).toEqual([{ id: first.body?.records[0]?.id, createdTime: expect.any(String), fields: { Email: 'a2@example.com' } }]);
    const id = first.body!.records[1]!.id;
    expect((await c.update(sim.baseId, TABLE, { records: [{ id, fields: { Paused: true } }], typecast: false })).outcome.kind).toBe('ok');
    expect((await c.remove(sim.baseId, TABLE, [id])).body).toEqual({ records: [{ id, deleted: true }] });
    expect(sim.records(TABLE)).toHaveLength(1);
    const [request] = sim.requests;
    expect(request?.headers).toMatchObject({ authorization: `Bearer ${sim.token}`, 'user-agent': 'kitrelay/test', 'content-type': 'application/json' });
    expect(await store.getAirtableCalls('airtable', new Date().toISOString().slice(0, 7))).toMatchObject({ calls: 5 });
  });

  it('pages a list by offset', async () => {
    const c = client();
    for (let i = 0; i < 25; i += 10) {
      await c.upsert(sim.baseId, TABLE, { records: Array.from({ length: Math.min(10, 25 - i) }, (_, j) => ({ fields: { 'Kit ID': i + j + 1 } })), mergeOn: ['Kit ID'], typecast: false });
    }
    const first = await c.list(sim.baseId, TABLE, { pageSize: 20 });
    expect(first.body?.records).toHaveLength(20);
    const second = await c.list(sim.baseId, TABLE, { pageSize: 20, offset: first.body!.offset! });
    expect(second.body?.records).toHaveLength(5);
    expect(second.body?.offset).toBeUndefined();
  });

  it('reads a wrong token as auth (401), a token without the base as auth (403), a missing record as not found', async () => {
    expect((await client('patNOTATOKEN').list(sim.baseId, TABLE)).outcome).toMatchObject({ kind: 'auth', status: 401, type: 'AUTHENTICATION_REQUIRED' });
    sim.addToken({ token: 'patOTHERBASEONLY', bases: ['Other'] });
    expect((await client('patOTHERBASEONLY').list(sim.baseId, TABLE)).outcome).toMatchObject({ kind: 'auth', status: 403, type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND' });
    const gone = await client().remove(sim.baseId, TABLE, ['recAAAAAAAAAAAAAA']);
    expect(['not_found', 'invalid']).toContain(gone.outcome.kind);
    expect((await client().list(sim.baseId, 'No such table')).outcome).toMatchObject({ status: expect.any(Number) });
  });

  it('refuses more than 10 records as too large, and a value a field refuses per record', async () => {
    const c = client();
    const eleven = await c.upsert(sim.baseId, TABLE, { records: Array.from({ length: 11 }, (_, i) => ({ fields: { 'Kit ID': i + 1 } })), mergeOn: ['Kit ID'], typecast: false });
    expect(eleven.outcome.kind).toBe('too_large');
    const bad = await c.upsert(sim.baseId, TABLE, { records: [{ fields: { 'Kit ID': 1, Tags: ['not an option'] } }], mergeOn: ['Kit ID'], typecast: false });
    expect(bad.outcome).toMatchObject({ kind: 'invalid', isPerRecord: true, type: 'INVALID_MULTIPLE_CHOICE_OPTIONS' });
    const unknown = await c.upsert(sim.baseId, TABLE, { records: [{ fields: { 'Kit ID': 1, Nope: 'x' } }], mergeOn: ['Kit ID'], typecast: false });
    expect(unknown.outcome).toMatchObject({ kind: 'invalid', isPerRecord: false, type: 'UNKNOWN_FIELD_NAME' });
  });

  it('reads a 429 as throttled and holds the base for 30 s in the store, for every process', async () => {
    sim.faults.add({ kind: 'rate_limited', times: 1 });
    const before = Date.now();
    const throttled = await client().list(sim.baseId, TABLE);
    expect(throttled.outcome).toMatchObject({ kind: 'throttled', status: 429, retryAfterMs: 30_000 });
    const decision = await store.spendAirtableCall({ destination: 'other', month: '2026-01', limits: [{ key: baseKey(sim.baseId), limit: 5, windowMs: 1000 }], now: Date.now() });
    expect(decision).toMatchObject({ ok: false, reason: 'rate', key: baseKey(sim.baseId) });
    expect(decision.ok === false && decision.reason === 'rate' ? decision.retryAfterMs : 0).toBeGreaterThan(30_000 - (Date.now() - before) - 100);
    // Another base is not held.
    const other = [...sim.state.bases.keys()][1]!;
    expect((await client().list(other, TABLE)).outcome.kind).toBe('ok');
  });
});
