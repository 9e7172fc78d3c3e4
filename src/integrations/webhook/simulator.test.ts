import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient, type HttpResult } from '../../lib/http.js';
import { startWebhookReceiver, type WebhookReceiver } from './simulator.js';

let receiver: WebhookReceiver;
let http: HttpClient;

beforeAll(async () => {
  receiver = await startWebhookReceiver({ maxRequests: 5 });
  http = createHttpClient();
});

beforeEach(() => receiver.reset());

afterAll(async () => {
  await http.close();
  await receiver.close();
});

function post(path: string, body: unknown = { n: 1 }, timeoutMs = 2_000): Promise<HttpResult> {
  return http.send({ method: 'POST', url: `${receiver.url}${path}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs });
}

const statusOf = (r: HttpResult): number | string => (r.kind === 'response' ? r.status : r.code);

describe('webhook receiver simulator', () => {
  it('answers 200 with a request id and records the request', async () => {
    const result = await post('/a?x=1', { hello: 'world' });
    expect(statusOf(result)).toBe(200);
    expect(result.kind === 'response' && result.headers['x-request-id']).toBe('sim-1');
    expect(receiver.requests[0]).toMatchObject({ method: 'POST', path: '/a?x=1', json: { hello: 'world' }, answer: { kind: 'response', status: 200, delayMs: 0 } });
  });

  it('applies queued faults in order, each to its next `times` requests', async () => {
    receiver.fault({ kind: 'status', status: 503, times: 2 });
    receiver.fault({ kind: 'status', status: 429, retryAfter: 5, body: { error: 'slow down' } });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await post('/q'));
    expect(results.map(statusOf)).toEqual([503, 503, 429, 200]);
    const limited = results[2];
    expect(limited?.kind === 'response' && limited.headers['retry-after']).toBe('5');
    expect(limited?.kind === 'response' && limited.body.toString()).toBe('{"error":"slow down"}');
  });

  it('applies a fault only to requests its predicate matches', async () => {
    receiver.fault({ kind: 'status', status: 500, times: Infinity, match: (req) => req.path === '/bad' });
    expect(statusOf(await post('/good'))).toBe(200);
    expect(statusOf(await post('/bad'))).toBe(500);
    expect(statusOf(await post('/bad'))).toBe(500);
    receiver.clearFaults();
    expect(statusOf(await post('/bad'))).toBe(200);
  });

  it('delays an answer', async () => {
    receiver.fault({ kind: 'delay', ms: 150 });
    const result = await post('/slow');
    expect(statusOf(result)).toBe(200);
    expect(result.durationMs).toBeGreaterThanOrEqual(140);
  });

  it('hangs until the client gives up, and records the request as hung', async () => {
    receiver.fault({ kind: 'hang' });
    expect(statusOf(await post('/hang', {}, 150))).toBe('timeout');
    expect(receiver.requests[0]?.answer).toEqual({ kind: 'hang' });
  });

  it('resets the connection', async () => {
    receiver.fault({ kind: 'reset' });
    expect(statusOf(await post('/reset'))).toBe('ECONNRESET');
    expect(receiver.requests[0]?.answer).toEqual({ kind: 'reset' });
  });

  it('waits for a number of requests, and gives up after its timeout', async () => {
    const waiting = receiver.waitFor(2);
    await post('/1');
    await post('/2');
    expect((await waiting).map((r) => r.path)).toEqual(['/1', '/2']);
    await expect(receiver.waitFor(3, 50)).rejects.toThrow('waited 50 ms for 3 request(s), got 2');
  });

  it('keeps only the last maxRequests requests but counts them all', async () => {
    for (let i = 1; i <= 7; i++) await post(`/${i}`);
    expect(receiver.requests.map((r) => r.path)).toEqual(['/3', '/4', '/5', '/6', '/7']);
    await expect(receiver.waitFor(7, 50)).resolves.toHaveLength(5);
  });

  it('closes while a request hangs', async () => {
    const other = await startWebhookReceiver();
    other.fault({ kind: 'hang' });
    const pending = http.send({ method: 'POST', url: `${other.url}/x`, headers: {}, timeoutMs: 5_000 });
    await other.waitFor(1);
    await other.close();
    expect((await pending).kind).toBe('network_error');
  });

  it('waits for a predicate over the requests', async () => {
    const waiting = receiver.waitFor((requests) => requests.some((r) => r.path === '/wanted'));
    await post('/other');
    await post('/wanted');
    expect((await waiting).map((r) => r.path)).toEqual(['/other', '/wanted']);
  });

  it('records an answer lost after the receiver acted (apply_then_hang) as hung', async () => {
    receiver.fault({ kind: 'apply_then_hang' });
    expect(statusOf(await post('/lost', {}, 150))).toBe('timeout');
    expect(receiver.requests[0]).toMatchObject({ path: '/lost', answer: { kind: 'hang' }, status: 'hang' });
  });

  it('serves its record with bodies as text on /_sim/requests, its state on /_sim/state, and takes faults over HTTP', async () => {
    await post('/a', { n: 2 });
    const listed = (await (await fetch(`${receiver.url}/_sim/requests`)).json()) as Array<{ path: string; body: string; status: number }>;
    expect(listed).toMatchObject([{ path: '/a', body: '{"n":2}', status: 200 }]);
    expect(await (await fetch(`${receiver.url}/_sim/state`)).json()).toEqual({ defaultStatus: 200, received: 1 });
    const added = await fetch(`${receiver.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 410, path: '/gone' }) });
    expect(added.status).toBe(201);
    expect(statusOf(await post('/gone'))).toBe(410);
  });
});
