/**
 * The `interaction` action's pieces that need no relay: what a response_url's answers mean (real
 * HTTP to the Slack simulator, its answers set by faults), the origin guard, and the lookup
 * message staying within Block Kit's limits whatever the errors hold. The action end to end, with
 * the operator actions, is test/slack-interactive.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { EventRecord, JobRecord } from '../../store/types.js';
import { blockKitViolations } from './blocks.js';
import { formatActivity, fromResponseUrl, isOnOrigin } from './interaction.js';
import { startSlackSimulator, type SlackSimulator } from './simulator.js';

let sim: SlackSimulator;
let http: HttpClient;
beforeAll(async () => {
  sim = await startSlackSimulator({ rateLimit: false });
  http = createHttpClient();
});
afterAll(async () => {
  await http.close();
  await sim.close();
});

describe('slack interaction: the response_url', () => {
  // An incoming webhook path of the simulator stands in for a response_url: it takes faults.
  const answer = async (fault?: Parameters<SlackSimulator['faults']['add']>[0]) => {
    const url = sim.webhookUrl('#general') ?? '';
    if (fault) sim.faults.add({ ...fault, path: new URL(url).pathname });
    return http.send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Replayed' }), timeoutMs: 5_000, isSecretUrl: true });
  };
  const correlation = { slackUser: 'U1', press: 'replay', verdict: 'replayed' };

  it('is posted on a 2xx, with the press on the call record and the facts kept', async () => {
    const result = fromResponseUrl(await answer(), Date.now(), correlation, { verdict: 'replayed', answer: 'Replayed' });
    expect(result).toMatchObject({ outcome: 'succeeded', call: { responseStatus: 200, correlation }, facts: { verdict: 'replayed' } });
    // The URL is a credential for 30 minutes: the audit keeps its origin only.
    expect(result.call?.request.url).toBe(`${sim.url}/[redacted]`);
  });

  it('fails for good when expired (404, 410) and is retried on 429 (after Retry-After) and 5xx', async () => {
    expect(fromResponseUrl(await answer({ kind: 'status', status: 404, body: 'expired_url' }), Date.now(), correlation)).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/HTTP 404 .*expired/) as unknown });
    expect(fromResponseUrl(await answer({ kind: 'status', status: 410 }), Date.now(), correlation)).toMatchObject({ outcome: 'failed' });
    expect(fromResponseUrl(await answer({ kind: 'status', status: 429, retryAfter: 2 }), Date.now(), correlation)).toMatchObject({ outcome: 'retry', retryAfterMs: 2_000 });
    const busy = fromResponseUrl(await answer({ kind: 'status', status: 503 }), Date.now(), correlation, { verdict: 'replayed', answer: 'x' });
    // The facts ride along on a retry too: the next attempt posts again, it does not replay again.
    expect(busy).toMatchObject({ outcome: 'retry', facts: { verdict: 'replayed' } });
    expect(fromResponseUrl(await answer({ kind: 'status', status: 400 }), Date.now(), correlation)).toMatchObject({ outcome: 'failed' });
  });

  it('is trusted only on the responseUrlBase origin', () => {
    expect(isOnOrigin('https://hooks.slack.com/actions/T1/2/abc', 'https://hooks.slack.com')).toBe(true);
    expect(isOnOrigin('https://hooks.slack.com.evil.example/actions/x', 'https://hooks.slack.com')).toBe(false);
    expect(isOnOrigin('http://hooks.slack.com/actions/x', 'https://hooks.slack.com')).toBe(false);
    expect(isOnOrigin('https://hooks.slack.com:8443/actions/x', 'https://hooks.slack.com')).toBe(false);
    expect(isOnOrigin('not a url', 'https://hooks.slack.com')).toBe(false);
  });
});

describe('slack interaction: the lookup message', () => {
  const event = (id: number): EventRecord => ({
    id, deliveryId: id, source: 'legacy', origin: 'kit', kitEventId: null, type: 'subscriber.tag_added', kitType: 'subscriber.tag_add', scope: null,
    subscriberId: '1', email: 'ada@example.com', subscriberKey: 'id:1', occurredAt: null, receivedAt: Date.UTC(2026, 0, 1, 10, id), status: 'accepted', duplicateOf: null, payload: null, decisions: [],
  });
  const job = (id: number, error: string | null): JobRecord => ({
    id, eventId: id, rule: 'vip', destination: 'bonjoro', action: 'greet', params: {}, subKey: null, subscriberKey: 'id:1', subscriberId: '1', email: 'ada@example.com',
    status: error ? 'dead' : 'succeeded', attempts: 3, maxAttempts: 3, runAt: 0, leaseOwner: null, leaseExpiresAt: null, lastError: error, idempotencyKey: `k${id}`,
    createdAt: 0, updatedAt: Date.UTC(2026, 0, 1, 11, id), finishedAt: null, replays: 0, facts: {}, copyOf: null,
  });

  it('lists events and jobs (status, attempts, last error) and stays within Block Kit limits with huge errors', () => {
    const message = formatActivity('ada@example.com', { events: [1, 2].map(event), jobs: [job(1, `Bonjoro answered 422 <${'x'.repeat(5_000)}>`), job(2, null)] });
    expect(blockKitViolations(message)).toEqual([]);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('`subscriber.tag_added`');
    expect(text).toContain('#1 bonjoro/greet *dead* (3 of 3 attempts)');
    expect(text).toContain('Bonjoro answered 422 &lt;xxx');
    expect(message.text).toBe('ada@example.com: 2 recent events, 2 recent jobs (1 dead)');
  });

  it('says so when kitrelay has nothing for the email', () => {
    const message = formatActivity('nobody@example.com', { events: [], jobs: [] });
    expect(JSON.stringify(message.blocks)).toContain('None in kitrelay.');
  });
});
