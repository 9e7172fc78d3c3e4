/**
 * Airtable → Kit (issue 11): edits made "as a person in Airtable" reach the Kit simulator through a
 * real relay (the inbound run reads the table, the worker's `kit_update` job calls Kit), and Kit's
 * changes reach the table, with no echo either way; a field changed on both sides is settled by its
 * policy; an edit is applied once it has been quiet; a row deleted in Airtable waits for approval.
 * Real HTTP to both simulators, a real SQLite store. Changes are found by polling here (webhooks:
 * src/integrations/airtable/webhooks.test.ts); runs are started by the test, not the clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { createSecretResolver } from '../src/config/secrets.js';
import { TEST_FIELDS } from '../src/integrations/airtable/harness.js';
import { eraseFromSync } from '../src/integrations/airtable/erase.js';
import { backfillSync, openClient, runInbound, type AirtableDestinationConfig } from '../src/integrations/airtable/index.js';
import type { InboundStats } from '../src/integrations/airtable/inbound.js';
import { approveDelete, rejectDelete, resolveConflict, type ReviewDeps } from '../src/integrations/airtable/review.js';
import { startAirtableSimulator, type AirtableSimulator } from '../src/integrations/airtable/simulator.js';
import { startKitSimulator, type KitSimulator } from '../src/kit/simulator/index.js';
import { integrationScheduleDeps } from '../src/main.js';
import type { SubscriberSnapshot } from '../src/store/types.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

let kit: KitSimulator | undefined;
let sim: AirtableSimulator | undefined;
let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  await kit?.close();
  kit = undefined;
});

const SYNC = 'airtable/people';
/** Never by the clock: the test starts each inbound run. */
const NEVER = '0 0 1 1 *';

function config(k: KitSimulator, s: AirtableSimulator, sync: Record<string, unknown>): ConfigInput {
  return {
    kit: { api: { baseUrl: k.url, apiKey: env('KIT_API_KEY') } },
    destinations: {
      airtable: {
        type: 'airtable', token: env('AIRTABLE_TOKEN'), apiUrl: s.url,
        retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
        syncs: {
          people: {
            baseId: s.baseId, table: 'Subscribers', typecast: true, coalesceMs: 0,
            fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags', Company: { customField: 'company' } },
            ...sync,
            inbound: { mode: 'poll', quietMs: 0, pollIntervalMs: 1000, schedule: NEVER, ...(sync.inbound as object | undefined) },
          },
        },
      } as never,
    },
    queue: { pollIntervalMs: 20 },
  };
}

interface World {
  readonly relay: TestRelay;
  readonly kit: KitSimulator;
  readonly sim: AirtableSimulator;
  /** Kit ids of the people made in Kit, by first name. */
  readonly ids: Record<string, number>;
  readonly deps: ReturnType<typeof integrationScheduleDeps<AirtableDestinationConfig>>;
  /** What the first inbound run (at start) did. */
  readonly first: InboundStats;
}

/** Kit with Ada and Bob (Ada tagged "customer"), mirrored, and written to the table by a backfill. */
async function start(sync: Record<string, unknown> = {}, rows: readonly Record<string, unknown>[] = []): Promise<World> {
  kit = await startKitSimulator({ rateLimit: false });
  kit.state.createCustomField('Company');
  const created = kit.state.catalog.createTag('customer');
  if (created === 'blank') throw new Error('blank tag name');
  const customer = created.tag;
  const ids: Record<string, number> = {};
  const snapshots: SubscriberSnapshot[] = [];
  for (const name of ['Ada', 'Bob']) {
    const { subscriber } = kit.state.upsertSubscriber({ email: `${name.toLowerCase()}@example.com`, firstName: name, fields: { company: `${name} Ltd` } });
    ids[name] = subscriber.id;
    if (name === 'Ada') kit.state.tagSubscriber(customer.id, subscriber.id);
    snapshots.push({ kitId: subscriber.id, email: `${name.toLowerCase()}@example.com`, firstName: name, state: 'active', fields: { company: `${name} Ltd` }, tags: name === 'Ada' ? [{ id: customer.id, name: 'customer' }] : [], createdAt: null });
  }
  sim = await startAirtableSimulator({ bases: [{ name: 'Kit', tables: [{ name: 'Subscribers', fields: [...TEST_FIELDS, { name: 'Company', type: 'singleLineText' }] }] }] });
  for (const fields of rows) sim.person.create('Subscribers', fields);
  relay = await startTestRelay(config(kit, sim, sync), { env: { AIRTABLE_TOKEN: sim.token, KIT_API_KEY: 'kit_sim_key' } });
  await relay.relay.store.upsertSubscribers(snapshots, 'backfill', Date.now());
  const destination = relay.relay.config.destinations.airtable as AirtableDestinationConfig;
  const deps = integrationScheduleDeps({ config: relay.relay.config, store: relay.relay.store, secrets: createSecretResolver({ AIRTABLE_TOKEN: sim.token }) }, 'airtable', destination);
  const filled = await backfillSync(deps, 'people', { now: Date.now });
  expect(filled.status).toBe('completed');
  // The first look only sets where polling starts (the table as it is now is not "changed"); kitrelay's own writes seen then change nothing.
  const first = await runInbound(deps, 'people', { now: Date.now, detectNow: true });
  expect(first.stats.toAirtable).toBe(0);
  return { relay, kit, sim, ids, deps, first: first.stats };
}

const rowOf = (s: AirtableSimulator, id: number) => {
  const row = s.records('Subscribers').find((r) => r.fields['Kit ID'] === id);
  if (!row) throw new Error(`no row for Kit id ${id}`);
  return row;
};
const writes = (s: AirtableSimulator, from: number) => s.requests.slice(from).filter((r) => r.method !== 'GET');
const inbound = (w: World) => runInbound(w.deps, 'people', { now: Date.now, detectNow: true });
/** Every job settled (none pending or running). */
async function settled(w: World): Promise<void> {
  await eventually(async () => ((await w.relay.relay.store.listJobs({ destination: 'airtable' })).every((j) => j.status === 'succeeded' || j.status === 'dead') ? true : undefined), 10_000, 'jobs to settle');
}
const review = (w: World): ReviewDeps => ({ store: w.relay.relay.store, destinationName: 'airtable', destination: w.deps.destination, ingest: (poller, events) => w.deps.ingest(poller, events), now: Date.now() });

describe('Airtable → Kit', () => {
  it('applies a name, a custom field and tags edited in Airtable to Kit, and writes nothing back (no echo)', async () => {
    const w = await start();
    const ada = rowOf(w.sim, w.ids.Ada!);
    w.sim.person.update('Subscribers', ada.id, { Name: 'Ada L.', Company: 'Analytical Engines', Tags: ['newsletter', 'vip'] });
    const before = w.sim.requests.length;
    const run = await inbound(w);
    expect(run.stats).toMatchObject({ toKit: 1, toAirtable: 0 });
    await settled(w);
    const inKit = w.kit.state.getSubscriber(w.ids.Ada!);
    expect(inKit).toMatchObject({ first_name: 'Ada L.', fields: expect.objectContaining({ company: 'Analytical Engines' }) });
    const tagNames = (id: number) => w.kit.state.tags.filter((t) => w.kit?.state.taggings.get(t.id, id)).map((t) => t.name).sort();
    expect(tagNames(w.ids.Ada!)).toEqual(['newsletter', 'vip']);
    // The mirror holds it at once, and the record agrees: Kit's webhooks for these changes would write nothing.
    const [mirrored] = await w.relay.relay.store.listSubscribers({ kitIds: [w.ids.Ada!], limit: 1 });
    expect(mirrored).toMatchObject({ firstName: 'Ada L.', fields: expect.objectContaining({ company: 'Analytical Engines' }) });
    const [job] = (await w.relay.relay.store.listJobs({ destination: 'airtable' })).filter((j) => j.action === 'kit_update');
    expect(job).toMatchObject({ status: 'succeeded', subscriberId: String(w.ids.Ada) });
    const audit = await w.relay.relay.store.listAttempts({ jobId: job!.id });
    expect(audit.at(-1)).toMatchObject({ outcome: 'succeeded' });
    // Kit's webhooks for these changes make the follower queue an upsert for Ada: it finds nothing to write.
    await w.deps.ingest('test', [{ type: 'record_changed', id: 'ada-echo', subscriberId: String(w.ids.Ada), payload: {}, jobs: [{ action: 'upsert', params: { sync: 'people', kitId: w.ids.Ada }, subKey: w.sim.baseId }] }]);
    await settled(w);
    const echo = (await w.relay.relay.store.listJobs({ destination: 'airtable' })).find((j) => j.action === 'upsert');
    expect((await w.relay.relay.store.listAttempts({ jobId: echo!.id })).at(-1)).toMatchObject({ outcome: 'succeeded', correlation: expect.objectContaining({ op: 'none' }) });
    expect((await inbound(w)).stats).toMatchObject({ toKit: 0, toAirtable: 0 });
    expect(writes(w.sim, before)).toEqual([]);
  });

  it('sends Kit-side changes to Airtable and does not read them back as Airtable edits', async () => {
    const w = await start();
    // Kit changed Bob's name: the mirror has it, the upsert job writes only that field.
    const [bob] = await w.relay.relay.store.listSubscribers({ kitIds: [w.ids.Bob!], limit: 1 });
    await w.relay.relay.store.upsertSubscribers([{ ...bob!, firstName: 'Robert' }], 'reconcile', Date.now());
    await w.deps.ingest('test', [{ type: 'record_changed', id: 'bob-1', subscriberId: String(w.ids.Bob), payload: {}, jobs: [{ action: 'upsert', params: { sync: 'people', kitId: w.ids.Bob }, subKey: w.sim.baseId }] }]);
    await settled(w);
    expect(rowOf(w.sim, w.ids.Bob!).fields).toMatchObject({ Name: 'Robert', Company: 'Bob Ltd' });
    const last = w.sim.requests.filter((r) => r.method !== 'GET').at(-1)!;
    expect(JSON.parse(last.rawBody).records[0].fields).toEqual({ 'Kit ID': w.ids.Bob, Name: 'Robert' });
    // kitrelay's own write comes back as a change: nothing to apply, no job for Kit.
    const run = await inbound(w);
    expect(run.stats.toKit).toBe(0);
    expect(w.kit.state.getSubscriber(w.ids.Bob!)).toMatchObject({ first_name: 'Bob' });
  });

  it('applies an edit only once it has been quiet for quietMs, with its last value', async () => {
    const w = await start({ inbound: { quietMs: 1500 } });
    const ada = rowOf(w.sim, w.ids.Ada!);
    w.sim.person.update('Subscribers', ada.id, { Name: 'A' });
    expect((await inbound(w)).stats).toMatchObject({ toKit: 0 }); // noted, still typing
    w.sim.person.update('Subscribers', ada.id, { Name: 'Ada Lovelace' });
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await inbound(w)).stats).toMatchObject({ toKit: 0 }); // changed again, still inside the quiet time (a poll counts it from when it first saw the change)
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await runInbound(w.deps, 'people', { now: Date.now })).stats).toMatchObject({ toKit: 1 });
    await settled(w);
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Ada Lovelace' });
    expect((await w.relay.relay.store.listJobs({ destination: 'airtable' })).filter((j) => j.action === 'kit_update')).toHaveLength(1);
  });
});

describe('conflicts: a field changed on both sides since the last sync', () => {
  /** Ada's name changed in Kit (the mirror, at `kitAt`) and in Airtable, then one inbound run. */
  async function conflict(policy: string, kitAt = Date.now()) {
    const w = await start({ conflicts: { default: 'kit-wins', fields: { Name: policy } } });
    const [ada] = await w.relay.relay.store.listSubscribers({ kitIds: [w.ids.Ada!], limit: 1 });
    await w.relay.relay.store.upsertSubscribers([{ ...ada!, firstName: 'Kit Ada' }], 'reconcile', kitAt);
    w.sim.person.update('Subscribers', rowOf(w.sim, w.ids.Ada!).id, { Name: 'Airtable Ada' });
    const run = await inbound(w);
    await settled(w);
    const [decision] = await w.relay.relay.store.listAirtableDecisions({ sync: SYNC, limit: 10 });
    return { w, run, decision };
  }

  it('kit-wins: Kit keeps its value and the cell is written over; logged with both values', async () => {
    const { w, decision } = await conflict('kit-wins');
    expect(decision).toMatchObject({ field: 'Name', policy: 'kit-wins', status: 'decided', winner: 'kit', kitValue: 'Kit Ada', airtableValue: 'Airtable Ada', syncedValue: 'Ada' });
    expect(rowOf(w.sim, w.ids.Ada!).fields.Name).toBe('Kit Ada');
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Ada' }); // Kit itself was not written
  });

  it('airtable-wins: the cell goes to Kit', async () => {
    const { w, decision } = await conflict('airtable-wins');
    expect(decision).toMatchObject({ policy: 'airtable-wins', winner: 'airtable' });
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Airtable Ada' });
    expect(rowOf(w.sim, w.ids.Ada!).fields.Name).toBe('Airtable Ada');
  });

  it('newest-wins: the later change wins, each way', async () => {
    const older = await conflict('newest-wins', Date.now() - 3_600_000);
    expect(older.decision).toMatchObject({ policy: 'newest-wins', winner: 'airtable', note: expect.stringContaining('Kit at') });
    expect(older.w.kit.state.getSubscriber(older.w.ids.Ada!)).toMatchObject({ first_name: 'Airtable Ada' });
    await relay?.close();
    relay = undefined;
    await sim?.close();
    await kit?.close();
    const newer = await conflict('newest-wins', Date.now() + 3_600_000);
    expect(newer.decision).toMatchObject({ winner: 'kit' });
    expect(rowOf(newer.w.sim, newer.w.ids.Ada!).fields.Name).toBe('Kit Ada');
  });

  it('a Kit change to a field whose Airtable edit is still pending does not erase the edit: the inbound run settles both', async () => {
    const w = await start({ inbound: { quietMs: 1000 }, conflicts: { default: 'airtable-wins', fields: {} } });
    w.sim.person.update('Subscribers', rowOf(w.sim, w.ids.Ada!).id, { Name: 'Airtable Ada' });
    expect((await inbound(w)).stats.toKit).toBe(0); // noted, not quiet yet
    const [ada] = await w.relay.relay.store.listSubscribers({ kitIds: [w.ids.Ada!], limit: 1 });
    await w.relay.relay.store.upsertSubscribers([{ ...ada!, firstName: 'Kit Ada', fields: { company: 'New Ltd' } }], 'reconcile', Date.now() - 60_000);
    await w.deps.ingest('test', [{ type: 'record_changed', id: 'ada-kit', subscriberId: String(w.ids.Ada), payload: {}, jobs: [{ action: 'upsert', params: { sync: 'people', kitId: w.ids.Ada }, subKey: w.sim.baseId }] }]);
    await settled(w);
    // The edited field waits; the rest of Kit's change is written.
    expect(rowOf(w.sim, w.ids.Ada!).fields).toMatchObject({ Name: 'Airtable Ada' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const run = await inbound(w);
    await settled(w);
    expect(run.stats).toMatchObject({ conflicts: 1, toKit: 1, toAirtable: 1 });
    // Kit's change to the other field, held back with the edit, is written now; the name Airtable won is not overwritten.
    expect(rowOf(w.sim, w.ids.Ada!).fields).toMatchObject({ Name: 'Airtable Ada', Company: 'New Ltd' });
    const decisions = await w.relay.relay.store.listAirtableDecisions({ sync: SYNC, limit: 10 });
    expect(decisions.find((d) => d.field === 'Name')).toMatchObject({ kitValue: 'Kit Ada', airtableValue: 'Airtable Ada', winner: 'airtable' });
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Airtable Ada' });
  });

  it('manual: held, written neither way until resolved; resolving for Airtable sends the cell to Kit', async () => {
    const { w, decision } = await conflict('manual');
    expect(decision).toMatchObject({ policy: 'manual', status: 'held', winner: null });
    expect(await w.relay.relay.store.listHeldAirtableFields(SYNC, [w.ids.Ada!])).toEqual([{ kitId: w.ids.Ada, field: 'Name' }]);
    // A Kit change to Ada meanwhile writes her other fields, not the held one.
    await w.deps.ingest('test', [{ type: 'record_changed', id: 'ada-held', subscriberId: String(w.ids.Ada), payload: {}, jobs: [{ action: 'upsert', params: { sync: 'people', kitId: w.ids.Ada }, subKey: w.sim.baseId }] }]);
    await settled(w);
    expect(rowOf(w.sim, w.ids.Ada!).fields.Name).toBe('Airtable Ada');
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Ada' });
    // The same conflict read again is not logged twice.
    w.sim.person.update('Subscribers', rowOf(w.sim, w.ids.Ada!).id, { Company: 'Ada Ltd ' });
    await inbound(w);
    expect(await w.relay.relay.store.listAirtableDecisions({ sync: SYNC, status: 'held', limit: 10 })).toHaveLength(1);

    const resolved = await resolveConflict(review(w), decision!.id, 'airtable', 'checked with Ada');
    expect(resolved).toMatchObject({ status: 'resolved', winner: 'airtable', note: 'checked with Ada' });
    await settled(w);
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Airtable Ada' });
    await expect(resolveConflict(review(w), decision!.id, 'kit', 'again')).rejects.toThrow(/resolved already/);
  });
});

describe('a row deleted in Airtable', () => {
  it('waits for approval, and leaves the queue when the row comes back', async () => {
    const w = await start();
    const ada = rowOf(w.sim, w.ids.Ada!);
    w.sim.person.delete('Subscribers', ada.id);
    // Polling cannot see a deletion; a read of a changed record that is gone can.
    await w.relay.relay.store.noteAirtableChanges(SYNC, [{ recordId: ada.id, changedAt: Date.now(), isDestroyed: true }]);
    expect((await inbound(w)).stats).toMatchObject({ deleteRequests: 1 });
    const [request] = await w.relay.relay.store.listAirtableDeletes({ sync: SYNC, status: 'pending', limit: 10 });
    expect(request).toMatchObject({ kitId: w.ids.Ada, recordId: ada.id, email: 'ada@example.com', status: 'pending' });
    // Nobody was unsubscribed.
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ state: 'active' });
    // The row comes back (undo): seen again, the request is withdrawn.
    const back = w.sim.person.create('Subscribers', { 'Kit ID': w.ids.Ada, Email: 'ada@example.com', Name: 'Ada' });
    await w.relay.relay.store.setAirtableRecords(SYNC, [{ kitId: w.ids.Ada!, recordId: back.id, hash: 'h' }], Date.now());
    expect((await inbound(w)).stats.withdrawn).toBe(1);
    expect(await w.relay.relay.store.getAirtableDelete(request!.id)).toMatchObject({ status: 'withdrawn', note: 'the row is in Airtable again' });
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ state: 'active' });
  });

  it('unsubscribes in Kit only once approved; a rejected request writes the row again', async () => {
    const w = await start();
    for (const name of ['Ada', 'Bob']) {
      const row = rowOf(w.sim, w.ids[name]!);
      w.sim.person.delete('Subscribers', row.id);
      await w.relay.relay.store.noteAirtableChanges(SYNC, [{ recordId: row.id, changedAt: Date.now(), isDestroyed: true }]);
    }
    await inbound(w);
    const requests = await w.relay.relay.store.listAirtableDeletes({ sync: SYNC, status: 'pending', limit: 10 });
    const byKitId = new Map(requests.map((r) => [r.kitId, r]));
    await approveDelete(review(w), byKitId.get(w.ids.Ada!)!.id, 'Ada asked to leave');
    await rejectDelete(review(w), byKitId.get(w.ids.Bob!)!.id, 'deleted by mistake');
    await settled(w);
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ state: 'cancelled' });
    expect(w.kit.state.getSubscriber(w.ids.Bob!)).toMatchObject({ state: 'active' });
    expect(rowOf(w.sim, w.ids.Bob!).fields).toMatchObject({ Email: 'bob@example.com', Name: 'Bob' });
    expect(w.sim.records('Subscribers').some((r) => r.fields['Kit ID'] === w.ids.Ada)).toBe(false);
    await expect(approveDelete(review(w), byKitId.get(w.ids.Bob!)!.id, 'again')).rejects.toThrow(/rejected already/);
  });
});

describe('the first sync into a table with rows', () => {
  it("firstSyncWinner 'airtable': matched rows keep their cells, which go to Kit", async () => {
    const w = await start({ firstSyncWinner: 'airtable' }, [{ Email: 'Ada@Example.com', Name: 'Countess Ada', Company: 'Babbage & Co' }]);
    const ada = rowOf(w.sim, w.ids.Ada!);
    expect(ada.fields).toMatchObject({ Email: 'ada@example.com', Name: 'Countess Ada', Company: 'Babbage & Co' });
    expect(w.sim.records('Subscribers')).toHaveLength(2);
    // The backfill noted the matched row as changed in Airtable: the first inbound run sent it to Kit.
    expect(w.first).toMatchObject({ toKit: 1 });
    await settled(w);
    expect(w.kit.state.getSubscriber(w.ids.Ada!)).toMatchObject({ first_name: 'Countess Ada', fields: expect.objectContaining({ company: 'Babbage & Co' }) });
  });
});

describe('erasure', () => {
  it("deletes the person's row (found by Kit id and by email) and forgets it", async () => {
    const w = await start({ onDelete: { mark: 'Left' } });
    // A second row with Ada's address that kitrelay never wrote goes too; Bob's stays.
    w.sim.person.create('Subscribers', { Email: 'ADA@example.com', Name: 'Ada (copy)' });
    const opened = openClient(w.deps, { now: Date.now });
    try {
      const erased = await eraseFromSync({ store: w.relay.relay.store, client: opened.client, destinationName: 'airtable', syncName: 'people', sync: w.deps.destination.syncs.people! }, { kitId: w.ids.Ada!, email: 'ada@example.com' });
      expect(erased).toEqual({ ok: true, deleted: 2 });
    } finally {
      await opened.close();
    }
    expect(w.sim.records('Subscribers').map((r) => r.fields.Email)).toEqual(['bob@example.com']);
    expect(await w.relay.relay.store.getAirtableRecords(SYNC, [w.ids.Ada!])).toEqual([]);
  });
});
