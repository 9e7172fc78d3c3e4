import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyResponse, createHttpClient, parseRetryAfter, type HttpClient, type HttpResult } from './http.js';

// A real HTTP server on loopback; each test sets how it answers. lib/ sits below integrations/, so it
// cannot borrow the webhook simulator.
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
let server: Server;
let base: string;
let client: HttpClient;

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createHttpClient({ maxResponseBytes: 64 * 1024 });
});

afterEach(() => {
  // A hung test response must not keep its socket past its test.
  server.closeAllConnections();
});

afterAll(async () => {
  await client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const NOW = Date.parse('2026-01-01T00:00:00.000Z');

function post(path: string, extra: Partial<Parameters<HttpClient['send']>[0]> = {}): Promise<HttpResult> {
  return client.send({ method: 'POST', url: `${base}${path}`, headers: { 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs: 2_000, ...extra });
}

function expectResponse(result: HttpResult): Extract<HttpResult, { kind: 'response' }> {
  if (result.kind !== 'response') throw new Error(`expected a response, got ${result.code}: ${result.message}`);
  return result;
}

describe('createHttpClient', () => {
  it('returns a 2xx response with its body, headers and a success classification', async () => {
    let received = '';
    handler = (req, res) => {
      req.setEncoding('utf8');
      req.on('data', (c: string) => (received += c));
      req.on('end', () => res.writeHead(200, { 'x-request-id': 'r-1' }).end('ok'));
    };
    const result = expectResponse(await post('/ok'));
    expect(received).toBe('{"a":1}');
    expect(result.status).toBe(200);
    expect(result.body.toString()).toBe('ok');
    expect(result.headers['x-request-id']).toBe('r-1');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(classifyResponse(result, NOW)).toEqual({ kind: 'success' });
  });

  it('classifies a 500 as retryable', async () => {
    handler = (_req, res) => res.writeHead(500).end('boom');
    const result = expectResponse(await post('/500'));
    expect(classifyResponse(result, NOW)).toEqual({ kind: 'retryable', error: 'HTTP 500 Internal Server Error' });
  });

  it('classifies a 429 with Retry-After seconds as retry_after', async () => {
    handler = (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end();
    const result = expectResponse(await post('/429'));
    expect(classifyResponse(result, NOW)).toEqual({ kind: 'retry_after', retryAfterMs: 7_000, error: 'HTTP 429 Too Many Requests' });
  });

  it('measures a Retry-After HTTP date against the injected now', async () => {
    handler = (_req, res) => res.writeHead(503, { 'retry-after': new Date(NOW + 90_000).toUTCString() }).end();
    const result = expectResponse(await post('/503'));
    expect(classifyResponse(result, NOW)).toMatchObject({ kind: 'retry_after', retryAfterMs: 90_000 });
  });

  it('classifies a 404 as permanent', async () => {
    handler = (_req, res) => res.writeHead(404).end();
    const result = expectResponse(await post('/404'));
    expect(classifyResponse(result, NOW)).toEqual({ kind: 'permanent', error: 'HTTP 404 Not Found' });
  });

  it('returns connection refused as a retryable network error, not a throw', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await client.send({ method: 'POST', url: `http://127.0.0.1:${port}/`, headers: {}, timeoutMs: 2_000 });
    expect(result).toMatchObject({ kind: 'network_error', code: 'ECONNREFUSED' });
    expect(classifyResponse(result, NOW).kind).toBe('retryable');
  });

  it('aborts at timeoutMs when the server never answers', async () => {
    handler = () => undefined; // never answers
    const result = await post('/hang', { timeoutMs: 200 });
    expect(result).toMatchObject({ kind: 'network_error', code: 'timeout', message: 'timed out after 200 ms' });
    expect(result.durationMs).toBeGreaterThanOrEqual(190);
    expect(result.durationMs).toBeLessThan(2_000);
    expect(classifyResponse(result, NOW).kind).toBe('retryable');
  });

  it('times out a body that trickles past the deadline', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
    };
    const result = await post('/trickle', { timeoutMs: 200 });
    expect(result).toMatchObject({ kind: 'network_error', code: 'timeout' });
  });

  it("reports the caller's abort as aborted", async () => {
    handler = () => undefined;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await post('/abort', { signal: controller.signal, timeoutMs: 5_000 });
    expect(result).toMatchObject({ kind: 'network_error', code: 'aborted' });
  });

  it('reports a reset connection as ECONNRESET', async () => {
    handler = (req) => req.socket.resetAndDestroy();
    const result = await post('/reset');
    expect(result).toMatchObject({ kind: 'network_error', code: 'ECONNRESET' });
  });

  it('classifies a request undici refuses to send (bad header) as permanent', async () => {
    const result = await post('/x', { headers: { 'x-bad': 'a\nb' } });
    expect(result).toMatchObject({ kind: 'network_error', code: 'invalid_request' });
    expect(classifyResponse(result, NOW).kind).toBe('permanent');
  });

  it('caps the response body and says it was truncated', async () => {
    handler = (_req, res) => res.writeHead(200).end(Buffer.alloc(200 * 1024, 0x61));
    const result = expectResponse(await post('/big'));
    expect(result.body.length).toBe(64 * 1024);
    expect(result.isTruncated).toBe(true);
    // The client is still usable after dropping that connection.
    handler = (_req, res) => res.writeHead(204).end();
    expect(expectResponse(await post('/after')).status).toBe(204);
  });

  it('summarises the request for the audit record without secrets', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    const body = JSON.stringify({ hello: 'x'.repeat(1000) });
    const result = await client.send({
      method: 'PUT',
      url: `http://user:pw@127.0.0.1:${new URL(base).port}/hook?token=abc&page=1`,
      headers: { Authorization: 'Bearer s3cret', 'X-Tenant': 'from-env', 'X-Plain': 'visible' },
      body,
      timeoutMs: 2_000,
      secretHeaderNames: ['X-Tenant'],
    });
    expect(result.request).toEqual({
      method: 'PUT',
      url: `${base}/hook?token=[redacted]&page=1`,
      headers: { authorization: '[redacted]', 'x-tenant': '[redacted]', 'x-plain': 'visible' },
      bodyBytes: Buffer.byteLength(body),
      bodySha256: createHash('sha256').update(body).digest('hex'),
      bodyPreview: body.slice(0, 512),
    });
    expect(JSON.stringify(result)).not.toContain('s3cret');
    expect(JSON.stringify(result)).not.toContain('from-env');
  });

  it('keeps only the origin of a URL that is itself a secret', async () => {
    handler = (_req, res) => res.writeHead(200).end();
    const result = await client.send({ method: 'POST', url: `${base}/services/SECRET`, headers: {}, timeoutMs: 2_000, isSecretUrl: true });
    expect(result.request.url).toBe(`${base}/[redacted]`);
  });
});

describe('classifyResponse', () => {
  const response = (status: number, headers: Record<string, string> = {}): HttpResult => ({
    kind: 'response',
    status,
    headers,
    body: Buffer.alloc(0),
    isTruncated: false,
    durationMs: 1,
    request: { method: 'POST', url: 'http://x/', headers: {}, bodyBytes: 0, bodySha256: '' },
  });

  it.each([408, 425, 429, 500, 502, 503, 504, 599])('treats %i as retryable', (status) => {
    expect(classifyResponse(response(status), NOW).kind).toBe('retryable');
  });

  it.each([301, 400, 401, 403, 404, 409, 410, 422])('treats %i as permanent', (status) => {
    expect(classifyResponse(response(status), NOW).kind).toBe('permanent');
  });

  it('honours Retry-After on any failing status', () => {
    expect(classifyResponse(response(400, { 'retry-after': '3' }), NOW)).toMatchObject({ kind: 'retry_after', retryAfterMs: 3_000 });
  });

  it('ignores an unusable Retry-After', () => {
    expect(classifyResponse(response(503, { 'retry-after': 'soon-ish' }), NOW).kind).toBe('retryable');
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
  });

  it('reads an HTTP date relative to now, and a past date as 0', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', NOW)).toBe(0);
  });

  it('rejects what is neither', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
    expect(parseRetryAfter('1.5', NOW)).toBeUndefined();
    expect(parseRetryAfter('later', NOW)).toBeUndefined();
  });
});
