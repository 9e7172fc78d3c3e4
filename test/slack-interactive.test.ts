/**
 * Inbound Slack requests end to end (issue 9, "Inbound Slack requests"): the Slack simulator signs
 * and posts button presses and slash commands to a running relay's interactive URL, exactly as
 * Slack would, and takes the relay's answers at its response URLs. A Replay press by an allowed
 * user replays a dead job, one by anyone else is refused; both are in the audit log. The slash
 * command answers at once and then with the subscriber's events and jobs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { env, type ConfigInput } from '../src/config/schema.js';
import { formatDeadLetterAlert, REPLAY_ACTION_ID } from '../src/integrations/slack/format.js';
import { startSlackSimulator, type SlackResponse, type SlackSimulator } from '../src/integrations/slack/simulator.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { silentLog } from '../src/lib/log.js';
import { startRelay, type Relay } from '../src/main.js';
import type { AttemptRecord, JobRecord } from '../src/store/types.js';
import { eventually, execCli, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const TOKEN = 'xoxb-e2e-token';
const OTHER_USER = 'U0NOTALLOWED';

let sim: SlackSimulator | undefined;
let relay: TestRelay | undefined;
let sandbox: { relay: Relay; remove: () => void } | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  await sandbox?.relay.close({ graceMs: 500 });
  sandbox?.remove();
  sandbox = undefined;
});

interface Setup {
  readonly sim: SlackSimulator;
  readonly relay: TestRelay;
  /** The relay's interactive URL for the Slack destination. */
  readonly url: string;
}

async function start(): Promise<Setup> {
  sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
  const config: ConfigInput = {
    destinations: {
      slack: {
        type: 'slack',
        token: env('SLACK_BOT_TOKEN'),
        signingSecret: env('SLACK_SIGNING_SECRET'),
        apiUrl: sim.apiUrl,
        // The simulator's response URLs are on its own origin, not hooks.slack.com.
        responseUrlBase: sim.url,
        replayUsers: [sim.credentials.user_id],
        retry: { maxAttempts: 1, baseDelayMs: 20 },
      } as never,
    },
    rules: [{ id: 'vip-alert', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'slack', params: { channel: '#sales' } }] }],
  };
  relay = await startTestRelay(config, { env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: sim.credentials.signingSecret } });
  const route = relay.relay.routes.sources.get('slack/interactive');
  if (!route) throw new Error('no interactive route');
  return { sim, relay, url: `${relay.url}${route.path}` };
}

async function tag(target: TestRelay, id: number): Promise<void> {
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add' && r.scopeValue === '7');
  if (!route) throw new Error('no tag_add-7 route');
  const answer = await target.post(new URL(route.url).pathname, jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: '7' }).body));
  expect(answer.status).toBe(200);
}

/** A post to #sales that Slack refuses once: the job (one attempt allowed) is dead. */
async function deadJob({ sim: s, relay: r }: Setup): Promise<JobRecord> {
  s.faults.add({ kind: 'status', status: 200, body: { ok: false, error: 'channel_not_found' }, method: 'POST', path: '/api/chat.postMessage' });
  await tag(r, 1);
  return eventually(async () => (await r.relay.store.listJobs({ status: 'dead', rule: 'vip-alert' }))[0], 10_000, 'the dead job');
}

/** The dead-letter alert, posted to #ops through the Web API as kitrelay posts it; the stored message is what a user presses on. */
async function alertFor(s: SlackSimulator, job: JobRecord) {
  const message = formatDeadLetterAlert({ jobId: job.id, destination: job.destination, rule: job.rule, error: job.lastError, attempts: job.attempts });
  const posted = await fetch(`${s.apiUrl}chat.postMessage`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ channel: '#ops', ...message }) });
  expect(posted.status).toBe(200);
  const stored = s.messages('#ops').at(-1);
  if (!stored) throw new Error('the alert was not stored');
  return stored;
}

const responsesTo = (s: SlackSimulator, url: unknown): SlackResponse[] => s.responses().filter((r) => typeof url === 'string' && url.endsWith(`/${r.id}`));
const pressRecords = async (r: TestRelay): Promise<AttemptRecord[]> => (await r.relay.store.listAttempts({ destination: 'slack' })).filter((a) => a.correlation.press !== undefined);
/** The one press's audit record, once written (the answer reaches Slack just before it is). */
const pressRecord = (r: TestRelay): Promise<AttemptRecord> => eventually(async () => (await pressRecords(r))[0], 10_000, 'the audit record of the press');

describe('slack inbound requests: signatures', () => {
  it('refuses a bad signature, a stale or future timestamp and a wrong URL token with 401, storing nothing', async () => {
    const setup = await start();
    const payload = setup.sim.blockActionsPayload({ actionId: REPLAY_ACTION_ID, value: '1' });
    const now = Math.floor(Date.now() / 1000);
    expect((await setup.sim.sendInteraction(setup.url, payload, { signingSecret: 'not-the-secret' })).status).toBe(401);
    expect((await setup.sim.sendInteraction(setup.url, payload, { timestamp: now - 6 * 60 })).status).toBe(401);
    expect((await setup.sim.sendInteraction(setup.url, payload, { timestamp: now + 6 * 60 })).status).toBe(401);
    expect((await setup.sim.sendInteraction(setup.url.replace(/[^/]+$/, 'x'.repeat(32)), payload)).status).toBe(401);
    expect(await setup.relay.relay.store.listEvents({})).toEqual([]);
    expect(await setup.relay.relay.store.listJobs({})).toEqual([]);
    const rejected = await setup.relay.relay.metrics.registry.getSingleMetricAsString('kitrelay_ingest_rejected_total');
    expect(rejected).toMatch(/reason="bad_signature"} 1/);
    expect(rejected).toMatch(/reason="stale_timestamp"} 2/);
  });

  it('answers url_verification with its challenge and ssl_check with an empty 200, storing nothing', async () => {
    const setup = await start();
    const handshake = JSON.stringify({ token: 'legacy', challenge: 'c-3eZbrw1aBm2rZgRNFdxV2595E9', type: 'url_verification' });
    const verified = await fetch(setup.url, { method: 'POST', headers: { 'content-type': 'application/json', ...setup.sim.signatureHeaders(handshake) }, body: handshake });
    expect([verified.status, await verified.json()]).toEqual([200, { challenge: 'c-3eZbrw1aBm2rZgRNFdxV2595E9' }]);
    // Slack sends ssl_check unsigned.
    const check = await fetch(setup.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'ssl_check=1&token=legacy' });
    expect([check.status, await check.text()]).toEqual([200, '']);
    expect(await setup.relay.relay.store.listEvents({})).toEqual([]);
  });
});

describe('slack inbound requests: the Replay button', () => {
  it('replays a dead job when an allowed user presses Replay: the job succeeds, the confirmation reaches the response_url, the press is audited', async () => {
    const setup = await start();
    const dead = await deadJob(setup);
    const payload = setup.sim.blockActionsPayload({ message: await alertFor(setup.sim, dead), actionId: REPLAY_ACTION_ID });
    const answer = await setup.sim.sendInteraction(setup.url, payload);
    expect([answer.status, answer.body]).toEqual([200, '']);

    const replayed = await eventually(async () => {
      const job = await setup.relay.relay.store.getJob(dead.id);
      return job?.status === 'succeeded' ? job : undefined;
    }, 10_000, 'the replayed job to succeed');
    expect(replayed.replays).toBe(1);
    expect(setup.sim.messages('#sales')).toHaveLength(1);
    const [confirmation] = await eventually(() => (responsesTo(setup.sim, payload.response_url).length > 0 ? responsesTo(setup.sim, payload.response_url) : undefined), 10_000, 'the confirmation');
    expect(confirmation?.body).toMatchObject({ response_type: 'in_channel', replace_original: false, text: expect.stringContaining(`<@${setup.sim.credentials.user_id}> replayed job #${dead.id}`) as unknown });

    const press = await pressRecord(setup.relay);
    expect(press).toMatchObject({ action: 'interaction', outcome: 'succeeded', responseStatus: 200, correlation: { slackUser: setup.sim.credentials.user_id, press: 'replay', verdict: 'replayed', replayJobId: String(dead.id) } });
    const [pressJob] = await setup.relay.relay.store.listJobs({ rule: 'slack:interactive' });
    expect(pressJob).toMatchObject({ action: 'interaction', subKey: ':interactive', status: 'succeeded' });

    // Slack resending the same press (same trigger_id) is a duplicate: no second replay job.
    expect((await setup.sim.sendInteraction(setup.url, payload)).status).toBe(200);
    expect(await setup.relay.relay.store.listJobs({ rule: 'slack:interactive' })).toHaveLength(1);
  });

  it('refuses a user not in replayUsers with an ephemeral answer: the job stays dead, the press is audited', async () => {
    const setup = await start();
    const dead = await deadJob(setup);
    const payload = setup.sim.blockActionsPayload({ message: await alertFor(setup.sim, dead), actionId: REPLAY_ACTION_ID, userId: OTHER_USER, userName: 'mallory' });
    expect((await setup.sim.sendInteraction(setup.url, payload)).status).toBe(200);

    const [refusal] = await eventually(() => (responsesTo(setup.sim, payload.response_url).length > 0 ? responsesTo(setup.sim, payload.response_url) : undefined), 10_000, 'the refusal');
    expect(refusal?.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining(`Sorry <@${OTHER_USER}>, you may not replay jobs`) as unknown });
    const press = await pressRecord(setup.relay);
    expect(press).toMatchObject({ outcome: 'succeeded', correlation: { slackUser: OTHER_USER, press: 'replay', verdict: 'refused' } });
    expect(await setup.relay.relay.store.getJob(dead.id)).toMatchObject({ status: 'dead', replays: 0, attempts: 1 });
    expect(setup.sim.messages('#sales')).toEqual([]);
  });

  it('refuses a response_url on another host: nothing replayed, nothing sent there, the press audited', async () => {
    const setup = await start();
    const dead = await deadJob(setup);
    const elsewhere = `${setup.relay.receiver.url}/steal`;
    const payload = { ...setup.sim.blockActionsPayload({ message: await alertFor(setup.sim, dead), actionId: REPLAY_ACTION_ID }), response_url: elsewhere };
    expect((await setup.sim.sendInteraction(setup.url, payload)).status).toBe(200);

    const pressJob = await eventually(async () => (await setup.relay.relay.store.listJobs({ rule: 'slack:interactive', status: 'dead' }))[0], 10_000, 'the refused press');
    expect(pressJob.lastError).toMatch(/^response_url on http:\/\/127\.0\.0\.1:\d+ refused: answers go only to responseUrlBase/);
    const press = await pressRecord(setup.relay);
    expect(press).toMatchObject({ outcome: 'failed', correlation: { slackUser: setup.sim.credentials.user_id, press: 'replay', verdict: 'bad_response_url' } });
    expect(press.request).toBeUndefined();
    expect(setup.relay.receiver.requests).toEqual([]);
    expect(await setup.relay.relay.store.getJob(dead.id)).toMatchObject({ status: 'dead', replays: 0 });
  });
});

describe('slack inbound requests: the slash command', () => {
  it('answers /kitrelay <email> at once, then posts the subscriber\'s recent events and jobs to the response_url', async () => {
    const setup = await start();
    await deadJob(setup);
    const answer = await setup.sim.sendSlashCommand(setup.url, { command: '/kitrelay', text: 'S1@example.com' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ response_type: 'ephemeral', text: 'Looking up s1@example.com…' });

    const responseUrl = new URLSearchParams(answer.sent).get('response_url');
    const [lookup] = await eventually(() => (responsesTo(setup.sim, responseUrl).length > 0 ? responsesTo(setup.sim, responseUrl) : undefined), 10_000, 'the lookup');
    const body = lookup?.body as { response_type: string; text: string; blocks: unknown[] };
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toBe('s1@example.com: 1 recent events, 1 recent jobs (1 dead)');
    const shown = JSON.stringify(body.blocks);
    expect(shown).toContain('`subscriber.tag_added`');
    expect(shown).toMatch(/#\d+ slack\/post \*dead\* \(1 of 1 attempts\)/);
    expect(shown).toContain('Slack: channel_not_found');
    const press = await pressRecord(setup.relay);
    expect(press).toMatchObject({ correlation: { slackUser: setup.sim.credentials.user_id, press: 'lookup', verdict: 'looked_up' } });
  });

  it('refuses a lookup to a user in neither lookupUsers nor replayUsers, and audits it', async () => {
    const setup = await start();
    await deadJob(setup);
    const answer = await setup.sim.sendSlashCommand(setup.url, { command: '/kitrelay', text: 's1@example.com', user_id: OTHER_USER });
    expect(answer.status).toBe(200);
    const responseUrl = new URLSearchParams(answer.sent).get('response_url');
    const [refusal] = await eventually(() => (responsesTo(setup.sim, responseUrl).length > 0 ? responsesTo(setup.sim, responseUrl) : undefined), 10_000, 'the refusal');
    const body = refusal?.body as { response_type: string; text: string };
    expect(body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('you may not look subscribers up') as unknown });
    expect(body.text).not.toContain('channel_not_found');
    expect(await pressRecord(setup.relay)).toMatchObject({ correlation: { slackUser: OTHER_USER, press: 'lookup', verdict: 'refused' } });
  });

  it('answers a slash command without an email with its usage, storing nothing', async () => {
    const setup = await start();
    const answer = await setup.sim.sendSlashCommand(setup.url, { command: '/kitrelay', text: '' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('Usage') as unknown });
    expect(await setup.relay.relay.store.listEvents({})).toEqual([]);
  });
});

describe('slack inbound requests: the sandbox', () => {
  it('`kitrelay sandbox slack-press` replays a dead job as the replayUsers user and shows a stranger\'s refusal; `slack-command` shows the lookup', async () => {
    const temp = tempDir();
    const file = path.join(temp.dir, 'kitrelay.config.mjs');
    // No SLACK_BOT_TOKEN or SLACK_SIGNING_SECRET: the sandbox's Slack simulator stands in and signs.
    const config = {
      store: { dataDir: temp.dir },
      destinations: { slack: { type: 'slack', token: { $env: 'SLACK_BOT_TOKEN' }, signingSecret: { $env: 'SLACK_SIGNING_SECRET' }, replayUsers: ['U0SANDBOX'], retry: { maxAttempts: 1 } } },
      rules: [{ id: 'vip-alert', on: 'subscriber.tag_added', scope: { tag_id: 7 }, actions: [{ destination: 'slack', params: { channel: '#archived' } }] }],
    };
    writeFileSync(file, `export default ${JSON.stringify(config)};\n`);
    const loaded = resolveConfig(config, { cwd: temp.dir, env: {}, source: file });
    sandbox = { relay: await startRelay({ loaded, env: {}, log: silentLog(), port: 0, sandbox: true }), remove: temp.remove };
    const running = sandbox.relay;
    const route = [...running.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add' && r.scopeValue === '7');
    const webhook = await fetch(`${running.listenUrl}${new URL(route?.url ?? '').pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonBody(legacyFixture('subscriber.tag_add', { id: 5, email: 'ada@example.com', scopeValue: '7' }).body) });
    expect(webhook.status).toBe(200);
    const dead = await eventually(async () => (await running.store.listJobs({ status: 'dead', rule: 'vip-alert' }))[0], 10_000, 'the dead job');

    const cli = (...args: string[]) => execCli(['--config', file, '--data-dir', temp.dir, 'sandbox', ...args]);
    const pressed = await cli('slack-press', String(dead.id));
    expect(pressed).toMatchObject({ code: 0, stdout: expect.stringContaining(`[in_channel] :repeat: <@U0SANDBOX> replayed job #${dead.id} (slack/post)`) as unknown });
    expect(pressed.stdout).toContain('slack: kitrelay answered 200');
    const refused = await cli('slack-press', String(dead.id), '--user', 'U0STRANGER');
    expect(refused.stdout).toContain('[ephemeral] Sorry <@U0STRANGER>, you may not replay jobs');
    const looked = await cli('slack-command', 'ada@example.com');
    expect(looked.stdout).toContain('[ephemeral] Subscriber ada@example.com');
    expect(looked.stdout).toContain('`subscriber.tag_added`');
  });
});
