/**
 * Slack alerts end to end (issue 9, first part): Kit webhooks into a running relay, Block Kit
 * messages out to the Slack simulator. One event fans out to three channels, each paced at its
 * own per-channel limit; Slack's errors are classified; a huge name never fails a message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { blockKitViolations, type SlackMessage } from '../src/integrations/slack/blocks.js';
import { startSlackSimulator, type SlackSimulator } from '../src/integrations/slack/simulator.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

const TOKEN = 'xoxb-e2e-token';

let sim: SlackSimulator | undefined;
let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
});

function config(simulator: SlackSimulator, channels: readonly string[], destination: Record<string, unknown> = {}): ConfigInput {
  return {
    destinations: { slack: { type: 'slack', token: env('SLACK_BOT_TOKEN'), apiUrl: simulator.apiUrl, retry: { maxAttempts: 3, baseDelayMs: 20 }, ...destination } as never },
    rules: [
      {
        id: 'vip-alert',
        on: 'subscriber.tag_added',
        scope: { tag_id: 7 },
        actions: channels.map((channel) => ({ destination: 'slack', params: { channel, mention: '<!here>', title: 'New VIP: {{subscriber.first_name}}' } })),
      },
    ],
  };
}

async function tag(target: TestRelay, id: number, firstName?: string): Promise<number> {
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add' && r.scopeValue === '7');
  if (!route) throw new Error('no tag_add-7 route');
  const body = jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: '7', ...(firstName !== undefined ? { firstName } : {}) }).body);
  return (await target.post(new URL(route.url).pathname, body)).status;
}

describe('slack alerts', () => {
  it('fans one event out to three channels, each within its own 1/s limit, none slowing another', async () => {
    sim = await startSlackSimulator({ token: TOKEN });
    relay = await startTestRelay(config(sim, ['#sales', '#ops', '#general']), { env: { SLACK_BOT_TOKEN: TOKEN } });
    await relay.relay.worker?.stop();
    for (let id = 1; id <= 6; id++) expect(await tag(relay, id)).toBe(200);
    relay.relay.worker?.start();
    await eventually(() => (sim && ['#sales', '#ops', '#general'].every((c) => sim?.messages(c).length === 6) ? true : undefined), 20_000, '6 messages in each of 3 channels');

    // Channels do not wait for each other: every channel's third message arrived before any channel's
    // fourth, which its 1/s limit holds back a second (an order, not a duration: a slow machine passes).
    const arrivals = (channel: string) => sim?.requests.filter((r) => r.path === '/api/chat.postMessage' && r.status === 200 && JSON.stringify(r.body).includes(`"${channel}"`)).map((r) => r.receivedAt) ?? [];
    const bursts = ['#sales', '#ops', '#general'].map((c) => arrivals(c)[2] ?? Infinity);
    const fourths = ['#sales', '#ops', '#general'].map((c) => arrivals(c)[3] ?? -Infinity);
    expect(Math.max(...bursts)).toBeLessThan(Math.min(...fourths));
    // Both sides count 1/s with a burst of 3, so a call delayed on the way can meet an empty bucket at
    // Slack now and then: such a 429 is retried after its Retry-After, and nothing is lost.
    const posts = sim.requests.filter((r) => r.path === '/api/chat.postMessage');
    expect(posts.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    expect(await relay.relay.store.listJobs({ status: 'dead' })).toEqual([]);
    for (const channel of ['#sales', '#ops', '#general']) {
      const messages = sim.messages(channel);
      expect(messages[0]?.text).toContain('New VIP: John');
      expect(messages[0]?.text).toContain('<!here>');
    }
    const jobs = await relay.relay.store.listJobs({});
    expect(new Set(jobs.map((j) => j.subKey))).toEqual(new Set(['sales', 'ops', 'general']));
  });

  it('kills a job Slack refuses for good with its error, and opens the breaker on a bad token', async () => {
    sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
    relay = await startTestRelay(config(sim, ['#archived']), { env: { SLACK_BOT_TOKEN: TOKEN } });
    expect(await tag(relay, 10)).toBe(200);
    const [dead] = await eventually(async () => {
      const jobs = await relay?.relay.store.listJobs({ status: 'dead' });
      return jobs?.length === 1 ? jobs : undefined;
    }, 10_000, 'the dead job');
    expect(dead?.lastError).toBe('Slack: is_archived');
    await relay.close();

    relay = await startTestRelay(config(sim, ['#sales']), { env: { SLACK_BOT_TOKEN: 'xoxb-wrong' } });
    expect(await tag(relay, 11)).toBe(200);
    const state = await eventually(async () => (await relay?.relay.store.getDestinationStates())?.find((s) => s.breakerOpenUntil !== null), 10_000, 'the breaker');
    expect(state.destination).toBe('slack');
    expect((await relay.relay.store.listJobs({ status: 'dead' }))[0]?.lastError).toMatch(/^Slack: invalid_auth .*circuit breaker opens/);
  });

  it('posts a subscriber with a 5,000-character name, cut to fit, and the text fallback set', async () => {
    sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
    relay = await startTestRelay(config(sim, ['#sales']), { env: { SLACK_BOT_TOKEN: TOKEN } });
    expect(await tag(relay, 12, 'N'.repeat(5_000))).toBe(200);
    const [message] = await eventually(() => (sim?.messages('#sales').length === 1 ? sim.messages('#sales') : undefined), 10_000, 'the message');
    // The simulator refuses blocks past Slack's limits (invalid_blocks): it took these, and they check out.
    expect(message?.text.length).toBeGreaterThan(0);
    expect(blockKitViolations({ text: message?.text ?? '', blocks: (message?.blocks ?? []) as SlackMessage['blocks'] })).toEqual([]);
    expect(JSON.stringify(message?.blocks)).toContain('NNN…');
    expect((await relay.relay.store.listJobs({ status: 'succeeded' }))).toHaveLength(1);
  });
});

describe('slack: enrichment at delivery', () => {
  it('adds what the enrichment finds, caches it per subscriber, and degrades (not fails, not delays) when it times out', async () => {
    const { createServer } = await import('node:http');
    let lookups = 0;
    const crm = createServer((request, response) => {
      lookups += 1;
      if (request.url?.includes('slow')) return; // never answers
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ 'Lead score': 87, Orders: 3 }));
    });
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
    const crmUrl = `http://127.0.0.1:${(crm.address() as { port: number }).port}`;
    try {
      sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
      const base = config(sim, []);
      relay = await startTestRelay(
        {
          ...base,
          enrichments: {
            crm: { fetch: async (event, { signal }) => (await fetch(`${crmUrl}/lead?email=${event.subscriber?.email ?? ''}`, { signal })).json() as Promise<Record<string, number>>, timeoutMs: 1_000 },
            slowCrm: { fetch: async (_event, { signal }) => (await fetch(`${crmUrl}/slow`, { signal })).json() as Promise<Record<string, number>>, timeoutMs: 300 },
          },
          rules: [
            { id: 'sales', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'slack', params: { channel: '#sales' }, enrich: 'crm' }, { destination: 'slack', params: { channel: '#ops' }, enrich: 'slowCrm' }] },
          ],
        },
        { env: { SLACK_BOT_TOKEN: TOKEN } },
      );
      expect(await tag(relay, 20, 'Ann')).toBe(200);
      // The same subscriber again (another body, so not a duplicate): the CRM answer is reused.
      expect(await tag(relay, 20, 'Anna')).toBe(200);
      await eventually(() => (sim?.messages('#sales').length === 2 && sim.messages('#ops').length === 2 ? true : undefined), 10_000, 'both messages twice');

      const [sales] = sim.messages('#sales');
      expect(JSON.stringify(sales?.blocks)).toContain('Lead score');
      expect(JSON.stringify(sales?.blocks)).toContain('87');
      const [ops] = sim.messages('#ops');
      expect(JSON.stringify(ops?.blocks)).toContain('Enrichment failed');
      const audit = await relay.relay.store.listAttempts({ limit: 10 });
      const notes = audit.map((a) => a.correlation.enrichment).sort();
      expect(notes).toEqual(['crm: cached', 'crm: ok', 'slowCrm: degraded: timed out after 300 ms', 'slowCrm: degraded: timed out after 300 ms']);
      // One CRM lookup for the fast one (then cached); the slow one is asked each time.
      expect(lookups).toBe(3);
      expect(Math.max(...audit.filter((a) => a.correlation.enrichment?.startsWith('slowCrm')).map((a) => a.durationMs))).toBeLessThan(2_000);
    } finally {
      crm.closeAllConnections();
      crm.close();
    }
  });
});
