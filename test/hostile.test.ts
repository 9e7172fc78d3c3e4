/**
 * The relay against hostile input from clients that hold a valid route token or signing secret
 * (issue 7, defects 1–4 and 6): deep bodies, exact quarantine bytes, retried deliveries, rule
 * functions that throw. A real relay on a real SQLite file, real HTTP on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { jsonBody, legacyFixture, signedTagAddedEvent } from '../src/kit/fixtures.js';
import { signPayload } from '../src/kit/signature.js';
import { T0, eventInput, plannedJob } from '../src/store/fixtures.contract.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

const SECRET = 'whsec_hostile';

function config(extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    kit: {
      legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] },
      signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET')] }] },
    },
    destinations: { sink: { type: 'webhook', url: env('SINK_URL'), concurrency: 4, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } } },
    rules: [{ id: 'everything', on: '*', actions: [{ destination: 'sink' }] }],
    queue: { pollIntervalMs: 20 },
    ...extra,
  };
}

let t: TestRelay | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const start = (extra: Partial<ConfigInput> = {}) => startTestRelay(config(extra), { env: { KIT_SECRET: SECRET } });
const legacyPath = (relay: TestRelay) => [...relay.relay.routes.legacy.values()][0]!.path;
const signedHeaders = (body: Buffer) => ({ 'x-kit-signature': signPayload({ secrets: [SECRET], body, timestamp: Math.floor(Date.now() / 1000) }) });
/** `{"a":{"a":…1…}}`, `depth` objects deep. */
const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const deepLegacyBody = (depth: number) => Buffer.from(`{"subscriber":{"id":1,"email_address":"deep@example.com","fields":${nested(depth)}}}`);
const tagAdd = (id: number) => jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com` }).body);

/** The relay still takes webhooks and delivers them. */
async function expectHealthy(relay: TestRelay, firstId: number): Promise<void> {
  expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  for (let id = firstId; id < firstId + 3; id++) {
    const response = await relay.post(legacyPath(relay), tagAdd(id));
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  }
  await eventually(() => relay.receiver.requests.filter((r) => r.body.includes(`"s${firstId + 2}@example.com"`)).length > 0 || undefined, 10_000, 'the last webhook to be delivered');
}

describe('deep bodies', () => {
  it('quarantines a legacy body nested 2,000 deep (400) and goes on taking and delivering webhooks', async () => {
    t = await start();
    const body = deepLegacyBody(2000);
    const response = await t.post(legacyPath(t), body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'too_deep' } });
    const [entry] = await t.relay.store.listQuarantine({});
    expect(entry).toMatchObject({ reason: 'too_deep', system: 'legacy' });
    expect(Buffer.compare(entry!.body, body)).toBe(0);
    await expectHealthy(t, 100);
    expect(await t.relay.store.listEvents({})).toHaveLength(3);
  });

  it('answers 400, never 500, for a legacy body nested 10,000 deep, and keeps it', async () => {
    t = await start();
    const response = await t.post(legacyPath(t), deepLegacyBody(10_000));
    expect(response.status).toBe(400);
    expect((await t.relay.store.listQuarantine({}))[0]).toMatchObject({ reason: 'too_deep' });
    await expectHealthy(t, 200);
  });

  it('commits the good events of a signed batch and quarantines the one nested 10,000 deep, byte for byte', async () => {
    t = await start();
    const good = [signedTagAddedEvent({ id: 1, email: 'a@example.com' }), signedTagAddedEvent({ id: 2, email: 'b@example.com' })];
    const deepEvent = `{"id":"evt-deep","type":"subscriber.tag_added","created":"2026-07-29T14:32:10Z","data":{"subscriber":{"id":3,"email_address":"c@example.com","fields":${nested(10_000)}},"tag":{"id":4242}}}`;
    const body = Buffer.from(`{"delivery_id":1,"events":[${JSON.stringify(good[0])},${deepEvent},${JSON.stringify(good[1])}]}`);
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: 2, quarantined: 1 });
    const [entry] = await t.relay.store.listQuarantine({});
    expect(entry).toMatchObject({ reason: 'too_deep', system: 'signed' });
    expect(entry!.body.toString('utf8')).toBe(deepEvent);
    await expectHealthy(t, 300);
  });

  it('takes the depth limit from config', async () => {
    t = await start({ server: { maxJsonDepth: 8 } });
    // The body and `subscriber` are 2 levels; `fields` adds its own.
    expect((await t.post(legacyPath(t), deepLegacyBody(7))).status).toBe(400);
    expect((await t.post(legacyPath(t), deepLegacyBody(6))).status).toBe(200);
  });

  it('delivers around an event stored before the depth limit: its job goes dead with the reason, the store stays in step', async () => {
    t = await start();
    // As a database written before this fix could hold it: a payload too deep to copy between threads.
    const deep = eventInput({ source: 'legacy', kitEventId: undefined, payloadJson: `{"subscriber":{"id":9,"fields":${nested(2000)}}}`, jobs: [plannedJob({ destination: 'sink', action: 'send', params: {} })] });
    await t.relay.store.commitDelivery({ delivery: { system: 'legacy', route: 'tag_add-4242', receivedAt: T0, bodyBytes: 1 }, events: [deep], quarantine: [] });
    t.relay.worker?.nudge();
    await eventually(async () => (await t!.relay.store.listJobs({ status: 'dead' }))[0], 10_000, 'the job to go dead');
    const [dead] = await t.relay.store.listJobs({ status: 'dead' });
    expect(dead?.lastError).toContain('nests deeper than 768 levels');
    await expectHealthy(t, 400);
    const events = await t.relay.store.listEvents({});
    expect(events).toHaveLength(4);
  });
});

describe('quarantine keeps exactly what was sent, once', () => {
  const badEvent = '{"id":"evt-bad","type":"subscriber.tag_added","created":"2026-07-29T14:32:10Z","data":{"subscriber":{"email_address":""},"big":1e400,"exact":9007199254740993,"neg":-0}}';

  it('keeps the bytes of a bad event in a signed batch as they were sent (1e400, 9007199254740993)', async () => {
    t = await start();
    const body = Buffer.from(`{"delivery_id":7,"events":[\n  ${badEvent} ,\n  ${JSON.stringify(signedTagAddedEvent({ id: 5 }))}\n]}`);
    const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: 1, quarantined: 1 });
    const [entry] = await t.relay.store.listQuarantine({});
    expect(entry!.body.toString('utf8')).toBe(badEvent);
    expect(entry!.detail).toContain('event 0 of delivery 7');
  });

  it('counts a retried delivery on the first entry instead of adding its bad events again', async () => {
    t = await start();
    const body = Buffer.from(`{"delivery_id":8,"events":[${badEvent},${JSON.stringify(signedTagAddedEvent({ id: 6 }))}]}`);
    for (let i = 0; i < 3; i++) {
      const response = await t.post('/hooks/kit/signed/main', body, signedHeaders(body));
      expect(response.status).toBe(200);
    }
    const entries = await t.relay.store.listQuarantine({});
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ timesReceived: 3 });
    expect((await t.relay.store.listEvents({})).map((e) => e.status).sort()).toEqual(['accepted', 'duplicate', 'duplicate']);
    // A legacy body refused again is counted the same way.
    for (let i = 0; i < 2; i++) expect((await t.post(legacyPath(t), Buffer.from('{"subscriber":'))).status).toBe(400);
    expect(await t.relay.store.listQuarantine({})).toHaveLength(2);
  });
});

describe('rule functions that throw', () => {
  it('stores the event with a predicate_error decision when a subKey function throws (no 500)', async () => {
    t = await start({
      rules: [
        {
          id: 'bad-subkey',
          on: 'subscriber.tag_added',
          actions: [
            {
              destination: 'sink',
              subKey: () => {
                throw new Error('no channel for this subscriber');
              },
            },
          ],
        },
        { id: 'bad-once', on: 'subscriber.tag_added', once: () => ({ not: 'a key' }) as unknown as string, actions: [{ destination: 'sink' }] },
        { id: 'fine', on: 'subscriber.tag_added', actions: [{ destination: 'sink' }] },
      ],
    });
    const response = await t.post(legacyPath(t), tagAdd(1));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: 1, jobs: 1 });
    const [event] = await t.relay.store.listEvents({});
    expect(event!.decisions).toEqual(
      expect.arrayContaining([
        { rule: 'bad-subkey', outcome: 'predicate_error', detail: 'actions[0].subKey: no channel for this subscriber' },
        { rule: 'bad-once', outcome: 'predicate_error', detail: 'once: returned a object; expected a non-empty string, a number or undefined' },
      ]),
    );
  });
});

describe('metrics', () => {
  it('reports the size of the write-ahead log', async () => {
    t = await start();
    await t.post(legacyPath(t), tagAdd(1));
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^kitrelay_store_wal_bytes \d+$/m);
  });
});
