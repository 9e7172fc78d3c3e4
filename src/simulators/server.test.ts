/**
 * The shared simulator server over real HTTP on loopback, through a tiny "notes" API built on it
 * the way every simulator is: a bearer token, a rate limit, a route that changes state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WindowLimiter, rateLimitHeaders } from './rate-limit.js';
import { send } from './http.js';
import { createSimServer, type SimServer } from './server.js';
import type { SimRequest } from './record.js';

interface Notes {
  readonly notes: string[];
}

type NotesSim = SimServer<SimRequest, Notes>;
let sim: NotesSim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function startNotes(options: { maxRequests?: number; limit?: number } = {}): Promise<NotesSim> {
  const state: Notes = { notes: [] };
  const limiter = new WindowLimiter({ limit: options.limit ?? 1_000, mode: 'fixed' });
  const server = createSimServer<SimRequest, Notes>({
    name: 'notes',
    state,
    snapshot: () => ({ notes: state.notes }),
    maxRequests: options.maxRequests ?? 100,
    answers: {
      status: (status) => ({ status, body: { problem: `status ${status}` } }),
      rateLimited: (retryAfter) => ({ status: 429, headers: retryAfter === false ? undefined : { 'retry-after': String(retryAfter ?? 30) }, body: { problem: 'slow down' } }),
    },
    guard(request, reply) {
      if (request.headers.authorization !== 'Bearer t0ken') return send(reply, { status: 401, body: { problem: 'who are you' } });
      const decision = limiter.take('t0ken');
      void reply.headers(rateLimitHeaders(decision));
      if (!decision.isAllowed) return send(reply, { status: 429, headers: rateLimitHeaders(decision), body: { problem: 'slow down' } });
      return undefined;
    },
  });
  server.app.post('/notes', (request, reply) => {
    const text = (request.body as { text?: string } | undefined)?.text ?? '';
    state.notes.push(text);
    return reply.code(201).send({ id: state.notes.length, text });
  });
  server.app.get('/notes', () => ({ notes: state.notes }));
  await server.listen();
  sim = server;
  return server;
}

const AUTH = { authorization: 'Bearer t0ken' };

function post(s: NotesSim, text: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${s.url}/notes`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ text }), ...init });
}

async function networkError(promise: Promise<unknown>): Promise<string> {
  const error = (await promise.then(() => undefined, (e: unknown) => e)) as { name?: string; cause?: { code?: string } } | undefined;
  return error?.cause?.code ?? error?.name ?? 'no error';
}

describe('simulator server: request record', () => {
  it('records method, path, query, headers, parsed and raw body, arrival time and the status answered', async () => {
    const s = await startNotes();
    const before = Date.now();
    expect((await fetch(`${s.url}/notes?x=1`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"text":"hi"}' })).status).toBe(201);
    expect(s.requests).toHaveLength(1);
    const [request] = s.requests;
    expect(request).toMatchObject({ seq: 1, method: 'POST', path: '/notes', url: '/notes?x=1', query: { x: '1' }, body: { text: 'hi' }, rawBody: '{"text":"hi"}', status: 201 });
    expect(request?.headers.authorization).toBe('Bearer t0ken');
    expect(request?.receivedAt).toBeGreaterThanOrEqual(before);
  });

  it('keeps the last maxRequests requests, oldest dropped, and serves them oldest first on /_sim/requests', async () => {
    const s = await startNotes({ maxRequests: 3 });
    for (const text of ['a', 'b', 'c', 'd', 'e']) await post(s, text);
    const listed = (await (await fetch(`${s.url}/_sim/requests`)).json()) as SimRequest[];
    expect(listed.map((r) => r.body)).toEqual([{ text: 'c' }, { text: 'd' }, { text: 'e' }]);
    expect(listed.map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(s.record.received).toBe(5);
    expect((await fetch(`${s.url}/_sim/requests`, { method: 'DELETE' })).status).toBe(204);
    expect(s.requests).toHaveLength(0);
    expect(s.record.received).toBe(0);
  });

  it('never records, faults, authenticates or rate-limits its own /_sim routes', async () => {
    const s = await startNotes({ limit: 1 });
    s.faults.add({ kind: 'status', status: 500, times: Infinity });
    expect((await fetch(`${s.url}/_sim/state`)).status).toBe(200);
    expect((await fetch(`${s.url}/_sim/requests`)).status).toBe(200);
    expect(s.requests).toHaveLength(0);
  });

  it('answers the state snapshot on /_sim/state', async () => {
    const s = await startNotes();
    await post(s, 'remember me');
    expect(await (await fetch(`${s.url}/_sim/state`)).json()).toEqual({ notes: ['remember me'] });
  });
});

describe('simulator server: faults', () => {
  it('answers a status for the next `times` requests matching method and path pattern, in its own words by default', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'status', status: 503, times: 2, method: 'post', path: '/no*' });
    expect((await fetch(`${s.url}/notes`, { headers: AUTH })).status).toBe(200);
    const faulted = await post(s, 'x');
    expect(faulted.status).toBe(503);
    expect(await faulted.json()).toEqual({ problem: 'status 503' });
    expect((await post(s, 'y')).status).toBe(503);
    expect((await post(s, 'z')).status).toBe(201);
    expect(s.state.notes).toEqual(['z']);
    expect(s.requests.map((r) => r.fault ?? null)).toEqual([null, 'status', 'status', null]);
  });

  it('sends a status fault’s own body, headers and Retry-After', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'status', status: 429, retryAfter: 7, headers: { 'X-Extra': 'yes' }, body: { custom: true } });
    const answer = await post(s, 'x');
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(answer.headers.get('x-extra')).toBe('yes');
    expect(await answer.json()).toEqual({ custom: true });
  });

  it('matches on body text', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'status', status: 500, times: Infinity, bodyIncludes: 'boom' });
    expect((await post(s, 'fine')).status).toBe(201);
    expect((await post(s, 'kaboom')).status).toBe(500);
  });

  it('delays an answer, then answers normally', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'delay', ms: 150 });
    const started = performance.now();
    expect((await post(s, 'late')).status).toBe(201);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hangs until the client gives up, without applying the request', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'hang' });
    expect(await networkError(post(s, 'x', { signal: AbortSignal.timeout(150) }))).toBe('TimeoutError');
    expect(s.requests[0]?.status).toBe('hang');
    expect(s.state.notes).toEqual([]);
  });

  it('resets the connection', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'reset' });
    expect(await networkError(post(s, 'x'))).toBe('ECONNRESET');
    expect(s.requests[0]?.status).toBe('reset');
    expect((await post(s, 'y')).status).toBe(201);
  });

  it('answers the simulator’s own 429, with or without Retry-After', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'rate_limited' });
    s.faults.add({ kind: 'rate_limited', retryAfter: false });
    const usual = await post(s, 'x');
    expect([usual.status, usual.headers.get('retry-after'), await usual.json()]).toEqual([429, '30', { problem: 'slow down' }]);
    const bare = await post(s, 'x');
    expect([bare.status, bare.headers.get('retry-after')]).toEqual([429, null]);
  });

  it('answers malformed JSON: given text without applying, or the real answer cut in half after applying', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'malformed', body: '{"id":' });
    s.faults.add({ kind: 'malformed' });
    const given = await post(s, 'first');
    expect([given.status, await given.text()]).toEqual([200, '{"id":']);
    expect(s.state.notes).toEqual([]);
    const cut = await post(s, 'second');
    expect(cut.status).toBe(201);
    const text = await cut.text();
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect('{"id":1,"text":"second"}'.startsWith(text)).toBe(true);
    expect(s.state.notes).toEqual(['second']);
  });

  it('applies the request, then never answers (apply_then_hang)', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/notes' });
    expect(await networkError(post(s, 'created anyway', { signal: AbortSignal.timeout(200) }))).toBe('TimeoutError');
    expect(s.state.notes).toEqual(['created anyway']);
    expect(s.requests[0]).toMatchObject({ status: 'hang', fault: 'apply_then_hang' });
  });

  it('applies the request, then resets the connection (apply_then_reset)', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'apply_then_reset' });
    expect(await networkError(post(s, 'created anyway'))).toBe('ECONNRESET');
    expect(s.state.notes).toEqual(['created anyway']);
    expect(s.requests[0]?.status).toBe('reset');
  });

  it('takes faults over HTTP: POST /_sim/faults adds, GET lists, DELETE clears, a bad field is named', async () => {
    const s = await startNotes();
    const added = await fetch(`${s.url}/_sim/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ kind: 'status', status: 502, path: '/notes', times: 'Infinity' }, { kind: 'apply_then_hang', method: 'POST' }]),
    });
    expect([added.status, await added.json()]).toEqual([201, { added: 2, pending: 2 }]);
    expect(await (await fetch(`${s.url}/_sim/faults`)).json()).toEqual([
      { kind: 'status', path: '/notes', hasPredicate: false, remaining: null },
      { kind: 'apply_then_hang', method: 'POST', hasPredicate: false, remaining: 1 },
    ]);
    expect((await post(s, 'x')).status).toBe(502);
    expect((await fetch(`${s.url}/_sim/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await post(s, 'x')).status).toBe(201);
    const bad = await fetch(`${s.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 99 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^status: /);
  });

  it('drops hung connections when it closes', async () => {
    const s = await startNotes();
    s.faults.add({ kind: 'apply_then_hang' });
    const pending = networkError(post(s, 'x'));
    await s.waitFor((v) => v.state.notes.length === 1);
    await s.close();
    expect(await pending).not.toBe('no error');
  });
});

describe('simulator server: rate limit and waitFor', () => {
  it('answers its 429 with Retry-After and X-RateLimit-* once a credential is over its limit', async () => {
    const s = await startNotes({ limit: 2 });
    const first = await post(s, 'a');
    expect([first.headers.get('x-ratelimit-limit'), first.headers.get('x-ratelimit-remaining')]).toEqual(['2', '1']);
    await post(s, 'b');
    const limited = await post(s, 'c');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(s.state.notes).toEqual(['a', 'b']);
  });

  it('waits for a predicate over requests and state, and says what it waited for on timeout', async () => {
    const s = await startNotes();
    const waiting = s.waitFor((v) => v.state.notes.includes('b') && v.requests.length === 2);
    await post(s, 'a');
    await post(s, 'b');
    expect((await waiting).state.notes).toEqual(['a', 'b']);
    await expect(s.waitFor((v) => v.state.notes.length > 5, { timeoutMs: 60, what: 'six notes' })).rejects.toThrow('notes simulator: waited 60 ms for six notes in vain (2 request(s) received)');
  });

  it('sees a change made outside a request by polling', async () => {
    const s = await startNotes();
    setTimeout(() => s.state.notes.push('direct'), 30);
    await expect(s.waitFor((v) => v.state.notes.length === 1, { pollMs: 10 })).resolves.toBeDefined();
  });
});
