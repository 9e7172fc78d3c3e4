/**
 * The Meta simulator over real HTTP on loopback, against reference/destinations.md §2 and §6:
 * authentication, paths and versions, the error envelope, audiences, usage headers and throttling,
 * faults, and the `_sim` routes. Users, replace and sessions: simulator-users.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { countBounds, startMetaSimulator, type MetaSimulator, type MetaSimulatorOptions } from './simulator.js';

const sims: MetaSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(options: MetaSimulatorOptions = {}): Promise<MetaSimulator> {
  const sim = await startMetaSimulator(options);
  sims.push(sim);
  return sim;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
}

interface CallOptions {
  readonly query?: Record<string, string>;
  readonly json?: Record<string, unknown>;
  readonly form?: Record<string, string>;
  /** Sent in the query unless `bearer`; `null` for none. */
  readonly token?: string | null;
  readonly isBearer?: boolean;
}

async function call(s: MetaSimulator, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const token = options.token === undefined ? s.accessToken : options.token;
  const query = new URLSearchParams(options.query);
  const headers: Record<string, string> = {};
  if (token !== null && options.isBearer) headers.authorization = `Bearer ${token}`;
  else if (token !== null) query.set('access_token', token);
  let body: string | undefined;
  if (options.json) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
  if (options.form) [headers['content-type'], body] = ['application/x-www-form-urlencoded', new URLSearchParams(options.form).toString()];
  const qs = query.toString();
  const response = await fetch(`${s.url}${path}${qs ? `?${qs}` : ''}`, { method, headers, body });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

const usage = (answer: Answer, name: string): any => JSON.parse(answer.headers.get(name) ?? 'null');
const buc = (answer: Answer, s: MetaSimulator): any => usage(answer, 'x-business-use-case-usage')[s.adAccountId.slice(4)][0];

describe('meta simulator: auth', () => {
  it('takes the token from the query, a form body, a JSON body or Authorization: Bearer', async () => {
    const s = await start();
    const path = `/v25.0/${s.audienceId}`;
    expect((await call(s, 'GET', path)).status).toBe(200);
    expect((await call(s, 'GET', path, { isBearer: true })).status).toBe(200);
    expect((await call(s, 'POST', path, { token: null, form: { access_token: s.accessToken, name: 'via form' } })).json).toEqual({ success: true });
    expect((await call(s, 'POST', path, { token: null, json: { access_token: s.accessToken, name: 'via JSON' } })).json).toEqual({ success: true });
    expect(s.audience(s.audienceId)!.name).toBe('via JSON');
  });

  it('answers a missing token with code 104 and a wrong one with 190, HTTP 400, in the envelope with its trace id', async () => {
    const s = await start();
    const missing = await call(s, 'GET', `/v25.0/${s.audienceId}`, { token: null });
    expect([missing.status, missing.json]).toEqual([400, { error: { message: 'An access token is required to request this resource.', type: 'OAuthException', code: 104, fbtrace_id: missing.headers.get('x-fb-trace-id') } }]);
    const wrong = await call(s, 'GET', `/v25.0/${s.audienceId}`, { token: 'EAAnope', isBearer: true });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toMatchObject({ type: 'OAuthException', code: 190, message: 'Invalid OAuth access token - Cannot parse access token', fbtrace_id: expect.stringMatching(/^[\w-]{23}$/) });
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
    expect(usage(wrong, 'x-app-usage')).toEqual({ call_count: 0, total_time: 0, total_cputime: 0 });
  });

  it('answers an expired token with 190 subcode 463, on demand from code or over /_sim/conditions', async () => {
    const s = await start({ now: () => Date.parse('2026-03-10T15:00:00Z') });
    s.expireToken();
    const expired = await call(s, 'GET', `/v25.0/${s.audienceId}`);
    expect(expired.json.error).toMatchObject({ code: 190, error_subcode: 463, message: 'Error validating access token: Session has expired on Tuesday, 10-Mar-26 15:00:00 UTC. The current time is Tuesday, 10-Mar-26 15:00:00 UTC.' });
    await fetch(`${s.url}/_sim/conditions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tokenExpired: false }) });
    expect((await call(s, 'GET', `/v25.0/${s.audienceId}`)).status).toBe(200);
  });
});

describe('meta simulator: paths and audiences', () => {
  it('accepts any vNN.N prefix or none, and answers unknown ids and edges as Graph does', async () => {
    const s = await start();
    for (const prefix of ['/v25.0', '/v24.0', '/v19.0', '']) expect((await call(s, 'GET', `${prefix}/${s.audienceId}`)).json).toEqual({ id: s.audienceId });
    const unknown = await call(s, 'GET', '/v25.0/999');
    expect(unknown.json.error).toMatchObject({ type: 'GraphMethodException', code: 100, error_subcode: 33, message: expect.stringContaining("Unsupported get request. Object with ID '999' does not exist") });
    expect((await call(s, 'GET', `/v25.0/${s.audienceId}/nope`)).json.error).toMatchObject({ code: 2500, message: 'Unknown path components: /nope' });
    expect((await call(s, 'GET', `/v25.0/${s.audienceId}/users`)).json.error).toMatchObject({ code: 100, error_subcode: 33 });
  });

  it('creates customer-file audiences with numeric string ids, checking name, subtype and customer_file_source', async () => {
    const s = await start({ audiences: [] });
    expect(s.audienceId).toBe('');
    const path = `/v25.0/${s.adAccountId}/customaudiences`;
    const created = await call(s, 'POST', path, { form: { name: 'Buyers', subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY', description: 'Kit buyers' } });
    expect(created.json).toEqual({ id: expect.stringMatching(/^\d{17}$/) });
    expect(s.audiences().map((a) => [a.id, a.name, a.description])).toEqual([[created.json.id, 'Buyers', 'Kit buyers']]);
    for (const [form, message] of [
      [{ subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY' }, '(#100) The parameter name is required'],
      [{ name: 'x', subtype: 'CUSTOM' }, '(#100) The parameter customer_file_source is required'],
      [{ name: 'x', customer_file_source: 'SOMETIMES' }, expect.stringContaining('customer_file_source must be one of')],
      [{ name: 'x', subtype: 'LOOKALIKE', customer_file_source: 'USER_PROVIDED_ONLY' }, expect.stringContaining('subtype must be CUSTOM')],
    ] as const) expect((await call(s, 'POST', path, { form })).json.error).toMatchObject({ code: 100, message });
  });

  it('lists audiences newest first with cursor paging whose next URL is followed as is', async () => {
    const s = await start();
    for (const name of ['a', 'b', 'c']) s.createAudience({ name });
    const first = await call(s, 'GET', `/v25.0/${s.adAccountId}/customaudiences`, { query: { fields: 'id,name', limit: '3' } });
    expect((first.json.data as Array<{ name: string }>).map((a) => a.name)).toEqual(['c', 'b', 'a']);
    expect(first.json.paging.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    const next = (await (await fetch(first.json.paging.next)).json()) as any;
    expect(next.data).toEqual([{ id: s.audienceId, name: 'Kit subscribers' }]);
    expect(next.paging.next).toBeUndefined();
    expect((await call(s, 'DELETE', `/v25.0/${next.data[0].id}`)).json).toEqual({ success: true });
    expect(s.audiences()).toHaveLength(3);
  });

  it('reads the fields asked for; the count bounds hold the matched count, 0 and the floor below it', async () => {
    const s = await start();
    const fields = 'id,name,approximate_count_lower_bound,approximate_count_upper_bound,operation_status,delivery_status,time_updated';
    const read = await call(s, 'GET', `/v25.0/${s.audienceId}`, { query: { fields } });
    expect(read.json).toEqual({ id: s.audienceId, name: 'Kit subscribers', approximate_count_lower_bound: 0, approximate_count_upper_bound: 1000, operation_status: { code: 200, description: 'Normal' }, delivery_status: { code: 300, description: expect.any(String) }, time_updated: expect.any(Number) });
    expect((await call(s, 'GET', `/v25.0/${s.audienceId}`, { query: { fields: 'id,approximate_count' } })).json.error).toMatchObject({ code: 100, message: '(#100) Tried accessing nonexisting field (approximate_count) on node type (CustomAudience)' });
    expect([countBounds(12_345, 1000), countBounds(1000, 1000), countBounds(999, 1000), countBounds(7, 0)]).toEqual([
      { lower: 12_000, upper: 13_000 },
      { lower: 1000, upper: 1000 },
      { lower: 0, upper: 1000 },
      { lower: 7, upper: 7 },
    ]);
  });
});

describe('meta simulator: usage and throttling', () => {
  it('sends the three usage headers, growing with each call, and throttles at 100% with 80003 until the window moves on', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ now: () => now, usage: { callsPerWindow: 4, windowMs: 3_600_000 } });
    const path = `/v25.0/${s.audienceId}`;
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) counts.push(usage(await call(s, 'GET', path), 'x-app-usage').call_count);
    expect(counts).toEqual([25, 50, 75, 100]);
    now += 30 * 60_000;
    const throttled = await call(s, 'GET', path);
    expect(throttled.status).toBe(400);
    expect(throttled.json.error).toMatchObject({ code: 80003, error_subcode: 2446079, is_transient: true, type: 'OAuthException', message: expect.stringContaining('(#80003) There have been too many calls to this ad-account') });
    expect(buc(throttled, s)).toEqual({ type: 'custom_audience', call_count: 100, total_cputime: 100, total_time: 100, estimated_time_to_regain_access: 30, ads_api_access_tier: 'standard_access' });
    expect(usage(throttled, 'x-ad-account-usage')).toEqual({ acc_id_util_pct: 100, reset_time_duration: 1800, ads_api_access_tier: 'standard_access' });
    now += 30 * 60_000;
    const again = await call(s, 'GET', path);
    expect(again.status).toBe(200);
    expect(buc(again, s)).toMatchObject({ call_count: 25, estimated_time_to_regain_access: 0 });
  });

  it('answers the configured throttling code (613) and defaults the quota to 5000 + 40 per audience', async () => {
    const s = await start({ usage: { callsPerWindow: 1, throttleCode: 613 } });
    await call(s, 'GET', `/v25.0/${s.audienceId}`);
    expect((await call(s, 'GET', `/v25.0/${s.audienceId}`)).json.error).toMatchObject({ code: 613, error_subcode: 1487742 });
    const standard = await start();
    const answer = await call(standard, 'GET', `/v25.0/${standard.audienceId}`);
    expect(usage(answer, 'x-ad-account-usage').acc_id_util_pct).toBe(Math.round((1 / 5040) * 100 * 100) / 100);
  });

  it('throttles on demand with a rate_limited fault, and answers status faults in Graph’s words', async () => {
    const s = await start();
    s.faults.add({ kind: 'rate_limited', path: '/v25.0/*/users' });
    s.faults.add({ kind: 'status', status: 500 });
    s.faults.add({ kind: 'status', status: 503 });
    const throttled = await call(s, 'POST', `/v25.0/${s.audienceId}/users`, { json: {} });
    expect([throttled.status, throttled.json.error.code, buc(throttled, s).call_count]).toEqual([400, 80003, 100]);
    expect((await call(s, 'GET', '/v25.0/x')).json.error).toMatchObject({ code: 1, error_subcode: 99, message: 'An unknown error occurred' });
    const unavailable = await call(s, 'GET', '/v25.0/x');
    expect([unavailable.status, unavailable.json.error]).toEqual([503, expect.objectContaining({ code: 2, is_transient: true })]);
    expect(s.requests.map((r) => [r.fault, r.status])).toEqual([
      ['rate_limited', 400],
      ['status', 500],
      ['status', 503],
    ]);
  });
  it('applies an upload and then resets the connection with an apply_then_reset fault, as a lost answer looks', async () => {
    const s = await start();
    s.faults.add({ kind: 'apply_then_reset', method: 'POST', path: '/v25.0/*/users' });
    const sent = call(s, 'POST', `/v25.0/${s.audienceId}/users`, { json: { payload: { schema: 'EMAIL_SHA256', data: ['c'.repeat(64)] } } });
    await expect(sent).rejects.toThrow();
    expect(s.members(s.audienceId)).toHaveLength(1);
    expect(s.requests[0]!.status).toBe('reset');
  });
});

describe('meta simulator: _sim routes', () => {
  it('shows audiences with their members and sessions in /_sim/state, and sets conditions over /_sim/conditions', async () => {
    const s = await start();
    const hash = 'a'.repeat(64);
    await call(s, 'POST', `/v25.0/${s.audienceId}/users`, { json: { payload: { schema: 'EMAIL_SHA256', data: [hash] } } });
    const conditions = await fetch(`${s.url}/_sim/conditions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flagged: { [s.audienceId]: true }, minimumSize: 10 }) });
    expect(await conditions.json()).toEqual({ expiredTokens: [], flaggedAudiences: [s.audienceId], minimumSize: 10 });
    const state = (await (await fetch(`${s.url}/_sim/state`)).json()) as any;
    expect(state.adAccountId).toBe(s.adAccountId);
    expect(state.audiences[0]).toMatchObject({ id: s.audienceId, size: 1, isFlagged: true, members: [{ identity: `EMAIL:${hash}`, keys: { EMAIL: hash } }], sessions: [{ num_received: '1', operation: 'add', stage: 'processed' }] });
    expect(state.usage).toMatchObject({ calls: 1, quota: 5040 });
    const bad = await fetch(`${s.url}/_sim/conditions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flagged: { '1': true } }) });
    expect(bad.status).toBe(400);
  });
});
