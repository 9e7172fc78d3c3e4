/**
 * The Webhooks API over real HTTP (reference/destinations.md §3.6): create with the secret given
 * once, payloads by cursor from API writes (`publicApi`) and a person's edits (`client`),
 * specification filters and includes, expiry and refresh, and MAC-signed pings to a real receiver
 * (the webhook receiver simulator), checked against the fact sheet's vector.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../webhook/simulator.js';
import { signAirtablePing, startAirtableSimulator, type AirtableSimulator, type AirtableSimulatorOptions, type BaseSpec } from './simulator.js';

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
const DAY = 86_400_000;
let now = T0;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  now = T0;
});

const CRM: BaseSpec = {
  name: 'CRM',
  tables: [
    { name: 'Contacts', fields: [{ name: 'Email', type: 'email' }, { name: 'Plan', type: 'singleSelect', choices: ['free', 'pro'] }, { name: 'Score', type: 'number' }] },
    { name: 'Orders', fields: [{ name: 'Ref', type: 'singleLineText' }] },
  ],
};

async function start(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const sim = await startAirtableSimulator({ rateLimit: false, bases: [CRM], now: () => now, ...options });
  closers.push(() => sim.close());
  return sim;
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  closers.push(() => r.close());
  return r;
}

async function api(s: AirtableSimulator, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${s.url}/v0${path}`, { method, headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

const spec = (s: AirtableSimulator, extra: Record<string, unknown> = {}, includes?: Record<string, unknown>) => ({ options: { filters: { dataTypes: ['tableData'], recordChangeScope: s.tableId, ...extra }, ...(includes ? { includes } : {}) } });

async function createHook(s: AirtableSimulator, body: Record<string, unknown>): Promise<{ id: string; macSecretBase64: string; expirationTime: string }> {
  const created = await api(s, 'POST', `/bases/${s.baseId}/webhooks`, body);
  expect(created.status).toBe(200);
  return created.json as { id: string; macSecretBase64: string; expirationTime: string };
}

const fieldIds = (s: AirtableSimulator) => Object.fromEntries(s.state.bases.get(s.baseId)!.tables[0]!.fields.map((f) => [f.name, f.id]));

describe('airtable simulator: webhooks', () => {
  it('creates a webhook answering ach…, the MAC secret and an expiry 7 days on; lists it without the secret', async () => {
    const s = await start();
    const hook = await createHook(s, { notificationUrl: 'https://relay.example.com/hooks/airtable', specification: spec(s) });
    expect(hook).toEqual({ id: expect.stringMatching(/^ach[A-Za-z0-9]{14}$/), macSecretBase64: expect.any(String), expirationTime: new Date(T0 + 7 * DAY).toISOString() });
    expect(Buffer.from(hook.macSecretBase64, 'base64')).toHaveLength(32);
    const listed = await api(s, 'GET', `/bases/${s.baseId}/webhooks`);
    expect(listed.json).toEqual({
      webhooks: [{ id: hook.id, areNotificationsEnabled: true, cursorForNextPayload: 1, isHookEnabled: true, lastSuccessfulNotificationTime: null, notificationUrl: 'https://relay.example.com/hooks/airtable', expirationTime: hook.expirationTime, specification: spec(s), lastNotificationResult: null }],
    });
    expect(JSON.stringify(listed.json)).not.toContain(hook.macSecretBase64);
  });

  it('refuses a specification without dataTypes, a scope outside the base, and an 11th webhook', async () => {
    const s = await start();
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks`, { specification: { options: { filters: {} } } })).status).toBe(422);
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks`, { specification: spec(s, { recordChangeScope: 'tblAAAAAAAAAAAAAA' }) })).json.error.type).toBe('INVALID_FILTERS');
    for (let i = 0; i < 10; i += 1) await createHook(s, { specification: spec(s) });
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks`, { specification: spec(s) })).status).toBe(422);
  });

  it('turns API writes into publicApi payloads: created, changed and destroyed records, cell values by field id, selects as objects', async () => {
    const s = await start();
    const hook = await createHook(s, { specification: spec(s) });
    const ids = fieldIds(s);
    const created = await api(s, 'POST', `/${s.baseId}/Contacts`, { fields: { Email: 'ada@example.com', Plan: 'free' } });
    now += 1_000;
    await api(s, 'PATCH', `/${s.baseId}/Contacts/${created.json.id}`, { fields: { Plan: 'pro', Score: 3 } });
    await api(s, 'PATCH', `/${s.baseId}/Contacts/${created.json.id}`, { fields: { Plan: 'pro' } });
    await api(s, 'DELETE', `/${s.baseId}/Contacts/${created.json.id}`);
    await api(s, 'POST', `/${s.baseId}/Orders`, { fields: { Ref: 'out of scope' } });
    const { json } = await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads`);
    const table = s.state.bases.get(s.baseId)!.tables[0]!;
    const choice = (name: string) => ({ ...table.fields[1]!.choices.find((c) => c.name === name) });
    const user = { id: expect.stringMatching(/^usr/), email: 'owner@example.com', permissionLevel: 'create', name: 'Token Owner' };
    expect(json).toEqual({
      cursor: 4,
      mightHaveMore: false,
      payloads: [
        { timestamp: new Date(T0).toISOString(), baseTransactionNumber: 1, actionMetadata: { source: 'publicApi', sourceMetadata: { user } }, payloadFormat: 'v0', changedTablesById: { [s.tableId]: { createdRecordsById: { [created.json.id]: { createdTime: created.json.createdTime, cellValuesByFieldId: { [ids.Email!]: 'ada@example.com', [ids.Plan!]: choice('free') } } } } } },
        { timestamp: new Date(T0 + 1_000).toISOString(), baseTransactionNumber: 2, actionMetadata: { source: 'publicApi', sourceMetadata: { user } }, payloadFormat: 'v0', changedTablesById: { [s.tableId]: { changedRecordsById: { [created.json.id]: { current: { cellValuesByFieldId: { [ids.Plan!]: choice('pro'), [ids.Score!]: 3 } } } } } } },
        { timestamp: new Date(T0 + 1_000).toISOString(), baseTransactionNumber: 3, actionMetadata: { source: 'publicApi', sourceMetadata: { user } }, payloadFormat: 'v0', changedTablesById: { [s.tableId]: { destroyedRecordIds: [created.json.id] } } },
      ],
    });
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks[0].cursorForNextPayload).toBe(4);
  });

  it('turns a person’s edits into client payloads, with previous and unchanged values when includes asks for them', async () => {
    const s = await start();
    const hook = await createHook(s, { specification: spec(s, {}, { includePreviousCellValues: true, includeCellValuesInFieldIds: 'all' }) });
    const ids = fieldIds(s);
    const record = s.person.create('Contacts', { Email: 'ada@example.com', Score: 1 });
    s.person.update('Contacts', record.id, { Score: 2 }, { user: { name: 'Grace', email: 'grace@example.com' } });
    const over = await fetch(`${s.url}/_sim/person`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'update', table: 'Contacts', recordId: record.id, fields: { Email: null } }) });
    expect(over.status).toBe(200);
    const { json } = await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads?cursor=2`);
    expect((json.payloads as Array<Record<string, unknown>>).map((p) => p.actionMetadata)).toEqual([
      { source: 'client', sourceMetadata: { user: { id: expect.stringMatching(/^usr/), email: 'grace@example.com', permissionLevel: 'edit', name: 'Grace' } } },
      { source: 'client', sourceMetadata: { user: expect.objectContaining({ email: 'editor@example.com', name: 'Ada Editor' }) } },
    ]);
    expect(json.payloads[0].changedTablesById[s.tableId].changedRecordsById[record.id]).toEqual({
      current: { cellValuesByFieldId: { [ids.Score!]: 2 } },
      previous: { cellValuesByFieldId: { [ids.Score!]: 1 } },
      unchanged: { cellValuesByFieldId: { [ids.Email!]: 'ada@example.com', [ids.Plan!]: null } },
    });
    expect(json.payloads[1].changedTablesById[s.tableId].changedRecordsById[record.id].current).toEqual({ cellValuesByFieldId: { [ids.Email!]: null } });
  });

  it('pages payloads by cursor and limit, with mightHaveMore, and answers the same cursor when there is nothing new', async () => {
    const s = await start();
    const hook = await createHook(s, { specification: spec(s) });
    for (let i = 0; i < 5; i += 1) s.person.create('Contacts', { Score: i });
    const first = await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads?limit=2`);
    expect([(first.json.payloads as Array<Record<string, unknown>>).map((p) => p.baseTransactionNumber), first.json.cursor, first.json.mightHaveMore]).toEqual([[1, 2], 3, true]);
    const rest = await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads?cursor=3&limit=50`);
    expect([rest.json.payloads.length, rest.json.cursor, rest.json.mightHaveMore]).toEqual([3, 6, false]);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads?cursor=6`)).json).toEqual({ payloads: [], cursor: 6, mightHaveMore: false });
  });

  it('filters by source, change type, watched fields and table', async () => {
    const s = await start();
    const ids = fieldIds(s);
    const clientOnly = await createHook(s, { specification: spec(s, { fromSources: ['client'] }) });
    const addsOnly = await createHook(s, { specification: spec(s, { changeTypes: ['add'] }) });
    const scoreOnly = await createHook(s, { specification: spec(s, { watchDataInFieldIds: [ids.Score] }) });
    const wholeBase = await createHook(s, { specification: { options: { filters: { dataTypes: ['tableData'] } } } });
    const { json } = await api(s, 'POST', `/${s.baseId}/Contacts`, { fields: { Email: 'a@example.com' } });
    await api(s, 'PATCH', `/${s.baseId}/Contacts/${json.id}`, { fields: { Score: 1 } });
    s.person.update('Contacts', json.id, { Email: 'b@example.com' });
    s.person.create('Orders', { Ref: 'A1' });
    const count = async (id: string) => ((await api(s, 'GET', `/bases/${s.baseId}/webhooks/${id}/payloads`)).json.payloads as unknown[]).length;
    expect([await count(clientOnly.id), await count(addsOnly.id), await count(scoreOnly.id), await count(wholeBase.id)]).toEqual([1, 1, 1, 4]);
  });

  it('refreshes to 7 days from now; an expired webhook collects and pings nothing more and cannot be refreshed, but its payloads stay readable', async () => {
    const s = await start();
    const r = await receiver();
    const hook = await createHook(s, { notificationUrl: `${r.url}/airtable`, specification: spec(s) });
    now += 6 * DAY;
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks/${hook.id}/refresh`)).json).toEqual({ expirationTime: new Date(T0 + 13 * DAY).toISOString() });
    now = T0 + 8 * DAY;
    await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads`);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks[0].expirationTime).toBe(new Date(T0 + 15 * DAY).toISOString());
    now = T0 + 15 * DAY - 60_000;
    s.person.create('Contacts', { Score: 1 });
    await r.waitFor(1);
    now = T0 + 15 * DAY;
    s.person.create('Contacts', { Score: 2 });
    const listed = (await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks[0];
    expect([listed.isHookEnabled, listed.cursorForNextPayload]).toEqual([false, 2]);
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks/${hook.id}/refresh`)).status).toBe(422);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads`)).json.payloads).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(1);
    now = T0 + 22 * DAY;
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks).toEqual([]);
  });

  it('expires a webhook on demand and deletes one', async () => {
    const s = await start();
    const [a, b] = [await createHook(s, { specification: spec(s) }), await createHook(s, { specification: spec(s) })];
    expect((await fetch(`${s.url}/_sim/webhooks/${a.id}/expire`, { method: 'POST' })).status).toBe(204);
    expect((await api(s, 'DELETE', `/bases/${s.baseId}/webhooks/${b.id}`)).status).toBe(200);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks/${b.id}/payloads`)).status).toBe(404);
    expect(((await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks as Array<Record<string, unknown>>).map((h) => [h.id, h.isHookEnabled])).toEqual([[a.id, false]]);
  });
});

describe('airtable simulator: pings', () => {
  it('signs the fact sheet’s vector: HMAC-SHA256 keyed by the base64-decoded secret', () => {
    const body = '{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}';
    expect(signAirtablePing('MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=', body)).toBe('hmac-sha256=997ae1f19848fdf4e8e07db1c9650045193abc5dc4b82b4c70466ecafe7b6f7d');
  });

  it('pings the notification URL with the thin body and X-Airtable-Content-MAC over its exact bytes, and records the success', async () => {
    const s = await start();
    const r = await receiver();
    const hook = await createHook(s, { notificationUrl: `${r.url}/airtable`, specification: spec(s) });
    await api(s, 'POST', `/${s.baseId}/Contacts`, { fields: { Email: 'a@example.com' } });
    const [ping] = await r.waitFor(1);
    expect(ping!.json).toEqual({ base: { id: s.baseId }, webhook: { id: hook.id }, timestamp: new Date(T0).toISOString() });
    const expected = `hmac-sha256=${createHmac('sha256', Buffer.from(hook.macSecretBase64, 'base64')).update(ping!.body).digest('hex')}`;
    expect([ping!.path, ping!.headers['content-type'], ping!.headers['x-airtable-content-mac']]).toEqual(['/airtable', 'application/json', expected]);
    await s.waitFor(() => s.webhooks()[0]!.lastNotificationResult !== null);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks`)).json.webhooks[0]).toMatchObject({ lastNotificationResult: { success: true, retryNumber: 0, completionTimestamp: new Date(T0).toISOString() }, lastSuccessfulNotificationTime: new Date(T0).toISOString() });
  });

  it('retries a failed ping with backoff and covers payloads that came meanwhile with one ping', async () => {
    const s = await start({ webhooks: { retryDelaysMs: [50, 50] } });
    const r = await receiver();
    r.fault({ kind: 'status', status: 500, times: 1 });
    await createHook(s, { notificationUrl: `${r.url}/airtable`, specification: spec(s) });
    s.person.create('Contacts', { Score: 1 });
    s.person.create('Contacts', { Score: 2 });
    s.person.create('Contacts', { Score: 3 });
    await r.waitFor(2);
    await s.waitFor(() => s.pings().length === 2);
    expect(s.pings().map((p) => [p.status, p.retryNumber])).toEqual([[500, 0], [200, 1]]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.requests).toHaveLength(2);
  });

  it('sends nothing while notifications are disabled, though payloads still collect', async () => {
    const s = await start();
    const r = await receiver();
    const hook = await createHook(s, { notificationUrl: `${r.url}/airtable`, specification: spec(s) });
    expect((await api(s, 'POST', `/bases/${s.baseId}/webhooks/${hook.id}/enableNotifications`, { enable: false })).status).toBe(200);
    s.person.create('Contacts', { Score: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(0);
    expect((await api(s, 'GET', `/bases/${s.baseId}/webhooks/${hook.id}/payloads`)).json.payloads).toHaveLength(1);
  });
});
