import { afterEach, describe, expect, it } from 'vitest';
import { call } from './harness.js';
import { startKitSimulator, type KitSimulator } from './server.js';

let sim: KitSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const status = (path: string, method = 'GET') => call(sim!, path, { method }).then((a) => a.status);

describe('kit simulator: faults on demand', () => {
  it('answers a status for the next k requests matching a method and path, then behaves again', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'status', status: 503, times: 2, method: 'GET', path: '/v4/tags' });
    expect(await status('/v4/account')).toBe(200);
    expect(await status('/v4/tags', 'POST')).not.toBe(503);
    const faulted = await call(sim, '/v4/tags');
    expect(faulted).toMatchObject({ status: 503, json: { errors: ['Service Unavailable'] } });
    expect(await status('/v4/tags')).toBe(503);
    expect(await status('/v4/tags')).toBe(200);
    expect(sim.faults.pending).toBe(0);
  });

  it('answers a faulted 429 exactly like the real rate limit, before authentication', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'status', status: 429, path: /^\/v4\/subscribers/ });
    const limited = await call(sim, '/v4/subscribers', { auth: {} });
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Retry later');
    expect(limited.headers.get('retry-after')).toBeNull();
  });

  it('matches on the request body with a predicate', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'status', status: 500, times: Infinity, match: (req) => (req.body as { email_address?: string } | undefined)?.email_address === 'boom@example.org' });
    expect((await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'ok@example.org' } })).status).toBe(201);
    expect((await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'boom@example.org' } })).status).toBe(500);
    sim.faults.clear();
    expect((await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'boom@example.org' } })).status).toBe(201);
  });

  it('delays an answer', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'delay', ms: 150 });
    const started = performance.now();
    expect(await status('/v4/account')).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hangs until the client gives up, and records the request as hung', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'hang' });
    await expect(fetch(`${sim.url}/v4/account`, { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect(sim.requests.at(-1)).toMatchObject({ path: '/v4/account', status: 'hang' });
  });

  it('resets the connection', async () => {
    sim = await startKitSimulator();
    sim.faults.fault({ kind: 'reset' });
    const error: unknown = await fetch(`${sim.url}/v4/account`).catch((e: unknown) => e);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('ECONNRESET');
    expect(sim.requests.at(-1)?.status).toBe('reset');
    expect(await status('/v4/account')).toBe(200);
  });

  it('tells the webhook emitter which deliveries to drop: the next n, or every URL a predicate matches', async () => {
    sim = await startKitSimulator();
    const { faults } = sim;
    faults.dropWebhooks(2);
    expect([1, 2, 3].map(() => faults.shouldDropWebhook('https://a.example/hook'))).toEqual([true, true, false]);
    faults.dropWebhooks((url) => url.includes('flaky'));
    expect(faults.shouldDropWebhook('https://flaky.example/')).toBe(true);
    expect(faults.shouldDropWebhook('https://flaky.example/')).toBe(true);
    expect(faults.shouldDropWebhook('https://fine.example/')).toBe(false);
    faults.dropWebhooks({ times: 1, match: (url) => url.endsWith('/x') });
    faults.clear();
    expect(faults.shouldDropWebhook('https://flaky.example/x')).toBe(false);
  });

  it('keeps a bounded record of requests, oldest dropped first, with the status answered', async () => {
    sim = await startKitSimulator({ maxRequests: 3 });
    for (const path of ['/v4/account', '/v4/tags', '/v4/nope', '/v4/custom_fields']) await call(sim, path);
    expect(sim.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/v4/tags', 200],
      ['GET', '/v4/nope', 404],
      ['GET', '/v4/custom_fields', 200],
    ]);
  });

  it('serves its record (credentials redacted) and state on /_sim, takes faults over HTTP, and applies a request before hanging', async () => {
    sim = await startKitSimulator({ seed: { subscribers: 5 } });
    await fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'apply_then_hang', method: 'POST', path: '/v4/tags' }) });
    await expect(fetch(`${sim.url}/v4/tags`, { method: 'POST', headers: { 'x-kit-api-key': 'kit_sim_key', 'content-type': 'application/json' }, body: '{"name":"Made anyway"}', signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(sim.state.tags.map((t) => t.name)).toContain('Made anyway');
    const recorded = (await (await fetch(`${sim.url}/_sim/requests`)).json()) as Array<{ path: string; status: unknown; headers: Record<string, string> }>;
    expect(recorded).toMatchObject([{ path: '/v4/tags', status: 'hang', headers: { 'x-kit-api-key': '[redacted]' } }]);
    const state = (await (await fetch(`${sim.url}/_sim/state`)).json()) as { subscribers: { count: number } };
    expect(state.subscribers.count).toBe(5);
  });
});
