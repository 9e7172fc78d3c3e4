/**
 * Kit → Airtable in near real time (issue 11): Kit's webhooks change the subscriber mirror, the
 * event follower hands the changed subscribers to the Airtable destination, and a delayed `upsert`
 * job per subscriber writes their row, through a real relay, over real HTTP to the Airtable
 * simulator. Events for one subscriber within `coalesceMs` make one write; leaving the selection
 * deletes the row (or marks it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { TEST_FIELDS } from '../src/integrations/airtable/harness.js';
import { startAirtableSimulator, type AirtableSimulator } from '../src/integrations/airtable/simulator.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import type { SubscriberSnapshot } from '../src/store/types.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

const TAG = 7;
const OTHER_TAG = 8;

let sim: AirtableSimulator | undefined;
let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
});

const email = (id: number) => `a${id}@example.com`;
const person = (id: number): SubscriberSnapshot => ({ kitId: id, email: email(id), firstName: `Person ${id}`, state: 'active', fields: {}, tags: [{ id: 1, name: 'customer' }], createdAt: null });

function config(s: AirtableSimulator, sync: Record<string, unknown> = {}): ConfigInput {
  return {
    kit: {
      legacy: {
        routes: [
          { event: 'subscriber.tag_add', tag_id: TAG },
          { event: 'subscriber.tag_add', tag_id: OTHER_TAG },
          { event: 'subscriber.tag_remove', tag_id: TAG },
          { event: 'subscriber.subscriber_unsubscribe' },
        ],
      },
    },
    destinations: {
      airtable: {
        type: 'airtable', token: env('AIRTABLE_TOKEN'), apiUrl: s.url,
        retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
        syncs: { people: { baseId: s.baseId, table: 'Subscribers', fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags' }, typecast: true, coalesceMs: 1500, ...sync } },
      } as never,
    },
    queue: { pollIntervalMs: 20 },
  };
}

/** Posts Kit's legacy webhook for subscriber `id` to the route registered for it. */
async function legacy(target: TestRelay, name: string, id: number, tag = TAG): Promise<void> {
  const fixture = legacyFixture(name, { id, email: email(id), scopeValue: String(tag) });
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === name && (r.scopeValue === undefined || r.scopeValue === fixture.scopeValue));
  if (!route) throw new Error(`no route for ${name}`);
  const response = await target.post(new URL(route.url).pathname, jsonBody(fixture.body));
  expect(response.status, `${name} for ${id}`).toBe(200);
}

const rowOf = (s: AirtableSimulator, id: number) => s.records('Subscribers').find((r) => r.fields['Kit ID'] === id);
/** The write calls that carried subscriber `id`. */
const writesFor = (s: AirtableSimulator, id: number) =>
  s.requests.filter((r) => r.method !== 'GET' && (r.rawBody.includes(`"Kit ID":${id},`) || r.rawBody.includes(`"Kit ID":${id}}`) || (r.method === 'DELETE' && r.url.includes(rowOf(s, id)?.id ?? '\u0000'))));

async function start(sync: Record<string, unknown> = {}): Promise<{ relay: TestRelay; sim: AirtableSimulator }> {
  sim = await startAirtableSimulator({ bases: [{ name: 'Kit', tables: [{ name: 'Subscribers', fields: TEST_FIELDS }] }] });
  relay = await startTestRelay(config(sim, sync), { env: { AIRTABLE_TOKEN: sim.token } });
  expect(relay.relay.follower!.destinations).toEqual(['airtable']);
  return { relay, sim };
}

describe('airtable rows follow webhooks', () => {
  it('writes a subscriber\'s row as their webhooks arrive, one write for the events of one coalescing window', async () => {
    const { relay: r, sim: s } = await start();
    await legacy(r, 'subscriber.tag_add', 11); // a subscriber the table has never seen
    const created = await eventually(() => rowOf(s, 11), 10_000, 'the row of subscriber 11');
    expect(created.fields).toMatchObject({ 'Kit ID': 11, Email: email(11), State: 'active', Tags: [String(TAG)] });

    // Three changes to subscriber 12 inside one window: one write, with all of them in it.
    const before = s.requests.length;
    await legacy(r, 'subscriber.tag_add', 12);
    await legacy(r, 'subscriber.tag_add', 12, OTHER_TAG);
    await legacy(r, 'subscriber.tag_remove', 12);
    const row = await eventually(() => rowOf(s, 12), 10_000, 'the row of subscriber 12');
    expect(row.fields.Tags).toEqual([String(OTHER_TAG)]);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a second window would have written by now
    expect(writesFor(s, 12)).toHaveLength(1);
    expect(s.requests.slice(before).filter((q) => q.method !== 'GET')).toHaveLength(1);
    const jobs = await r.relay.store.listJobs({ destination: 'airtable' });
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
    const [event] = await r.relay.store.listEvents({ type: 'airtable:record_changed', limit: 1 });
    expect(event).toMatchObject({ origin: 'airtable', subscriberId: '12', payload: { sync: 'people', kitId: 12, change: 'write' } });
  });

  it('deletes the row of a subscriber who unsubscribes, and writes nothing for one the sync does not select', async () => {
    const { relay: r, sim: s } = await start({ select: { states: ['active'], tags: { none: [OTHER_TAG] } } });
    await r.relay.store.upsertSubscribers([person(1), person(2)], 'backfill', Date.now());
    await legacy(r, 'subscriber.tag_add', 1);
    await legacy(r, 'subscriber.tag_add', 2);
    await eventually(() => (rowOf(s, 1) && rowOf(s, 2) ? true : undefined), 10_000, 'both rows');

    await legacy(r, 'subscriber.subscriber_unsubscribe', 1);
    await eventually(() => (rowOf(s, 1) ? undefined : true), 10_000, 'the row of subscriber 1 to be deleted');
    expect(await r.relay.store.getAirtableRecords('airtable/people', [1])).toEqual([]);
    // Tagged with the excluded tag: out of the selection, its row goes too.
    await legacy(r, 'subscriber.tag_add', 2, OTHER_TAG);
    await eventually(() => (rowOf(s, 2) ? undefined : true), 10_000, 'the row of subscriber 2 to be deleted');
    // Someone never selected who changes: no job at all.
    await legacy(r, 'subscriber.tag_add', 3, OTHER_TAG);
    await r.relay.follower!.runOnce();
    expect((await r.relay.store.listJobs({ destination: 'airtable' })).map((j) => j.subscriberId)).not.toContain('3');
    expect(s.records('Subscribers')).toEqual([]);
  });

  it('marks the row of a subscriber who left instead of deleting it, when the sync says so', async () => {
    const { relay: r, sim: s } = await start({ onDelete: { mark: 'Left' } });
    await legacy(r, 'subscriber.tag_add', 5);
    await eventually(() => rowOf(s, 5), 10_000, 'the row');
    await legacy(r, 'subscriber.subscriber_unsubscribe', 5);
    const marked = await eventually(() => (rowOf(s, 5)?.fields.Left === true ? rowOf(s, 5) : undefined), 10_000, 'the row to be marked');
    expect(marked?.fields).toMatchObject({ 'Kit ID': 5, State: 'active' });
  });
});
