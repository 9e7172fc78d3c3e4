/**
 * The `interactive` source on its own: what it accepts as Slack's (URL token, then the signature
 * within 5 minutes either way), and what it makes of each kind of request — a Replay press becomes
 * an `interaction` job, a slash command a lookup job with an immediate ephemeral answer,
 * `ssl_check` and `url_verification` only an answer. Payloads come from the Slack simulator's signer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretResolver } from '../../config/secrets.js';
import type { InboundRequest, SourceParse } from '../types.js';
import { replayActionIdOf, REPLAY_ACTION_ID } from './format.js';
import { INTERACTIVE_SUB_KEY } from './interaction.js';
import { interactiveSource } from './interactive.js';
import { slackDestinationSchema, type SlackDestinationConfig } from './schema.js';
import { signSlackRequest } from './signature.js';
import { startSlackSimulator, type SlackSimulator } from './simulator.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const URL_TOKEN = 'url-token-0123456789abcdef012345';
const NOW = Date.UTC(2026, 0, 1);

let sim: SlackSimulator;
beforeAll(async () => {
  sim = await startSlackSimulator({ signingSecret: SECRET, now: () => NOW });
});
afterAll(() => sim.close());

const destination: SlackDestinationConfig = slackDestinationSchema.parse({ type: 'slack', token: { $env: 'SLACK_BOT_TOKEN' }, signingSecret: { $env: 'SLACK_SIGNING_SECRET' } });
const secrets = createSecretResolver({ SLACK_SIGNING_SECRET: SECRET });

function request(body: string, headers: Record<string, string> = {}, token = URL_TOKEN): InboundRequest {
  return { method: 'POST', subpath: `/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, query: {}, body: Buffer.from(body) };
}

function signed(body: string, timestamp = Math.floor(NOW / 1000), secret = SECRET): InboundRequest {
  return request(body, { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signSlackRequest({ signingSecret: secret, timestamp, body }) });
}

const authenticate = (req: InboundRequest, now = NOW) => interactiveSource.authenticate(req, { destination, destinationName: 'slack', secrets, urlToken: URL_TOKEN, now });
const parse = (req: InboundRequest): SourceParse => interactiveSource.parse(req, { destination, destinationName: 'slack' });
const press = (fields: Parameters<SlackSimulator['blockActionsPayload']>[0]) => new URLSearchParams({ payload: JSON.stringify(sim.blockActionsPayload(fields)) }).toString();

describe('slack interactive source: authentication', () => {
  it('accepts a request signed with the signing secret, within 5 minutes either way', () => {
    const body = press({ actionId: REPLAY_ACTION_ID, value: '42' });
    expect(authenticate(signed(body))).toEqual({ ok: true });
    expect(authenticate(signed(body, Math.floor(NOW / 1000) - 299))).toEqual({ ok: true });
    expect(authenticate(signed(body, Math.floor(NOW / 1000) + 299))).toEqual({ ok: true });
  });

  it('refuses a wrong signature, a stale or future timestamp, missing headers and a wrong URL token, each with 401', () => {
    const body = press({ actionId: REPLAY_ACTION_ID, value: '42' });
    expect(authenticate(signed(body, undefined, 'another-secret'))).toMatchObject({ ok: false, status: 401, code: 'bad_signature' });
    expect(authenticate(signed(body, Math.floor(NOW / 1000) - 301))).toMatchObject({ ok: false, status: 401, code: 'stale_timestamp' });
    expect(authenticate(signed(body, Math.floor(NOW / 1000) + 301))).toMatchObject({ ok: false, status: 401, code: 'stale_timestamp' });
    expect(authenticate(request(body))).toMatchObject({ ok: false, status: 401, code: 'missing_signature' });
    const tampered = { ...signed(body), body: Buffer.from(body.replace('42', '43')) };
    expect(authenticate(tampered)).toMatchObject({ ok: false, status: 401, code: 'bad_signature' });
    expect(authenticate({ ...signed(body), subpath: '/wrong-token' })).toMatchObject({ ok: false, status: 401, code: 'bad_token' });
  });

  it('lets an unsigned ssl_check through on the right URL token only (Slack does not sign it)', () => {
    expect(authenticate(request('ssl_check=1&token=legacy'))).toEqual({ ok: true });
    expect(authenticate(request('ssl_check=1&token=legacy', {}, 'wrong-token'))).toMatchObject({ ok: false, status: 401 });
  });

  it('is off for a destination without a signing secret', () => {
    expect(interactiveSource.isEnabled?.(destination)).toBe(true);
    expect(interactiveSource.isEnabled?.({ ...destination, signingSecret: undefined })).toBe(false);
  });
});

describe('slack interactive source: parsing', () => {
  it('turns a Replay press into an interaction job on its own sub-key, acknowledged with an empty 200', () => {
    const payload = sim.blockActionsPayload({ actionId: REPLAY_ACTION_ID, value: '42', userId: 'U0ALLOWED', userName: 'grace' });
    const parsed = parse(request(new URLSearchParams({ payload: JSON.stringify(payload) }).toString()));
    expect(parsed).toMatchObject({
      kind: 'events',
      respond: { status: 200, body: '' },
      events: [
        {
          type: 'block_actions',
          id: payload.trigger_id,
          jobs: [{ action: 'interaction', subKey: INTERACTIVE_SUB_KEY, params: { kind: 'replay', jobId: '42', userId: 'U0ALLOWED', userName: 'grace', responseUrl: payload.response_url } }],
        },
      ],
    });
    // The legacy verification token is a credential: not stored.
    const [event] = parsed.kind === 'events' ? parsed.events : [];
    expect(event?.payload).not.toHaveProperty('token');
    expect(event?.occurredAt).toBe(NOW);
  });

  it('takes a digest\'s Replay buttons too, and makes no job for other buttons', () => {
    const digest = parse(request(press({ actionId: replayActionIdOf(7), value: '7' })));
    expect(digest.kind === 'events' && digest.events[0]?.jobs).toMatchObject([{ params: { kind: 'replay', jobId: '7' } }]);
    const other = parse(request(press({ actionId: 'kitrelay_link' })));
    expect(other).toMatchObject({ kind: 'events', events: [{ type: 'block_actions', jobs: [] }] });
  });

  it('answers a slash command with an email at once ("Looking up…", ephemeral) and plans the lookup', () => {
    const body = new URLSearchParams({ token: 't', team_id: 'T1', user_id: 'U0ASKER', command: '/kitrelay', text: ' Ada@Example.com ', response_url: `${sim.url}/_sim/response/abc`, trigger_id: '1.2.3' }).toString();
    const parsed = parse(request(body));
    expect(parsed).toMatchObject({
      kind: 'events',
      respond: { status: 200, contentType: 'application/json; charset=utf-8' },
      events: [{ type: 'slash_command', id: '1.2.3', jobs: [{ action: 'interaction', params: { kind: 'lookup', email: 'ada@example.com', userId: 'U0ASKER', responseUrl: `${sim.url}/_sim/response/abc` } }] }],
    });
    expect(parsed.kind === 'events' && JSON.parse(parsed.respond?.body ?? '')).toEqual({ response_type: 'ephemeral', text: 'Looking up ada@example.com…' });
    // Not the subscriber's event: the asker's, so it carries no email of its own.
    expect(parsed.kind === 'events' && parsed.events[0]?.email).toBeUndefined();
  });

  it('answers a slash command without an email with the usage, storing nothing', () => {
    const parsed = parse(request(new URLSearchParams({ user_id: 'U1', command: '/kitrelay', text: 'replay 12', response_url: 'https://hooks.slack.com/commands/x' }).toString()));
    expect(parsed.kind).toBe('answer');
    expect(parsed.kind === 'answer' && JSON.parse(parsed.respond.body)).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('Usage: `/kitrelay <email>`') as unknown });
  });

  it('answers ssl_check with an empty 200 and url_verification with its challenge, storing nothing', () => {
    expect(parse(request('ssl_check=1&token=legacy'))).toEqual({ kind: 'answer', respond: { status: 200, body: '' } });
    const handshake = parse(request(JSON.stringify({ token: 't', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' })));
    expect(handshake).toEqual({ kind: 'answer', respond: { status: 200, contentType: 'application/json; charset=utf-8', body: '{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}' } });
  });

  it('calls unreadable bodies malformed (quarantined by ingest)', () => {
    expect(parse(request('payload=%7Bnot-json'))).toMatchObject({ kind: 'malformed', reason: 'invalid_payload' });
    expect(parse(request('hello=world'))).toMatchObject({ kind: 'malformed', reason: 'invalid_payload' });
    expect(parse(request(JSON.stringify({ type: 'event_callback' })))).toMatchObject({ kind: 'malformed', reason: 'unsupported_payload' });
    expect(parse(request(new URLSearchParams({ payload: JSON.stringify({ type: 'block_actions', actions: [] }) }).toString()))).toMatchObject({ kind: 'malformed', reason: 'invalid_payload' });
    expect(parse(request(new URLSearchParams({ payload: `${'['.repeat(200)}${']'.repeat(200)}` }).toString()))).toMatchObject({ kind: 'malformed' });
  });
});
