import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpResult, type RequestSummary } from '../../lib/http.js';
import type { CallRecord } from '../types.js';
import { classifyGraphResult, toActionResult, type GraphOutcome } from './errors.js';
import { REGAIN_MARGIN_MS } from './usage.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const USERS_URL = 'https://graph.facebook.com/v25.0/23850000000000001/users';

function summary(method = 'POST', url = USERS_URL): RequestSummary {
  return { method, url, headers: {}, bodyBytes: 0, bodySha256: '' };
}

function response(status: number, body: unknown, headers: Record<string, string> = {}, method = 'POST', url = USERS_URL): HttpResult {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { kind: 'response', status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(text), isTruncated: false, durationMs: 5, request: summary(method, url) };
}

function networkError(code: string, method = 'POST', url = USERS_URL): HttpResult {
  return { kind: 'network_error', code, message: code === 'timeout' ? 'timed out after 30000 ms' : 'socket hang up', durationMs: 30_000, request: summary(method, url) };
}

/** Graph's envelope, as Meta sends it (reference/destinations.md §2.2, §2.6). */
const graphError = (error: Record<string, unknown>) => ({ error: { type: 'OAuthException', fbtrace_id: 'AbCdEfGh123', ...error } });

const classify = (result: HttpResult) => classifyGraphResult(result, NOW);

describe('meta graph answers: classification', () => {
  it('reads a 2xx JSON answer as ok with its body', () => {
    const body = { audience_id: '23850000000000001', session_id: '9876', num_received: 2, num_invalid_entries: 0, invalid_entry_samples: {} };
    expect(classify(response(200, body))).toEqual({ kind: 'ok', status: 200, body });
  });

  it('reads the ad-account throttle (80004/2446079) as throttled, waiting the regain time in the usage header', () => {
    const envelope = graphError({ message: '(#80004) There have been too many calls to this ad-account. Wait a bit and try again.', code: 80004, error_subcode: 2446079, is_transient: true });
    const buc = '{"1234567890":[{"type":"ads_management","call_count":100,"total_cputime":12,"total_time":12,"estimated_time_to_regain_access":3}]}';
    const outcome = classify(response(400, envelope, { 'x-business-use-case-usage': buc }));
    expect(outcome).toMatchObject({ kind: 'throttled', status: 400, code: 80004, subcode: 2446079, fbtraceId: 'AbCdEfGh123', retryAfterMs: 180_000 + REGAIN_MARGIN_MS });
    expect(outcome).toMatchObject({ message: expect.stringContaining('too many calls to this ad-account') });
  });

  it('throttles every limit code, with a Retry-After or the default backoff when Meta gave no regain time', () => {
    for (const code of [4, 17, 32, 613, 80000, 80003, 80014]) {
      expect(classify(response(400, graphError({ message: `(#${code}) limit`, code })))).toMatchObject({ kind: 'throttled', code, retryAfterMs: 300_000 });
    }
    expect(classify(response(400, graphError({ message: 'limit', code: 4 }), { 'retry-after': '30' }))).toMatchObject({ kind: 'throttled', retryAfterMs: 30_000 });
    expect(classifyGraphResult(response(400, graphError({ message: 'limit', code: 17 })), NOW, { throttleBackoffMs: 1_000 })).toMatchObject({ retryAfterMs: 1_000 });
    expect(classify(response(429, 'Too Many Requests'))).toMatchObject({ kind: 'throttled', status: 429 });
  });

  it('reads a flagged audience (100/1713230) as flagged, with Meta\'s words', () => {
    const envelope = graphError({ message: 'Invalid parameter', code: 100, error_subcode: 1713230, error_user_title: 'Audience Upload Blocked', error_user_msg: 'This audience has been flagged and uploads are blocked.' });
    const outcome = classify(response(400, envelope));
    expect(outcome).toMatchObject({ kind: 'flagged', code: 100, subcode: 1713230, userTitle: 'Audience Upload Blocked' });
    expect(outcome).toMatchObject({ message: expect.stringContaining('Audience Upload Blocked') });
  });

  it('reads an expired token (190/463) as auth, naming the fix', () => {
    const envelope = graphError({ message: 'Error validating access token: Session has expired on Sunday, 01-Mar-26 03:00:00 PST.', code: 190, error_subcode: 463 });
    const outcome = classify(response(400, envelope));
    expect(outcome).toMatchObject({ kind: 'auth', code: 190, subcode: 463 });
    expect(outcome).toMatchObject({ message: expect.stringMatching(/access token expired: create a new System User token with ads_management .*META_ACCESS_TOKEN/) });
  });

  it('reads other token and permission errors as auth', () => {
    for (const [code, subcode] of [[190, 460], [190, 467], [190, undefined], [102, undefined], [200, undefined], [294, undefined], [10, undefined]] as const) {
      expect(classify(response(400, graphError({ message: 'nope', code, ...(subcode ? { error_subcode: subcode } : {}) })))).toMatchObject({ kind: 'auth', code });
    }
    expect(classify(response(401, 'Unauthorized'))).toMatchObject({ kind: 'auth', status: 401 });
    expect(classify(response(403, ''))).toMatchObject({ kind: 'auth', status: 403 });
  });

  it('reads a schema mismatch (100) and other request errors as invalid, keeping the message and fbtrace_id', () => {
    const envelope = { error: { message: '(#100) Data is missing or does not match schema', type: 'OAuthException', code: 100, fbtrace_id: 'A1b2C3' } };
    expect(classify(response(400, envelope))).toEqual({ kind: 'invalid', status: 400, code: 100, subcode: undefined, fbtraceId: 'A1b2C3', message: 'Meta: (#100) Data is missing or does not match schema', type: 'OAuthException', userTitle: undefined, userMessage: undefined });
    for (const code of [2650, 105, 368, 12345]) expect(classify(response(400, graphError({ message: 'bad', code })))).toMatchObject({ kind: 'invalid', code });
    expect(classify(response(404, '<html>Not Found</html>'))).toMatchObject({ kind: 'invalid', status: 404, message: 'Meta answered HTTP 404: <html>Not Found</html>' });
  });

  it('reads a removal refused for audience size as too_small, by wording or by a configured subcode', () => {
    const envelope = graphError({ message: 'Invalid parameter', code: 100, error_user_msg: 'This removal would make the audience too small.' });
    expect(classify(response(400, envelope, {}, 'DELETE'))).toMatchObject({ kind: 'too_small', code: 100 });
    const bySubcode = graphError({ message: 'Invalid parameter', code: 100, error_subcode: 1870034 });
    expect(classifyGraphResult(response(400, bySubcode, {}, 'DELETE'), NOW, { tooSmallSubcodes: [1870034] })).toMatchObject({ kind: 'too_small', subcode: 1870034 });
    expect(classify(response(400, bySubcode, {}, 'DELETE'))).toMatchObject({ kind: 'invalid' });
  });

  it('reads is_transient, codes 1 and 2, and 5xx as transient', () => {
    expect(classify(response(400, graphError({ message: 'An unexpected error has occurred.', code: 100, is_transient: true })))).toMatchObject({ kind: 'transient', code: 100 });
    expect(classify(response(500, graphError({ message: 'An unknown error occurred', code: 1 })))).toMatchObject({ kind: 'transient', code: 1 });
    expect(classify(response(503, graphError({ message: 'Service temporarily unavailable', code: 2, is_transient: true })))).toMatchObject({ kind: 'transient', code: 2 });
    expect(classify(response(502, '<html>Bad Gateway</html>'))).toMatchObject({ kind: 'transient', status: 502 });
    expect(classify(response(503, 'down', { 'retry-after': '12' }))).toMatchObject({ kind: 'transient', retryAfterMs: 12_000 });
  });

  it('reads a 2xx body that is not JSON as unknown, safe to resend for users calls', () => {
    expect(classify(response(200, 'OK'))).toMatchObject({ kind: 'unknown', status: 200, isIdempotentResend: true });
  });

  it('tells network errors before sending from those after', () => {
    expect(classify(networkError('ECONNREFUSED'))).toMatchObject({ kind: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    expect(classify(networkError('ENOTFOUND'))).toMatchObject({ kind: 'transient' });
    expect(classify(networkError('invalid_request'))).toMatchObject({ kind: 'invalid' });
    expect(classify(networkError('timeout'))).toMatchObject({ kind: 'unknown', isIdempotentResend: true });
    expect(classify(networkError('ECONNRESET', 'DELETE'))).toMatchObject({ kind: 'unknown', isIdempotentResend: true });
    const create = classify(networkError('timeout', 'POST', 'https://graph.facebook.com/v25.0/act_123/customaudiences'));
    expect(create).toMatchObject({ kind: 'unknown', isIdempotentResend: false });
  });
});

describe('meta graph answers: action results', () => {
  const call: CallRecord = { request: summary(), responseStatus: 400, correlation: { batchId: 'b1' } };
  const result = (outcome: GraphOutcome) => toActionResult(outcome, call);
  const envelope = (error: Record<string, unknown>) => classify(response(400, graphError(error)));

  it('succeeds on ok', () => {
    expect(toActionResult({ kind: 'ok', status: 200, body: {} }, call)).toEqual({ outcome: 'succeeded', call });
    expect(toActionResult({ kind: 'ok', status: 200, body: {} })).toEqual({ outcome: 'succeeded' });
  });

  it('retries throttled after the wait, and transient', () => {
    expect(result(envelope({ message: 'limit', code: 80003 }))).toMatchObject({ outcome: 'retry', retryAfterMs: 300_000 });
    expect(result(classify(response(502, 'Bad Gateway')))).toMatchObject({ outcome: 'retry' });
  });

  it('fails auth and opens the breaker', () => {
    expect(result(envelope({ message: 'expired', code: 190, error_subcode: 463 }))).toMatchObject({ outcome: 'failed', opensBreaker: true, error: expect.stringContaining('META_ACCESS_TOKEN') });
  });

  it('fails flagged, too small and invalid without opening the breaker', () => {
    for (const outcome of [
      envelope({ message: 'Invalid parameter', code: 100, error_subcode: 1713230 }),
      envelope({ message: 'The audience would be too small', code: 100 }),
      envelope({ message: '(#100) Data is missing or does not match schema', code: 100 }),
    ]) {
      const action = result(outcome);
      expect(action.outcome).toBe('failed');
      expect(action).not.toHaveProperty('opensBreaker');
    }
  });

  it('retries an unknown users call, since resending it is harmless, but leaves other unknown calls unknown', () => {
    expect(result(classify(networkError('timeout')))).toMatchObject({ outcome: 'retry', error: expect.stringContaining('idempotent') });
    expect(result(classify(networkError('timeout', 'POST', 'https://graph.facebook.com/v25.0/act_1/customaudiences')))).toMatchObject({ outcome: 'unknown' });
  });

  it('puts the code, subcode and fbtrace_id in the error, and fbtrace_id in the correlation ids', () => {
    const action = result(envelope({ message: '(#100) Data is missing or does not match schema', code: 100, error_subcode: 33 }));
    expect(action).toMatchObject({ error: 'Meta: (#100) Data is missing or does not match schema [code 100/33, fbtrace_id AbCdEfGh123]' });
    expect(action.call?.correlation).toEqual({ batchId: 'b1', fbtraceId: 'AbCdEfGh123' });
  });
});

describe('meta graph answers: over real HTTP', () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  const http = createHttpClient();

  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await http.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const post = (path: string, timeoutMs = 5_000) => http.send({ method: 'POST', url: `${base}${path}`, headers: { 'content-type': 'application/json' }, body: '{"payload":{}}', timeoutMs });

  it('classifies an envelope with its usage header as Meta sends them', async () => {
    handler = (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'x-business-use-case-usage': '{"1":[{"type":"custom_audience","call_count":100,"estimated_time_to_regain_access":2}]}' });
      res.end(JSON.stringify(graphError({ message: '(#80003) There have been too many calls from this ad-account.', code: 80003 })));
    };
    expect(classifyGraphResult(await post('/v25.0/1/users'), NOW)).toMatchObject({ kind: 'throttled', code: 80003, retryAfterMs: 120_000 + REGAIN_MARGIN_MS });
  });

  it('reads a connection reset after sending as an unknown, resendable users call', async () => {
    handler = (req) => req.socket.resetAndDestroy();
    expect(classifyGraphResult(await post('/v25.0/1/users'), NOW)).toMatchObject({ kind: 'unknown', isIdempotentResend: true });
  });

  it('reads a timeout as unknown', async () => {
    handler = () => undefined;
    expect(classifyGraphResult(await post('/v25.0/1/users', 100), NOW)).toMatchObject({ kind: 'unknown', message: expect.stringContaining('timeout') });
  });
});
