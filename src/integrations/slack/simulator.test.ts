/** The Slack simulator's Web API over real HTTP on loopback, against reference/destinations.md §1.1–§1.4 and §6. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSlackSimulator, type SlackSimulator, type SlackSimulatorOptions } from './simulator.js';

let sim: SlackSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: SlackSimulatorOptions = {}): Promise<SlackSimulator> {
  sim = await startSlackSimulator(options);
  return sim;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
}

type CallOptions = { form?: Record<string, string>; json?: unknown; token?: string | null; contentType?: string; get?: string };

/** Calls a Web API method the way clients do: form-encoded, or JSON, or GET with a query. */
async function api(s: SlackSimulator, method: string, options: CallOptions = {}): Promise<Answer> {
  const token = options.token === undefined ? s.credentials.token : options.token;
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  } else if (options.json !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json; charset=utf-8';
    body = typeof options.json === 'string' ? options.json : JSON.stringify(options.json);
  }
  const url = `${s.apiUrl}${method}${options.get === undefined ? '' : `?${options.get}`}`;
  const response = await fetch(url, { method: options.get === undefined ? 'POST' : 'GET', headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: JSON.parse(text) };
}

const post = (s: SlackSimulator, args: Record<string, unknown>, token?: string | null) => api(s, 'chat.postMessage', { json: { channel: '#general', ...args }, token });
const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (text: string, value = 'v') => ({ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text }, value }] });

describe('slack simulator: chat.postMessage', () => {
  it('posts a form-encoded message (blocks and attachments as JSON strings, token as a field) and answers the message with a unique ts', async () => {
    const s = await start({ now: () => Date.parse('2026-03-01T10:00:00.123Z') });
    const blocks = [section('*New subscriber*'), button('Approve')];
    const answer = await api(s, 'chat.postMessage', { token: null, form: { token: s.credentials.token, channel: '#sales', text: 'New subscriber', blocks: JSON.stringify(blocks), attachments: JSON.stringify([{ text: 'more' }]) } });
    expect(answer.status).toBe(200);
    const sales = s.credentials.channels.find((c) => c.name === 'sales')!;
    expect(answer.json).toMatchObject({ ok: true, channel: sales.id, ts: '1772359200.123000', message: { text: 'New subscriber', type: 'message', subtype: 'bot_message', bot_id: s.credentials.bot_id, ts: '1772359200.123000', blocks } });
    expect(answer.headers.get('x-oauth-scopes')).toBe('chat:write,channels:read,groups:read');
    expect(s.messages('sales')).toMatchObject([{ channel: sales.id, text: 'New subscriber', blocks, attachments: [{ text: 'more' }], via: 'api' }]);
    const again = await api(s, 'chat.postMessage', { form: { channel: sales.id, text: 'again' } });
    const other = await api(s, 'chat.postMessage', { form: { channel: 'general', text: 'elsewhere' } });
    expect([again.json.ts, other.json.ts]).toEqual(['1772359200.123001', '1772359200.123000']);
  });

  it('takes JSON with the token only in Authorization, warning when the charset is missing', async () => {
    const s = await start();
    expect((await post(s, { text: 'hi' })).json).toMatchObject({ ok: true, message: { text: 'hi' } });
    expect((await post(s, { text: 'hi', token: s.credentials.token }, null)).json).toEqual({ ok: false, error: 'not_authed' });
    const bare = await api(s, 'chat.postMessage', { json: { channel: '#general', text: 'hi' }, contentType: 'application/json' });
    expect(bare.json).toMatchObject({ ok: true, warning: 'missing_charset', response_metadata: { warnings: ['missing_charset'] } });
    expect((await api(s, 'chat.postMessage', { json: '{"channel":', contentType: 'application/json; charset=utf-8' })).json).toEqual({ ok: false, error: 'invalid_json' });
  });

  it('refuses tokens: not_authed, invalid_auth, token_revoked, and missing_scope with needed and provided', async () => {
    const s = await start({ revokedTokens: ['xoxb-old'], tokens: [{ token: 'xoxb-read-only', scopes: ['channels:read'] }] });
    expect((await post(s, { text: 'x' }, null)).json).toEqual({ ok: false, error: 'not_authed' });
    expect((await post(s, { text: 'x' }, 'xoxb-nope')).json).toEqual({ ok: false, error: 'invalid_auth' });
    expect((await post(s, { text: 'x' }, 'xoxb-old')).json).toEqual({ ok: false, error: 'token_revoked' });
    const scoped = await post(s, { text: 'x' }, 'xoxb-read-only');
    expect([scoped.status, scoped.json]).toEqual([200, { ok: false, error: 'missing_scope', needed: 'chat:write,chat:write:bot', provided: 'channels:read' }]);
    expect(scoped.headers.get('x-accepted-oauth-scopes')).toBe('chat:write,chat:write:bot');
    expect(s.messages()).toEqual([]);
  });

  it('finds channels by id or name with or without #, and refuses unknown, archived and bot-less ones', async () => {
    const s = await start();
    const general = s.credentials.channels[0]!;
    for (const channel of [general.id, 'general', '#general']) expect((await post(s, { channel, text: 'x' })).json.channel).toBe(general.id);
    expect((await post(s, { channel: '#nope', text: 'x' })).json).toEqual({ ok: false, error: 'channel_not_found' });
    expect((await post(s, { channel: '#archived', text: 'x' })).json).toEqual({ ok: false, error: 'is_archived' });
    expect((await post(s, { channel: '#private-no-bot', text: 'x' })).json).toEqual({ ok: false, error: 'not_in_channel' });
    expect((await post(s, { channel: undefined, text: 'x' })).json).toEqual({ ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] missing required field: channel'] } });
  });

  it('refuses no_text and msg_too_long, posting exactly 40,000 characters', async () => {
    const s = await start({ rateLimit: false });
    expect((await post(s, {})).json).toEqual({ ok: false, error: 'no_text' });
    expect((await post(s, { text: 'x'.repeat(40_001) })).json).toEqual({ ok: false, error: 'msg_too_long' });
    expect((await post(s, { text: 'x'.repeat(40_000) })).json.ok).toBe(true);
    expect((await post(s, { blocks: [section('only blocks')] })).json.ok).toBe(true);
  });

  it('refuses blocks that are not an array as invalid_blocks_format', async () => {
    const s = await start();
    expect((await api(s, 'chat.postMessage', { form: { channel: 'general', blocks: '[{"type":' } })).json).toMatchObject({ ok: false, error: 'invalid_blocks_format' });
    expect((await post(s, { blocks: { type: 'divider' } })).json).toMatchObject({ ok: false, error: 'invalid_blocks_format' });
  });

  const over: Array<[string, unknown[], string]> = [
    ['more than 50 blocks', Array.from({ length: 51 }, () => ({ type: 'divider' })), '[ERROR] no more than 50 items allowed [json-pointer:/blocks]'],
    ['section text over 3000', [section('x'.repeat(3001))], '[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]'],
    ['header text over 150', [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }], '[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]'],
    ['a field over 2000', [{ type: 'section', fields: [{ type: 'mrkdwn', text: 'a' }, { type: 'mrkdwn', text: 'x'.repeat(2001) }] }], '[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/1/text]'],
    ['more than 10 fields', [{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }], '[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]'],
    ['button text over 75', [button('x'.repeat(76))], '[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]'],
    ['button value over 2000', [button('ok', 'x'.repeat(2001))], '[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]'],
    ['an unknown block type', [{ type: 'carousel' }], '[ERROR] unsupported type: carousel [json-pointer:/blocks/0/type]'],
    ['a section without text or fields', [{ type: 'section' }], '[ERROR] must provide at least one of [text, fields] [json-pointer:/blocks/0]'],
  ];
  it.each(over)('refuses %s as invalid_blocks naming the JSON pointer', async (_name, blocks, message) => {
    const s = await start();
    expect((await post(s, { text: 'fallback', blocks })).json).toEqual({ ok: false, error: 'invalid_blocks', response_metadata: { messages: [message] } });
  });

  it('accepts blocks at every limit', async () => {
    const s = await start();
    const blocks = [
      section('x'.repeat(3000)),
      { type: 'header', text: { type: 'plain_text', text: 'x'.repeat(150) } },
      { type: 'section', fields: Array.from({ length: 10 }, () => ({ type: 'mrkdwn', text: 'x'.repeat(2000) })) },
      button('x'.repeat(75), 'x'.repeat(2000)),
      ...Array.from({ length: 46 }, () => ({ type: 'divider' })),
    ];
    expect(blocks).toHaveLength(50);
    expect((await post(s, { text: 'fallback', blocks })).json.ok).toBe(true);
  });
});

describe('slack simulator: rate limits', () => {
  it('answers 429 with an integer Retry-After past a channel’s burst, leaves other channels alone, and refills at 1 a second', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ now: () => now });
    for (let i = 0; i < 3; i++) expect((await post(s, { text: `burst ${i}` })).status).toBe(200);
    expect((await post(s, { channel: '#nope', text: 'refused for another reason' })).status).toBe(200);
    const limited = await post(s, { text: 'one too many' });
    expect([limited.status, limited.headers.get('retry-after'), limited.json]).toEqual([429, '1', { ok: false, error: 'ratelimited' }]);
    expect((await post(s, { channel: '#sales', text: 'another channel' })).status).toBe(200);
    now += 1000;
    expect((await post(s, { text: 'refilled' })).status).toBe(200);
    expect((await post(s, { text: 'again too many' })).status).toBe(429);
    expect(s.messages('general')).toHaveLength(4);
  });

  it('takes other limits, a workspace-wide one, or none', async () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ now: () => now, rateLimit: { perChannel: { perSecond: 0.25, burst: 1 }, workspace: { perSecond: 1, burst: 2 } } });
    expect((await post(s, { text: 'a' })).status).toBe(200);
    expect((await post(s, { text: 'b' })).headers.get('retry-after')).toBe('4');
    expect((await post(s, { channel: '#sales', text: 'c' })).status).toBe(200);
    expect((await post(s, { channel: '#ops', text: 'd' })).status).toBe(429);
    await s.close();
    const free = await start({ rateLimit: false });
    for (let i = 0; i < 10; i++) expect((await post(free, { text: `m${i}` })).status).toBe(200);
  });

  it('answers a rate_limited fault with the Web API’s 429', async () => {
    const s = await start();
    s.faults.add({ kind: 'rate_limited', path: '/api/chat.postMessage', retryAfter: 7 });
    const answer = await post(s, { text: 'x' });
    expect([answer.status, answer.headers.get('retry-after'), answer.json]).toEqual([429, '7', { ok: false, error: 'ratelimited' }]);
  });
});

describe('slack simulator: auth.test and conversations.info', () => {
  it('answers auth.test with the team, user and bot', async () => {
    const s = await start();
    const { json } = await api(s, 'auth.test');
    expect(json).toEqual({ ok: true, url: 'https://kitrelay-sim.slack.com/', team: 'kitrelay sim', user: 'kitrelay', team_id: s.credentials.team_id, user_id: s.credentials.bot_user_id, bot_id: s.credentials.bot_id, is_enterprise_install: false });
    expect((await api(s, 'auth.test', { token: 'xoxb-nope' })).json).toEqual({ ok: false, error: 'invalid_auth' });
  });

  it('answers conversations.info by id over GET and POST; names, unknown ids and private channels without the bot are channel_not_found', async () => {
    const s = await start();
    const [general, , , archived, hidden] = s.credentials.channels;
    const byGet = await api(s, 'conversations.info', { get: `channel=${general!.id}` });
    expect(byGet.json).toMatchObject({ ok: true, channel: { id: general!.id, name: 'general', is_channel: true, is_archived: false, is_member: true, is_private: false } });
    expect((await api(s, 'conversations.info', { form: { channel: archived!.id } })).json.channel).toMatchObject({ name: 'archived', is_archived: true });
    for (const channel of ['general', 'C0NOTREAL00', hidden!.id]) expect((await api(s, 'conversations.info', { form: { channel } })).json).toEqual({ ok: false, error: 'channel_not_found' });
  });

  it('answers an unknown method 404 unknown_method', async () => {
    const s = await start();
    const answer = await api(s, 'chat.teleport');
    expect([answer.status, answer.json]).toEqual([404, { ok: false, error: 'unknown_method', req_method: 'chat.teleport' }]);
  });
});

describe('slack simulator: seeding and /_sim/state', () => {
  it('seeds the same workspace for the same seed, and another for another', async () => {
    const a = await startSlackSimulator({ seed: 7 });
    const b = await startSlackSimulator({ seed: 7 });
    const c = await startSlackSimulator({ seed: 8 });
    try {
      const strip = (s: SlackSimulator) => ({ ...s.credentials, webhooks: s.credentials.webhooks.map((w) => ({ ...w, url: w.url.replace(s.url, '') })) });
      expect(strip(a)).toEqual(strip(b));
      expect(a.credentials.token).toMatch(/^xoxb-sim-[A-Za-z0-9]{24}$/);
      expect(a.credentials.channels.map((ch) => ch.name)).toEqual(['general', 'sales', 'ops', 'archived', 'private-no-bot', 'growth']);
      expect(a.credentials.channels[0]!.id).toMatch(/^C[A-Z0-9]{10}$/);
      expect(c.credentials.token).not.toBe(a.credentials.token);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('shows channels, messages by channel id, webhook messages by hook and responses at GET /_sim/state', async () => {
    const s = await start();
    await post(s, { text: 'via api' });
    const hook = s.credentials.webhooks[0]!;
    await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'via hook' }) });
    await fetch(`${s.url}/_sim/response/r1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"done"}' });
    const state = (await (await fetch(`${s.url}/_sim/state`)).json()) as { channels: unknown[]; messages: Record<string, Array<{ text: string; via: string }>>; webhookMessages: Record<string, unknown[]>; responses: unknown[] };
    const general = s.credentials.channels[0]!.id;
    const hookId = hook.url.split('/').at(-2)!;
    expect(state.channels).toHaveLength(6);
    expect(state.channels[3]).toMatchObject({ name: 'archived', isArchived: true });
    expect(state.messages[general]!.map((m) => [m.text, m.via])).toEqual([['via api', 'api'], ['via hook', 'webhook']]);
    expect(Object.keys(state.webhookMessages)).toEqual([hookId]);
    expect(state.responses).toMatchObject([{ id: 'r1', body: { text: 'done' } }]);
    await s.waitFor(({ requests }) => requests.length === 2, { what: 'two requests recorded (not /_sim)' });
  });
});
