import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../config/schema.js';
import { compileRules } from '../rules/route.js';
import { jsonBody, legacyFixture, signedEnvelope } from '../kit/fixtures.js';
import { signPayload } from '../kit/signature.js';
import { eventually, startTestRelay, type TestRelay } from '../../test/helpers.js';
import { cancelJob, reingestQuarantine, replayJob, replayJobs, showEvent, showJob } from './index.js';

const SECRET = 'whsec_triage';
const config: ConfigInput = {
  kit: {
    legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] },
    signed: { endpoints: [{ name: 'main', secrets: [env('KIT_SECRET')] }] },
  },
  destinations: {
    sink: { type: 'webhook', url: env('SINK_URL'), retry: { maxAttempts: 1 } },
    other: { type: 'webhook', url: env('OTHER_URL') },
  },
  rules: [{ id: 'fan-out', on: 'subscriber.tag_added', actions: [{ destination: 'sink' }, { destination: 'other' }] }],
  queue: { pollIntervalMs: 20 },
};

let t: TestRelay;
afterEach(async () => t?.close());

const start = async () => {
  t = await startTestRelay(config, { env: { KIT_SECRET: SECRET, OTHER_URL: 'placeholder' } });
  return t;
};
describe('triage', () => {
  it('re-ingests a quarantined signed event once its body is fixed, and marks the entry', async () => {
    await start();
    const bad = { id: 'evt-1', type: 'subscriber.tag_added', created: '2026-07-29T14:32:10Z', data: { tag: { id: 4242 } } };
    const body = jsonBody(signedEnvelope([bad]));
    const response = await t.post('/hooks/kit/signed/main', body, { 'x-kit-signature': signPayload({ secrets: [SECRET], body, timestamp: Math.floor(Date.now() / 1000) }) });
    expect(response.body).toMatchObject({ quarantined: 1 });
    const [entry] = await t.relay.store.listQuarantine({});
    const d = { store: t.relay.store, config: t.relay.config, rules: compileRules(t.relay.config), routes: t.relay.routes };

    const unchanged = await reingestQuarantine(d, entry!.id, Date.now());
    expect(unchanged).toMatchObject({ kind: 'still_invalid', reason: 'invalid_event' });
    expect((await t.relay.store.getQuarantine(entry!.id))?.status).toBe('open');

    const fixed = Buffer.from(JSON.stringify({ ...bad, data: { ...bad.data, subscriber: { id: 9, email_address: 'nine@example.com' } } }));
    const result = await reingestQuarantine(d, entry!.id, Date.now(), fixed);
    expect(result).toMatchObject({ kind: 'done', outcome: { kind: 'accepted', accepted: 1, jobs: 2 } });
    const after = await t.relay.store.getQuarantine(entry!.id);
    expect(after?.status).toBe('reingested');
    expect(after?.reingestedEventIds).toHaveLength(1);
    const event = await showEvent(t.relay.store, after!.reingestedEventIds[0]!);
    expect(event?.event).toMatchObject({ source: 'reingest', subscriberId: '9', kitEventId: 'evt-1' });
    expect(await reingestQuarantine(d, entry!.id, Date.now(), fixed)).toMatchObject({ kind: 'not_open' });
  });

  it('re-ingests a quarantined legacy body after a fix', async () => {
    await start();
    const route = t.relay.routes.legacy.get('tag_add-4242')!;
    expect((await t.post(route.path, '{"subscriber":')).status).toBe(400);
    const [entry] = await t.relay.store.listQuarantine({});
    const d = { store: t.relay.store, config: t.relay.config, rules: compileRules(t.relay.config), routes: t.relay.routes };
    const result = await reingestQuarantine(d, entry!.id, Date.now(), jsonBody(legacyFixture('subscriber.tag_add').body));
    expect(result).toMatchObject({ kind: 'done', outcome: { kind: 'accepted', accepted: 1 } });
  });

  it('replays only the failed destination of a fan-out, and cancels', async () => {
    await start();
    await t.relay.store.pauseDestination('other', 'test', Date.now());
    t.receiver.fault({ kind: 'status', status: 404 });
    const route = t.relay.routes.legacy.get('tag_add-4242')!;
    await t.post(route.path, jsonBody(legacyFixture('subscriber.tag_add').body));
    const dead = await eventually(async () => (await t.relay.store.listJobs({ status: 'dead' }))[0], 10_000, 'a dead job');
    expect(dead.destination).toBe('sink');
    const detail = await showJob(t.relay.store, dead.id);
    expect(detail?.attempts.map((a) => [a.attempt, a.outcome, a.responseStatus])).toEqual([[1, 'failed', 404]]);

    expect(await replayJobs(t.relay.store, { destination: 'sink' }, 3, Date.now(), true)).toEqual([dead.id]);
    expect(await replayJobs(t.relay.store, { destination: 'sink' }, 3, Date.now())).toEqual([dead.id]);
    await eventually(async () => (await t.relay.store.getJob(dead.id))?.status === 'succeeded' || undefined, 10_000, 'the replayed job to succeed');
    const other = (await t.relay.store.listJobs({ destination: 'other' }))[0]!;
    expect(other.status).toBe('pending'); // held by the pause, untouched by the replay

    expect(await replayJob(t.relay.store, other.id, 3, Date.now())).toMatchObject({ kind: 'not_finished' });
    expect(await cancelJob(t.relay.store, other.id, Date.now())).toMatchObject({ kind: 'cancelled', job: { status: 'cancelled' } });
    expect(await cancelJob(t.relay.store, other.id, Date.now())).toMatchObject({ kind: 'already_finished' });
    expect(await replayJob(t.relay.store, 999_999, 3, Date.now())).toEqual({ kind: 'not_found' });
  });
});
