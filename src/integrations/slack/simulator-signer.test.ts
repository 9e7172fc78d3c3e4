/**
 * The Slack simulator as a sender (reference/destinations.md §1.5, §1.6): Slack's published
 * signature vector, and signed interactions and slash commands received by a plain HTTP server
 * that checks the HMAC itself over the raw bytes.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signSlackRequest, startSlackSimulator, type SlackSimulator } from './simulator.js';

// bolt-js test/unit/receivers/ExpressReceiver.spec.ts, recomputed in the fact sheet.
const VECTOR = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: 1531420618,
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start(options: Parameters<typeof startSlackSimulator>[0] = {}): Promise<SlackSimulator> {
  const sim = await startSlackSimulator(options);
  closers.push(() => sim.close());
  return sim;
}

/** An app standing in for kitrelay: records what it gets and answers 200 with an empty body. */
async function app(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/interactions`, received };
}

/** The check a receiver makes, written out independently of the signer. */
function isSignedBy(secret: string, { headers, body }: Received): boolean {
  const expected = `v0=${createHmac('sha256', secret).update(`v0:${String(headers['x-slack-request-timestamp'])}:${body.toString('utf8')}`).digest('hex')}`;
  return headers['x-slack-signature'] === expected;
}

describe('slack simulator: signing', () => {
  it('signs Slack’s published vector', () => {
    expect(signSlackRequest(VECTOR.secret, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(signSlackRequest(VECTOR.secret, String(VECTOR.timestamp), Buffer.from(VECTOR.body))).toBe(VECTOR.signature);
  });

  it('gives the headers for a raw body with the simulator’s secret and clock', async () => {
    const s = await start({ signingSecret: VECTOR.secret, now: () => VECTOR.timestamp * 1000 + 999 });
    expect(s.signatureHeaders(VECTOR.body)).toEqual({ 'x-slack-request-timestamp': String(VECTOR.timestamp), 'x-slack-signature': VECTOR.signature });
  });
});

describe('slack simulator: interactions and slash commands', () => {
  it('posts a button press as payload=<JSON>, form-encoded and signed over the exact bytes, with the button found in the message', async () => {
    const s = await start();
    const receiver = await app();
    const blocks = [{ type: 'actions', block_id: 'approval', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, value: 'sub-42' }] }];
    const posted = await fetch(`${s.apiUrl}chat.postMessage`, { method: 'POST', headers: { authorization: `Bearer ${s.credentials.token}`, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ channel: '#sales', text: 'Approve?', blocks }) });
    expect(posted.status).toBe(200);
    const message = s.messages('#sales')[0]!;
    const payload = s.blockActionsPayload({ message, actionId: 'approve' });
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: s.credentials.user_id, team_id: s.credentials.team_id },
      container: { type: 'message', message_ts: message.ts, channel_id: message.channel },
      channel: { id: message.channel, name: 'sales' },
      message: { ts: message.ts, text: 'Approve?', blocks },
      actions: [{ type: 'button', action_id: 'approve', block_id: 'approval', value: 'sub-42', text: { type: 'plain_text', text: 'Approve' }, action_ts: expect.stringMatching(/^\d+\.\d{6}$/) }],
    });
    expect(payload.response_url).toMatch(new RegExp(`^${s.url}/_sim/response/[A-Za-z0-9]{24}$`));

    const answer = await s.sendInteraction(receiver.url, payload);
    expect(answer.status).toBe(200);
    const [got] = receiver.received;
    expect(got!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(got!.body.toString()).toBe(answer.sent);
    expect(isSignedBy(s.credentials.signingSecret, got!)).toBe(true);
    expect(JSON.parse(new URLSearchParams(got!.body.toString()).get('payload')!)).toEqual(payload);
  });

  it('signs with the secret and timestamp given, so a test can send a stale or wrongly signed request', async () => {
    const s = await start();
    const receiver = await app();
    await s.sendInteraction(receiver.url, { type: 'block_actions' }, { signingSecret: 'wrong', timestamp: 1_000 });
    const [got] = receiver.received;
    expect(got!.headers['x-slack-request-timestamp']).toBe('1000');
    expect(isSignedBy('wrong', got!)).toBe(true);
    expect(isSignedBy(s.credentials.signingSecret, got!)).toBe(false);
  });

  it('posts a slash command with Slack’s form fields, and records what the app posts to its response_url', async () => {
    const s = await start();
    const receiver = await app();
    const answer = await s.sendSlashCommand(receiver.url, { command: '/kitrelay', text: 'replay job-7', channel_id: '#ops' });
    const form = new URLSearchParams(receiver.received[0]!.body.toString());
    expect([...form.keys()]).toEqual(['token', 'team_id', 'team_domain', 'channel_id', 'channel_name', 'user_id', 'user_name', 'command', 'text', 'api_app_id', 'response_url', 'trigger_id']);
    expect(Object.fromEntries(form)).toMatchObject({ command: '/kitrelay', text: 'replay job-7', channel_name: 'ops', channel_id: s.credentials.channels[2]!.id, team_id: s.credentials.team_id, user_id: s.credentials.user_id });
    expect(isSignedBy(s.credentials.signingSecret, receiver.received[0]!)).toBe(true);
    expect(answer.sent).toBe(receiver.received[0]!.body.toString());

    const responseUrl = form.get('response_url')!;
    const reply = await fetch(responseUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ response_type: 'ephemeral', text: 'Replayed' }) });
    expect([reply.status, await reply.text()]).toEqual([200, 'ok']);
    expect(s.responses()).toMatchObject([{ id: responseUrl.split('/').at(-1), body: { response_type: 'ephemeral', text: 'Replayed' } }]);
    // Response URLs are `/_sim` routes: not in the request record.
    expect(s.requests).toEqual([]);
  });

  it('presses a button and runs a slash command for another process over HTTP (`/_sim/press`, `/_sim/command`)', async () => {
    const s = await start();
    const receiver = await app();
    const sim = (route: string, body: unknown) => fetch(`${s.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()] as const);

    const [status, pressed] = await sim('/_sim/press', { url: receiver.url, actionId: 'kitrelay_replay', value: '42', userId: 'U0SANDBOX' });
    expect(status).toBe(200);
    expect(pressed).toMatchObject({ status: 200, body: '', responseUrl: expect.stringMatching(new RegExp(`^${s.url}/_sim/response/[A-Za-z0-9]{24}$`)) as unknown });
    const payload = JSON.parse(new URLSearchParams(receiver.received[0]!.body.toString()).get('payload')!) as Record<string, unknown>;
    expect(payload).toMatchObject({ type: 'block_actions', user: { id: 'U0SANDBOX' }, response_url: (pressed as { responseUrl: string }).responseUrl, actions: [{ action_id: 'kitrelay_replay', value: '42' }] });
    expect(isSignedBy(s.credentials.signingSecret, receiver.received[0]!)).toBe(true);

    const [, commanded] = await sim('/_sim/command', { url: receiver.url, command: '/kitrelay', text: 'ada@example.com' });
    const form = new URLSearchParams(receiver.received[1]!.body.toString());
    expect([form.get('text'), form.get('response_url')]).toEqual(['ada@example.com', (commanded as { responseUrl: string }).responseUrl]);
    expect(await sim('/_sim/press', { url: 'not a url' })).toMatchObject([400, { error: expect.stringContaining('url') as unknown }]);
  });
});
