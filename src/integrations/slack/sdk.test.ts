/**
 * Fidelity: the official `@slack/web-api` client against the Slack simulator. What the SDK sends
 * (form-encoded, blocks as a JSON string, `Authorization: Bearer`, reference/destinations.md §8)
 * must be accepted, and what the simulator answers must surface as the SDK's own results and
 * errors: `ok:false` as a platform error, 429 as a retry after Retry-After or a rate-limit error.
 */
import { ErrorCode, LogLevel, WebClient, type Logger, type WebAPIPlatformError, type WebAPIRateLimitedError } from '@slack/web-api';
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

/** What the SDK logs at error level, kept instead of printed. */
const logged: string[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (...msg: unknown[]) => void logged.push(msg.map(String).join(' ')),
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

/** No retries unless a test asks: the SDK's default policy retries for about 30 minutes (§8). */
function client(s: SlackSimulator, options: ConstructorParameters<typeof WebClient>[1] = {}): WebClient {
  return new WebClient(s.credentials.token, { slackApiUrl: s.apiUrl, logger, retryConfig: { retries: 0 }, ...options });
}

const blocks = [
  { type: 'header', text: { type: 'plain_text', text: 'New subscriber' } },
  { type: 'section', text: { type: 'mrkdwn', text: '*ada@example.com* joined' }, fields: [{ type: 'mrkdwn', text: '*Tag*\nvip' }] },
  { type: 'actions', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, value: 'sub-42' }] },
];

describe('slack simulator with @slack/web-api', () => {
  it('posts a message with blocks, sent form-encoded with a Bearer token, and reads the answer', async () => {
    const s = await start();
    const result = await client(s).chat.postMessage({ channel: '#sales', text: 'New subscriber', blocks });
    expect(result).toMatchObject({ ok: true, channel: s.credentials.channels[1]!.id, ts: expect.stringMatching(/^\d{10}\.\d{6}$/), message: { text: 'New subscriber', bot_id: s.credentials.bot_id, blocks } });
    expect(result.response_metadata?.scopes).toEqual(['chat:write', 'channels:read', 'groups:read']);
    const [request] = s.requests;
    expect(request!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request!.headers.authorization).toBe(`Bearer ${s.credentials.token}`);
    expect((request!.body as Record<string, string>).blocks).toBe(JSON.stringify(blocks));
    expect(s.messages('#sales')).toMatchObject([{ ts: result.ts, blocks }]);
  });

  it('calls auth.test and conversations.info', async () => {
    const s = await start();
    const web = client(s);
    expect(await web.auth.test()).toMatchObject({ ok: true, team_id: s.credentials.team_id, bot_id: s.credentials.bot_id, user_id: s.credentials.bot_user_id });
    const ops = s.credentials.channels[2]!;
    expect((await web.conversations.info({ channel: ops.id })).channel).toMatchObject({ id: ops.id, name: 'ops', is_member: true, is_archived: false });
  });

  it('surfaces ok:false as the SDK’s platform error', async () => {
    const s = await start();
    const error = (await client(s).chat.postMessage({ channel: '#nope', text: 'x' }).catch((e: unknown) => e)) as WebAPIPlatformError;
    expect(error.code).toBe(ErrorCode.PlatformError);
    expect(error.data.error).toBe('channel_not_found');
    const tooLong = (await client(s).chat.postMessage({ channel: '#general', text: 'x', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }] }).catch((e: unknown) => e)) as WebAPIPlatformError;
    expect(tooLong.data).toMatchObject({ error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]'] } });
    // The SDK reads the `[ERROR]` prefix of response_metadata.messages and logs the rest.
    expect(logged).toContain('must be less than 3001 characters [json-pointer:/blocks/0/text/text]');
  });

  it('is retried by the SDK after Retry-After when rate limited', async () => {
    const s = await start({ rateLimit: { perChannel: { perSecond: 1, burst: 1 } } });
    const web = client(s, { retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } });
    await web.chat.postMessage({ channel: '#general', text: 'first' });
    const startedAt = Date.now();
    const second = await web.chat.postMessage({ channel: '#general', text: 'second' });
    expect(second.ok).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(s.requests.map((r) => r.status)).toEqual([200, 429, 200]);
    expect(s.messages('#general').map((m) => m.text)).toEqual(['first', 'second']);
  }, 10_000);

  it('rejects with the SDK’s rate-limit error when rejectRateLimitedCalls is set', async () => {
    const s = await start({ rateLimit: { perChannel: { perSecond: 1, burst: 1 } } });
    const web = client(s, { rejectRateLimitedCalls: true });
    await web.chat.postMessage({ channel: '#general', text: 'first' });
    const error = (await web.chat.postMessage({ channel: '#general', text: 'second' }).catch((e: unknown) => e)) as WebAPIRateLimitedError;
    expect(error.code).toBe(ErrorCode.RateLimitedError);
    expect(error.retryAfter).toBe(1);
  });
});
