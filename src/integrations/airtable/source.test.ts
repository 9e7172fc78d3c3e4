/**
 * Airtable's webhook pings into a real relay (reference/destinations.md §3.6): the MAC scheme
 * against the fact sheet's vector and the simulator's signer; a ping the simulator sends when a
 * person edits a record is verified, committed with its `fetch_changes` job and answered an empty
 * 200, and the job notes the change; a ping with a wrong or missing MAC is refused 401 and
 * nothing is stored. Real HTTP, a real SQLite store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestRelay, type TestRelay } from '../../../test/helpers.js';
import { env, type ConfigInput } from '../../config/schema.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { storeCallBudget } from './budget.js';
import { airtableClient } from './client.js';
import { TEST_FIELDS } from './harness.js';
import type { AirtableDestinationConfig } from './schema.js';
import { startAirtableSimulator, signAirtablePing, type AirtableSimulator } from './simulator.js';
import { airtableMac, parsePing, verifyAirtableMac } from './source.js';
import { syncWebhook } from './webhooks.js';

const VECTOR_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const VECTOR_BODY = '{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}';
const VECTOR_MAC = 'hmac-sha256=997ae1f19848fdf4e8e07db1c9650045193abc5dc4b82b4c70466ecafe7b6f7d';
/** Never by the clock: the inbound schedule stays out of the way. */
const NEVER = '0 0 1 1 *';

describe('airtable ping MAC', () => {
  it("matches the fact sheet's vector: HMAC-SHA256 keyed by the base64-decoded secret, over the raw body", () => {
    expect(airtableMac(VECTOR_KEY, VECTOR_BODY)).toBe(VECTOR_MAC);
    expect(verifyAirtableMac([VECTOR_KEY], Buffer.from(VECTOR_BODY), VECTOR_MAC)).toBe('ok');
    expect(verifyAirtableMac([VECTOR_KEY], Buffer.from(VECTOR_BODY), VECTOR_MAC.toUpperCase().replace('HMAC-SHA256', 'hmac-sha256'))).toBe('ok');
    expect(signAirtablePing(VECTOR_KEY, VECTOR_BODY)).toBe(VECTOR_MAC);
  });

  it('refuses a changed body, another secret, the key used as text and a missing header; any of several secrets may match', () => {
    const other = Buffer.alloc(32, 7).toString('base64');
    expect(verifyAirtableMac([VECTOR_KEY], Buffer.from(VECTOR_BODY.replace('663Z', '664Z')), VECTOR_MAC)).toBe('mismatch');
    expect(verifyAirtableMac([other], Buffer.from(VECTOR_BODY), VECTOR_MAC)).toBe('mismatch');
    // The community thread's mistake: the secret's text as the key, not its decoded bytes.
    const asText = airtableMac(Buffer.from(VECTOR_KEY, 'utf8').toString('base64'), VECTOR_BODY);
    expect(verifyAirtableMac([VECTOR_KEY], Buffer.from(VECTOR_BODY), asText)).toBe('mismatch');
    expect(verifyAirtableMac([VECTOR_KEY], Buffer.from(VECTOR_BODY), undefined)).toBe('missing');
    expect(verifyAirtableMac([other, VECTOR_KEY], Buffer.from(VECTOR_BODY), VECTOR_MAC)).toBe('ok');
  });

  it('reads a ping as one webhook_ping event with a fetch_changes job on its base, and quarantines anything else', () => {
    expect(parsePing(Buffer.from(VECTOR_BODY))).toEqual({
      kind: 'events',
      events: [{
        type: 'webhook_ping', id: 'ach00000000000000:2022-02-01T21:25:05.663Z', occurredAt: Date.parse('2022-02-01T21:25:05.663Z'), orderKey: 'airtable-webhook:ach00000000000000',
        payload: JSON.parse(VECTOR_BODY), jobs: [{ action: 'fetch_changes', params: { webhookId: 'ach00000000000000' }, subKey: 'app00000000000000' }],
      }],
      quarantine: [],
      respond: { status: 200, body: '' },
    });
    expect(parsePing(Buffer.from('{"base":{"id":"app1"}}'))).toMatchObject({ kind: 'malformed', reason: 'invalid_payload' });
    expect(parsePing(Buffer.from('not json'))).toMatchObject({ kind: 'malformed', reason: 'invalid_json' });
  });
});

let sim: AirtableSimulator | undefined;
let relay: TestRelay | undefined;
let http: HttpClient | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  await http?.close();
  http = undefined;
});

function config(s: AirtableSimulator): ConfigInput {
  return {
    destinations: {
      airtable: {
        type: 'airtable', token: env('AIRTABLE_TOKEN'), apiUrl: s.url,
        retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
        syncs: { people: { baseId: s.baseId, table: 'Subscribers', fields: { Email: 'email', Name: 'first_name' }, inbound: { mode: 'webhook', schedule: NEVER } } },
      } as never,
    },
    queue: { pollIntervalMs: 20 },
  };
}

/** A relay whose `people` sync has a webhook pinging the relay's own `webhook` source. */
async function start(): Promise<{ relay: TestRelay; sim: AirtableSimulator; url: string; webhookId: string }> {
  sim = await startAirtableSimulator({ rateLimit: false, webhooks: { retryDelaysMs: [] }, bases: [{ name: 'Kit', tables: [{ name: 'Subscribers', fields: TEST_FIELDS, records: [{ 'Kit ID': 1, Email: 'ada@example.com', Name: 'Ada' }] }] }] });
  relay = await startTestRelay(config(sim), { env: { AIRTABLE_TOKEN: sim.token } });
  const route = relay.relay.routes.sources.get('airtable/webhook');
  if (!route) throw new Error('no airtable/webhook route');
  const url = `${relay.url}${route.path}`;
  const destination = relay.relay.config.destinations.airtable as AirtableDestinationConfig;
  const store = relay.relay.store;
  http = createHttpClient();
  const client = airtableClient((request) => http!.send({ timeoutMs: 5_000, ...request }), { apiUrl: sim.url, token: sim.token, userAgent: 'kitrelay/test' }, { budget: storeCallBudget({ store, destinationName: 'airtable', destination, token: sim.token, now: Date.now }), now: Date.now });
  const made = await syncWebhook({ store, client, destinationName: 'airtable', syncName: 'people', sync: destination.syncs.people!, now: Date.now }, { notificationUrl: url });
  if (!made.ok) throw new Error(made.error);
  return { relay, sim, url, webhookId: made.webhook.webhookId };
}

describe('airtable webhook source', () => {
  it("commits a ping signed with the webhook's secret, answers an empty 200, and its fetch_changes job notes the person's edit", async () => {
    const { relay: r, sim: s, webhookId } = await start();
    const [row] = s.records('Subscribers');
    s.person.update('Subscribers', row!.id, { Name: 'Ada L.' });
    const ping = await eventually(() => s.pings()[0], 10_000, 'the ping');
    expect(ping).toMatchObject({ webhookId, status: 200 });
    const job = await eventually(async () => (await r.relay.store.listJobs({ destination: 'airtable' })).find((j) => j.action === 'fetch_changes' && j.status === 'succeeded'), 10_000, 'the fetch_changes job');
    expect(job).toMatchObject({ rule: 'airtable:webhook', params: { webhookId } });
    const [event] = await r.relay.store.listEvents({ type: 'airtable:webhook_ping', limit: 5 });
    expect(event).toMatchObject({ origin: 'airtable', payload: { webhook: { id: webhookId }, base: { id: s.baseId } } });
    const pending = await r.relay.store.listQuietAirtableChanges('airtable/people', Date.now() + 60_000, 10);
    expect(pending).toEqual([{ recordId: row!.id, changedAt: expect.any(Number), isDestroyed: false }]);
    const [attempt] = await r.relay.store.listAttempts({ jobId: job.id });
    expect(attempt).toMatchObject({ outcome: 'succeeded', correlation: expect.objectContaining({ sync: 'people', mode: 'webhook', noted: '1' }) });
  });

  it('refuses a ping with a wrong or missing MAC, or the wrong URL token, with 401, storing nothing', async () => {
    const { relay: r, sim: s, url, webhookId } = await start();
    const body = JSON.stringify({ base: { id: s.baseId }, webhook: { id: webhookId }, timestamp: new Date().toISOString() });
    const path = new URL(url).pathname;
    const forged = await r.post(path, body, { 'x-airtable-content-mac': airtableMac(Buffer.alloc(32, 1).toString('base64'), body) });
    expect([forged.status, forged.body.error.code]).toEqual([401, 'bad_signature']);
    const unsigned = await r.post(path, body);
    expect([unsigned.status, unsigned.body.error.code]).toEqual([401, 'missing_signature']);
    const secret = s.webhooks()[0]!.macSecretBase64;
    expect((await r.post(path.replace(/\/[^/]+$/, '/wrong-token'), body, { 'x-airtable-content-mac': airtableMac(secret, body) })).status).toBe(401);
    expect(await r.relay.store.listEvents({ limit: 10 })).toEqual([]);
    expect(await r.relay.store.listJobs({ destination: 'airtable' })).toEqual([]);
    // The same body with the right MAC goes in: an empty 200.
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-airtable-content-mac': airtableMac(secret, body) }, body });
    expect([response.status, await response.text()]).toEqual([200, '']);
    expect(await r.relay.store.listEvents({ limit: 10 })).toHaveLength(1);
  });
});
