/**
 * Airtable → Kit detection against the Airtable simulator over real HTTP, on a real SQLite file,
 * with an injected clock: the sync's webhook made, refreshed and replaced (never another's); a
 * person's edits become pending changes at their payloads' times, from a cursor that survives a
 * reopen of the store; the webhook is refreshed before it expires; polling notes edits in `poll`
 * mode and stands in when the webhook is deleted or expired, which is then made again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DAY, HOUR, TestClock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import { startWebhookReceiver, type WebhookReceiver } from '../webhook/simulator.js';
import { storeCallBudget } from './budget.js';
import { airtableClient, type AirtableClient } from './client.js';
import { TABLE, TEST_FIELDS } from './harness.js';
import { loadPoll } from './poll.js';
import { syncKey } from './records.js';
import { airtableDestinationSchema, type AirtableDestinationConfig } from './schema.js';
import { startAirtableSimulator, type AirtableSimulator } from './simulator.js';
import { detectChanges, loadWebhook, removeWebhook, syncWebhook, type DetectDeps } from './webhooks.js';

const T0 = Date.parse('2026-03-02T09:00:00.000Z');
/** The rows are made at T0; the tests start a minute later, out of any poll's overlap. */
const T1 = T0 + 60_000;
const KEY = syncKey('airtable', 'people');

interface World {
  readonly sim: AirtableSimulator;
  readonly clock: TestClock;
  readonly receiver: WebhookReceiver;
  readonly destination: AirtableDestinationConfig;
  store: SqliteStore;
  client: AirtableClient;
  deps(): DetectDeps;
  /** Closes the store and opens it again from its file, as a restarted process would. */
  reopen(): Promise<void>;
  /** The row of the seeded subscriber with this name. */
  row(name: string): string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(inbound: Record<string, unknown> = {}): Promise<World> {
  const clock = new TestClock(T0);
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-airtable-webhooks-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const records = ['Ada', 'Bob', 'Cy'].map((name, i) => ({ 'Kit ID': i + 1, Email: `${name.toLowerCase()}@example.com`, Name: name }));
  const sim = await startAirtableSimulator({ rateLimit: false, now: () => clock.now(), webhooks: { retryDelaysMs: [] }, bases: [{ name: 'Kit', tables: [{ name: TABLE, fields: TEST_FIELDS, records }] }] });
  cleanups.push(() => sim.close());
  const receiver = await startWebhookReceiver();
  cleanups.push(() => receiver.close());
  const http: HttpClient = createHttpClient();
  cleanups.push(() => http.close());
  const destination = airtableDestinationSchema.parse({
    type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, apiUrl: sim.url, rateLimit: { perSecond: 10_000 }, subKeyRateLimit: { perSecond: 10_000 },
    syncs: { people: { baseId: sim.baseId, table: TABLE, fields: { Email: 'email', Name: 'first_name' }, inbound } },
  });
  const open = async () => {
    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    const budget = storeCallBudget({ store, destinationName: 'airtable', destination, token: sim.token, now: () => clock.now() });
    const client = airtableClient((request) => http.send({ timeoutMs: 5_000, ...request }), { apiUrl: sim.url, token: sim.token, userAgent: 'kitrelay/test' }, { budget, now: () => clock.now() });
    return { store, client };
  };
  const opened = await open();
  const world: World = {
    sim, clock, receiver, destination, ...opened,
    deps: () => ({ store: world.store, client: world.client, destinationName: 'airtable', syncName: 'people', sync: destination.syncs.people!, now: () => clock.now() }),
    async reopen() {
      await world.store.close();
      Object.assign(world, await open());
    },
    row: (name) => sim.records(TABLE).find((r) => r.fields.Name === name)?.id ?? '',
  };
  cleanups.push(() => world.store.close());
  clock.set(T1);
  return world;
}

const url = (w: World, name = 'airtable') => `${w.receiver.url}/${name}`;

async function makeWebhook(w: World): Promise<string> {
  const made = await syncWebhook(w.deps(), { notificationUrl: url(w) });
  if (!made.ok) throw new Error(made.error);
  return made.webhook.webhookId;
}

const pending = (w: World) => w.store.listQuietAirtableChanges(KEY, w.clock.now() + DAY, 100);

describe('airtable webhooks: setup', () => {
  it("makes one webhook on the sync's table data, refreshes it when synced again, and replaces only its own when the URL changes", async () => {
    const w = await start();
    const foreign = await w.client.createWebhook(w.sim.baseId, { notificationUrl: url(w, 'someone-else'), tableId: w.sim.tableId });
    const first = await syncWebhook(w.deps(), { notificationUrl: url(w) });
    if (!first.ok) throw new Error(first.error);
    expect(first).toMatchObject({ action: 'created', webhook: { baseId: w.sim.baseId, tableId: w.sim.tableId, notificationUrl: url(w), cursor: 1, expirationTime: T1 + 7 * DAY } });
    const hook = w.sim.webhooks().find((h) => h.id === first.webhook.webhookId)!;
    expect(hook.filters).toMatchObject({ dataTypes: ['tableData'], tableId: w.sim.tableId });
    // The secret is kept in the store, and is in no answer that may be printed.
    expect((await loadWebhook(w.store, 'airtable', 'people'))?.macSecretBase64).toBe(hook.macSecretBase64);
    expect(JSON.stringify(first)).not.toContain(hook.macSecretBase64);

    w.clock.advance(DAY);
    expect(await syncWebhook(w.deps(), { notificationUrl: url(w) })).toMatchObject({ ok: true, action: 'refreshed', webhook: { webhookId: first.webhook.webhookId, expirationTime: T1 + 8 * DAY } });
    const moved = await syncWebhook(w.deps(), { notificationUrl: url(w, 'moved') });
    expect(moved).toMatchObject({ ok: true, action: 'created', replaced: first.webhook.webhookId, webhook: { notificationUrl: url(w, 'moved'), cursor: 1 } });
    const ids = () => w.sim.webhooks().map((h) => h.id);
    expect(ids()).toEqual([foreign.body!.id, moved.ok ? moved.webhook.webhookId : '']);
    expect(await removeWebhook(w.deps())).toEqual({ ok: true, removed: moved.ok ? moved.webhook.webhookId : '' });
    expect(ids()).toEqual([foreign.body!.id]);
    expect(await loadWebhook(w.store, 'airtable', 'people')).toBeUndefined();
  });

  it("refuses a sync whose inbound mode is not 'webhook', and names a table the base lacks", async () => {
    const w = await start({ mode: 'poll' });
    expect(await syncWebhook(w.deps(), { notificationUrl: url(w) })).toMatchObject({ ok: false, error: expect.stringContaining("inbound.mode of people is 'poll'") });
    const missing = { ...w.deps(), sync: { ...w.destination.syncs.people!, table: 'Contacts', inbound: { ...w.destination.syncs.people!.inbound, mode: 'webhook' as const } } };
    expect(await syncWebhook(missing, { notificationUrl: url(w) })).toMatchObject({ ok: false, error: expect.stringContaining(`no table "Contacts" in base ${w.sim.baseId} (tables: ${TABLE})`) });
    expect(w.sim.webhooks()).toEqual([]);
  });
});

describe('airtable webhooks: detecting changes', () => {
  it("notes what a person creates, changes and deletes at the payload's time; the cursor is durable, so after a reopen nothing is noted again", async () => {
    const w = await start();
    await makeWebhook(w);
    w.clock.advance(1_000);
    const created = w.sim.person.create(TABLE, { Name: 'Dee', Email: 'dee@example.com' });
    w.clock.advance(1_000);
    w.sim.person.update(TABLE, w.row('Bob'), { Name: 'Bob B.' });
    w.clock.advance(1_000);
    const cy = w.row('Cy');
    w.sim.person.delete(TABLE, cy);
    w.clock.advance(1_000);
    expect(await detectChanges(w.deps())).toEqual({ mode: 'webhook', noted: 3, destroyed: 1, payloads: 3, refreshed: false });
    expect(await pending(w)).toEqual([
      { recordId: created.id, changedAt: T1 + 1_000, isDestroyed: false },
      { recordId: w.row('Bob B.'), changedAt: T1 + 2_000, isDestroyed: false },
      { recordId: cy, changedAt: T1 + 3_000, isDestroyed: true },
    ]);
    expect((await loadWebhook(w.store, 'airtable', 'people'))?.cursor).toBe(4);

    await w.reopen();
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', noted: 0, payloads: 0 });
    expect(await w.store.clearAirtableChanges(KEY, await pending(w))).toBe(3);
    expect(await detectChanges(w.deps())).toMatchObject({ noted: 0 });
    expect(await pending(w)).toEqual([]);
    w.clock.advance(1_000);
    w.sim.person.update(TABLE, w.row('Ada'), { Name: 'Ada L.' });
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', noted: 1, payloads: 1 });
    expect(await pending(w)).toEqual([{ recordId: w.row('Ada L.'), changedAt: w.clock.now(), isDestroyed: false }]);
  });

  it('refreshes the webhook once it has less than refreshBeforeMs to live: its expiry moves 7 days on', async () => {
    const w = await start({ refreshBeforeMs: DAY });
    const id = await makeWebhook(w);
    w.clock.advance(HOUR / 2);
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', refreshed: false });
    w.clock.set(T1 + 6.5 * DAY);
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', refreshed: true });
    const expiry = T1 + 13.5 * DAY;
    expect((await loadWebhook(w.store, 'airtable', 'people'))?.expirationTime).toBe(expiry);
    expect(w.sim.webhooks().find((h) => h.id === id)?.expirationTime).toBe(expiry);
    expect(w.sim.requests.filter((r) => r.url.endsWith(`/webhooks/${id}/refresh`))).toHaveLength(1);
    w.clock.advance(HOUR / 2);
    expect(await detectChanges(w.deps())).toMatchObject({ refreshed: false });
  });

  it('polls in poll mode: the first look starts the cursor, an edit is noted at the poll time, and the overlap does not move it on', async () => {
    const w = await start({ mode: 'poll' });
    expect(await detectChanges(w.deps())).toEqual({ mode: 'poll', noted: 0, destroyed: 0, payloads: 0, refreshed: false });
    w.clock.advance(5_000);
    w.sim.person.update(TABLE, w.row('Ada'), { Name: 'Ada L.' });
    w.clock.advance(1_000);
    const polledAt = w.clock.now();
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'poll', noted: 1 });
    expect(await pending(w)).toEqual([{ recordId: w.row('Ada L.'), changedAt: polledAt, isDestroyed: false }]);
    const list = w.sim.requests.filter((r) => r.method === 'GET' && r.url.includes('filterByFormula')).at(-1)!;
    const query = new URL(list.url, w.sim.url).searchParams;
    expect([query.get('filterByFormula'), query.getAll('fields[]')]).toEqual([`IS_AFTER(LAST_MODIFIED_TIME(), '${new Date(T1 - 10_000).toISOString()}')`, ['Kit ID']]);

    // Applied; seen again in the next poll's overlap: noted at the time first noted, not later.
    await w.store.clearAirtableChanges(KEY, await pending(w));
    w.clock.advance(2_000);
    await detectChanges(w.deps());
    expect(await pending(w)).toEqual([{ recordId: w.row('Ada L.'), changedAt: polledAt, isDestroyed: false }]);
    // The next poll's window starts 10 s before this one: the last time it can show.
    await w.store.clearAirtableChanges(KEY, await pending(w));
    w.clock.advance(30_000);
    await detectChanges(w.deps());
    expect(await pending(w)).toEqual([{ recordId: w.row('Ada L.'), changedAt: polledAt, isDestroyed: false }]);
    await w.store.clearAirtableChanges(KEY, await pending(w));
    w.clock.advance(30_000);
    expect(await detectChanges(w.deps())).toMatchObject({ noted: 0 });
    expect(await pending(w)).toEqual([]);
  });

  it('falls back to polling when the webhook is deleted, makes it again, and notes the edit made meanwhile', async () => {
    const w = await start();
    const id = await makeWebhook(w);
    w.clock.advance(1_000);
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', noted: 0 });
    await w.client.deleteWebhook(w.sim.baseId, id);
    w.clock.advance(1_000);
    w.sim.person.update(TABLE, w.row('Ada'), { Name: 'Ada L.' });
    w.clock.advance(1_000);
    const found = await detectChanges(w.deps());
    expect(found).toMatchObject({ mode: 'poll', noted: 1, recreated: expect.stringMatching(/^ach/), fallback: expect.stringContaining('NOT_FOUND') });
    expect(found.error).toBeUndefined();
    expect((await pending(w)).map((c) => c.recordId)).toEqual([w.row('Ada L.')]);
    expect(await loadWebhook(w.store, 'airtable', 'people')).toMatchObject({ webhookId: found.recreated, cursor: 1, notificationUrl: url(w) });
    expect(w.sim.webhooks().map((h) => h.id)).toEqual([found.recreated]);

    w.clock.advance(1_000);
    w.sim.person.update(TABLE, w.row('Bob'), { Name: 'Bob B.' });
    w.clock.advance(1_000);
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'webhook', noted: 1, payloads: 1 });
  });

  it("reads an expired webhook's last payloads (a deleted row), then makes it again and polls the gap", async () => {
    const w = await start();
    await makeWebhook(w);
    w.clock.advance(1_000);
    await detectChanges(w.deps());
    w.clock.set(T1 + 6 * DAY);
    const cy = w.row('Cy');
    w.sim.person.delete(TABLE, cy);
    w.clock.set(T1 + 7 * DAY + HOUR); // kitrelay was down: the webhook expired (its payloads are kept a week)
    w.sim.person.update(TABLE, w.row('Ada'), { Name: 'Ada L.' });
    w.clock.advance(1_000);
    const found = await detectChanges(w.deps());
    expect(found).toMatchObject({ mode: 'poll', noted: 2, destroyed: 1, recreated: expect.stringMatching(/^ach/), fallback: expect.stringContaining('expired') });
    expect((await pending(w)).map((c) => [c.recordId, c.isDestroyed])).toEqual([[cy, true], [w.row('Ada L.'), false]]);
    expect((await loadPoll(w.store, 'airtable', 'people'))?.since).toBe(w.clock.now());
  });

  it('polls while no webhook is made, saying so', async () => {
    const w = await start();
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'poll', noted: 0, fallback: expect.stringContaining('kitrelay airtable webhooks sync') });
    w.clock.advance(20_000);
    w.sim.person.update(TABLE, w.row('Bob'), { Name: 'Bob B.' });
    w.clock.advance(1_000);
    expect(await detectChanges(w.deps())).toMatchObject({ mode: 'poll', noted: 1 });
  });
});
