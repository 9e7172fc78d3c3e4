import { afterEach, describe, expect, it } from 'vitest';
import { bearer, call } from './harness.js';
import { startKitSimulator, type KitSimulator } from './server.js';

let sim: KitSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('kit simulator: rate limit', () => {
  it('answers the 121st API-key request in 60 s with 429, plain text "Retry later" and no Retry-After', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    sim = await startKitSimulator({ now: () => now });
    for (let i = 0; i < 120; i++) {
      expect((await call(sim, '/v4/account')).status).toBe(200);
      now += 100; // 120 requests over 12 s
    }
    const limited = await call(sim, '/v4/account');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Retry later');
    expect(limited.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(sim.requests.at(-1)?.status).toBe(429);
  });

  it('recovers as the window slides: each counted request frees a slot 60 s after it was made', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const start = now;
    sim = await startKitSimulator({ now: () => now, rateLimit: { apiKey: 3 } });
    for (let i = 0; i < 3; i++) {
      expect((await call(sim, '/v4/account')).status).toBe(200);
      now += 10_000; // at 0 s, 10 s, 20 s
    }
    expect((await call(sim, '/v4/account')).status).toBe(429);
    now = start + 59_999;
    expect((await call(sim, '/v4/account')).status).toBe(429);
    now = start + 60_000; // the request made at 0 s leaves the window
    expect((await call(sim, '/v4/account')).status).toBe(200);
    expect((await call(sim, '/v4/account')).status).toBe(429);
    now = start + 70_000; // and the one at 10 s
    expect((await call(sim, '/v4/account')).status).toBe(200);
  });

  it('counts each credential on its own, with the OAuth limit for tokens', async () => {
    sim = await startKitSimulator({ apiKeys: ['a', 'b'], rateLimit: { apiKey: 2, oauth: 4 } });
    const token = sim.issueOAuthToken().access_token;
    for (let i = 0; i < 2; i++) expect((await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'a' } })).status).toBe(200);
    expect((await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'a' } })).status).toBe(429);
    expect((await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'b' } })).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await call(sim, '/v4/account', { auth: bearer(token) })).status).toBe(200);
    expect((await call(sim, '/v4/account', { auth: bearer(token) })).status).toBe(429);
  });

  it('allows 600 requests a minute per OAuth token by default', async () => {
    sim = await startKitSimulator();
    const token = sim.issueOAuthToken().access_token;
    const statuses = await Promise.all(Array.from({ length: 601 }, () => call(sim!, '/v4/account', { auth: bearer(token) }).then((a) => a.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(600);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
  });

  it('can be switched off', async () => {
    sim = await startKitSimulator({ rateLimit: false });
    const statuses = await Promise.all(Array.from({ length: 150 }, () => call(sim!, '/v4/account').then((a) => a.status)));
    expect(new Set(statuses)).toEqual(new Set([200]));
  });
});
