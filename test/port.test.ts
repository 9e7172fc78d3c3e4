/**
 * The integration port end to end through a running relay: an integration's inbound source goes
 * through the same commit step as Kit's webhooks; shadow destinations record and send nothing;
 * batch actions carry many jobs in one request; action params are checked when the config loads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { env, type ConfigInput } from '../src/config/schema.js';
import { legacyFixture, jsonBody } from '../src/kit/fixtures.js';
import { systemClock } from '../src/lib/clock.js';
import { compileRules } from '../src/rules/route.js';
import { reingestQuarantine } from '../src/services/index.js';
import { eventually, execCli, startTestRelay, type TestRelay } from './helpers.js';

let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

const sink = { type: 'webhook' as const, url: env('SINK_URL') };

describe('sources: an integration receives events through the commit step', () => {
  it('stores, dedupes, routes and quarantines what the inbound source receives; a wrong token stores nothing', async () => {
    relay = await startTestRelay({
      destinations: { crm: { type: 'webhook', url: env('SINK_URL'), inbound: { typeField: 'event', idField: 'id', emailField: 'email' } }, sink },
      rules: [{ id: 'crm-deal', on: 'webhook:deal.won', actions: [{ destination: 'sink', params: { note: 'won by {{email}}' } }] }],
    });
    const route = relay.relay.routes.sources.get('crm/inbound');
    expect(route?.url).toMatch(/\/hooks\/in\/crm\/inbound\/[A-Za-z0-9_-]{32}$/);
    const path = new URL(route?.url ?? '').pathname;

    const wrong = await relay.post(path.replace(/[^/]+$/, 'x'.repeat(32)), JSON.stringify({ event: 'deal.won', id: 'd1' }));
    expect(wrong.status).toBe(401);
    expect(await relay.relay.store.listEvents({})).toHaveLength(0);

    const first = await relay.post(path, JSON.stringify([{ event: 'deal.won', id: 'd1', email: 'Ada@Example.com' }, { no: 'type' }]));
    expect(first.status).toBe(200);
    const again = await relay.post(path, JSON.stringify({ event: 'deal.won', id: 'd1', email: 'ada@example.com' }));
    expect(again.status).toBe(200);

    const events = await relay.relay.store.listEvents({});
    expect(events.map((e) => [e.origin, e.source, e.type, e.status])).toEqual([
      ['webhook', 'source', 'webhook:deal.won', 'duplicate'],
      ['webhook', 'source', 'webhook:deal.won', 'accepted'],
    ]);
    expect(events[1]).toMatchObject({ email: 'ada@example.com', subscriberKey: 'email:ada@example.com' });
    const [quarantined] = await relay.relay.store.listQuarantine({});
    expect(quarantined).toMatchObject({ system: 'source', route: 'crm/inbound', reason: 'invalid_event' });

    const request = await eventually(() => relay?.receiver.requests.find((r) => r.path === '/sink'), 10_000, 'the routed job');
    expect((request.json as { job: { params: { note: string } } }).job.params.note).toBe('won by ada@example.com');

    const broken = await relay.post(path, '{"event":');
    expect(broken.status).toBe(400);
    const entries = await relay.relay.store.listQuarantine({});
    expect(entries).toHaveLength(2);

    // Re-ingest, with the body corrected: parsed by the source again, committed and routed.
    const deps = { store: relay.relay.store, clock: systemClock, config: relay.relay.config, rules: compileRules(relay.relay.config), routes: relay.relay.routes };
    const brokenEntry = entries.find((e) => e.reason === 'invalid_json');
    expect(await reingestQuarantine(deps, brokenEntry?.id ?? 0)).toMatchObject({ kind: 'still_invalid', reason: 'invalid_json' });
    const fixed = await reingestQuarantine(deps, brokenEntry?.id ?? 0, Buffer.from(JSON.stringify({ event: 'deal.won', id: 'd2', email: 'bo@example.com' })));
    expect(fixed).toMatchObject({ kind: 'done', outcome: { kind: 'accepted', accepted: 1, jobs: 1 } });
    expect((await relay.relay.store.getQuarantine(brokenEntry?.id ?? 0))?.status).toBe('reingested');
    expect((await relay.relay.store.listEvents({ email: 'bo@example.com' }))[0]).toMatchObject({ origin: 'webhook', type: 'webhook:deal.won', source: 'reingest' });
  });
});

describe('shadow mode', () => {
  it('runs the pipeline and records the exact request as a shadow attempt, sending nothing', async () => {
    relay = await startTestRelay({
      destinations: { sink: { ...sink, mode: 'shadow' } },
      kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 7 }] } },
      rules: [{ id: 'vip', on: 'subscriber.tag_add', scope: { tag_id: 7 }, actions: [{ destination: 'sink', params: { list: 'vip' } }] }],
    });
    const route = [...relay.relay.routes.legacy.values()][0];
    const fixture = legacyFixture('subscriber.tag_add', { id: 12, email: 'grace@example.com', scopeValue: '7' });
    const answer = await relay.post(new URL(route?.url ?? '').pathname, jsonBody(fixture.body));
    expect(answer.status).toBe(200);

    const [attempt] = await eventually(async () => {
      const records = await relay?.relay.store.listAttempts({ isShadow: true });
      return records && records.length > 0 ? records : undefined;
    }, 10_000, 'a shadow attempt');
    expect(attempt).toMatchObject({ isShadow: true, outcome: 'succeeded', destination: 'sink', request: { method: 'POST', url: `${relay.receiver.url}/[redacted]` } });
    expect(attempt?.request?.bodyPreview).toContain('"list":"vip"');
    expect(relay.receiver.requests).toHaveLength(0);

    const report = await execCli(['shadow', 'report', '--json'], { KITRELAY_DATA_DIR: relay.dir, SINK_URL: relay.receiver.url });
    expect(report.code).toBe(0);
    const parsed = JSON.parse(report.stdout) as { destinations: unknown[]; entries: { subscriber: string; count: number }[] };
    expect(parsed.destinations).toEqual([{ destination: 'sink', requests: 1, subscribers: 1 }]);
    expect(parsed.entries[0]).toMatchObject({ subscriber: 'id:12', count: 1 });
  });
});

describe('batch actions', () => {
  it('sends many jobs in one request: one audit record per job, all naming the shared call', async () => {
    relay = await startTestRelay({
      destinations: { sink: { ...sink, maxBatchSize: 50, concurrency: 1, rateLimit: { perSecond: 1, burst: 1 } } },
      kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 7 }] } },
      rules: [{ id: 'vip', on: 'subscriber.tag_add', scope: { tag_id: 7 }, actions: [{ destination: 'sink', action: 'sendBatch' }] }],
    });
    await relay.relay.worker?.stop();
    const route = [...relay.relay.routes.legacy.values()][0];
    for (let id = 1; id <= 30; id++) {
      const fixture = legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: '7' });
      expect((await relay.post(new URL(route?.url ?? '').pathname, jsonBody(fixture.body))).status).toBe(200);
    }
    relay.relay.worker?.start();
    await eventually(async () => {
      const jobs = await relay?.relay.store.listJobs({ status: 'succeeded' });
      return jobs?.length === 30 ? true : undefined;
    }, 15_000, '30 succeeded jobs');
    // One token per call: the burst of 1 allows one request now, so all 30 went in one.
    expect(relay.receiver.requests).toHaveLength(1);
    expect(relay.receiver.requests[0]?.json).toHaveLength(30);
    const attempts = await relay.relay.store.listAttempts({ limit: 100 });
    expect(attempts).toHaveLength(30);
    expect(new Set(attempts.map((a) => a.correlation.batchId)).size).toBe(1);
    expect(attempts[0]?.correlation.batchSize).toBe('30');
  });
});

describe('action params are checked when the config loads', () => {
  const load = (input: ConfigInput) => () => resolveConfig(input, { cwd: '/tmp', env: { BONJORO_API_KEY: 'k', SINK_URL: 'http://127.0.0.1:1' }, source: 'test' });
  const bonjoro = { type: 'bonjoro' as const, apiKey: env('BONJORO_API_KEY') };

  it('names the field and the fix for a campaign given by its integer id', () => {
    expect(load({ destinations: { bonjoro }, rules: [{ id: 'v', on: 'subscriber.tag_added', actions: [{ destination: 'bonjoro', params: { campaign_id: '42' } }] }] })).toThrow(
      /config\.rules\[0\]\.actions\[0\]\.params\.campaign_id: must be the campaign's uuid \(GET \/api\/v2\/campaigns → data\[\]\.uuid/,
    );
  });

  it('refuses an action the integration does not have, listing those it has', () => {
    expect(load({ destinations: { bonjoro }, rules: [{ id: 'v', on: 'subscriber.tag_added', actions: [{ destination: 'bonjoro', action: 'send' }] }] })).toThrow(/"send" is not an action of the bonjoro integration; use one of: greet/);
  });

  it('refuses params the action does not know', () => {
    expect(load({ destinations: { bonjoro }, rules: [{ id: 'v', on: 'subscriber.tag_added', actions: [{ destination: 'bonjoro', params: { notes: 'typo' } }] }] })).toThrow(/params: .*notes/);
  });

  it('names the known integrations for an unknown destination type', () => {
    expect(load({ destinations: { x: { type: 'zapier' } as never } })).toThrow(/known integration: webhook, bonjoro, slack/);
  });
});
