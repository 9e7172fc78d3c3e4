/** Registering kitrelay's public-API hooks, over real HTTP on loopback to the Kajabi simulator. */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { KajabiClient, sendThrough } from './client.js';
import { listHooks, ownedPrefixOf, syncHooks } from './hooks.js';
import { startKajabiSimulator, type KajabiSimulator } from './simulator.js';

let sim: KajabiSimulator | undefined;
let http: HttpClient | undefined;
afterEach(async () => {
  await http?.close();
  await sim?.close();
  sim = undefined;
  http = undefined;
});

async function setup(): Promise<{ sim: KajabiSimulator; client: KajabiClient }> {
  sim = await startKajabiSimulator({ rateLimit: false });
  http = createHttpClient();
  const client = new KajabiClient({ send: sendThrough(http, { timeoutMs: 5_000 }), baseUrl: sim.url, clientId: sim.credentials.clientId, clientSecret: sim.credentials.clientSecret, userAgent: 'kitrelay/test', tokenCache: new Map() });
  return { sim, client };
}

const RELAY = 'https://relay.example.com/hooks/in/kajabi/hooks';
const hooksOf = (s: KajabiSimulator) => [...s.state.hooks.values()].map((h) => [h.event, h.targetUrl]).sort();

describe('kajabi hooks sync', () => {
  it('creates the missing hooks once: a second sync keeps them', async () => {
    const { sim: s, client } = await setup();
    const options = { siteId: s.credentials.siteId, targetUrl: `${RELAY}/tok-1`, events: ['purchase', 'payment_succeeded'] };
    const first = await syncHooks(client, options);
    expect([first.created.map((h) => h.event), first.kept, first.removed]).toEqual([['purchase', 'payment_succeeded'], [], []]);
    const second = await syncHooks(client, options);
    expect([second.created, second.kept.map((h) => h.id), second.removed]).toEqual([[], first.created.map((h) => h.id), []]);
    expect(hooksOf(s)).toEqual([['payment_succeeded', `${RELAY}/tok-1`], ['purchase', `${RELAY}/tok-1`]]);
    const posted = s.requests.find((r) => r.method === 'POST' && r.path === '/v1/hooks')!;
    expect(posted.body).toEqual({ data: { type: 'hooks', attributes: { target_url: `${RELAY}/tok-1`, event: 'purchase' }, relationships: { site: { data: { type: 'sites', id: s.credentials.siteId } } } } });
  });

  it("replaces a hook whose URL changed (a new token) and leaves others' hooks alone", async () => {
    const { sim: s, client } = await setup();
    const siteId = s.credentials.siteId;
    await syncHooks(client, { siteId, targetUrl: `${RELAY}/old-token`, events: ['purchase'] });
    await client.createHook({ siteId, targetUrl: 'https://zapier.example.com/catch/1', event: 'purchase' });
    const report = await syncHooks(client, { siteId, targetUrl: `${RELAY}/new-token`, events: ['purchase'] });
    expect(report.created.map((h) => h.targetUrl)).toEqual([`${RELAY}/new-token`]);
    expect(report.removed.map((h) => h.targetUrl)).toEqual([`${RELAY}/old-token`]);
    expect(hooksOf(s)).toEqual([['purchase', `${RELAY}/new-token`], ['purchase', 'https://zapier.example.com/catch/1']]);
  });

  it('treats a token in the query the same way', async () => {
    const { sim: s, client } = await setup();
    const siteId = s.credentials.siteId;
    expect(ownedPrefixOf(`${RELAY}?token=a`)).toBe(RELAY);
    await syncHooks(client, { siteId, targetUrl: `${RELAY}?token=a`, events: ['purchase'] });
    const report = await syncHooks(client, { siteId, targetUrl: `${RELAY}?token=b`, events: ['purchase'] });
    expect([report.created.length, report.removed.length]).toEqual([1, 1]);
    expect(hooksOf(s)).toEqual([['purchase', `${RELAY}?token=b`]]);
  });

  it('lists hooks for the CLI with their tokens hidden', async () => {
    const { sim: s, client } = await setup();
    const siteId = s.credentials.siteId;
    await syncHooks(client, { siteId, targetUrl: `${RELAY}/old-token`, events: ['purchase'] });
    await client.createHook({ siteId, targetUrl: `${RELAY}/new-token`, event: 'payment_succeeded' });
    const rows = await listHooks(client, { targetUrl: `${RELAY}/new-token` });
    expect(rows.map((r) => [r.event, r.targetUrl, r.isCurrent, r.isStale])).toEqual([
      ['purchase', `${RELAY}/…`, false, true],
      ['payment_succeeded', `${RELAY}/…`, true, false],
    ]);
    expect(JSON.stringify(rows)).not.toContain('token');
  });
});
