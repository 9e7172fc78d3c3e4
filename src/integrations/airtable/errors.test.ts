import { describe, expect, it } from 'vitest';
import type { HttpResult, RequestSummary } from '../../lib/http.js';
import { classifyAirtableResult, resultOf, type AirtableErrorOutcome } from './errors.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const URL = 'https://api.airtable.com/v0/appAAAAAAAAAAAAAA/Subscribers';
const summary = (method = 'PATCH'): RequestSummary => ({ method, url: URL, headers: {}, bodyBytes: 0, bodySha256: '' });

function response(status: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { kind: 'response', status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(text), isTruncated: false, durationMs: 5, request: summary() };
}
const networkError = (code: string): HttpResult => ({ kind: 'network_error', code, message: code, durationMs: 10, request: summary() });
/** Airtable's envelope (reference/destinations.md §3.4). */
const envelope = (type: string, message: string) => ({ error: { type, message } });
const classify = (result: HttpResult) => classifyAirtableResult(result, NOW);

describe('airtable answers: classification', () => {
  it('reads a 2xx JSON answer as ok, and one without JSON as unknown', () => {
    expect(classify(response(200, { records: [] }))).toEqual({ kind: 'ok', status: 200, body: { records: [] } });
    expect(classify(response(200, '<html>'))).toMatchObject({ kind: 'unknown', status: 200 });
  });

  it('reads 422s with Airtable\'s type and message, the fix named, telling a record\'s fault from the request\'s', () => {
    const unknownField = classify(response(422, envelope('UNKNOWN_FIELD_NAME', 'Unknown field name: "Emial"')));
    expect(unknownField).toMatchObject({ kind: 'invalid', isPerRecord: false, status: 422, type: 'UNKNOWN_FIELD_NAME' });
    expect(unknownField).toMatchObject({ message: 'Airtable: HTTP 422 UNKNOWN_FIELD_NAME: Unknown field name: "Emial" — create the field in the table, or fix its name in the sync\'s fields (names are case-sensitive)' });
    expect(classify(response(422, envelope('INVALID_MULTIPLE_CHOICE_OPTIONS', 'Insufficient permissions to create new select option ""Gold""')))).toMatchObject({ kind: 'invalid', isPerRecord: true, message: expect.stringContaining('typecast: true') });
    expect(classify(response(422, envelope('INVALID_VALUE_FOR_COLUMN', 'Field "Revenue" cannot accept the provided value')))).toMatchObject({ kind: 'invalid', isPerRecord: true });
    const several = classify(response(422, envelope('INVALID_REQUEST_UNKNOWN', 'Cannot update more than one record with the same merge field values')));
    expect(several).toMatchObject({ kind: 'invalid', isPerRecord: true, message: expect.stringContaining('delete the extra rows in Airtable (kitrelay never merges rows)') });
    expect(classify(response(400, envelope('INVALID_REQUEST_BODY', 'bad JSON')))).toMatchObject({ kind: 'invalid', isPerRecord: false });
  });

  it('reads 401 and 403 as auth, naming the token\'s fix', () => {
    expect(classify(response(401, envelope('AUTHENTICATION_REQUIRED', 'Authentication required')))).toMatchObject({ kind: 'auth', message: expect.stringContaining('AIRTABLE_TOKEN') });
    expect(classify(response(403, envelope('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', 'Invalid permissions, or the requested model was not found.')))).toMatchObject({ kind: 'auth', message: expect.stringContaining('data.records:write') });
  });

  it('reads a 429 as throttled for at least Airtable\'s 30-second penalty, whatever Retry-After says', () => {
    const body = { errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' }] };
    expect(classify(response(429, body))).toMatchObject({ kind: 'throttled', type: 'RATE_LIMIT_REACHED', retryAfterMs: 30_000 });
    expect(classify(response(429, body, { 'retry-after': '45' }))).toMatchObject({ retryAfterMs: 45_000 });
    expect(classify(response(429, body, { 'retry-after': '1' }))).toMatchObject({ retryAfterMs: 30_000 });
  });

  it('reads 413 and "too many records" as too large, 404 as not found, 5xx as transient', () => {
    expect(classify(response(413, envelope('REQUEST_TOO_LARGE', 'Request body too large')))).toMatchObject({ kind: 'too_large' });
    expect(classify(response(422, envelope('INVALID_RECORDS', 'You can provide at most 10 records')))).toMatchObject({ kind: 'too_large' });
    expect(classify(response(404, { error: 'NOT_FOUND' }))).toMatchObject({ kind: 'not_found', type: 'NOT_FOUND' });
    expect(classify(response(503, envelope('SERVICE_UNAVAILABLE', 'down'), { 'retry-after': '5' }))).toMatchObject({ kind: 'transient', retryAfterMs: 5_000 });
    expect(classify(response(502, 'Bad Gateway'))).toMatchObject({ kind: 'transient', message: 'Airtable: HTTP 502: Bad Gateway' });
  });

  it('reads a lost answer as unknown and a connection never made as transient', () => {
    expect(classify(networkError('timeout'))).toMatchObject({ kind: 'unknown' });
    expect(classify(networkError('ECONNRESET'))).toMatchObject({ kind: 'unknown' });
    expect(classify(networkError('ECONNREFUSED'))).toMatchObject({ kind: 'transient' });
    expect(classify(networkError('invalid_request'))).toMatchObject({ kind: 'invalid', isPerRecord: false });
  });
});

describe('airtable answers: job results', () => {
  const outcome = (o: AirtableErrorOutcome) => resultOf(o);
  it('retries throttled, paced, transient and unknown calls (writes merge on the Kit id, so sending again is safe)', () => {
    expect(outcome({ kind: 'throttled', retryAfterMs: 30_000, message: 'm' })).toEqual({ outcome: 'retry', error: 'm', retryAfterMs: 30_000 });
    expect(outcome({ kind: 'paced', retryAfterMs: 400, message: 'm' })).toEqual({ outcome: 'retry', error: 'm', retryAfterMs: 400 });
    expect(outcome({ kind: 'transient', message: 'm' })).toEqual({ outcome: 'retry', error: 'm' });
    expect(outcome({ kind: 'unknown', message: 'm' })).toMatchObject({ outcome: 'retry' });
  });

  it('fails auth with the breaker opened, and refusals and a spent budget for good (dead letter)', () => {
    expect(outcome({ kind: 'auth', message: 'm' })).toEqual({ outcome: 'failed', error: 'm', opensBreaker: true });
    expect(outcome({ kind: 'invalid', isPerRecord: true, type: 'INVALID_VALUE_FOR_COLUMN', message: 'm' })).toEqual({ outcome: 'failed', error: 'm' });
    expect(outcome({ kind: 'over_budget', message: 'm' })).toEqual({ outcome: 'failed', error: 'm' });
  });
});
