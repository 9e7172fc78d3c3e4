/** The Slack simulator's incoming webhooks over real HTTP, against reference/destinations.md §1.3 and §6. */
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

async function hook(url: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; type: string | null; text: string; retryAfter: string | null }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), retryAfter: response.headers.get('retry-after') };
}

describe('slack simulator: incoming webhooks', () => {
  it('posts to the hook’s own channel and answers 200 with the plain text ok, ignoring a channel override', async () => {
    const s = await start();
    const url = s.webhookUrl('#sales')!;
    expect(url).toMatch(new RegExp(`^${s.url}/services/${s.credentials.team_id}/B[A-Z0-9]{10}/[A-Za-z0-9]{24}$`));
    const answer = await hook(url, { text: 'New subscriber', blocks: [{ type: 'divider' }], thread_ts: '1772359200.000100', channel: '#general' });
    expect(answer).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'ok', retryAfter: null });
    expect(s.messages('#sales')).toMatchObject([{ text: 'New subscriber', blocks: [{ type: 'divider' }], thread_ts: '1772359200.000100', via: 'webhook', extra: { channel: '#general' } }]);
    expect(s.messages('#general')).toEqual([]);
    expect((await hook(url, new URLSearchParams({ payload: '{"text":"as a form"}' }).toString(), 'application/x-www-form-urlencoded')).status).toBe(200);
  });

  it('answers bad payloads 400 invalid_payload, no_text or invalid_blocks', async () => {
    const s = await start();
    const url = s.webhookUrl('general')!;
    expect(await hook(url, '{"text":')).toMatchObject({ status: 400, text: 'invalid_payload' });
    expect(await hook(url, '[1]')).toMatchObject({ status: 400, text: 'invalid_payload' });
    expect(await hook(url, {})).toMatchObject({ status: 400, text: 'no_text' });
    expect(await hook(url, { text: 'x', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }] })).toMatchObject({ status: 400, text: 'invalid_blocks' });
    expect(s.messages()).toEqual([]);
  });

  it('answers 404 no_service for an unknown hook, 403 invalid_token for a wrong secret, 404 channel_not_found and 410 channel_is_archived', async () => {
    const s = await start({ channels: [{ name: 'general' }, { name: 'old', isArchived: true }], webhooks: [{ channel: 'general' }, { channel: 'old' }, { channel: 'deleted' }] });
    const [general, old, deleted] = s.credentials.webhooks.map((w) => w.url);
    const parts = general!.split('/');
    const body = { text: 'x' };
    expect(await hook(`${s.url}/services/${s.credentials.team_id}/BNOTAHOOK00/${parts.at(-1)}`, body)).toMatchObject({ status: 404, text: 'no_service' });
    expect(await hook(`${s.url}/services/T0000000000/${parts.at(-2)}/${parts.at(-1)}`, body)).toMatchObject({ status: 404, text: 'no_service' });
    expect(await hook(`${parts.slice(0, -1).join('/')}/wrongsecret`, body)).toMatchObject({ status: 403, text: 'invalid_token' });
    expect(await hook(deleted!, body)).toMatchObject({ status: 404, text: 'channel_not_found' });
    expect(await hook(old!, body)).toMatchObject({ status: 410, text: 'channel_is_archived' });
    expect((await fetch(`${s.url}/services/short`, { method: 'POST' })).status).toBe(404);
  });

  it('answers 429 with Retry-After past a hook’s burst, other hooks unaffected', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ now: () => now, rateLimit: { perWebhook: { perSecond: 1, burst: 2 } } });
    const url = s.webhookUrl('general')!;
    expect((await hook(url, { text: '1' })).status).toBe(200);
    expect((await hook(url, { text: '2' })).status).toBe(200);
    expect(await hook(url, { text: '3' })).toMatchObject({ status: 429, retryAfter: '1' });
    expect((await hook(s.webhookUrl('sales')!, { text: 'elsewhere' })).status).toBe(200);
    now += 1000;
    expect((await hook(url, { text: '4' })).status).toBe(200);
  });

  it('answers 500 rollup_error as a fault', async () => {
    const s = await start();
    s.faults.add({ kind: 'status', status: 500, path: '/services/**' });
    const url = s.webhookUrl('general')!;
    expect(await hook(url, { text: 'x' })).toMatchObject({ status: 500, text: 'rollup_error' });
    expect((await hook(url, { text: 'x' })).status).toBe(200);
    expect(s.requests.map((r) => [r.path.split('/').length, r.status, r.fault])).toEqual([
      [5, 500, 'status'],
      [5, 200, undefined],
    ]);
  });
});
