/**
 * Digests and dead-job alerts end to end (issue 9): Kit webhooks into a running relay, digested
 * into one Slack message per window (exact across a restart and a SIGKILL), and dead jobs raising
 * alerts that never loop back through the destination that failed.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { routeToken } from '../src/ingest/routes.js';
import { startSlackSimulator, type SlackSimulator } from '../src/integrations/slack/simulator.js';
import { startWebhookReceiver, type WebhookReceiver } from '../src/integrations/webhook/simulator.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { eventually, exited, startRelayChild, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const TOKEN = 'xoxb-digest-token';
const MINUTE = 60_000;
/** A window boundary, so the test knows which window each event falls in. */
const T0 = Date.parse('2026-06-01T12:00:00.000Z');

let sim: SlackSimulator | undefined;
let relay: TestRelay | undefined;
let receiver: WebhookReceiver | undefined;
let children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  await receiver?.close();
  receiver = undefined;
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
  children = [];
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function slackConfig(simulator: SlackSimulator, rules: ConfigInput['rules'], extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    destinations: {
      slack: { type: 'slack', token: env('SLACK_BOT_TOKEN'), apiUrl: simulator.apiUrl, retry: { maxAttempts: 2, baseDelayMs: 20 } } as never,
      ...(extra.destinations ?? {}),
    },
    rules,
    ...(extra.kit ? { kit: extra.kit } : {}),
  };
}

const DIGEST_RULE = { id: 'vip-digest', on: 'subscriber.tag_added', scope: { tag_id: 7 }, digest: { window: '10m', threshold: 2 }, actions: [{ destination: 'slack', params: { channel: '#sales' } }] };

async function tag(target: TestRelay, id: number, tagId = '7'): Promise<number> {
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add' && r.scopeValue === tagId);
  if (!route) throw new Error(`no tag_add-${tagId} route`);
  const body = jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: tagId }).body);
  return (await target.post(new URL(route.url).pathname, body)).status;
}

describe('digests', () => {
  it('sends the first events of a window one by one, digests the rest into one message, and counts exactly across a restart', async () => {
    let now = T0 + 1000;
    const clock = { now: () => now };
    const { dir, remove } = tempDir();
    cleanups.push(remove);
    sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
    const config = slackConfig(sim, [DIGEST_RULE]);
    relay = await startTestRelay(config, { clock, dir, env: { SLACK_BOT_TOKEN: TOKEN } });
    for (let id = 1; id <= 4; id++) expect(await tag(relay, id)).toBe(200);
    await eventually(() => sim?.messages('#sales').length === 2 || undefined, 10_000, 'the two events under the threshold');

    // A restart inside the window: the window and its counts are in the store, not in memory.
    await relay.close();
    relay = await startTestRelay(config, { clock, dir, env: { SLACK_BOT_TOKEN: TOKEN } });
    now = T0 + 5 * MINUTE;
    for (let id = 5; id <= 7; id++) expect(await tag(relay, id)).toBe(200);
    await relay.relay.internalEvents!.runOnce();
    expect(sim.messages('#sales')).toHaveLength(2); // the window has not ended

    now = T0 + 10 * MINUTE;
    await relay.relay.internalEvents!.runOnce();
    const digest = await eventually(() => sim?.messages('#sales')[2], 10_000, 'the digest message');
    expect(digest.text).toBe('5 tags added in the last 10 minutes');
    expect(JSON.stringify(digest.blocks)).toContain('s3@example.com');
    // Closed once: another pass sends nothing more.
    await relay.relay.internalEvents!.runOnce();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sim.messages('#sales')).toHaveLength(3);
    const [window] = await relay.relay.store.listDigestWindows({});
    expect(window).toMatchObject({ sent: 2, digested: 5, status: 'closed' });
    const events = await relay.relay.store.listEvents({});
    const digested = events.filter((e) => e.decisions.some((d) => d.outcome === 'digested'));
    expect(digested.map((e) => e.subscriberId).sort()).toEqual(['3', '4', '5', '6', '7']);
  });

  it('counts every acknowledged event exactly once when the relay is killed with SIGKILL mid-window', async () => {
    const { dir, remove } = tempDir();
    cleanups.push(remove);
    receiver = await startWebhookReceiver();
    writeFileSync(
      path.join(dir, 'kitrelay.config.mjs'),
      `export default {
        kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] } },
        destinations: { sink: { type: 'webhook', url: { $env: 'SINK_URL' }, retry: { maxAttempts: 5, baseDelayMs: 50 } } },
        rules: [{ id: 'digest-all', on: 'subscriber.tag_added', digest: { window: '10s' }, actions: [{ destination: 'sink' }] }],
        queue: { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 50 },
        log: { level: 'error' },
      };\n`,
    );
    const processEnv = { SINK_URL: `${receiver.url}/sink`, KITRELAY_ROUTE_SECRET: 'digest-crash-secret' };
    const routePath = `/hooks/kit/legacy/tag_add-4242/${routeToken('digest-crash-secret', 'tag_add-4242')}`;
    const send = async (url: string, id: number) => {
      const response = await fetch(`${url}${routePath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonBody(legacyFixture('subscriber.tag_add', { id, email: `k${id}@example.com`, scopeValue: '4242' }).body) });
      return response.status;
    };
    let acknowledged = 0;
    const first = await startRelayChild(dir, processEnv);
    children.push(first.child);
    for (let id = 1; id <= 20; id++) if ((await send(first.url, id)) === 200) acknowledged++;
    first.child.kill('SIGKILL');
    await exited(first.child);
    const second = await startRelayChild(dir, processEnv);
    children.push(second.child);
    for (let id = 21; id <= 40; id++) if ((await send(second.url, id)) === 200) acknowledged++;
    expect(acknowledged).toBe(40);

    // Every window closes within ~10 s of its start; the sink gets one digest per window.
    const watcher = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      await eventually(async () => {
        const open = await watcher.listDigestWindows({ status: 'open' });
        const pending = [...(await watcher.listJobs({ status: 'pending' })), ...(await watcher.listJobs({ status: 'running' }))];
        return open.length === 0 && pending.length === 0 ? true : undefined;
      }, 40_000, 'every window closed and its digest delivered');
      const windows = await watcher.listDigestWindows({});
      expect(windows.reduce((n, w) => n + w.digested, 0)).toBe(40);
    } finally {
      await watcher.close();
    }
    // What reached the sink: one delivery per window (by idempotency key), totals adding up to 40.
    const digests = new Map<string, number>();
    for (const request of receiver.requests) {
      const body = JSON.parse(String(request.body)) as { event?: { payload?: { digest?: { windowId: number; total: number } } } };
      const summary = body.event?.payload?.digest;
      if (summary) digests.set(String(summary.windowId), summary.total);
    }
    expect([...digests.values()].reduce((n, total) => n + total, 0)).toBe(40);
  }, 90_000);
});

describe('dead-job alerts', () => {
  it('alerts the owner channel with a Replay button when a job dies, and never through the destination that failed', async () => {
    sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
    receiver = await startWebhookReceiver();
    receiver.fault({ kind: 'status', status: 404, times: Infinity, match: (request) => request.path.startsWith('/crm') });
    const config = slackConfig(
      sim,
      [
        { id: 'to-crm', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'crm' }] },
        { id: 'to-archived', on: 'subscriber.tag_added', scope: { tag_id: 8 }, actions: [{ destination: 'slack', params: { channel: '#archived' } }] },
        { id: 'dead-letters', on: 'kitrelay:job_dead', actions: [{ destination: 'slack', params: { channel: '#ops' } }, { destination: 'pager' }] },
      ],
      {
        destinations: {
          crm: { type: 'webhook', url: `${receiver.url}/crm`, retry: { maxAttempts: 1 } } as never,
          pager: { type: 'webhook', url: `${receiver.url}/pager`, retry: { maxAttempts: 1 } } as never,
        },
        kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 8 }] } },
      },
    );
    relay = await startTestRelay(config, { env: { SLACK_BOT_TOKEN: TOKEN } });

    // The CRM refuses the job: the alert goes to Slack #ops (with Replay) and to the pager.
    expect(await tag(relay, 1)).toBe(200);
    const alert = await eventually(() => sim?.messages('#ops')[0], 15_000, 'the alert in #ops');
    expect(alert.text).toContain('to crm is dead');
    const [crmJob] = await relay.relay.store.listJobs({ destination: 'crm' });
    expect(JSON.stringify(alert.blocks)).toContain(`"action_id":"kitrelay_replay","value":"${crmJob!.id}"`);

    // Slack refuses a job (#archived): its alert is not sent back through Slack; the pager gets it.
    expect(await tag(relay, 2, '8')).toBe(200);
    await eventually(() => receiver?.requests.filter((r) => r.path === '/pager').length === 2 || undefined, 15_000, 'two alerts at the pager');
    const alerts = (await relay.relay.store.listEvents({})).filter((e) => e.type === 'kitrelay:job_dead');
    expect(alerts).toHaveLength(2);
    const slackAlert = alerts.find((e) => (e.payload as { job: { destination: string } }).job.destination === 'slack');
    expect(slackAlert?.decisions).toContainEqual(expect.objectContaining({ rule: 'dead-letters', destination: 'slack', outcome: 'loop' }));
    expect(sim.messages('#ops')).toHaveLength(1);
  });

  it('raises no alert about an alert\'s own dead job: an outage of the owner channel does not loop', async () => {
    sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
    receiver = await startWebhookReceiver();
    receiver.fault({ kind: 'status', status: 404, times: Infinity }); // both webhooks are down
    const config = slackConfig(sim, [
      { id: 'to-crm', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'crm' }] },
      { id: 'dead-letters', on: 'kitrelay:job_dead', actions: [{ destination: 'pager' }] },
    ], {
      destinations: {
        crm: { type: 'webhook', url: `${receiver.url}/crm`, retry: { maxAttempts: 1 } } as never,
        pager: { type: 'webhook', url: `${receiver.url}/pager`, retry: { maxAttempts: 1 } } as never,
      },
    });
    relay = await startTestRelay(config, { env: { SLACK_BOT_TOKEN: TOKEN } });
    expect(await tag(relay, 1)).toBe(200);
    await eventually(async () => ((await relay?.relay.store.listJobs({ status: 'dead' }))?.length === 2 ? true : undefined), 15_000, 'the job and its alert job dead');
    for (let pass = 0; pass < 3; pass++) await relay.relay.internalEvents!.runOnce();
    const alerts = (await relay.relay.store.listEvents({})).filter((e) => e.type === 'kitrelay:job_dead');
    expect(alerts).toHaveLength(1);
    expect(await relay.relay.store.takeDeadJobAlerts(10)).toEqual([]);
  });
});
